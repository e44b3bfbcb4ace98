// sentiment web console: select-all, and a gentle auto-refresh of the queues.
// No inline scripts (the Content-Security-Policy forbids them) and nothing loaded from elsewhere.
(function () {
  "use strict";

  function boxes() {
    return Array.prototype.slice.call(document.querySelectorAll("input[type=checkbox][name=ids]"));
  }

  function busy() {
    // never reload under someone's hands: a ticked box, a focused or filled field
    if (boxes().some(function (b) { return b.checked; })) { return true; }
    var active = document.activeElement;
    if (active && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) { return true; }
    var bulk = document.getElementById("bulk-form");
    if (bulk) {
      var fields = bulk.querySelectorAll("input[type=text], select[name=assignee]");
      for (var i = 0; i < fields.length; i += 1) { if (fields[i].value) { return true; } }
    }
    return false;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var all = document.getElementById("select-all");
    if (all) {
      all.addEventListener("change", function () {
        boxes().forEach(function (b) { b.checked = all.checked; });
      });
    }
    var seconds = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
    if (seconds > 0) {
      window.setInterval(function () {
        if (!busy() && document.visibilityState !== "hidden") { window.location.reload(); }
      }, seconds * 1000);
    }
  });
}());
