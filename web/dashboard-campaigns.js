// Dropwire dashboard, campaigns: the campaign list and a campaign's report
// (GET /v1/admin/campaigns/{id}/report) with a chart of the regions' rates
// and a claims-over-time chart per region, drawn as plain SVG. Loaded after
// dashboard.js; reads the same admin token.
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

  function perClaimant(x) { return x === null || x === undefined ? "–" : String(Math.round(x * 100) / 100); }

  // Each column: its heading, what it shows of a row, and what it means.
  var COLUMNS = [
    ["Claims", function (r) { return String(r.claims); }, "claims made"],
    ["Redeemed", function (r) { return pct(r.redemption_rate); }, "picked up / claims"],
    ["≤ 24 h", function (r) { return pct(r.pickup_24h_rate); }, "picked up within 24 h of the claim / claims"],
    ["p50", function (r) { return secs(r.time_to_pickup_p50_s); }, "median time from claim to pickup"],
    ["p95", function (r) { return secs(r.time_to_pickup_p95_s); }, "95th percentile of the time from claim to pickup"],
    ["In SLA", function (r) { return pct(r.sla_hit_rate); }, "picked up by the pickup deadline / claims"],
    ["Failed", function (r) { return String(r.failures); }, "rejected, pickup failed or forwarding failed"],
    ["Comp.", function (r) { return String(r.compensated); }, "claims compensated"],
    ["Comp. cost", function (r) { return money(r.compensation_cost); }, "the compensations' value (compensation.value)"],
    ["Claimants", function (r) { return String(r.claimants); }, "distinct viewers who claimed"],
    ["Sales", function (r) { return String(r.sales); }, "sales nodes reported"],
    ["Sales / cl.", function (r) { return perClaimant(r.sales_per_claimant); }, "sales per claimant"],
    ["Revenue", function (r) { return money(r.revenue); }, "sales' sum"],
    ["Rev. / cl.", function (r) { return money(r.revenue_per_claimant); }, "revenue per claimant"],
    ["Uplift", function (r) { return r.uplift === null ? "–" : (r.uplift >= 0 ? "+" : "") + pct(r.uplift); }, "sales a day over the nodes' baseline"]
  ];

  function table(rows, label) {
    var t = el("table", "report");
    var head = el("tr");
    head.appendChild(el("th", "", label));
    COLUMNS.forEach(function (c) { var th = el("th", "", c[0]); th.title = c[2]; head.appendChild(th); });
    t.appendChild(head);
    rows.forEach(function (r) {
      var tr = el("tr");
      tr.setAttribute("data-key", r.key);
      tr.appendChild(el("th", "", r.key));
      COLUMNS.forEach(function (c) { tr.appendChild(el("td", "", c[1](r))); });
      t.appendChild(tr);
    });
    var wrap = el("div", "report-wrap");
    wrap.appendChild(t);
    return wrap;
  }

  function hours(s) { return s % 86400 === 0 ? (s / 86400) + " d" : (s / 3600) + " h"; }
  function utc(iso) { return iso.slice(5, 10) + " " + iso.slice(11, 16); }

  // timeline draws one region's claims per bucket as bars, on the scale
  // of the busiest bucket of any region so that the charts compare.
  function timeline(series, t, top) {
    var w = 640, h = 150, left = 34, right = 8, head = 22, foot = 20;
    var plotW = w - left - right, plotH = h - head - foot, n = t.starts.length;
    var step = plotW / Math.max(n, 1), scale = top > 0 ? plotH / top : 0;
    var total = series.claims.reduce(function (a, b) { return a + b; }, 0);
    var s = svg("svg", { "class": "claims-chart", viewBox: "0 0 " + w + " " + h, role: "img",
      "aria-label": "Claims over time in " + series.key + ", " + hours(t.bucket_s) + " buckets" });
    s.setAttribute("data-region", series.key);
    s.appendChild(svg("text", { x: 0, y: 14, "class": "label" }, series.key + " · " + total + " claims, per " + hours(t.bucket_s) + " (UTC)"));
    s.appendChild(svg("line", { x1: left, y1: head + plotH, x2: w - right, y2: head + plotH, "class": "axis" }));
    s.appendChild(svg("text", { x: left - 4, y: head + 8, "class": "tick", "text-anchor": "end" }, String(top)));
    s.appendChild(svg("text", { x: left - 4, y: head + plotH, "class": "tick", "text-anchor": "end" }, "0"));
    series.claims.forEach(function (c, i) {
      var bh = c * scale;
      var bar = svg("rect", { x: left + i * step + 0.5, y: head + plotH - bh, width: Math.max(step - 1, 0.5), height: bh, "class": "bucket" });
      bar.setAttribute("data-start", t.starts[i]);
      bar.setAttribute("data-claims", String(c));
      bar.appendChild(svg("title", {}, utc(t.starts[i]) + " UTC: " + c + (c === 1 ? " claim" : " claims")));
      s.appendChild(bar);
    });
    // Times along the axis: the start, the middle, the end of the last
    // bucket.
    [0, Math.floor(n / 2), n].forEach(function (i, j) {
      if (n === 0 || (j === 1 && (i === 0 || i === n))) return;
      var at = i < n ? t.starts[i] : new Date(Date.parse(t.starts[n - 1]) + t.bucket_s * 1000).toISOString();
      s.appendChild(svg("text", { x: left + i * step, y: h - 4, "class": "tick",
        "text-anchor": ["start", "middle", "end"][j] }, utc(at)));
    });
    return s;
  }

  function timelines(t) {
    var box = el("div", "timelines");
    box.id = "claims-over-time";
    var top = 0;
    t.regions.forEach(function (r) { r.claims.forEach(function (c) { top = Math.max(top, c); }); });
    t.regions.forEach(function (r) { box.appendChild(timeline(r, t, top)); });
    if (!t.regions.length) box.appendChild(el("p", "muted", "No claims yet."));
    return box;
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
      var tot = rep.total;
      var costs = el("p", "summary");
      costs.id = "campaign-costs";
      costs.textContent = tot.compensated + " compensated, costing " + money(tot.compensation_cost) + " · " +
        perClaimant(tot.sales_per_claimant) + " sales and " + money(tot.revenue_per_claimant) + " per claimant (" +
        tot.claimants + " claimants)";
      view.appendChild(costs);
      view.appendChild(el("h4", "", "Claims over time, by region"));
      view.appendChild(timelines(rep.claims_over_time));
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
