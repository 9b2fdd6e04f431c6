// Dropwire dashboard, campaigns: the campaign list and a campaign's report
// (GET /v1/admin/campaigns/{id}/report) with a per-region chart drawn as
// plain SVG. Loaded after dashboard.js; reads the same admin token.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var $ = function (id) { return document.getElementById(id); };
  var loadedFor = "";

  function token() { return sessionStorage.getItem("dw-admin-token") || ""; }
  function get(path) {
    return fetch(path, { headers: { "Authorization": "Bearer " + token() }, cache: "no-store" }).then(function (res) {
      return res.json().then(function (data) {
        if (!res.ok) throw new Error((data && (data.detail || data.title)) || ("HTTP " + res.status));
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
  function pct(x) { return x === null || x === undefined ? "–" : (Math.round(x * 1000) / 10) + " %"; }
  function secs(s) {
    if (s === null || s === undefined) return "–";
    if (s < 3600) return Math.round(s / 60) + " min";
    return (Math.round(s / 360) / 10) + " h";
  }
  function money(rev) {
    var keys = Object.keys(rev || {}).sort();
    return keys.length ? keys.map(function (k) { return rev[k] + " " + k; }).join(", ") : "–";
  }

  var COLUMNS = [
    ["Claims", function (r) { return String(r.claims); }],
    ["Redeemed", function (r) { return pct(r.redemption_rate); }],
    ["Picked up ≤ 24 h", function (r) { return pct(r.pickup_24h_rate); }],
    ["Pickup p50", function (r) { return secs(r.time_to_pickup_p50_s); }],
    ["Pickup p95", function (r) { return secs(r.time_to_pickup_p95_s); }],
    ["In SLA", function (r) { return pct(r.sla_hit_rate); }],
    ["Failures", function (r) { return String(r.failures); }],
    ["Sales", function (r) { return String(r.sales); }],
    ["Revenue", function (r) { return money(r.revenue); }],
    ["Uplift", function (r) { return r.uplift === null ? "–" : (r.uplift >= 0 ? "+" : "") + pct(r.uplift); }]
  ];

  function table(rows, label) {
    var t = el("table", "report");
    var head = el("tr");
    head.appendChild(el("th", "", label));
    COLUMNS.forEach(function (c) { head.appendChild(el("th", "", c[0])); });
    t.appendChild(head);
    rows.forEach(function (r) {
      var tr = el("tr");
      tr.setAttribute("data-key", r.key);
      tr.appendChild(el("th", "", r.key));
      COLUMNS.forEach(function (c) { tr.appendChild(el("td", "", c[1](r))); });
      t.appendChild(tr);
    });
    return t;
  }

  // chart draws, per region, bars for the redemption rate and the 24 h
  // pickup rate on a 0-100 % scale.
  function chart(regions) {
    var w = 640, rowH = 46, top = 24, left = 110, barW = w - left - 60;
    var s = svg("svg", { "class": "region-chart", viewBox: "0 0 " + w + " " + (top + rowH * regions.length + 10),
      role: "img", "aria-label": "Redemption and 24 h pickup rate by region" });
    s.appendChild(svg("text", { x: left, y: 14, "class": "legend redeemed" }, "■ redeemed"));
    s.appendChild(svg("text", { x: left + 110, y: 14, "class": "legend within24" }, "■ picked up ≤ 24 h"));
    regions.forEach(function (r, i) {
      var y = top + i * rowH;
      s.appendChild(svg("text", { x: 0, y: y + 22, "class": "label" }, r.key));
      [["redeemed", r.redemption_rate], ["within24", r.pickup_24h_rate]].forEach(function (b, j) {
        var v = b[1] || 0;
        var bar = svg("rect", { x: left, y: y + j * 18, width: Math.max(1, v * barW), height: 14, "class": "bar " + b[0] });
        bar.setAttribute("data-region", r.key);
        s.appendChild(bar);
        s.appendChild(svg("text", { x: left + v * barW + 6, y: y + j * 18 + 12, "class": "value" }, pct(b[1])));
      });
    });
    return s;
  }

  function showReport(id) {
    var view = $("campaign-view");
    get("/v1/admin/campaigns/" + encodeURIComponent(id) + "/report").then(function (rep) {
      view.textContent = "";
      view.hidden = false;
      view.setAttribute("data-campaign", id);
      view.appendChild(el("h3", "", rep.title || rep.campaign));
      view.appendChild(el("p", "muted", rep.starts_at + " → " + rep.ends_at + " (" + rep.days + " days)"));
      var ret = rep.retention;
      var summary = el("p", "summary");
      summary.id = "campaign-summary";
      summary.textContent = rep.total.claims + " claims · " + pct(rep.total.redemption_rate) + " redeemed · " +
        pct(rep.total.pickup_24h_rate) + " picked up within 24 h · D7 retention " + pct(ret.d7_rate) +
        " (" + ret.returned_d7 + " of " + ret.claimants + " claimants" + (ret.d7_baseline === null ? "; no baseline" : "") + ")";
      view.appendChild(summary);
      view.appendChild(el("h4", "", "By region"));
      view.appendChild(chart(rep.regions));
      view.appendChild(table([rep.total].concat(rep.regions), "Region"));
      view.appendChild(el("h4", "", "By node"));
      view.appendChild(table(rep.nodes, "Node"));
      view.appendChild(el("h4", "", "By drop"));
      view.appendChild(table(rep.drops, "Drop"));
      view.appendChild(el("h4", "", "By tier"));
      view.appendChild(table(rep.tiers, "Tier"));
      var csv = el("p", "muted", "CSV: GET /v1/admin/campaigns/" + id + "/report.csv");
      view.appendChild(csv);
    }).catch(function (e) { $("campaigns-error").textContent = "Report of " + id + ": " + e.message; });
  }

  function loadList() {
    get("/v1/admin/campaigns").then(function (data) {
      var list = $("campaign-list");
      list.textContent = "";
      $("campaigns-error").textContent = "";
      if (!data.campaigns.length) list.appendChild(el("p", "muted", "No campaigns."));
      data.campaigns.forEach(function (c) {
        var b = el("button", "ghost", c.title || c.id);
        b.type = "button";
        b.setAttribute("data-campaign", c.id);
        b.title = c.status;
        b.addEventListener("click", function () { showReport(c.id); });
        list.appendChild(b);
        list.appendChild(el("span", "badge", c.status));
      });
    }).catch(function (e) { $("campaigns-error").textContent = "Campaigns: " + e.message; });
  }

  // The dashboard shows its app view once signed in: load then, and again
  // after signing in anew.
  setInterval(function () {
    var t = token();
    if (!t || $("app-view").hidden) { loadedFor = ""; return; }
    if (loadedFor !== t) { loadedFor = t; loadList(); }
  }, 300);
})();
