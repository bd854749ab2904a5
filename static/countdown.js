// Re-words "ack due in 4 min" style countdowns as time passes. Progressive enhancement only:
// the server already wrote the text; without this script it is simply as of page load.
(function () {
  "use strict";
  function compact(secs) {
    var d = Math.floor(secs / 86400), h = Math.floor(secs % 86400 / 3600), m = Math.floor(secs % 3600 / 60);
    if (d > 0) return h > 0 ? d + " d " + h + " h" : d + " d";
    if (h > 0) return m > 0 ? h + " h " + m + " min" : h + " h";
    if (m > 0) return m + " min";
    return secs + " s";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var deadline = Date.parse(el.getAttribute("data-deadline"));
      if (isNaN(deadline)) return;
      var secs = Math.round((deadline - now) / 1000);
      var overdue = secs < 0;
      var format = el.getAttribute(overdue ? "data-overdue" : "data-due") || "{}";
      el.textContent = format.replace("{}", compact(Math.abs(secs)));
      el.classList.toggle("overdue", overdue);
    });
  }
  tick();
  setInterval(tick, 15000);
})();
