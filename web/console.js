// Dropwire pickup console: a hosted node's operator finds claims by the
// viewer's receipt QR or pickup code and marks them ready, picked up or
// failed. The session is an HttpOnly cookie (the key never stays in the
// URL); the claims list is polled, with backoff when the server does not
// answer. No dependencies.
(function () {
  "use strict";
  var POLL_MS = 2000, POLL_MAX_MS = 15000;
  var $ = function (id) { return document.getElementById(id); };
  var base = location.pathname.replace(/\/+$/, "");
  var root = $("pc");

  // A ?key= link was redirected away already; a refused one is still in
  // the address bar: take it out, and post the form to the bare path.
  if (location.search) history.replaceState(null, "", base);
  if (root.getAttribute("data-view") !== "console") {
    var form = $("pc-signin-form");
    if (form) form.setAttribute("action", base);
    return;
  }

  var tab = "waiting";
  var data = null;        // last list answer
  var skew = 0;           // server clock minus this clock, ms
  var delay = POLL_MS;
  var timer = null;
  var seen = null;        // claim ids listed so far (new ones are marked)
  var detail = null;      // the claim shown in the detail card
  var proof = {};         // what the shown claim was found by: pickup_code or receipt

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function show(e, on) { e.hidden = !on; }

  // call sends a request to the console API and resolves {status, data};
  // a 401 means the session is over: the page reloads to the sign-in.
  function call(method, path, body, type) {
    var opts = { method: method, credentials: "same-origin", cache: "no-store", headers: {} };
    if (body !== undefined) {
      opts.headers["Content-Type"] = type || "application/json";
      opts.body = type ? body : JSON.stringify(body);
    }
    return fetch(base + path, opts).then(function (res) {
      return res.text().then(function (text) {
        var d = null;
        try { d = text ? JSON.parse(text) : null; } catch (e) { d = null; }
        if (res.status === 401) { location.replace(base); throw new Error("signed out"); }
        return { status: res.status, data: d };
      });
    });
  }

  function now() { return Date.now() + skew; }
  function clock(iso) { return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }); }
  function until(iso) {
    var ms = new Date(iso).getTime() - now();
    var m = Math.round(Math.abs(ms) / 60000);
    var span = m < 60 ? m + " min" : Math.floor(m / 60) + " h " + (m % 60) + " min";
    return ms < 0 ? "overdue by " + span : "in " + span;
  }
  var LABELS = { waiting: "Waiting", ready: "Ready", picked_up: "Picked up", failed: "Failed" };

  // ---- the list ----------------------------------------------------------

  function poll() {
    if (timer) clearTimeout(timer);
    timer = null;
    call("GET", "/claims").then(function (r) {
      if (r.status !== 200) throw new Error((r.data && r.data.detail) || "HTTP " + r.status);
      delay = POLL_MS;
      show($("pc-conn"), false);
      show($("pc-live"), true);
      skew = new Date(r.data.server_time).getTime() - Date.now();
      render(r.data);
    }).catch(function (e) {
      if (e.message === "signed out") return;
      show($("pc-live"), false);
      $("pc-conn").textContent = "Cannot reach the server (" + e.message + "). Retrying…";
      show($("pc-conn"), true);
      delay = Math.min(POLL_MAX_MS, delay * 2) * (0.75 + Math.random() / 2);
    }).then(function () {
      if (!document.hidden) timer = setTimeout(poll, delay);
    });
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && !timer) poll();
  });

  function render(d) {
    data = d;
    $("pc-node").textContent = d.node.name;
    $("pc-node-sub").textContent = "Pickup console · " + d.node.id + (d.node.address ? " · " + d.node.address : "");
    document.title = d.node.name + " · pickup console";
    ["waiting", "ready", "picked_up", "failed"].forEach(function (s) { $("pc-n-" + s).textContent = String(d.counts[s] || 0); });
    var fresh = {};
    if (seen) d.claims.forEach(function (c) { if (!seen[c.id]) fresh[c.id] = true; });
    seen = seen || {};
    d.claims.forEach(function (c) { seen[c.id] = true; });

    var list = $("pc-list");
    list.textContent = "";
    var shown = d.claims.filter(function (c) { return c.status === tab; });
    shown.forEach(function (c) { list.appendChild(item(c, fresh[c.id])); });
    show($("pc-empty"), shown.length === 0);

    var byId = {};
    d.claims.forEach(function (c) { byId[c.id] = c; });
    var due = $("pc-due");
    due.textContent = "";
    d.due_soon.forEach(function (id) { if (byId[id]) due.appendChild(item(byId[id], false)); });
    show($("pc-due-box"), d.due_soon.length > 0);

    var stock = $("pc-stock");
    stock.textContent = "";
    d.stock.forEach(function (s) {
      var li = el("li");
      li.appendChild(el("span", "", s.reward + " · " + s.sku + (s.tier && s.tier !== "standard" ? " (" + s.tier + ")" : "")));
      li.appendChild(el("b", "", s.left + " / " + s.total));
      stock.appendChild(li);
    });
    if (!d.stock.length) stock.appendChild(el("li", "pc-dim", "No drop has stock here."));

    if (detail) {
      var cur = byId[detail.id];
      if (cur && cur.state !== detail.state) openClaim(detail.id, detail.found_by);
    }
  }

  function item(c, isNew) {
    var li = el("li");
    var b = el("button", "pc-item" + (isNew ? " pc-new" : ""));
    b.type = "button";
    b.setAttribute("data-claim", c.id);
    b.setAttribute("data-state", c.state);
    b.appendChild(el("b", "", c.reward + " · " + c.sku + (c.sandbox ? " · test" : "")));
    b.appendChild(el("span", "pc-hint", "…" + c.code_hint));
    var when = "claimed " + clock(c.created_at);
    var late = false;
    if ((c.status === "waiting" || c.status === "ready") && c.pickup_by) {
      when += " · pick up " + until(c.pickup_by);
      late = new Date(c.pickup_by).getTime() < now();
    } else if (c.status === "failed" && c.reason) {
      when += " · " + c.reason;
    }
    if (c.locker && c.status === "ready") when += " · locker " + (c.locker.slot || "") + (c.locker.pin ? " PIN " + c.locker.pin : "");
    b.appendChild(el("span", "pc-when" + (late ? " pc-late" : ""), when));
    b.onclick = function () { proof = {}; openClaim(c.id, ""); };
    li.appendChild(b);
    return li;
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-tab]"), function (b) {
    b.onclick = function () {
      tab = b.getAttribute("data-tab");
      Array.prototype.forEach.call(document.querySelectorAll("[data-tab]"), function (o) {
        o.setAttribute("aria-selected", o === b ? "true" : "false");
      });
      if (data) render(data);
    };
  });

  // ---- one claim ---------------------------------------------------------

  function openClaim(id, foundBy) {
    return call("GET", "/claims/" + encodeURIComponent(id)).then(function (r) {
      if (r.status !== 200) { findError((r.data && r.data.detail) || "HTTP " + r.status); return; }
      r.data.found_by = foundBy || r.data.found_by;
      showClaim(r.data);
    }).catch(function () {});
  }

  function showClaim(c) {
    var same = detail && detail.id === c.id;
    detail = c;
    var st = $("pc-d-status");
    st.textContent = LABELS[c.status] + (c.state !== c.status ? " (" + c.state.replace("_", " ") + ")" : "");
    st.className = "pc-badge pc-s-" + c.status;
    $("pc-d-reward").textContent = c.reward + (c.sandbox ? " (test claim: hand nothing out)" : "");
    $("pc-d-sku").textContent = c.sku;
    $("pc-d-tier").textContent = c.tier || "–";
    $("pc-d-code").textContent = c.pickup_code || "…" + c.code_hint;
    var open = c.status === "waiting" || c.status === "ready";
    var last = (c.history || [])[(c.history || []).length - 1];
    $("pc-d-by-label").textContent = open ? "Pick up by" : c.status === "picked_up" ? "Picked up at" : "Closed at";
    if (open) $("pc-d-by").textContent = c.pickup_by ? clock(c.pickup_by) + " (" + until(c.pickup_by) + ")" : "–";
    else $("pc-d-by").textContent = last ? clock(last.at) : "–";
    show($("pc-d-locker-row"), !!c.locker);
    if (c.locker) $("pc-d-locker").textContent = (c.locker.slot ? "slot " + c.locker.slot : "") + (c.locker.pin ? " · PIN " + c.locker.pin : "");
    show($("pc-actions"), open);
    show($("pc-ready-form"), c.status === "waiting");
    if (!same) { $("pc-d-note").textContent = ""; $("pc-slot").value = ""; $("pc-pin").value = ""; $("pc-reason").value = ""; }
    // A closed claim says so, unless an action on it just said more (a
    // sale recorded after the pickup).
    if (!open && (!same || !$("pc-d-note").textContent)) {
      $("pc-d-note").textContent = c.status === "picked_up" ? "Picked up." : "This claim is closed" + (c.reason ? ": " + c.reason : ".");
    }
    show($("pc-detail"), true);
    if (!same) $("pc-detail").scrollIntoView({ block: "start" });
  }

  function act(type, extra, btn) {
    if (!detail) return;
    var body = { id: newID(), type: type };
    for (var k in extra) body[k] = extra[k];
    if (type === "claim.picked_up") {
      if (proof.receipt) body.receipt = proof.receipt;
      else if (proof.pickup_code) body.pickup_code = proof.pickup_code;
    }
    btn.disabled = true;
    var id = detail.id;
    var attempt = function (n) {
      return call("POST", "/claims/" + encodeURIComponent(id) + "/events", body).then(function (r) {
        if (r.status === 202) {
          findError("");
          if (type === "claim.sale") {
            $("pc-d-note").textContent = r.data.status === "recorded" ? "Sale recorded." : "This sale was recorded already.";
            $("pc-sale-amount").value = "";
          } else {
            $("pc-d-note").textContent = r.data.status === "applied" ? "Done: " + r.data.state.replace("_", " ") + "."
              : "Nothing changed: the claim is " + r.data.state.replace("_", " ") + ".";
          }
          openClaim(id, detail.found_by);
          poll();
          return;
        }
        if (r.status >= 500 && n < 3) return wait(500 * (n + 1)).then(function () { return attempt(n + 1); });
        $("pc-d-note").textContent = "";
        findError((r.data && r.data.detail) || "HTTP " + r.status);
      }, function (e) {
        // The same id again: a retry is applied once.
        if (e.message !== "signed out" && n < 3) return wait(500 * (n + 1)).then(function () { return attempt(n + 1); });
      });
    };
    attempt(0).then(function () { btn.disabled = false; });
  }
  function wait(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }
  function newID() {
    var a = new Uint8Array(12);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  $("pc-ready-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var slot = $("pc-slot").value.trim(), pin = $("pc-pin").value.trim();
    act("claim.ready", slot || pin ? { locker: { slot: slot, pin: pin } } : {}, $("pc-ready"));
  });
  $("pc-picked").onclick = function () { act("claim.picked_up", {}, $("pc-picked")); };
  $("pc-fail-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var reason = $("pc-reason").value.trim();
    if (!confirm("Mark this claim failed? The viewer is compensated by the drop's policy.")) return;
    act("claim.failed", reason ? { reason: reason } : {}, $("pc-fail"));
  });
  // A sale to the claimant counts in the campaign's report (its uplift).
  $("pc-sale-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    act("claim.sale", { amount: $("pc-sale-amount").value.trim(),
      currency: $("pc-sale-currency").value.trim().toUpperCase() }, $("pc-sale"));
  });
  $("pc-d-close").onclick = function () { detail = null; proof = {}; show($("pc-detail"), false); };

  // ---- finding a claim ---------------------------------------------------

  function findError(msg) {
    $("pc-find-error").textContent = msg;
    show($("pc-find-error"), !!msg);
  }

  // answer shows what a lookup found, or why the claim cannot be picked up.
  function answer(r) {
    if (r.status === 200) {
      findError("");
      proof = r.data.receipt ? { receipt: r.data.receipt } : { pickup_code: r.data.pickup_code };
      showClaim(r.data);
      return;
    }
    var p = r.data || {};
    var msg = p.detail || "HTTP " + r.status;
    if (p.code === "already_picked_up" && p.claim) {
      // The server words times in UTC; this phone knows its own zone.
      var at = (p.claim.history || []).filter(function (h) { return h.state === "picked_up"; })[0];
      if (at) msg = "Already picked up at " + clock(at.at) + " on " + new Date(at.at).toLocaleDateString() + ": do not hand it out again.";
    }
    findError(msg);
    if (p.claim) { proof = {}; showClaim(p.claim); } else { detail = null; show($("pc-detail"), false); }
  }

  $("pc-code-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var code = $("pc-code").value.trim();
    if (!code) return;
    $("pc-find").disabled = true;
    var q = { pickup_code: code };
    call("POST", "/lookup", q).then(function (r) { answer(r); if (r.status === 200) $("pc-code").value = ""; })
      .catch(function (e) { findError(e.message); })
      .then(function () { $("pc-find").disabled = false; });
  });

  // Scanning: BarcodeDetector where the browser has it, reading frames
  // here; elsewhere frames go to /scan, which reads them on the server.
  var scanning = false, stream = null, detector = null;
  var canvas = document.createElement("canvas");

  function detectorFor() {
    if (!("BarcodeDetector" in window)) return Promise.resolve(null);
    return window.BarcodeDetector.getSupportedFormats().then(function (f) {
      return f.indexOf("qr_code") >= 0 ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
    }).catch(function () { return null; });
  }

  function startScan() {
    findError("");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      findError("This browser cannot use the camera here: type the pickup code instead.");
      return;
    }
    navigator.mediaDevices.getUserMedia({ audio: false, video: { facingMode: "environment", width: { ideal: 1280 }, height: { ideal: 720 } } })
      .then(function (s) {
        stream = s;
        var v = $("pc-video");
        v.srcObject = s;
        show($("pc-scanner"), true);
        show($("pc-scan"), false);
        scanning = true;
        return v.play().catch(function () {}).then(detectorFor).then(function (d) { detector = d; loop(); });
      })
      .catch(function (e) { findError("The camera could not be opened (" + (e.name || e.message) + "): type the pickup code instead."); });
  }

  function stopScan() {
    scanning = false;
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
    $("pc-video").srcObject = null;
    show($("pc-scanner"), false);
    show($("pc-scan"), true);
  }

  function loop() {
    if (!scanning) return;
    var v = $("pc-video");
    if (v.readyState < 2 || !v.videoWidth) { setTimeout(loop, 150); return; }
    (detector ? detectHere(v) : detectOnServer(v)).then(function (done) {
      if (!done && scanning) setTimeout(loop, detector ? 120 : 350);
    });
  }

  function detectHere(v) {
    return detector.detect(v).then(function (codes) {
      if (!codes.length || !scanning) return false;
      stopScan();
      return call("POST", "/lookup", { qr: codes[0].rawValue }).then(function (r) { answer(r); return true; });
    }).catch(function () { return false; });
  }

  function detectOnServer(v) {
    var scale = Math.min(1, 1280 / Math.max(v.videoWidth, v.videoHeight));
    canvas.width = Math.round(v.videoWidth * scale);
    canvas.height = Math.round(v.videoHeight * scale);
    canvas.getContext("2d").drawImage(v, 0, 0, canvas.width, canvas.height);
    return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", 0.92); }).then(function (blob) {
      if (!blob || !scanning) return false;
      return call("POST", "/scan", blob, "image/jpeg").then(function (r) {
        if (!scanning) return true;
        // No code in this frame, or a frame the server could not take now
        // (too many, too slow to arrive on a poor connection, a server
        // error): the next frame is tried. Anything else is an answer.
        if ((r.status === 422 && r.data && r.data.code === "no_qr") || r.status === 408 || r.status === 429 ||
          r.status >= 500) return false;
        stopScan();
        answer(r);
        return true;
      });
    }).catch(function () { return false; });
  }

  $("pc-scan").onclick = startScan;
  $("pc-scan-stop").onclick = stopScan;

  $("pc-signout").onclick = function () {
    stopScan();
    fetch(base + "/signout", { method: "POST", credentials: "same-origin" }).then(function () { location.replace(base); });
  };

  poll();
})();
