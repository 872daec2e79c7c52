/* The knowledge base (知识库) in the browser.
   - Portal: an element [data-kb-suggest="<input id>"] shows published articles while the request's title is typed
     (debounced fetch of /kb/suggest.json); a suggestion opens in place, so the form keeps what was typed. The
     form gets a hidden field kb_visit: this visit's random key, kept in sessionStorage while the tab lives, so a
     request filed after reading tells the desk the articles did not solve it.
   - Article pages [data-kb-read="<id>"] count one reading per visit (POST /kb/<id>/read); a GET alone counts none.
   - Staff: every textarea[data-kb-picker] gets an "insert article link" search that inserts "title — URL". */
(function () {
  "use strict";
  var en = (document.documentElement.lang || "").toLowerCase().indexOf("en") === 0;
  var T = en ? {
    heading: "These articles may solve it", open: "Open the full article", close: "Close", failed: "Could not load the article.",
    insert: "Insert article link", search: "Search published articles", none: "No published article matches.",
    reading: "Article"
  } : {
    heading: "这些文章也许能解决您的问题", open: "打开完整文章", close: "关闭", failed: "文章加载失败。",
    insert: "插入知识库文章链接", search: "搜索已发布的文章", none: "没有匹配的已发布文章。",
    reading: "文章"
  };
  var KEY = "aftercare.kbVisit";
  var memory = {};

  function store(name, value) {
    try {
      if (value === undefined) { return window.sessionStorage.getItem(name); }
      window.sessionStorage.setItem(name, value);
    } catch (e) {
      if (value === undefined) { return memory[name] || null; }
      memory[name] = value;
    }
    return value;
  }

  function visit() {
    var key = store(KEY);
    if (key && /^[A-Za-z0-9_-]{16,64}$/.test(key)) { return key; }
    var bytes = new Uint8Array(18), chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    key = Array.prototype.map.call(bytes, function (b) { return chars[b % 64]; }).join("");
    return store(KEY, key);
  }

  function read(id, source) {
    var seen = "aftercare.kbRead." + visit() + "." + id;
    if (store(seen)) { return; }
    store(seen, "1");
    fetch("/kb/" + encodeURIComponent(id) + "/read", {
      method: "POST", headers: {"Content-Type": "application/json"}, credentials: "same-origin",
      body: JSON.stringify({visit: visit(), source: source})
    }).catch(function () {});
  }

  function debounce(fn, ms) {
    var timer;
    return function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function moveFocus(list, current, step) {
    var buttons = Array.prototype.slice.call(list.querySelectorAll("li > button"));
    var at = buttons.indexOf(current) + step;
    if (at >= 0 && at < buttons.length) { buttons[at].focus(); return true; }
    return false;
  }

  /* --- the portal's suggestions ------------------------------------------------------------------------------- */
  function suggestions(container) {
    var input = document.getElementById(container.getAttribute("data-kb-suggest"));
    if (!input) { return; }
    if (!document.querySelector("link[href='/static/kb.css']")) {
      document.head.appendChild(el("link", {rel: "stylesheet", href: "/static/kb.css"}));
    }
    var box = el("div", {"class": "kb-suggest", "aria-live": "polite"});
    container.insertBefore(box, container.firstChild);
    if (input.form && !input.form.querySelector("input[name=kb_visit]")) {
      input.form.appendChild(el("input", {type: "hidden", name: "kb_visit", value: visit()}));
    }
    var asked = 0, shown = "";

    function render(items, q) {
      // an article being read stays open when the new suggestions (a lookup answering late, for the words typed
      // since) still list it: moved to its new entry, focus kept
      var reading = box.querySelector(".kb-reader"), focused = reading && reading.contains(document.activeElement);
      shown = q;
      box.textContent = "";
      if (!items.length) { return; }
      box.appendChild(el("h2", {id: "kb-suggest-heading"}, T.heading));
      var list = el("ul", {"aria-labelledby": "kb-suggest-heading"});
      items.forEach(function (a) {
        var button = el("button", {type: "button", "data-kb-id": a.id, "aria-expanded": "false"});
        button.appendChild(document.createTextNode(a.title));
        if (a.excerpt) { button.appendChild(el("span", {}, a.excerpt)); }
        var li = el("li");
        li.appendChild(button);
        list.appendChild(li);
        if (reading && String(a.id) === reading.getAttribute("data-kb-id")) {
          li.appendChild(reading);
          button.setAttribute("aria-expanded", "true");
          reading.kbButton = button;
        }
      });
      box.appendChild(list);
      if (focused && reading.parentNode) { reading.focus(); }
    }

    var lookup = debounce(function () {
      var q = input.value.trim(), mine = ++asked;
      if (q.length < 2) { render([], ""); return; }
      if (q === shown) { return; }
      fetch("/kb/suggest.json?q=" + encodeURIComponent(q), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (items) { if (mine === asked) { render(items, q); } })
        .catch(function () {});
    }, 300);

    function open(button) {
      var id = button.getAttribute("data-kb-id"), old = box.querySelector(".kb-reader");
      if (old) { old.parentNode.removeChild(old); }
      box.querySelectorAll("button[aria-expanded]").forEach(function (b) { b.setAttribute("aria-expanded", "false"); });
      var reader = el("section", {"class": "kb-reader", tabindex: "-1", "aria-label": T.reading, "data-kb-id": id});
      reader.kbButton = button;  // its entry, which a later render may replace
      button.parentNode.appendChild(reader);
      button.setAttribute("aria-expanded", "true");
      fetch("/kb/articles/" + encodeURIComponent(id) + ".json", {credentials: "same-origin"})
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
        .then(function (a) {
          reader.appendChild(el("h3", {}, a.title));
          var body = el("div", {"class": "kb-body"});
          body.innerHTML = a.html;  /* rendered and sanitised by the server (markdown-it + nh3) */
          reader.appendChild(body);
          var actions = el("div", {"class": "kb-reader-actions"});
          actions.appendChild(el("a", {href: "/kb/" + a.id + "?from=suggestion", target: "_blank", rel: "noopener"}, T.open));
          var close = el("button", {type: "button"}, T.close);
          close.addEventListener("click", function () {
            var entry = reader.kbButton;
            reader.parentNode.removeChild(reader);
            entry.setAttribute("aria-expanded", "false");
            entry.focus();
          });
          actions.appendChild(close);
          reader.appendChild(actions);
          reader.focus();
          read(a.id, "suggestion");
        })
        .catch(function () { reader.appendChild(el("p", {"class": "error"}, T.failed)); });
    }

    input.addEventListener("input", lookup);
    input.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown") {
        var first = box.querySelector("li > button");
        if (first) { e.preventDefault(); first.focus(); }
      }
    });
    box.addEventListener("click", function (e) {
      var button = e.target.closest && e.target.closest("li > button[data-kb-id]");
      if (button) { open(button); }
    });
    box.addEventListener("keydown", function (e) {
      var button = e.target.closest && e.target.closest("li > button[data-kb-id]");
      if (e.key === "Escape") { input.focus(); return; }
      if (!button) { return; }
      if (e.key === "ArrowDown" && moveFocus(box, button, 1)) { e.preventDefault(); }
      if (e.key === "ArrowUp") { e.preventDefault(); if (!moveFocus(box, button, -1)) { input.focus(); } }
    });
    if (input.value.trim().length >= 2) { lookup(); }
  }

  /* --- the staff reply box's link picker ---------------------------------------------------------------------- */
  function picker(area, index) {
    var wrap = el("div", {"class": "kb-picker"});
    var toggle = el("button", {type: "button", "class": "small secondary", "aria-expanded": "false",
                                "aria-controls": "kb-picker-" + index}, T.insert);
    var panel = el("div", {"class": "kb-picker-panel", id: "kb-picker-" + index, hidden: "hidden"});
    var label = el("label", {"for": "kb-picker-q-" + index, "class": "visually-hidden"}, T.search);
    var search = el("input", {type: "search", id: "kb-picker-q-" + index, placeholder: T.search, autocomplete: "off"});
    var list = el("ul", {"aria-live": "polite"});
    panel.appendChild(label); panel.appendChild(search); panel.appendChild(list);
    wrap.appendChild(toggle); wrap.appendChild(panel);
    area.parentNode.insertBefore(wrap, area.nextSibling);
    var asked = 0;

    function show(open) {
      panel.hidden = !open;
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      if (open) { search.focus(); find(); } else { toggle.focus(); }
    }

    function insert(a) {
      var text = a.title + " — " + a.url, start = area.selectionStart || 0, end = area.selectionEnd || 0;
      var before = area.value.slice(0, start), after = area.value.slice(end);
      var pad = before && !/\s$/.test(before) ? "\n" : "";
      area.value = before + pad + text + after;
      var caret = (before + pad + text).length;
      area.dispatchEvent(new Event("input", {bubbles: true}));
      panel.hidden = true;
      toggle.setAttribute("aria-expanded", "false");
      area.focus();
      area.setSelectionRange(caret, caret);
    }

    var find = debounce(function () {
      var mine = ++asked;
      fetch("/kb/picker.json?q=" + encodeURIComponent(search.value.trim()), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (items) {
          if (mine !== asked) { return; }
          list.textContent = "";
          if (!items.length) { list.appendChild(el("li", {"class": "muted"}, T.none)); return; }
          items.forEach(function (a) {
            var button = el("button", {type: "button"});
            button.appendChild(document.createTextNode(a.title));
            button.appendChild(el("span", {}, a.url));
            button.addEventListener("click", function () { insert(a); });
            var li = el("li");
            li.appendChild(button);
            list.appendChild(li);
          });
        })
        .catch(function () {});
    }, 250);

    toggle.addEventListener("click", function () { show(panel.hidden); });
    search.addEventListener("input", find);
    search.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); }  /* never submits the reply form */
      if (e.key === "ArrowDown") { var first = list.querySelector("button"); if (first) { e.preventDefault(); first.focus(); } }
    });
    panel.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { e.preventDefault(); show(false); return; }
      var button = e.target.closest && e.target.closest("li > button");
      if (!button) { return; }
      if (e.key === "ArrowDown" && moveFocus(list, button, 1)) { e.preventDefault(); }
      if (e.key === "ArrowUp") { e.preventDefault(); if (!moveFocus(list, button, -1)) { search.focus(); } }
    });
  }

  function start() {
    document.querySelectorAll("[data-kb-suggest]").forEach(suggestions);
    document.querySelectorAll("[data-kb-read]").forEach(function (node) {
      var from = new URLSearchParams(window.location.search).get("from");
      read(node.getAttribute("data-kb-read"), from === "search" || from === "suggestion" ? from : "link");
    });
    document.querySelectorAll("textarea[data-kb-picker]").forEach(picker);
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
