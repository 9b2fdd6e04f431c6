// Dropwire dashboard, Nodes section: per fulfillment node, its circuit
// breaker as the deployment sees it, its last delivery attempts (from
// every replica) and its dead letters with Replay and Replay all. Reads
// GET /v1/admin/nodes and GET /v1/admin/dlq on every poll of the
// dashboard (dashboard.js). No dependencies.
(function () {
  "use strict";
  var dash = window.dropwireDashboard;
  if (!dash) return;
  var api = dash.api, el = dash.el;
  var $ = function (id) { return document.getElementById(id); };
  var busy = false;
  var BREAKER = { closed: "breaker closed", half_open: "breaker half-open", open: "breaker open" };

  function time(iso) { return iso ? new Date(iso).toLocaleTimeString() : ""; }

  function button(text, cls, action) {
    var b = el("button", cls, text);
    b.type = "button";
    b.setAttribute("data-action", action);
    return b;
  }

  function table(cls, heads) {
    var wrap = el("div", "table-wrap");
    var t = el("table", cls);
    var tr = el("tr");
    heads.forEach(function (h) { tr.appendChild(el("th", "", h)); });
    var thead = el("thead");
    thead.appendChild(tr);
    t.appendChild(thead);
    t.appendChild(el("tbody"));
    wrap.appendChild(t);
    return wrap;
  }

  function cell(tr, text, cls, title) {
    var td = el("td", cls || "", text);
    if (title) td.title = title;
    tr.appendChild(td);
  }

  function refresh() {
    if (busy) return;
    busy = true;
    Promise.all([api("GET", "/v1/admin/nodes"), api("GET", "/v1/admin/dlq")]).then(function (r) {
      $("nodes-error").textContent = "";
      var dead = {};
      r[1].dead_letters.forEach(function (d) { (dead[d.node] = dead[d.node] || []).push(d); });
      render(r[0].nodes, dead);
    }).catch(function (e) {
      if (e.message !== "unauthorized") $("nodes-error").textContent = "Cannot read the nodes' deliveries: " + e.message;
    }).then(function () { busy = false; });
  }

  function render(nodes, dead) {
    var box = $("nodes");
    var seen = {};
    nodes.forEach(function (n) {
      seen[n.id] = true;
      var card = box.querySelector('[data-node="' + CSS.escape(n.id) + '"]');
      if (!card) {
        card = build(n);
        box.appendChild(card);
      }
      update(card, n, dead[n.id] || []);
    });
    Array.prototype.forEach.call(box.querySelectorAll("[data-node]"), function (c) {
      if (!seen[c.getAttribute("data-node")]) c.remove();
    });
  }

  function build(n) {
    var card = el("article", "card node");
    card.setAttribute("data-node", n.id);
    var head = el("header");
    head.appendChild(el("h3", "", (n.name || n.id) + "  ·  " + n.id));
    if (n.hosted) {
      head.appendChild(el("span", "badge hosted", "hosted"));
      card.appendChild(head);
      card.appendChild(el("p", "muted", "Hosted node: its operator takes claims in the pickup console; nothing is forwarded over HTTP."));
      return card;
    }
    head.appendChild(el("span", "badge breaker"));
    var gone = el("span", "badge gone", "410 Gone: disabled");
    head.appendChild(gone);
    card.appendChild(head);
    card.appendChild(el("p", "muted breaker-note"));

    card.appendChild(el("h4", "", "Last deliveries"));
    card.appendChild(table("deliveries", ["Time", "Event", "Claim", "Attempt", "Status", "Latency", "Next retry"]));
    card.appendChild(el("p", "muted no-deliveries", "No deliveries yet."));

    var dlHead = el("div", "dl-head");
    dlHead.appendChild(el("h4", "dl-title"));
    var all = button("Replay all", "ghost", "replay-all");
    dlHead.appendChild(all);
    card.appendChild(dlHead);
    card.appendChild(table("dead-letters", ["Dead-lettered", "Claim", "Reason", "Attempts", "Last error", ""]));
    card.appendChild(el("p", "note replay-note"));
    card.appendChild(el("p", "error"));

    all.onclick = function () {
      replay(card, all, "/v1/admin/dlq/replay?node=" + encodeURIComponent(n.id), function (r) {
        var msg = "Replayed " + r.replayed + (r.replayed === 1 ? " dead letter" : " dead letters") + ": delivering again.";
        if (r.settled && r.settled.length) msg += " Left " + r.settled.length + ": their claims have settled.";
        return msg;
      });
    };
    card.querySelector(".dead-letters tbody").addEventListener("click", function (ev) {
      var b = ev.target.closest('button[data-action="replay"]');
      if (!b) return;
      var tr = b.closest("tr");
      replay(card, b, "/v1/admin/dlq/" + encodeURIComponent(tr.getAttribute("data-dead-letter")) + "/replay", function () {
        return "Replayed the claim " + tr.getAttribute("data-claim") + ": delivering again.";
      });
    });
    return card;
  }

  function replay(card, btn, path, done) {
    btn.disabled = true;
    card.querySelector(".error").textContent = "";
    card.querySelector(".replay-note").textContent = "";
    api("POST", path).then(function (r) {
      card.querySelector(".replay-note").textContent = done(r);
      refresh();
    }).catch(function (e) {
      // 409 claim_settled names the claim and why it is not sent again.
      card.querySelector(".error").textContent = e.message;
    }).then(function () { btn.disabled = false; });
  }

  function update(card, n, dls) {
    if (n.hosted) return;
    var b = n.breaker;
    var badge = card.querySelector(".badge.breaker");
    badge.textContent = BREAKER[b.state] || b.state;
    badge.className = "badge breaker " + b.state;
    badge.setAttribute("data-state", b.state);
    card.querySelector(".badge.gone").hidden = !n.disabled;
    var note = [];
    if (b.state === "open" && b.open_until) note.push("Open until " + time(b.open_until) + ": attempts wait, then one probe.");
    if (b.state === "half_open") note.push("The next attempt is a probe: it closes the breaker or opens it again.");
    if (b.failures) note.push(b.failures + (b.failures === 1 ? " failure" : " consecutive failures"));
    if (b.replicas.length > 1) {
      note.push("Replicas: " + b.replicas.map(function (r) { return r.replica + " " + r.state.replace("_", "-"); }).join(", "));
    }
    card.querySelector(".breaker-note").textContent = note.join(" · ");

    var rows = card.querySelector(".deliveries tbody");
    var sig = JSON.stringify(n.attempts);
    if (rows._sig !== sig) {
      rows._sig = sig;
      rows.textContent = "";
      n.attempts.forEach(function (a) {
        var tr = el("tr", a.result === "ok" ? "ok" : "failed");
        tr.setAttribute("data-event", a.event);
        tr.setAttribute("data-result", a.result);
        cell(tr, time(a.at), "", a.at + " · " + a.replica);
        cell(tr, a.event, "mono");
        cell(tr, a.claim, "mono");
        cell(tr, String(a.attempt), "num");
        cell(tr, a.status !== null ? String(a.status) : a.result, "status", a.error || "");
        cell(tr, a.latency_ms + " ms", "num");
        cell(tr, a.dead_lettered ? "dead-lettered" : (a.next_retry_at ? time(a.next_retry_at) : "–"), "next");
        rows.appendChild(tr);
      });
    }
    card.querySelector(".no-deliveries").hidden = n.attempts.length > 0;

    card.querySelector(".dl-title").textContent = "Dead letters (" + dls.length + ")";
    card.querySelector('[data-action="replay-all"]').hidden = dls.length === 0;
    card.querySelector(".dead-letters").parentNode.hidden = dls.length === 0;
    var dlRows = card.querySelector(".dead-letters tbody");
    var dlSig = JSON.stringify(dls.map(function (d) { return [d.id, d.at]; }));
    if (dlRows._sig !== dlSig) {
      // Rebuilt only when the list changes, so a Replay button is not
      // replaced under the pointer.
      dlRows._sig = dlSig;
      dlRows.textContent = "";
      dls.forEach(function (d) {
        var tr = el("tr");
        tr.setAttribute("data-dead-letter", d.id);
        tr.setAttribute("data-claim", d.claim);
        cell(tr, time(d.at), "", d.at);
        cell(tr, d.claim, "mono");
        // A claim.compensated letter was for the creator's webhook.
        cell(tr, d.type === "claim.compensated" ? d.reason + " · compensation webhook" : d.reason);
        cell(tr, String(d.attempts), "num");
        cell(tr, d.last || "", "last");
        var td = el("td");
        td.appendChild(button("Replay", "", "replay"));
        tr.appendChild(td);
        dlRows.appendChild(tr);
      });
    }
  }

  dash.onPoll(refresh);
})();
