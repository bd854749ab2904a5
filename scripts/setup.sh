# Shared set-up for scripts/run and scripts/test: find or install what the portal needs on a
# Debian/Ubuntu machine. Sourced, not run. Installs only with permission: as root, or with
# passwordless sudo; set TWISTERLAB_NO_INSTALL=1 to forbid installing anything.

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
  else return 1
  fi
}

can_install() {
  [ "${TWISTERLAB_NO_INSTALL:-0}" != 1 ] && command -v apt-get >/dev/null && as_root true 2>/dev/null
}

APT_UPDATED=0
apt_install() {
  can_install || return 1
  if [ "$APT_UPDATED" = 0 ]; then
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
    APT_UPDATED=1
  fi
  say "installing $* (apt)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# need_command COMMAND PACKAGE WHY: installs PACKAGE when COMMAND is missing, or explains.
need_command() {
  local cmd=$1 pkg=$2 why=$3
  command -v "$cmd" >/dev/null && return 0
  apt_install "$pkg" && command -v "$cmd" >/dev/null && return 0
  die "$cmd is needed ($why). Install it: sudo apt-get install $pkg"
}

need_rust() {
  if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  command -v cargo >/dev/null && return 0
  if [ "${TWISTERLAB_NO_INSTALL:-0}" != 1 ] && command -v curl >/dev/null; then
    say "installing Rust with rustup (into ~/.cargo)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy >&2
    export PATH="$HOME/.cargo/bin:$PATH"
    command -v cargo >/dev/null && return 0
  fi
  die "Rust (cargo) is needed: install it from https://rustup.rs, then run this again"
}

# PostgreSQL's programs (initdb, pg_ctl): the portal starts a private cluster with them when no
# server is reachable.
postgres_bin_dir() {
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then dirname "$(command -v initdb)"; return 0; fi
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

need_postgres_programs() {
  [ -n "$(postgres_bin_dir)" ] && return 0
  apt_install postgresql postgresql-client && [ -n "$(postgres_bin_dir)" ] && return 0
  die "PostgreSQL is needed. Install it (sudo apt-get install postgresql) or set DATABASE_URL to a server you have"
}

# A server answering at 127.0.0.1:5432 that lets `postgres` in without a password.
local_postgres_url() {
  command -v psql >/dev/null || return 1
  local url="postgres://postgres@127.0.0.1:5432/postgres"
  PGCONNECT_TIMEOUT=3 psql "$url" -qAtc 'select 1' >/dev/null 2>&1 && echo "$url"
}

# A throw-away cluster for the tests on 127.0.0.1:$1 with trust auth, in .twisterlab/test-pg.
start_test_cluster() {
  local port=$1 bin dir runas=()
  bin=$(postgres_bin_dir)
  dir="$PWD/.twisterlab/test-pg"
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    id -u postgres >/dev/null 2>&1 || die "running as root, PostgreSQL must run as the postgres user, which does not exist: useradd --system postgres"
    chown -R postgres:postgres "$dir"
    runas=(runuser -u postgres --)
    # postgres must be able to reach the directory through every parent.
    "${runas[@]}" test -w "$dir" || die "the postgres user cannot reach $dir; run the tests from a directory it can traverse, or set DATABASE_URL"
  fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    say "initialising a test PostgreSQL cluster in $dir"
    "${runas[@]}" "$bin/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --no-instructions >/dev/null
  fi
  if ! "${runas[@]}" "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    say "starting the test PostgreSQL cluster on 127.0.0.1:$port"
    "${runas[@]}" "$bin/pg_ctl" -D "$dir" -l "$dir/postgres.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 -c fsync=off" start >/dev/null \
      || die "the test PostgreSQL cluster did not start; see $dir/postgres.log"
  fi
  echo "postgres://postgres@127.0.0.1:$port/postgres"
}
