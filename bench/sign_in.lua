-- wrk script for bench/sign_in.sh: POST /login with a valid double-submit pair.
-- Values come from the environment so no secret is written into this file.
local token = os.getenv("BENCH_LOGIN_TOKEN")
local function enc(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "twisterlab_login=" .. token
wrk.headers["Origin"] = os.getenv("BENCH_ORIGIN")
wrk.body = "email=" .. enc(os.getenv("BENCH_EMAIL")) .. "&password=" .. enc(os.getenv("BENCH_PASSWORD"))
  .. "&next=%2F&csrf_token=" .. enc(token)
