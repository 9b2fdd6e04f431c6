// Receipt page. The receipt (a signed token) comes in the URL fragment,
// which browsers never send to the server, or from this device's
// localStorage; it goes to the server only as the Authorization header of
// GET /v1/claims/{id}. The page polls that with backoff while it is
// visible, so the state, the locker PIN and a compensation code appear
// without a reload.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var id = decodeURIComponent(location.pathname.replace(/^\/r\//, ""));
  var key = "dw_receipt:" + id;
  // A receipt is a compact JWS; anything else after "#" is not one.
  var fromLink = /^[\w-]+\.[\w-]+\.[\w-]+$/.test(location.hash.slice(1)) ? location.hash.slice(1) : "";
  var receipt = fromLink;
  try { if (!receipt) receipt = localStorage.getItem(key) || ""; } catch (e) { /* private mode */ }
  // Kept on this device once the server has accepted it, so a mistyped
  // link never replaces a good receipt.
  function keep() {
    if (!fromLink) return;
    try { localStorage.setItem(key, fromLink); } catch (e) { /* private mode: the link still works for this visit */ }
    fromLink = "";
  }
  // Out of the address bar, so it is not bookmarked or shared by accident;
  // "Save this receipt" offers the link on purpose.
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);

  var labels = {
    claimed: "Claimed", forwarded: "Sent to the pickup point", accepted: "Accepted by the pickup point",
    rejected: "Refused by the pickup point", ready: "Ready for pickup", picked_up: "Picked up",
    pickup_failed: "Pickup failed", forward_failed: "Could not reach the pickup point", compensated: "Compensated"
  };
  var good = { ready: 1, picked_up: 1, compensated: 1 }, bad = { rejected: 1, pickup_failed: 1, forward_failed: 1 };
  var waiting = { claimed: 1, forwarded: 1, accepted: 1, ready: 1 };
  var when = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", hour: "numeric", minute: "2-digit" });
  function fmt(t) { var d = new Date(t); return isNaN(d) ? "" : when.format(d); }
  function text(el, s) { if (el.textContent !== s) el.textContent = s; }
  function show(el, on) { el.hidden = !on; }
  function fail(msg) { var e = $("dw-error"); text(e, msg); e.hidden = false; }
  function announce(msg) { var a = $("dw-announce"); a.textContent = ""; setTimeout(function () { a.textContent = msg; }, 50); }

  var last = null, offset = 0, qrDone = false;
  function nodeLine(n) { return [n.name, n.address, n.hours].filter(Boolean).join(" · "); }

  function now(c) {
    var n = c.node || {}, comp = c.compensation || {}, lk = c.locker;
    var title = labels[c.state] || c.state, body = "";
    switch (c.state) {
      case "claimed": body = "Your reward is set aside for you. The pickup point is being told; this page updates by itself."; break;
      case "forwarded": body = "The pickup point has your claim. Wait until it says ready: this page updates by itself."; break;
      case "accepted": title = "Being prepared"; body = "The pickup point is getting your reward ready."; break;
      case "ready":
        if (lk) { title = "Ready in a locker"; body = "Go to " + (n.name || "the locker") + " and open the locker with this slot and PIN."; }
        else { title = "Ready at the counter"; body = "Go to the counter at " + (n.name || "the pickup point") + " and show your pickup code or the QR below."; }
        break;
      case "picked_up": body = "You picked it up. Enjoy!"; break;
      default: title = "Sorry about the pickup"; body = comp.text || "";
    }
    text($("dw-now-title"), title);
    text($("dw-now-text"), body);
    show($("dw-locker"), !!lk);
    if (lk) {
      // A locker that needs no PIN (or names no slot) shows what it has.
      text($("dw-slot"), lk.slot || ""); text($("dw-pin"), lk.pin || "");
      $("dw-slot").parentNode.hidden = !lk.slot; $("dw-pin").parentNode.hidden = !lk.pin;
      $("dw-slot").classList.toggle("dw-long", (lk.slot || "").length > 8);
      $("dw-pin").classList.toggle("dw-long", (lk.pin || "").length > 8);
    }
    show($("dw-compcode"), !!comp.code);
    if (comp.code) {
      text($("dw-comp-code"), comp.code);
      $("dw-comp-code").classList.toggle("dw-long", comp.code.length > 12);
    }
  }

  function render(c) {
    var main = $("dw-receipt");
    main.setAttribute("data-state", c.state);
    text($("dw-title"), c.drop_title || "Your claim");
    document.title = (c.drop_title ? c.drop_title + " · " : "") + "Your claim";
    var st = $("dw-state");
    text(st, labels[c.state] || c.state);
    st.className = "dw-state" + (good[c.state] ? " dw-good" : bad[c.state] ? " dw-bad" : "");
    now(c);
    var code = c.pickup_code || "";
    text($("dw-code"), code.length === 8 ? code.slice(0, 4) + "-" + code.slice(4) : code);
    text($("dw-node"), nodeLine(c.node || {}));
    text($("dw-by"), fmt(c.pickup_by));
    text($("dw-policy"), (c.compensation && c.compensation.policy) || "");
    if (!qrDone && c.receipt_qr_svg) { $("dw-qr").innerHTML = c.receipt_qr_svg; qrDone = true; fitQR(); }
    var h = $("dw-history");
    var items = c.history || [];
    if (h.children.length !== items.length) {
      h.textContent = "";
      items.forEach(function (e) {
        var li = document.createElement("li");
        var tm = document.createElement("time");
        tm.dateTime = e.at;
        tm.textContent = fmt(e.at);
        li.appendChild(document.createTextNode((labels[e.state] || e.state) + " · "));
        li.appendChild(tm);
        h.appendChild(li);
      });
    }
    var link = (c.receipt_url || location.origin + location.pathname) + "#" + receipt;
    $("dw-link").value = link;
    text($("dw-until"), fmt(c.receipt_expires_at));
    $("dw-save-box").hidden = false;
    tick();
  }

  // A dense QR (the whole receipt) scans when each module is a whole
  // number of device pixels: fractional ones smear into their neighbours.
  function fitQR() {
    var box = $("dw-qr"), svg = box.querySelector("svg");
    if (!svg || !svg.viewBox || !svg.viewBox.baseVal) return;
    var n = svg.viewBox.baseVal.width, dpr = window.devicePixelRatio || 1;
    var avail = box.clientWidth - 8;
    var px = Math.max(1, Math.floor(avail * dpr / n));
    svg.style.width = (px * n / dpr) + "px";
  }
  window.addEventListener("resize", fitQR);

  // The deadline, counted down from the server's clock.
  function tick() {
    var el = $("dw-left");
    if (!last || !waiting[last.state]) { text(el, ""); return; }
    var s = Math.max(0, Math.floor((Date.parse(last.pickup_by) - (Date.now() + offset)) / 1000));
    var d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60, sec = s % 60;
    var pad = function (x) { return (x < 10 ? "0" : "") + x; };
    var left = s === 0 ? "time is up" :
      d ? d + " d " + h + " h left" :
      h ? h + " h " + pad(m) + " min left" :
      m + " min " + pad(sec) + " s left";
    text(el, "(" + left + ")");
    el.classList.toggle("dw-soon", s < 1800);
  }
  setInterval(tick, 1000);

  // Polling: every 2 s at first, slower while nothing changes (up to 30 s),
  // back to 2 s on a change; paused while the page is hidden.
  var delay = 2000, timer = 0, busy = false, done = false;
  function sig(c) {
    var comp = c.compensation || {};
    return [c.state, (c.history || []).length, c.pickup_by, c.locker ? c.locker.slot + "/" + c.locker.pin : "",
      comp.status, comp.code || "", comp.text].join("|");
  }
  function settled(c) {
    var comp = c.compensation || {};
    return c.state === "picked_up" || c.state === "compensated" ||
      (bad[c.state] && (comp.status === "none" || comp.status === "pool_empty"));
  }
  function schedule() {
    clearTimeout(timer);
    if (!done && !document.hidden) timer = setTimeout(poll, delay);
  }
  function poll() {
    if (busy) return;
    busy = true;
    fetch("/v1/claims/" + encodeURIComponent(id) + (qrDone ? "?qr=0" : ""),
      { headers: { Authorization: "Bearer " + receipt }, cache: "no-store", credentials: "omit" })
      .then(function (res) {
        if (res.status === 401 || res.status === 404) {
          done = true;
          fail(res.status === 404 ? "This claim no longer exists." : "This receipt has expired or is not valid here.");
          return null;
        }
        if (!res.ok) throw new Error(String(res.status));
        return res.json();
      })
      .then(function (c) {
        busy = false;
        if (!c) return;
        $("dw-error").hidden = true;
        keep();
        offset = Date.parse(c.server_time) - Date.now() || 0;
        var changed = !last || sig(c) !== sig(last);
        if (last && changed && c.state !== last.state) announce(labels[c.state] || c.state);
        last = c;
        if (changed) { render(c); delay = 2000; } else delay = Math.min(delay * 1.5, 30000);
        done = settled(c);
        schedule();
      })
      .catch(function () {
        busy = false;
        fail("Could not update just now. This page keeps trying.");
        delay = Math.min(delay * 2, 30000);
        schedule();
      });
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && !done) { delay = 2000; clearTimeout(timer); poll(); }
  });

  // Copy buttons: the Clipboard API, or selecting the text as a fallback.
  function copy(value, button, what) {
    var was = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", was);
    function ok() { button.textContent = "Copied"; announce(what + " copied"); setTimeout(function () { button.textContent = was; }, 2000); }
    function fallback() {
      var t = document.createElement("textarea");
      t.value = value; t.className = "dw-offscreen"; t.setAttribute("readonly", "");
      document.body.appendChild(t); t.select();
      var copied = false;
      try { copied = document.execCommand("copy"); } catch (e) { /* unsupported */ }
      document.body.removeChild(t);
      if (copied) ok(); else announce("Could not copy: select it and copy by hand");
    }
    if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(value).then(ok, fallback);
    else fallback();
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-copy]"), function (b) {
    b.addEventListener("click", function () {
      copy($(b.getAttribute("data-copy")).textContent, b, b.getAttribute("aria-label").replace(/^Copy the /, "").replace(/^./, function (x) { return x.toUpperCase(); }));
    });
  });
  $("dw-save").addEventListener("click", function () {
    var box = $("dw-saved");
    box.hidden = false;
    this.setAttribute("aria-expanded", "true");
    $("dw-link").focus();
    $("dw-link").select();
  });
  $("dw-copy-link").addEventListener("click", function () { copy($("dw-link").value, this, "Link"); });
  if (navigator.share) {
    $("dw-share").hidden = false;
    $("dw-share").addEventListener("click", function () {
      navigator.share({ title: document.title, text: "My reward receipt", url: $("dw-link").value }).catch(function () { /* closed */ });
    });
  }

  if (!receipt) {
    $("dw-receipt").setAttribute("data-state", "missing");
    text($("dw-state"), "Not on this device");
    text($("dw-now-title"), "This receipt is not on this device");
    text($("dw-now-text"), "Open it on the phone you claimed with, or open the link you saved with \u201cSave this receipt\u201d.");
    return;
  }
  poll();
})();
