// Keeps a page that changes during an incident current: polls GET /live (an ETag'd change
// marker) and reloads only when it moved. Progressive enhancement only: without this script the
// page is simply as of its load, and the "updated" line stays hidden.
(function () {
  "use strict";
  var box = document.getElementById("live");
  if (!box || !window.fetch) return;
  var status = box.querySelector("[data-live-status]");
  var toggle = box.querySelector("[data-live-toggle]");
  var reload = box.querySelector("[data-live-reload]");
  var KEY = "twisterlab-live-off";
  var EVERY_MS = 15000;
  // The marker when the page was loaded; the first poll right after load takes it.
  var seen = null;
  var timer = null;

  function isOff() {
    try { return window.localStorage.getItem(KEY) === "1"; } catch (e) { return false; }
  }
  function setOff(off) {
    try { if (off) { window.localStorage.setItem(KEY, "1"); } else { window.localStorage.removeItem(KEY); } } catch (e) { /* private mode: per page only */ }
  }
  function clock() {
    return new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }
  function say(text) { status.textContent = text; }

  // A reload would lose typing: a focused field, or any field changed from how the page came.
  function typing() {
    var a = document.activeElement;
    if (a && a !== document.body && /^(TEXTAREA|SELECT)$/.test(a.tagName)) return true;
    if (a && a.tagName === "INPUT" && !/^(hidden|submit|button)$/.test(a.type)) return true;
    var fields = document.querySelectorAll("main textarea, main input, main select");
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      if (f.tagName === "SELECT") {
        for (var j = 0; j < f.options.length; j++) {
          if (f.options[j].selected !== f.options[j].defaultSelected) return true;
        }
      } else if (f.type === "checkbox" || f.type === "radio") {
        if (f.checked !== f.defaultChecked) return true;
      } else if (f.type !== "hidden" && f.value !== f.defaultValue) {
        return true;
      }
    }
    return false;
  }

  function poll() {
    if (document.hidden || isOff()) return;
    var headers = { "Accept": "application/json" };
    if (seen) headers["If-None-Match"] = seen;
    fetch("/live", { headers: headers, credentials: "same-origin", cache: "no-store", redirect: "error" })
      .then(function (r) {
        if (r.status === 304) { say("Updated " + clock() + "."); return; }
        if (!r.ok) { say("Could not check for changes (" + r.status + ") at " + clock() + "."); return; }
        var tag = r.headers.get("ETag");
        if (seen && tag && tag !== seen) {
          if (typing()) {
            say("This page changed at " + clock() + "; reload when you have sent what you are typing.");
            reload.hidden = false;
            return;
          }
          window.location.reload();
          return;
        }
        seen = tag;
        say("Updated " + clock() + ".");
      })
      .catch(function () { say("Could not check for changes at " + clock() + "."); });
  }

  function start() {
    if (timer === null) timer = window.setInterval(poll, EVERY_MS);
    poll();
  }
  function stop() {
    if (timer !== null) { window.clearInterval(timer); timer = null; }
  }
  function render() {
    toggle.textContent = isOff() ? "Turn updates on" : "Turn updates off";
    toggle.setAttribute("aria-pressed", isOff() ? "false" : "true");
    if (isOff()) say("Automatic updates are off.");
  }

  toggle.addEventListener("click", function () {
    setOff(!isOff());
    render();
    if (isOff()) { stop(); } else { start(); }
  });
  reload.addEventListener("click", function () { window.location.reload(); });
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { stop(); } else if (!isOff()) { start(); }
  });
  box.hidden = false;
  render();
  if (!isOff()) start();
})();
