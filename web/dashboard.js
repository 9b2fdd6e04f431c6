// Dropwire dashboard: signs in with the admin token (kept in
// sessionStorage, never in the URL), polls /v1/admin/overview and redraws
// creators, drops, stats and inline SVG charts. No dependencies.
(function () {
  "use strict";
  var TOKEN = "dw-admin-token";
  var POLL_MS = 1500;
  var SVG = "http://www.w3.org/2000/svg";
  var $ = function (id) { return document.getElementById(id); };
  var timer = null;
  var shown = {}; // creator → overlay URL visible
  var formFilled = false;

  function token() { return sessionStorage.getItem(TOKEN) || ""; }

  function api(method, path, body) {
    var opts = { method: method, headers: { "Authorization": "Bearer " + token() }, cache: "no-store" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (res.status === 401) { signOut("The admin token was refused."); throw new Error("unauthorized"); }
        if (!res.ok) {
          var msg = (data && (data.detail || data.title)) || ("HTTP " + res.status);
          if (data && data.problems) msg += ": " + data.problems.map(function (p) { return p.path + " " + p.message; }).join("; ");
          var err = new Error(msg);
          err.problem = data; // callers that explain a specific code read it
          throw err;
        }
        return data;
      });
    });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function signOut(msg) {
    sessionStorage.removeItem(TOKEN);
    if (timer) { clearTimeout(timer); timer = null; }
    $("app-view").hidden = true;
    $("signout").hidden = true;
    $("live").hidden = true;
    $("signin-view").hidden = false;
    $("signin-error").textContent = msg || "";
  }

  function signedIn() {
    $("signin-view").hidden = true;
    $("app-view").hidden = false;
    $("signout").hidden = false;
    poll();
  }

  // Panels in files of their own (dashboard-nodes.js) register here and
  // refresh with every poll.
  var panels = [];
  window.dropwireDashboard = { api: api, el: el, onPoll: function (fn) { panels.push(fn); } };

  function poll() {
    if (timer) clearTimeout(timer);
    api("GET", "/v1/admin/overview").then(function (data) {
      $("app-error").textContent = "";
      $("live").hidden = false;
      render(data);
      panels.forEach(function (fn) { fn(); });
    }).catch(function (e) {
      if (e.message !== "unauthorized") {
        $("live").hidden = true;
        $("app-error").textContent = "Cannot reach the server: " + e.message + " (retrying)";
      }
    }).then(function () {
      if (token()) timer = setTimeout(poll, POLL_MS);
    });
  }

  function fillForm(data) {
    if (formFilled) return;
    formFilled = true;
    var cs = $("new-creator"), ns = $("new-node");
    data.creators.forEach(function (c) { var o = el("option", "", c.name || c.id); o.value = c.id; cs.appendChild(o); });
    data.nodes.forEach(function (n) { var o = el("option", "", n.name || n.id); o.value = n.id; ns.appendChild(o); });
  }

  function render(data) {
    fillForm(data);
    renderCreators(data.creators);
    renderDrops(data.drops);
  }

  function renderCreators(creators) {
    var box = $("creators");
    creators.forEach(function (c) {
      var card = box.querySelector('[data-creator="' + CSS.escape(c.id) + '"]');
      if (!card) {
        card = el("div", "card creator");
        card.setAttribute("data-creator", c.id);
        card.appendChild(el("h3", "", c.name || c.id));
        var conn = el("div", "conn");
        card.appendChild(conn);
        var url = el("div", "url");
        var input = el("input");
        input.type = "password"; input.readOnly = true; input.className = "overlay-url";
        input.setAttribute("aria-label", "Overlay URL");
        var show = el("button", "ghost", "Show"); show.type = "button"; show.setAttribute("data-action", "show");
        var copy = el("button", "ghost", "Copy"); copy.type = "button"; copy.setAttribute("data-action", "copy");
        url.appendChild(input); url.appendChild(show); url.appendChild(copy);
        card.appendChild(url);
        var rotate = el("button", "ghost", "Rotate overlay key"); rotate.type = "button"; rotate.setAttribute("data-action", "rotate");
        card.appendChild(rotate);
        card.appendChild(el("p", "muted note"));
        show.onclick = function () { shown[c.id] = !shown[c.id]; input.type = shown[c.id] ? "text" : "password"; show.textContent = shown[c.id] ? "Hide" : "Show"; };
        copy.onclick = function () {
          var done = function () { copy.textContent = "Copied"; setTimeout(function () { copy.textContent = "Copy"; }, 1200); };
          if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(input.value).then(done);
          else { var t = input.type; input.type = "text"; input.select(); document.execCommand("copy"); input.type = t; done(); }
        };
        rotate.onclick = function () {
          if (!confirm("Rotate the overlay key of " + c.id + "? The old URL keeps working for 10 minutes: update OBS before then.")) return;
          rotate.disabled = true;
          api("POST", "/v1/admin/creators/" + encodeURIComponent(c.id) + "/overlay-key/rotate").then(function (r) {
            card.querySelector(".note").textContent = "New key. Old URL works until " + new Date(r.old_keys_until).toLocaleTimeString() + ".";
            poll();
          }).catch(function (e) { card.querySelector(".note").textContent = e.message; })
            .then(function () { rotate.disabled = false; });
        };
        box.appendChild(card);
      }
      var connEl = card.querySelector(".conn");
      connEl.textContent = c.overlays_connected + (c.overlays_connected === 1 ? " overlay connected" : " overlays connected");
      connEl.className = "conn " + (c.overlays_connected > 0 ? "some" : "zero");
      connEl.setAttribute("data-overlays", String(c.overlays_connected));
      var input = card.querySelector(".overlay-url");
      if (input.value !== c.overlay_url) input.value = c.overlay_url;
    });
  }

  function pct(x) { return Math.round(x * 100) + "%"; }
  function ms(v) {
    if (v === null || v === undefined) return "–";
    if (v < 1000) return v + " ms";
    if (v < 120000) return (v / 1000).toFixed(1) + " s";
    return Math.round(v / 60000) + " min";
  }

  function stat(label, value, cls) {
    var s = el("div", "stat " + cls);
    s.appendChild(el("b", "", value));
    s.appendChild(el("span", "", label));
    return s;
  }

  function timelineChart(tl) {
    var w = 320, h = 120, pad = 18;
    var root = svg("svg", { viewBox: "0 0 " + w + " " + h, role: "img", "aria-label": "Claims over time" });
    var counts = tl.counts || [];
    var maxv = Math.max.apply(null, [1].concat(counts));
    var n = Math.max(counts.length, 1);
    var bw = (w - 2 * pad) / n;
    counts.forEach(function (c, i) {
      var bh = (h - 2 * pad) * c / maxv;
      root.appendChild(svg("rect", { x: pad + i * bw + 1, y: h - pad - bh, width: Math.max(bw - 2, 1), height: bh, "class": "bar-fill" }));
    });
    root.appendChild(svg("line", { x1: pad, y1: h - pad, x2: w - pad, y2: h - pad, stroke: "#2a2f3a" }));
    if (counts.length) root.appendChild(svg("text", { x: pad, y: 12, "class": "chart-label" }, "max " + maxv + " per " + ms(tl.bucket_ms)));
    if (!counts.length) root.appendChild(svg("text", { x: w / 2 - 30, y: h / 2, "class": "chart-label" }, "no claims yet"));
    return root;
  }

  function funnelChart(f) {
    var steps = [["claimed", f.claimed], ["forwarded", f.forwarded], ["accepted", f.accepted], ["ready", f.ready], ["picked up", f.picked_up]];
    var w = 320, rowh = 20, h = steps.length * rowh + 10, left = 72;
    var root = svg("svg", { viewBox: "0 0 " + w + " " + h, role: "img", "aria-label": "Pickup funnel" });
    var maxv = Math.max(1, f.claimed);
    steps.forEach(function (s, i) {
      var y = 5 + i * rowh;
      var bw = (w - left - 40) * s[1] / maxv;
      root.appendChild(svg("text", { x: 4, y: y + 13, "class": "chart-label" }, s[0]));
      root.appendChild(svg("rect", { x: left, y: y + 2, width: Math.max(bw, s[1] ? 2 : 0), height: rowh - 6, rx: 3, "class": "funnel-fill" }));
      root.appendChild(svg("text", { x: left + bw + 6, y: y + 13, "class": "chart-value" }, String(s[1])));
    });
    return root;
  }

  // poolWarning shows, above a drop's numbers, that its compensation code
  // pool is low (fewer codes than 10 % of its stock): failed pickups
  // would go uncompensated.
  function poolWarning(card, d) {
    var w = card.querySelector(".comp-warning");
    if (!w) {
      w = el("p", "comp-warning");
      w.setAttribute("role", "status");
      card.insertBefore(w, card.querySelector(".stats"));
    }
    var c = d.compensation || {};
    w.hidden = !c.low;
    w.textContent = c.low ? "Only " + c.pool_left + (c.pool_left === 1 ? " compensation code" : " compensation codes") +
      " left for " + d.stock_total + " in stock: failed pickups go uncompensated once they run out. " +
      "Upload more with PUT /v1/admin/drops/" + d.id + "/compensation-codes." : "";
  }

  function renderDrops(drops) {
    var box = $("drops");
    var seen = {};
    // Newest activity first: open drops, then by opening time.
    drops.sort(function (a, b) {
      var ao = a.status === "open" ? 1 : 0, bo = b.status === "open" ? 1 : 0;
      if (ao !== bo) return bo - ao;
      return (b.opened_at || "").localeCompare(a.opened_at || "") || a.id.localeCompare(b.id);
    });
    drops.forEach(function (d) {
      if (d.status === "deleted") return; // being deleted, on another replica
      seen[d.id] = true;
      var card = box.querySelector('[data-drop="' + CSS.escape(d.id) + '"]');
      if (!card) {
        card = el("article", "card drop");
        card.setAttribute("data-drop", d.id);
        var head = el("header");
        head.appendChild(el("h3"));
        head.appendChild(el("span", "badge status"));
        if (d.sandbox) head.appendChild(el("span", "badge sandbox", "sandbox"));
        card.appendChild(head);
        card.appendChild(el("div", "stats"));
        var charts = el("div", "charts");
        var f1 = el("figure"); f1.appendChild(el("figcaption", "", "Claims over time")); f1.appendChild(el("div", "chart-timeline"));
        var f2 = el("figure"); f2.appendChild(el("figcaption", "", "Pickup funnel")); f2.appendChild(el("div", "chart-funnel"));
        charts.appendChild(f1); charts.appendChild(f2);
        card.appendChild(charts);
        card.appendChild(el("div", "lat"));
        card.appendChild(el("p", "outside"));
        var actions = el("div", "actions");
        var test = el("button", "", "Test drop"); test.type = "button"; test.setAttribute("data-action", "test");
        var stock = el("button", "ghost", "+10 stock"); stock.type = "button"; stock.setAttribute("data-action", "stock");
        var close = el("button", "danger", "Close"); close.type = "button"; close.setAttribute("data-action", "close");
        var del = el("button", "danger", "Delete"); del.type = "button"; del.setAttribute("data-action", "delete");
        actions.appendChild(test); actions.appendChild(stock); actions.appendChild(close); actions.appendChild(del);
        card.appendChild(actions);
        card.appendChild(el("p", "error"));
        var act = function (btn, method, path, body) {
          btn.disabled = true;
          card.querySelector(".error").textContent = "";
          api(method, path, body).then(function () { poll(); })
            .catch(function (e) { card.querySelector(".error").textContent = e.message; })
            .then(function () { btn.disabled = false; });
        };
        var base = "/v1/admin/drops/" + encodeURIComponent(d.id);
        test.onclick = function () {
          test.disabled = true;
          var note = card.querySelector(".error");
          note.textContent = "";
          api("POST", base + "/test", {}).then(function () { poll(); })
            .catch(function (e) {
              var p = e.problem;
              // A test never shares the stream with a real drop: say which.
              if (p && p.code === "drop_live" && p.drop) {
                note.textContent = "\u201c" + (p.drop.title || p.drop.id) + "\u201d is live on stream; close it or wait until it ends before testing.";
              } else {
                note.textContent = e.message;
              }
            })
            .then(function () { test.disabled = false; });
        };
        del.onclick = function () {
          var name = card._title || d.id;
          var what = card._sandbox ? "the test drop " + name + " and its test claims" : name;
          if (!confirm("Delete " + what + "? This cannot be undone.")) return;
          del.disabled = true;
          card.querySelector(".error").textContent = "";
          api("DELETE", base).then(function () { card.remove(); poll(); })
            .catch(function (e) { card.querySelector(".error").textContent = e.message; del.disabled = false; });
        };
        close.onclick = function () { act(close, "POST", base + "/close"); };
        stock.onclick = function () {
          var line = (card._stock || [])[0];
          if (line) act(stock, "POST", base + "/stock", { node: line.node, sku: line.sku, qty: 10 });
        };
        box.appendChild(card);
      }
      box.appendChild(card); // keeps the sort order
      var s = d.stats;
      card._stock = s.stock;
      card.querySelector("h3").textContent = (d.title || d.id) + "  ·  " + d.id;
      var badge = card.querySelector(".status");
      badge.textContent = d.status.replace("_", " ");
      badge.className = "badge status " + d.status;
      card.querySelector('[data-action="close"]').hidden = d.status !== "open";
      card.querySelector('[data-action="test"]').hidden = !!d.sandbox;
      poolWarning(card, d);
      // Sandbox drops and API drops that never opened can go; the API
      // refuses the rest (configured drops, real drops with claims).
      card._title = d.title || d.id;
      card._sandbox = !!d.sandbox;
      card.querySelector('[data-action="delete"]').hidden =
        d.source !== "api" || !(d.sandbox || (d.status === "idle" && !d.opened_at));
      var stats = card.querySelector(".stats");
      stats.textContent = "";
      stats.appendChild(stat("claims", String(s.claims), "stat-claims"));
      stats.appendChild(stat("stock left", s.stock_left + " / " + s.stock_total, "stat-left"));
      stats.appendChild(stat("forwarded", String(s.funnel.forwarded), "stat-forwarded"));
      stats.appendChild(stat("ready", String(s.funnel.ready), "stat-ready"));
      stats.appendChild(stat("picked up", String(s.funnel.picked_up), "stat-picked"));
      stats.appendChild(stat("redemption", pct(s.redemption_rate), "stat-rate"));
      stats.appendChild(stat("pickup p50 / p95", ms(s.pickup_p50_ms) + " / " + ms(s.pickup_p95_ms), "stat-pickup"));
      stats.appendChild(stat("compensated", String(s.funnel.compensated), "stat-comp"));
      s.stock.forEach(function (l) { stats.appendChild(stat(l.node + " · " + l.sku, l.left + " / " + l.total, "stat-line")); });
      var t = card.querySelector(".chart-timeline"); t.textContent = ""; t.appendChild(timelineChart(s.timeline));
      var fu = card.querySelector(".chart-funnel"); fu.textContent = ""; fu.appendChild(funnelChart(s.funnel));
      var lat = card.querySelector(".lat");
      if (s.moment) {
        var parts = ["Opened by " + s.moment.opened_by + " over " + s.moment.channel,
          "capture → overlay " + ms(s.moment.frame_latency_ms)];
        s.moment.corroboration.forEach(function (c) { parts.push(c.channel + " corroboration p50 " + ms(c.p50_ms) + " (" + c.reports + ")"); });
        lat.textContent = parts.join(" · ");
      } else {
        lat.textContent = d.status === "idle" ? "Not opened yet: a capture trigger or the Test drop button opens it." : "";
      }
      var out = card.querySelector(".outside"), ow = d.outside_window;
      out.textContent = ow ? ow.count + (ow.count === 1 ? " trigger" : " triggers") +
        " outside the campaign window opened nothing; last " + new Date(ow.last_at).toLocaleString() +
        " (moment " + ow.moment + " from " + ow.source + ")" : "";
    });
    Array.prototype.forEach.call(box.querySelectorAll("[data-drop]"), function (c) {
      if (!seen[c.getAttribute("data-drop")]) c.remove();
    });
  }

  $("signin-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN, $("token").value.trim());
    $("token").value = "";
    $("signin-error").textContent = "";
    api("GET", "/v1/admin/overview").then(function () { signedIn(); }).catch(function () {});
  });
  $("signout").addEventListener("click", function () { signOut(""); });
  $("create-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    $("create-error").textContent = "";
    var body = {
      id: $("new-id").value.trim(), title: $("new-title").value.trim(), creator: $("new-creator").value,
      window: $("new-window").value.trim() || undefined,
      stock: [{ node: $("new-node").value, sku: $("new-sku").value.trim(), qty: parseInt($("new-qty").value, 10) }]
    };
    $("create").disabled = true;
    api("POST", "/v1/admin/drops", body).then(function () { $("new-id").value = ""; $("new-title").value = ""; poll(); })
      .catch(function (e) { $("create-error").textContent = e.message; })
      .then(function () { $("create").disabled = false; });
  });

  if (token()) signedIn();
})();
