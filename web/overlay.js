// Dropwire overlay: connects to /v1/overlay/{creator}/ws and draws the
// creator's drop state (protocol v2: times in Unix milliseconds, the QR as
// its modules, which this page draws). Vanilla ES2020 for Chromium 103+ (OBS's browser);
// no build step, no dependency. The server sends the whole state on
// connect and on every change; the page never counts down from when a
// message arrived, but from closes_at and server_time. The creator's
// overlay settings come with the state ("settings"); URL parameters
// override them for this one overlay.
//
// With ?preview=1 the page opens no socket: the dashboard that frames it
// posts it a sample state and unsaved settings (same origin only).
(function () {
  "use strict";

  var params = new URLSearchParams(location.search);
  var parts = location.pathname.split("/");
  var creator = decodeURIComponent(parts[parts.length - 1] || parts[parts.length - 2] || "");
  var key = params.get("key") || "";
  var debug = params.get("debug") === "1";
  var preview = params.get("preview") === "1";

  var BACKOFF_MIN = 1000;
  var BACKOFF_MAX = 15000;
  var SILENCE = 25000; // no message (state or ping) for this long: reconnect
  var STALE_QR = 15000; // a QR this long past rotates_at is not drawn
  var QUIET = 4; // the white margin around the QR, in modules
  var SVGNS = "http://www.w3.org/2000/svg";
  var ELLIPSIS = "\u2026";

  var root = document.getElementById("dw-overlay");
  var el = {
    title: document.getElementById("dw-title"),
    qr: document.getElementById("dw-qr"),
    cta: document.getElementById("dw-cta"),
    countdown: document.getElementById("dw-countdown"),
    stock: document.getElementById("dw-stock"),
    message: document.getElementById("dw-message"),
    debug: document.getElementById("dw-debug")
  };

  // Settings: the defaults, then the creator's (from the server), then
  // this URL's overrides. overlay/settings.go has the same defaults.
  var DEFAULTS = {
    position: "br", x: "", y: "", qr_size: 280, theme: "dark", brand: "", title_lines: 2,
    call_to_action: "Scan to claim", hide_countdown: false, hide_stock: false,
    sold_out_text: "Sold out", closed_text: "Drop closed", only_live: false
  };
  var COORD = /^\d+(\.\d+)?(px|%)$/;
  var overrides = {};
  (function () {
    var p = params.get("pos");
    if (["tl", "tr", "bl", "br"].indexOf(p) >= 0) overrides.position = p;
    var x = params.get("x"), y = params.get("y");
    if (COORD.test(x || "") && COORD.test(y || "")) { overrides.x = x; overrides.y = y; }
    else if (p) { overrides.x = ""; overrides.y = ""; }
    var size = parseInt(params.get("size") || "", 10);
    if (size >= 64 && size <= 2000) overrides.qr_size = size;
    var theme = params.get("theme");
    if (theme === "dark" || theme === "light") overrides.theme = theme;
    var brand = (params.get("brand") || "").replace(/^#/, "");
    if (/^[0-9a-fA-F]{6}$/.test(brand)) overrides.brand = "#" + brand;
    var lines = params.get("lines");
    if (lines === "1" || lines === "2") overrides.title_lines = +lines;
    if (params.has("cta")) overrides.call_to_action = params.get("cta").slice(0, 40);
    var flag = function (name, field) {
      var v = params.get(name);
      if (v === "0") overrides[field] = true;
      if (v === "1") overrides[field] = false;
    };
    flag("countdown", "hide_countdown");
    flag("stock", "hide_stock");
    if (params.get("onlylive") === "1") overrides.only_live = true;
    if (params.get("onlylive") === "0") overrides.only_live = false;
  })();
  var settings = {}; // in effect
  var applied = null; // the server settings last applied, as JSON

  function applySettings(server) {
    var seen = JSON.stringify(server || {});
    if (seen === applied) return;
    applied = seen;
    var s = {};
    [DEFAULTS, server || {}, overrides].forEach(function (src) {
      for (var k in src) if (Object.prototype.hasOwnProperty.call(DEFAULTS, k)) s[k] = src[k];
    });
    settings = s;
    var cl = root.classList;
    ["tl", "tr", "bl", "br", "xy"].forEach(function (p) { cl.remove("dw-pos-" + p); });
    if (s.x && s.y) {
      cl.add("dw-pos-xy");
      root.style.setProperty("--dw-x", s.x);
      root.style.setProperty("--dw-y", s.y);
    } else {
      cl.add("dw-pos-" + (["tl", "tr", "bl", "br"].indexOf(s.position) >= 0 ? s.position : "br"));
    }
    root.style.setProperty("--dw-size", (s.qr_size || 280) + "px");
    cl.toggle("dw-theme-light", s.theme === "light");
    cl.toggle("dw-theme-dark", s.theme !== "light");
    if (s.brand) root.style.setProperty("--dw-accent", s.brand);
    else root.style.removeProperty("--dw-accent");
    root.style.setProperty("--dw-lines", s.title_lines === 1 ? "1" : "2");
    cl.toggle("dw-no-countdown", !!s.hide_countdown);
    cl.toggle("dw-no-stock", !!s.hide_stock);
    el.cta.textContent = s.call_to_action;
    el.cta.hidden = !s.call_to_action;
    fitted = "";
    live = !s.only_live || preview || obsLive;
  }

  var state = null; // last state message
  var offset = 0; // server clock minus local clock, ms
  var obsLive = !window.obsstudio; // outside OBS nothing tells: draw
  var live = true;
  var drawn = ""; // the modules drawn in el.qr
  var fitted = ""; // the title and settings el.title was fitted for

  function serverNow() { return Date.now() + offset; }

  function fmt(ms) {
    var s = Math.max(0, Math.ceil(ms / 1000));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var sec = s % 60;
    var mm = (h > 0 && m < 10 ? "0" : "") + m;
    return (h > 0 ? h + ":" : "") + mm + ":" + (sec < 10 ? "0" : "") + sec;
  }

  // fixedModule tells whether the module at row r, column c of an n×n QR
  // symbol is one every symbol has (a finder pattern with its separator,
  // a timing pattern), which frames leave out: -1 not fixed, 1 dark,
  // 0 light. overlay/qr.go has the same function.
  function fixedModule(n, r, c) {
    var fr, fc;
    if (r < 8 && c < 8) { fr = r; fc = c; }
    else if (r < 8 && c >= n - 8) { fr = r; fc = c - (n - 7); }
    else if (r >= n - 8 && c < 8) { fr = r - (n - 7); fc = c; }
    else if (r === 6) return c % 2 === 0 ? 1 : 0;
    else if (c === 6) return r % 2 === 0 ? 1 : 0;
    else return -1;
    if (fr < 0 || fr > 6 || fc < 0 || fc > 6) return 0; // separator
    return Math.max(Math.abs(fr - 3), Math.abs(fc - 3)) !== 2 ? 1 : 0;
  }

  // qrPath turns a frame's QR (size, and the other modules packed row by
  // row, one bit each, most significant first, in base64) into an SVG path
  // of one rectangle per run of dark modules, offset by the quiet zone;
  // null when the modules do not fit the size.
  function qrPath(n, modules) {
    if (!(n >= 21 && n <= 177 && n % 4 === 1)) return null;
    var bits;
    try { bits = atob(modules); } catch (e) { return null; }
    var k = 0;
    var d = [];
    for (var r = 0; r < n; r++) {
      var run = 0;
      for (var c = 0; c <= n; c++) {
        var dark = false;
        if (c < n) {
          var f = fixedModule(n, r, c);
          if (f < 0) {
            if ((k >> 3) >= bits.length) return null;
            dark = (bits.charCodeAt(k >> 3) & (0x80 >> (k & 7))) !== 0;
            k++;
          } else {
            dark = f === 1;
          }
        }
        if (dark) { run++; continue; }
        if (run > 0) {
          d.push("M" + (c - run + QUIET) + " " + (r + QUIET) + "h" + run + "v1h-" + run + "z");
          run = 0;
        }
      }
    }
    if (((k + 7) >> 3) !== bits.length) return null;
    return d.join("");
  }

  // drawQR draws qr in el.qr (once per code) and reports whether it could.
  function drawQR(qr) {
    if (qr.modules === drawn) return true;
    var d = qrPath(qr.size, qr.modules || "");
    if (d === null) return false;
    var side = String(qr.size + 2 * QUIET);
    var svg = document.createElementNS(SVGNS, "svg");
    svg.setAttribute("viewBox", "0 0 " + side + " " + side);
    svg.setAttribute("shape-rendering", "crispEdges");
    var bg = document.createElementNS(SVGNS, "rect");
    bg.setAttribute("width", side);
    bg.setAttribute("height", side);
    bg.setAttribute("fill", "#fff");
    var path = document.createElementNS(SVGNS, "path");
    path.setAttribute("fill", "#000");
    path.setAttribute("d", d);
    svg.appendChild(bg);
    svg.appendChild(path);
    el.qr.replaceChildren(svg);
    drawn = qr.modules;
    return true;
  }

  // fits reports whether the title shows whole: no line beyond the
  // allowed ones, no word wider than the card.
  function fits(t) {
    return t.scrollHeight <= t.clientHeight + 1 && t.scrollWidth <= t.clientWidth + 1;
  }

  // fitTitle puts text in el.title on at most the allowed lines (CSS
  // wraps it between words). What does not fit is cut between words, with
  // an ellipsis after the last whole word; never inside a word. A single
  // word wider than the card is set smaller instead.
  function fitTitle(text) {
    var t = el.title;
    t.style.fontSize = "";
    t.textContent = text;
    if (fits(t)) return;
    var words = text.split(/\s+/).filter(Boolean);
    while (words.length > 1) {
      words.pop();
      t.textContent = words.join(" ") + ELLIPSIS;
      if (fits(t)) return;
    }
    t.textContent = words.join("");
    for (var scale = 0.9; scale >= 0.5 && !fits(t); scale -= 0.1) {
      t.style.fontSize = Math.round(scale * 100) + "%";
    }
  }

  function setStatus(status) {
    ["idle", "open", "sold_out", "closed"].forEach(function (s) {
      root.classList.toggle("dw-status-" + s, s === status);
    });
  }

  // render draws state at the current server time. It runs on every
  // message and on a timer, so it is right again as soon as OBS shows the
  // source after hiding it.
  function render() {
    var st = state;
    var status = st ? st.status : "idle";
    var now = serverNow();
    if (status === "open") {
      var closes = st.closes_at;
      var rotates = st.qr ? st.qr.rotates_at : 0;
      if (!(closes > now) || !st.qr || now > rotates + STALE_QR || !drawQR(st.qr)) {
        status = "idle"; // window over, QR stale or unreadable: draw nothing rather than something wrong
      } else {
        el.countdown.textContent = fmt(closes - now);
        el.stock.textContent = st.stock ? st.stock.left + " / " + st.stock.total + " left" : "";
      }
    } else if (status === "sold_out") {
      el.message.textContent = settings.sold_out_text;
    } else if (status === "closed") {
      el.message.textContent = settings.closed_text;
    }
    if (!live) status = "idle";
    setStatus(status);
    root.classList.toggle("dw-hidden", status === "idle");
    if (status === "open") {
      // Measured while the card is on the canvas, so only now.
      var title = st.drop ? st.drop.title || st.drop.id : "";
      var want = title + "\n" + root.style.cssText + root.className.replace(/dw-status-\S+|dw-hidden/g, "");
      if (want !== fitted) {
        fitTitle(title);
        fitted = want;
      }
    }
  }

  function setDebug(connected, text) {
    if (!debug) return;
    el.debug.hidden = false;
    el.debug.classList.toggle("dw-connected", connected);
    el.debug.classList.toggle("dw-disconnected", !connected);
    el.debug.textContent = text;
  }

  var attempt = 0;
  var ws = null;
  var silenceTimer = 0;

  function wsURL() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    return proto + "//" + location.host + "/v1/overlay/" + encodeURIComponent(creator) +
      "/ws?key=" + encodeURIComponent(key);
  }

  function armSilence() {
    clearTimeout(silenceTimer);
    silenceTimer = setTimeout(function () {
      if (ws) ws.close(); // onclose reconnects
    }, SILENCE);
  }

  function connect() {
    var sock;
    try {
      sock = new WebSocket(wsURL());
    } catch (e) {
      retry();
      return;
    }
    ws = sock;
    var seq = -1; // seq is monotonic within one connection only
    sock.onopen = function () {
      setDebug(true, "connected");
      armSilence();
    };
    sock.onmessage = function (ev) {
      armSilence();
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (!msg || msg.type !== "state") return;
      if (msg.v !== 2) return; // another protocol (a replica of another release): draw nothing wrong
      if (typeof msg.seq === "number" && msg.seq <= seq) return;
      seq = msg.seq;
      attempt = 0;
      if (typeof msg.server_time === "number") offset = msg.server_time - Date.now();
      state = msg;
      applySettings(msg.settings);
      render();
    };
    sock.onclose = function () {
      if (ws !== sock) return;
      ws = null;
      clearTimeout(silenceTimer);
      retry();
    };
    sock.onerror = function () { /* onclose follows */ };
  }

  function retry() {
    // Capped exponential backoff with jitter: 1 s, 2 s, 4 s ... 15 s, each
    // between 75 % and 100 % of its step, so overlays do not reconnect in
    // lockstep after a restart. The last state stays drawn meanwhile (it
    // hides itself when its QR or window runs out).
    var step = Math.min(BACKOFF_MAX, BACKOFF_MIN * Math.pow(2, attempt));
    var delay = Math.round(step * (0.75 + Math.random() * 0.25));
    attempt++;
    setDebug(false, "disconnected, retry in " + (delay / 1000).toFixed(1) + " s");
    setTimeout(connect, delay);
  }

  // OBS: with only_live (setting, or ?onlylive=1), draw only while streaming.
  var obs = window.obsstudio;
  if (obs) {
    window.addEventListener("obsStreamingStarted", function () { obsLive = true; live = true; render(); });
    window.addEventListener("obsStreamingStopped", function () { obsLive = false; live = !settings.only_live || preview; render(); });
    if (typeof obs.getStatus === "function") {
      try {
        obs.getStatus(function (s) { obsLive = !!(s && s.streaming); live = obsLive || !settings.only_live || preview; render(); });
      } catch (e) { /* not permitted: wait for the events */ }
    }
  }

  applySettings(null);
  window.setInterval(render, 250);
  render();
  if (!preview) {
    connect();
    return;
  }
  // Preview: the framing dashboard (same origin only) sends
  // {type: "dropwire-preview", state, settings}; nothing goes to or comes
  // from the server.
  window.addEventListener("message", function (ev) {
    if (ev.origin !== location.origin || ev.source !== window.parent) return;
    var m = ev.data;
    if (!m || m.type !== "dropwire-preview" || !m.state || m.state.v !== 2) return;
    if (typeof m.state.server_time === "number") offset = m.state.server_time - Date.now();
    state = m.state;
    applySettings(m.settings || null);
    render();
  });
  if (window.parent !== window) window.parent.postMessage({ type: "dropwire-preview-ready" }, location.origin);
})();
