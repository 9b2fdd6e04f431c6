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

  var tries = 0;
  function claim() {
    var body = { code: data.code };
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
        if (res.status === 409 && j.claim_id) return openReceipt(j.claim_id, j.receipt);
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
