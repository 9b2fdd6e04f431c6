// Dashboard, hosted nodes: each node without a url, the link to its pickup
// console (hidden until shown, with Copy) and Rotate key. Self-contained:
// it reads the admin token the dashboard's sign-in keeps in
// sessionStorage, and loads when the signed-in view appears.
(function () {
  "use strict";
  var TOKEN = "dw-admin-token";
  var RELOAD_MS = 30000; // a rotation made elsewhere shows within this
  var $ = function (id) { return document.getElementById(id); };
  var shown = {};  // node → link visible
  var timer = null;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function api(method, path) {
    return fetch(path, { method: method, cache: "no-store",
      headers: { "Authorization": "Bearer " + (sessionStorage.getItem(TOKEN) || "") } })
      .then(function (res) {
        return res.json().catch(function () { return null; }).then(function (d) {
          if (!res.ok) throw new Error((d && (d.detail || d.title)) || "HTTP " + res.status);
          return d;
        });
      });
  }

  function load() {
    if (timer) clearTimeout(timer);
    timer = null;
    api("GET", "/v1/admin/consoles").then(render).catch(function () {}).then(function () {
      if (!$("app-view").hidden) timer = setTimeout(load, RELOAD_MS);
    });
  }

  function render(d) {
    var box = $("hosted");
    $("hosted-nodes").hidden = !d.consoles.length;
    d.consoles.forEach(function (c) {
      var card = box.querySelector('[data-hosted="' + CSS.escape(c.node) + '"]');
      if (!card) card = newCard(c, box);
      var input = card.querySelector(".console-url");
      if (input.value !== c.console_url) input.value = c.console_url;
      card.querySelector('[data-action="copy"]').disabled = !c.console_url;
      card.querySelector('[data-action="show"]').disabled = !c.console_url;
      card.querySelector(".key-id").textContent = c.key_id ? "key " + c.key_id : "no console key yet: Rotate key makes one";
    });
  }

  function newCard(c, box) {
    var card = el("div", "card hosted");
    card.setAttribute("data-hosted", c.node);
    card.appendChild(el("h3", "", c.name));
    card.appendChild(el("p", "muted key-id"));
    var url = el("div", "url");
    var input = el("input");
    input.type = "password"; input.readOnly = true; input.className = "console-url";
    input.setAttribute("aria-label", "Console link of " + c.name);
    var show = el("button", "ghost", "Show"); show.type = "button"; show.setAttribute("data-action", "show");
    var copy = el("button", "ghost", "Copy"); copy.type = "button"; copy.setAttribute("data-action", "copy");
    url.appendChild(input); url.appendChild(show); url.appendChild(copy);
    card.appendChild(url);
    var rotate = el("button", "ghost", "Rotate key"); rotate.type = "button"; rotate.setAttribute("data-action", "rotate");
    card.appendChild(rotate);
    card.appendChild(el("p", "muted note"));
    show.onclick = function () {
      shown[c.node] = !shown[c.node];
      input.type = shown[c.node] ? "text" : "password";
      show.textContent = shown[c.node] ? "Hide" : "Show";
    };
    copy.onclick = function () {
      var done = function () { copy.textContent = "Copied"; setTimeout(function () { copy.textContent = "Copy"; }, 1200); };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(input.value).then(done);
      else { var t = input.type; input.type = "text"; input.select(); document.execCommand("copy"); input.type = t; done(); }
    };
    rotate.onclick = function () {
      if (!confirm("Rotate the console key of " + c.name + "? The old link, and consoles signed in with it, keep working for 10 minutes: send the new link before then.")) return;
      rotate.disabled = true;
      api("POST", "/v1/admin/nodes/" + encodeURIComponent(c.node) + "/console-key/rotate").then(function (r) {
        card.querySelector(".note").textContent = "New key. The old link works until " + new Date(r.old_keys_until).toLocaleTimeString() + ".";
        load();
      }).catch(function (e) { card.querySelector(".note").textContent = e.message; })
        .then(function () { rotate.disabled = false; });
    };
    box.appendChild(card);
    return card;
  }

  // The dashboard shows #app-view once signed in and hides it on sign-out.
  var app = $("app-view");
  var check = function () {
    if (!app.hidden && sessionStorage.getItem(TOKEN)) { if (!timer) load(); }
    else if (timer) { clearTimeout(timer); timer = null; }
  };
  new MutationObserver(check).observe(app, { attributes: true, attributeFilter: ["hidden"] });
  check();
})();
