// Dashboard, overlay look: the creator's overlay settings as a form, and a
// live preview of the real overlay page at 1920×1080, scaled into the
// card. The preview is the overlay page in preview mode: it opens no
// socket; this script posts it a sample open drop and the form's unsaved
// settings. Save PUTs them; every open overlay of the creator applies
// them at once.
(function () {
  "use strict";
  var d = window.dropwireDashboard;
  var $ = function (id) { return document.getElementById(id); };
  var creators = []; // from /v1/admin/creators
  var view = null; // the GET answer for the creator shown
  var frameReady = false;
  var loaded = false;
  var FIELDS = ["position", "x", "y", "qr_size", "theme", "brand", "title_lines", "call_to_action",
    "hide_countdown", "hide_stock", "sold_out_text", "closed_text", "message_seconds", "only_live"];
  var INPUT = { position: "ov-position", x: "ov-x", y: "ov-y", qr_size: "ov-size", theme: "ov-theme",
    brand: "ov-brand", title_lines: "ov-lines", call_to_action: "ov-cta", hide_countdown: "ov-countdown",
    hide_stock: "ov-stock", sold_out_text: "ov-soldout", closed_text: "ov-closed",
    message_seconds: "ov-seconds", only_live: "ov-onlylive" };

  function path(c) { return "/v1/admin/creators/" + encodeURIComponent(c) + "/overlay-settings"; }

  // fromForm is the settings the form shows, as the API takes them.
  function fromForm() {
    var xy = $("ov-position").value === "xy";
    return {
      position: xy ? "br" : $("ov-position").value,
      x: xy ? $("ov-x").value.trim() : "",
      y: xy ? $("ov-y").value.trim() : "",
      qr_size: parseInt($("ov-size").value, 10) || 0,
      theme: $("ov-theme").value,
      brand: $("ov-brand").value.trim(),
      title_lines: parseInt($("ov-lines").value, 10),
      call_to_action: $("ov-cta").value,
      hide_countdown: !$("ov-countdown").checked,
      hide_stock: !$("ov-stock").checked,
      sold_out_text: $("ov-soldout").value,
      closed_text: $("ov-closed").value,
      message_seconds: parseInt($("ov-seconds").value, 10) || 0,
      only_live: $("ov-onlylive").checked
    };
  }

  function toForm(s, limits) {
    $("ov-position").value = s.x && s.y ? "xy" : s.position;
    $("ov-x").value = s.x || "";
    $("ov-y").value = s.y || "";
    $("ov-size").value = s.qr_size;
    $("ov-size").min = limits.qr_size_min;
    $("ov-size").max = limits.qr_size_max;
    $("ov-theme").value = s.theme;
    $("ov-brand").value = s.brand || "";
    $("ov-lines").value = String(s.title_lines);
    $("ov-cta").value = s.call_to_action;
    $("ov-countdown").checked = !s.hide_countdown;
    $("ov-stock").checked = !s.hide_stock;
    $("ov-soldout").value = s.sold_out_text;
    $("ov-closed").value = s.closed_text;
    $("ov-seconds").value = s.message_seconds;
    $("ov-seconds").max = limits.message_seconds_max;
    $("ov-onlylive").checked = !!s.only_live;
    ["ov-cta", "ov-soldout", "ov-closed"].forEach(function (id) { $(id).maxLength = limits.text_max; });
    showXY();
  }

  function showXY() {
    var xy = $("ov-position").value === "xy";
    $("ov-x").disabled = !xy;
    $("ov-y").disabled = !xy;
  }

  // sampleState is a v2 state message of the sample drop, open for ten
  // more minutes by this browser's clock.
  function sampleState() {
    var now = Date.now();
    var s = view.sample;
    return { v: 2, type: "state", seq: now, server_time: now, status: "open",
      drop: { id: s.drop.id, title: s.drop.title, opened_at: now - 60000 },
      closes_at: now + 600000, stock: s.stock,
      qr: { size: s.qr.size, modules: s.qr.modules, rotates_at: now + 600000 } };
  }

  function postPreview() {
    var f = $("ov-preview");
    if (!frameReady || !view || !view.sample || !f.contentWindow) return;
    f.contentWindow.postMessage({ type: "dropwire-preview", state: sampleState(), settings: fromForm() }, location.origin);
  }

  function scalePreview() {
    var box = $("ov-preview-box");
    $("ov-preview").style.transform = "scale(" + (box.clientWidth / 1920) + ")";
  }

  function clearInvalid() {
    FIELDS.forEach(function (f) { $(INPUT[f]).classList.remove("invalid"); });
  }

  function load(creator) {
    view = null;
    $("ov-error").textContent = "";
    $("ov-note").textContent = "";
    clearInvalid();
    var c = creators.filter(function (x) { return x.id === creator; })[0];
    d.api("GET", path(creator)).then(function (v) {
      view = v;
      toForm(v.settings, v.limits);
      if (c) {
        // The overlay page of this server, whatever host public_url names.
        var u = new URL(c.overlay_url, location.href);
        var src = u.pathname + u.search + (u.search ? "&" : "?") + "preview=1";
        if ($("ov-preview").getAttribute("src") !== src) {
          frameReady = false;
          $("ov-preview").src = src;
        } else {
          postPreview();
        }
      }
    }).catch(function (e) { $("ov-error").textContent = e.message; });
  }

  function start() {
    if (loaded) return;
    loaded = true;
    d.api("GET", "/v1/admin/creators").then(function (data) {
      creators = data.creators || [];
      var sel = $("ov-creator");
      creators.forEach(function (c) {
        var o = d.el("option", "", c.name || c.id);
        o.value = c.id;
        sel.appendChild(o);
      });
      if (creators.length) load(creators[0].id);
    }).catch(function (e) { loaded = false; $("ov-error").textContent = e.message; });
  }

  window.addEventListener("message", function (ev) {
    if (ev.origin !== location.origin || ev.source !== $("ov-preview").contentWindow) return;
    if (ev.data && ev.data.type === "dropwire-preview-ready") {
      frameReady = true;
      postPreview();
    }
  });
  $("ov-creator").addEventListener("change", function () { load($("ov-creator").value); });
  $("ov-form").addEventListener("input", function () { showXY(); postPreview(); });
  $("ov-form").addEventListener("change", function () { showXY(); postPreview(); });
  $("ov-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var creator = $("ov-creator").value;
    $("ov-error").textContent = "";
    $("ov-note").textContent = "";
    clearInvalid();
    $("ov-save").disabled = true;
    d.api("PUT", path(creator), fromForm()).then(function (v) {
      view.settings = v.settings;
      toForm(v.settings, v.limits);
      postPreview();
      $("ov-note").textContent = "Saved: every overlay of " + creator + " shows it now.";
    }).catch(function (e) {
      $("ov-error").textContent = e.message;
      var field = e.problem && e.problem.field;
      if (field && INPUT[field]) $(INPUT[field]).classList.add("invalid");
    }).then(function () { $("ov-save").disabled = false; });
  });
  window.addEventListener("resize", scalePreview);
  // The sample's clock moves on: post it again now and then.
  setInterval(postPreview, 60000);
  d.onPoll(function () { start(); scalePreview(); });
})();
