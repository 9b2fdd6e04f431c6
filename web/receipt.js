// Receipt page: the receipt comes in the URL fragment (never sent to the
// server) or from localStorage; the claim's live state is polled with it.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var id = decodeURIComponent(location.pathname.replace(/^\/r\//, ""));
  var store = "dw_receipt:" + id;
  var receipt = location.hash.length > 1 ? location.hash.slice(1) : "";
  try {
    if (receipt) localStorage.setItem(store, receipt); else receipt = localStorage.getItem(store) || "";
  } catch (e) { /* private mode: the fragment still works */ }
  if (receipt && location.hash) history.replaceState(null, "", location.pathname);

  var labels = {
    claimed: "Claimed", forwarded: "Sent to the pickup point", accepted: "Accepted by the pickup point",
    rejected: "Refused by the pickup point", ready: "Ready for pickup", picked_up: "Picked up",
    pickup_failed: "Pickup failed", forward_failed: "Could not reach the pickup point", compensated: "Compensated"
  };
  var final = { picked_up: 1, compensated: 1 };
  function fmt(t) { var d = new Date(t); return isNaN(d) ? "" : d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" }); }
  function fail(msg) { var e = $("dw-error"); e.textContent = msg; e.hidden = false; }

  var qrDone = false, delay = 5000;
  function render(c) {
    $("dw-title").textContent = c.drop_title || "Your claim";
    var st = $("dw-state");
    st.textContent = labels[c.state] || c.state;
    st.className = "dw-state" + ({ ready: 1, picked_up: 1, compensated: 1 }[c.state] ? " dw-good" : { rejected: 1, pickup_failed: 1, forward_failed: 1 }[c.state] ? " dw-bad" : "");
    $("dw-code").textContent = c.pickup_code.length === 8 ? c.pickup_code.slice(0, 4) + "-" + c.pickup_code.slice(4) : c.pickup_code;
    var n = c.node || {};
    $("dw-node").textContent = [n.name, n.address, n.hours].filter(Boolean).join(" · ");
    $("dw-by").textContent = fmt(c.pickup_by);
    $("dw-comp").textContent = (c.compensation && c.compensation.text) || "";
    if (!qrDone && c.receipt_qr_svg) { $("dw-qr").innerHTML = c.receipt_qr_svg; qrDone = true; }
    var h = $("dw-history");
    h.textContent = "";
    (c.history || []).forEach(function (e) {
      var li = document.createElement("li");
      li.textContent = (labels[e.state] || e.state) + " · " + fmt(e.at);
      h.appendChild(li);
    });
  }
  function poll() {
    fetch("/v1/claims/" + encodeURIComponent(id), { headers: { Authorization: "Bearer " + receipt }, cache: "no-store" })
      .then(function (res) {
        if (res.status === 401 || res.status === 404) { fail(res.status === 404 ? "This claim no longer exists." : "This receipt is not valid here."); return null; }
        if (!res.ok) throw new Error(String(res.status));
        return res.json();
      })
      .then(function (c) {
        if (!c) return;
        $("dw-error").hidden = true;
        render(c);
        delay = 5000;
        if (!final[c.state]) setTimeout(poll, delay);
      })
      .catch(function () { delay = Math.min(delay * 2, 30000); setTimeout(poll, delay); });
  }
  if (!receipt) { fail("Open this page from the phone you claimed with: the receipt is kept there."); return; }
  poll();
})();
