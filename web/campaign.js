// Announcement page: every window is written by the server in its
// region's time zone; this shows it again in the viewer's, from the UTC
// instants in data-start and data-end.
(function () {
  "use strict";
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  var day = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", year: "numeric" });
  var clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  var name = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" });
  // The local date and time as 2006-01-02T15:04, for tests and scripts.
  var iso = new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  function isoLocal(d) {
    var p = {};
    iso.formatToParts(d).forEach(function (x) { p[x.type] = x.value; });
    return p.year + "-" + p.month + "-" + p.day + "T" + p.hour + ":" + p.minute;
  }
  function zoneName(d) {
    var z = "";
    name.formatToParts(d).forEach(function (x) { if (x.type === "timeZoneName") z = x.value; });
    return z;
  }
  document.getElementById("dw-zone").textContent = zone;
  Array.prototype.forEach.call(document.querySelectorAll(".dw-win[data-start]"), function (t) {
    var s = new Date(t.getAttribute("data-start")), e = new Date(t.getAttribute("data-end"));
    if (isNaN(s) || isNaN(e)) return;
    var same = day.format(s) === day.format(e);
    var text = day.format(s) + ", " + clock.format(s) + (same ? "–" + clock.format(e) : " – " + day.format(e) + ", " + clock.format(e)) +
      " " + zoneName(e);
    t.querySelector(".dw-local").textContent = text;
    t.setAttribute("data-local-start", isoLocal(s));
    t.setAttribute("data-local-end", isoLocal(e));
  });
})();
