// /me: the receipts this device holds (localStorage "dw_receipt:<claim>"),
// newest first, each with its live state from GET /v1/claims/{id}. The
// server keeps no list of a device's claims: the receipts are the list.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var labels = {
    claimed: "Claimed", forwarded: "Sent to the pickup point", accepted: "Accepted by the pickup point",
    rejected: "Refused by the pickup point", ready: "Ready for pickup", picked_up: "Picked up",
    pickup_failed: "Pickup failed", forward_failed: "Could not reach the pickup point", compensated: "Compensated"
  };
  var good = { ready: 1, picked_up: 1, compensated: 1 }, bad = { rejected: 1, pickup_failed: 1, forward_failed: 1 };
  var when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  function fmt(t) { var d = new Date(t); return isNaN(d) ? "" : when.format(d); }

  // The receipt's own claims (iat, drop) order the list before the
  // server answers, so nothing moves when the answers come in.
  function payload(tok) {
    try {
      var p = tok.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(decodeURIComponent(escape(atob(p + "===".slice((p.length + 3) % 4)))));
    } catch (e) { return null; }
  }
  var receipts = [];
  try {
    for (var i = 0; i < localStorage.length; i++) {
      var k = localStorage.key(i);
      if (k && k.indexOf("dw_receipt:") === 0) {
        var tok = localStorage.getItem(k) || "", p = payload(tok) || {};
        receipts.push({ id: k.slice(11), token: tok, iat: p.iat || 0, drop: p.drop || "" });
      }
    }
  } catch (e) {
    var err = $("dw-error");
    err.textContent = "This browser does not let the page read what it saved (private mode?).";
    err.hidden = false;
  }
  receipts.sort(function (a, b) { return b.iat - a.iat || (a.id < b.id ? -1 : 1); });
  $("dw-empty").hidden = receipts.length > 0;

  function span(cls, s) { var e = document.createElement("span"); e.className = cls; e.textContent = s; return e; }
  var list = $("dw-list");
  receipts.forEach(function (r) {
    var li = document.createElement("li"), a = document.createElement("a");
    a.className = "dw-item";
    a.href = "/r/" + encodeURIComponent(r.id);
    a.setAttribute("data-claim", r.id);
    r.title = span("dw-item-title", r.drop || "Reward");
    r.state = span("dw-state", "Checking…");
    r.meta = span("dw-item-meta", r.iat ? "Claimed " + fmt(r.iat * 1000) : "");
    a.appendChild(r.title); a.appendChild(r.state); a.appendChild(r.meta);
    li.appendChild(a); list.appendChild(li);
    r.li = li;
  });
  // Claims of the same second are ordered once their times are known
  // to the millisecond; others never move.
  function reorder() {
    receipts.slice().sort(function (a, b) { return (b.created || b.iat * 1000) - (a.created || a.iat * 1000); })
      .forEach(function (r, i) { if (list.children[i] !== r.li) list.insertBefore(r.li, list.children[i] || null); });
  }

  function load(r) {
    return fetch("/v1/claims/" + encodeURIComponent(r.id) + "?qr=0",
      { headers: { Authorization: "Bearer " + r.token }, cache: "no-store", credentials: "omit" })
      .then(function (res) {
        if (res.status === 401) { r.state.textContent = "Receipt expired"; return null; }
        if (res.status === 404) { r.state.textContent = "No longer kept"; return null; }
        if (!res.ok) throw new Error(String(res.status));
        return res.json();
      })
      .then(function (c) {
        if (!c) return;
        r.created = Date.parse(c.created_at) || 0;
        r.title.textContent = c.drop_title || c.drop;
        r.state.textContent = labels[c.state] || c.state;
        r.state.className = "dw-state" + (good[c.state] ? " dw-good" : bad[c.state] ? " dw-bad" : "");
        var n = c.node || {};
        r.meta.textContent = ["Claimed " + fmt(c.created_at), n.name].filter(Boolean).join(" · ");
      })
      .catch(function () { r.state.textContent = "Could not check just now"; });
  }
  // A few at a time: a device with many receipts does not flood the server.
  var next = 0, left = receipts.length;
  function worker() {
    if (next < receipts.length) load(receipts[next++]).then(function () { if (--left === 0) reorder(); worker(); });
  }
  for (var w = 0; w < 4; w++) worker();
})();
