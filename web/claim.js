// Claim page: says what the viewer gets, keeps the stock and the code's
// time left live (polling /v1/codes/{code}, which every viewer of the code
// shares), claims with one Idempotency-Key per attempt (so retries never
// make a second claim), then opens the receipt. Times are the viewer's
// local time, numbers and dates go through Intl.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var data = JSON.parse($("dw-data").textContent || "{}");
  var nf = new Intl.NumberFormat();
  var hm = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
  var dhm = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
  function when(t) {
    var d = new Date(t);
    if (isNaN(d)) return "";
    return (d.toDateString() === new Date().toDateString() ? hm : dhm).format(d);
  }
  function localTimes() {
    Array.prototype.forEach.call(document.querySelectorAll("time.dw-when"), function (el) {
      var s = when(el.dateTime);
      if (s) el.textContent = s;
    });
  }
  localTimes();

  // A picture that does not load keeps its box and says what it was.
  var fig = $("dw-figure"), img = $("dw-image");
  if (img) {
    var broken = function () { fig.classList.add("dw-noimg"); };
    img.addEventListener("error", broken);
    if (img.complete && img.naturalWidth === 0) broken();
  }

  function keepReceipt(id, receipt) {
    try { localStorage.setItem("dw_receipt:" + id, receipt); return true; } catch (e) { return false; /* private mode */ }
  }
  // A revisit of a device that claimed: its receipt, kept for the receipt page.
  if (data.claimed && !keepReceipt(data.claimed.claim_id, data.claimed.receipt)) {
    $("dw-receipt-link").href += "#" + data.claimed.receipt;
  }

  var form = $("dw-form");
  if (!form || data.status !== "open") return;
  var offset = Date.parse(data.server_time) - Date.now();
  var until = Date.parse(data.until);
  var submit = $("dw-submit"), message = $("dw-message");
  var over = false, claiming = false;

  // This device claimed the drop before and its cookie is gone, but the
  // receipt is still here: show it, not Claim it.
  if (!data.claimed && data.per_viewer === 1) {
    try {
      for (var i = 0; i < localStorage.length; i++) {
        var k = localStorage.key(i);
        if (k && k.indexOf("dw_receipt:" + data.drop + ".") === 0) {
          var id = k.slice("dw_receipt:".length);
          end("You claimed this drop already.");
          var a = document.createElement("a");
          a.className = "dw-button"; a.id = "dw-receipt-link";
          a.href = "/r/" + encodeURIComponent(id); a.textContent = "Open your receipt";
          message.parentNode.insertBefore(a, message.nextSibling);
          return;
        }
      }
    } catch (e) { /* private mode */ }
  }

  function show(msg) {
    message.textContent = "";
    message.append.apply(message, Array.prototype.slice.call(arguments));
    message.hidden = false;
  }
  // end takes the offer away for good: sold out, ended, expired.
  function end() {
    over = true;
    submit.disabled = true;
    show.apply(null, arguments);
    form.hidden = true;
    $("dw-policy").hidden = true;
    document.querySelector(".dw-live").hidden = true;
    $("dw-error").hidden = true;
  }
  function soldOut(at) {
    if (!at) return end("Sold out: every reward of this drop has been claimed.");
    var t = document.createElement("time");
    t.dateTime = at; t.className = "dw-when"; t.textContent = when(at);
    end("Sold out at ", t, ": every reward of this drop has been claimed.");
  }
  function expired() {
    end(data.until_closes ? "This drop has ended." : "This code expired: scan the QR on stream now.");
  }

  // How long the code still works, from the server's clock.
  var clock = $("dw-clock"), timer = 0;
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function tick() {
    if (over) return clearInterval(timer);
    var s = Math.max(0, Math.ceil((until - (Date.now() + offset)) / 1000));
    var h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    clock.textContent = (h ? h + ":" + pad(m) : m) + ":" + pad(s % 60);
    if (s === 0 && !claiming) expired();
  }
  if (!isNaN(until)) { tick(); timer = setInterval(tick, 1000); }

  // Stock, live.
  var nodes = {};
  (data.nodes || []).forEach(function (n) { nodes[n.id] = n; });
  function left(l, t) { $("dw-left").textContent = nf.format(l) + " of " + nf.format(t) + " left"; }
  left(data.left, data.total);
  Array.prototype.forEach.call(document.querySelectorAll("[data-left]"), function (el) {
    el.textContent = nf.format(nodes[el.getAttribute("data-left")].left) + " left";
  });
  function apply(s) {
    if (claiming) return;
    left(s.left, s.total);
    (s.nodes || []).forEach(function (n) {
      var el = document.querySelector('[data-left="' + CSS.escape(n.id) + '"]');
      if (el) el.textContent = nf.format(n.left) + " left";
      var box = document.querySelector('.dw-node[data-node="' + CSS.escape(n.id) + '"]');
      var r = box && box.querySelector("input");
      if (r && n.left <= 0 && !r.disabled) {
        r.disabled = true; box.classList.add("dw-empty");
        if (r.checked) {
          r.checked = false;
          var next = form.querySelector("input[name=node]:not(:disabled)");
          if (next) next.checked = true;
        }
      }
    });
    if (s.status === "sold_out") soldOut(s.sold_out_at);
    else if (s.status === "closed") end("This drop has ended.");
    else if (s.status === "expired") expired();
  }
  var delay = 2000, pollTimer = 0;
  function poll() {
    clearTimeout(pollTimer);
    if (over) return;
    if (document.hidden) return; // resumed by visibilitychange
    fetch("/v1/codes/" + encodeURIComponent(data.code), { credentials: "omit" })
      .then(function (res) {
        if (res.status === 404) return { status: "closed" };
        if (!res.ok) throw new Error(String(res.status));
        return res.json();
      })
      .then(function (s) { apply(s); delay = 2000; })
      .catch(function () { delay = Math.min(delay * 2, 30000); })
      .then(function () { if (!over) pollTimer = setTimeout(poll, delay + Math.random() * 500); });
  }
  pollTimer = setTimeout(poll, delay);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) poll(); });

  // What the drop asks of the viewer.
  function viewerToken() {
    var m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (m) {
      try { sessionStorage.setItem("dw_viewer_token", decodeURIComponent(m[1])); } catch (e) { /* private mode */ }
      return decodeURIComponent(m[1]);
    }
    try { return sessionStorage.getItem("dw_viewer_token") || ""; } catch (e) { return ""; }
  }
  if (data.identity === "token" && !viewerToken()) submit.disabled = true;

  function newKey() {
    var b = new Uint8Array(16); crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }
  var idemKey = "dw_idem:" + data.code;
  var key = sessionStorage.getItem(idemKey) || newKey();
  sessionStorage.setItem(idemKey, key);

  function showError(msg) { var e = $("dw-error"); e.textContent = msg; e.hidden = false; }
  function openReceipt(id, receipt) {
    var kept = receipt && keepReceipt(id, receipt);
    location.assign("/r/" + encodeURIComponent(id) + (receipt && !kept ? "#" + receipt : ""));
  }
  // The next claim page lists the region of the node chosen here first.
  function rememberRegion(node) {
    var n = nodes[node];
    if (n && n.region) document.cookie = "dw_region=" + encodeURIComponent(n.region) + "; path=/; max-age=34560000; samesite=lax";
  }

  // Proof of work (claim_pow_bits): started at once, so it is usually done
  // before the viewer taps. SHA-256 by hand: crypto.subtle is async per
  // hash and missing on plain-http pages.
  var pow = null, powWait = [];
  function sha256(str) {
    var K = sha256.K, H = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    if (!K) {
      K = sha256.K = [];
      var n = 2, found = 0;
      var frac = function (x) { return ((x - Math.floor(x)) * 4294967296) | 0; };
      while (found < 64) {
        var prime = true;
        for (var f = 2; f * f <= n; f++) if (n % f === 0) { prime = false; break; }
        if (prime) K[found++] = frac(Math.pow(n, 1 / 3));
        n++;
      }
    }
    var bytes = unescape(encodeURIComponent(str)), l = bytes.length, words = [], i;
    for (i = 0; i < l; i++) words[i >> 2] |= bytes.charCodeAt(i) << (24 - (i % 4) * 8);
    words[l >> 2] |= 0x80 << (24 - (l % 4) * 8);
    var len = ((l + 8) >> 6) * 16 + 16;
    for (i = words.length; i < len; i++) words[i] = words[i] | 0;
    words[len - 1] = l * 8;
    var w = new Array(64);
    for (var b = 0; b < len; b += 16) {
      var a0 = H[0], a1 = H[1], a2 = H[2], a3 = H[3], a4 = H[4], a5 = H[5], a6 = H[6], a7 = H[7];
      for (i = 0; i < 64; i++) {
        if (i < 16) w[i] = words[b + i] | 0;
        else {
          var x = w[i - 15], y = w[i - 2];
          w[i] = (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) +
            (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + w[i - 7] + w[i - 16] | 0;
        }
        var t1 = a7 + (((a4 >>> 6) | (a4 << 26)) ^ ((a4 >>> 11) | (a4 << 21)) ^ ((a4 >>> 25) | (a4 << 7))) +
          ((a4 & a5) ^ (~a4 & a6)) + K[i] + w[i] | 0;
        var t2 = (((a0 >>> 2) | (a0 << 30)) ^ ((a0 >>> 13) | (a0 << 19)) ^ ((a0 >>> 22) | (a0 << 10))) +
          ((a0 & a1) ^ (a0 & a2) ^ (a1 & a2)) | 0;
        a7 = a6; a6 = a5; a5 = a4; a4 = a3 + t1 | 0; a3 = a2; a2 = a1; a1 = a0; a0 = t1 + t2 | 0;
      }
      H[0] = H[0] + a0 | 0; H[1] = H[1] + a1 | 0; H[2] = H[2] + a2 | 0; H[3] = H[3] + a3 | 0;
      H[4] = H[4] + a4 | 0; H[5] = H[5] + a5 | 0; H[6] = H[6] + a6 | 0; H[7] = H[7] + a7 | 0;
    }
    return H;
  }
  function zeroBits(h) {
    for (var i = 0, n = 0; i < 8; i++, n += 32) if (h[i] !== 0) return n + Math.clz32(h[i]);
    return 256;
  }
  if (data.pow) {
    var nonce = 0;
    (function work() {
      for (var end = nonce + 2000; nonce < end; nonce++) {
        if (zeroBits(sha256(data.pow.challenge + ":" + nonce)) >= data.pow.bits) {
          pow = { challenge: data.pow.challenge, nonce: String(nonce) };
          powWait.splice(0).forEach(function (f) { f(); });
          return;
        }
      }
      setTimeout(work, 0);
    })();
  }

  var tries = 0;
  function claim() {
    if (over) return;
    if (data.pow && !pow) {
      submit.disabled = true;
      powWait.push(claim);
      return;
    }
    var body = { code: data.code };
    if (pow) body.pow = pow;
    var checked = form.querySelector("input[name=node]:checked");
    if (checked) { body.node = checked.value; rememberRegion(checked.value); }
    if (data.identity === "email") body.viewer = form.email.value.trim();
    if (data.identity === "token") body.viewer = viewerToken();
    claiming = true;
    submit.disabled = true;
    $("dw-error").hidden = true;
    fetch("/v1/claims", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Idempotency-Key": key },
      body: JSON.stringify(body)
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (j) {
        if (res.status === 200 || res.status === 201) { sessionStorage.removeItem(idemKey); return openReceipt(j.claim_id, j.receipt); }
        if (res.status === 409 && j.claim_id) {
          // The receipt comes back only to the device that claimed.
          var kept = null;
          try { kept = localStorage.getItem("dw_receipt:" + j.claim_id); } catch (e) { /* private mode */ }
          if (j.receipt || kept) return openReceipt(j.claim_id, j.receipt || kept);
        }
        if ((res.status === 503 || res.status === 429) && tries < 4) {
          tries++;
          var wait = (parseInt(res.headers.get("Retry-After"), 10) || 1) * 1000 + Math.random() * 500;
          return setTimeout(claim, wait);
        }
        claiming = false;
        if (j.code === "sold_out") return soldOut(null);
        if (j.code === "closed") return end("This drop has ended.");
        if (j.code === "code_expired") return end("This code expired: scan the QR on stream now.");
        submit.disabled = res.status === 410 || res.status === 403;
        showError(j.detail || "Could not claim (" + res.status + ").");
      });
    }).catch(function () {
      // Offline or the connection dropped: the same key makes a retry safe.
      claiming = false;
      submit.disabled = false;
      showError("No connection. Tap again to retry: you will not get two claims.");
    });
  }
  form.addEventListener("submit", function (ev) { ev.preventDefault(); claim(); });
})();
