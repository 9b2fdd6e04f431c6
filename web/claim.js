// Claim page: shows the drop, claims with one Idempotency-Key per attempt
// (so retries never make a second claim), then opens the receipt.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("dw-data").textContent || "{}");
  var form = document.getElementById("dw-form");
  if (!form || data.status !== "open") return;
  var $ = function (id) { return document.getElementById(id); };
  var offset = Date.parse(data.server_time) - Date.now();
  var closes = Date.parse(data.closes_at);

  $("dw-left").textContent = data.left + " of " + data.total + " left";
  function tick() {
    var s = Math.max(0, Math.floor((closes - (Date.now() + offset)) / 1000));
    var h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
    $("dw-time").textContent = (h ? h + "h " : "") + (h || m ? m + "m " : "") + sec + "s left";
    if (s === 0) { $("dw-submit").disabled = true; $("dw-time").textContent = "closed"; }
  }
  if (!isNaN(closes)) { tick(); setInterval(tick, 1000); }

  var nodes = data.nodes || [];
  if (nodes.length > 1) {
    var fs = $("dw-nodes");
    var first = true;
    nodes.forEach(function (n) {
      var l = document.createElement("label");
      l.className = "dw-node" + (n.left > 0 ? "" : " dw-empty");
      var r = document.createElement("input");
      r.type = "radio"; r.name = "node"; r.value = n.id; r.disabled = n.left <= 0;
      if (n.left > 0 && first) { r.checked = true; first = false; }
      var t = document.createElement("span");
      t.textContent = n.name;
      var small = document.createElement("small");
      small.textContent = [n.region, n.address, n.left + " left"].filter(Boolean).join(" · ");
      t.appendChild(small);
      l.appendChild(r); l.appendChild(t); fs.appendChild(l);
    });
    fs.hidden = false;
  }
  if (data.identity === "email") $("dw-email").hidden = false;

  function viewerToken() {
    var m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    return m ? decodeURIComponent(m[1]) : (sessionStorage.getItem("dw_viewer_token") || "");
  }
  function newKey() {
    var b = new Uint8Array(16); crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }
  var idemKey = "dw_idem:" + data.code;
  var key = sessionStorage.getItem(idemKey) || newKey();
  sessionStorage.setItem(idemKey, key);

  function showError(msg) { var e = $("dw-error"); e.textContent = msg; e.hidden = false; }
  function openReceipt(id, receipt) {
    if (receipt) { try { localStorage.setItem("dw_receipt:" + id, receipt); } catch (e) { /* private mode */ } }
    location.assign("/r/" + encodeURIComponent(id) + (receipt ? "#" + receipt : ""));
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
    if (data.pow && !pow) {
      $("dw-submit").disabled = true;
      powWait.push(claim);
      return;
    }
    var body = { code: data.code };
    if (pow) body.pow = pow;
    var checked = form.querySelector("input[name=node]:checked");
    if (checked) body.node = checked.value;
    if (data.identity === "email") body.viewer = form.email.value.trim();
    if (data.identity === "token") body.viewer = viewerToken();
    $("dw-submit").disabled = true;
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
        $("dw-submit").disabled = res.status === 410 || res.status === 403;
        showError(j.detail || "Could not claim (" + res.status + ").");
      });
    }).catch(function () {
      // Offline or the connection dropped: the same key makes a retry safe.
      $("dw-submit").disabled = false;
      showError("No connection. Tap again to retry: you will not get two claims.");
    });
  }
  form.addEventListener("submit", function (ev) { ev.preventDefault(); claim(); });
})();
