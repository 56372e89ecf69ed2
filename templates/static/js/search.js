/* Search on every page: the header box with suggestions, and the API calls of the /search/ page
 * (search-index.js) with the static fallback. The tokenizer is a line-for-line port of
 * storefront/search.py; tests/search/test_parity.py runs both on the same inputs. */
(function (root) {
  "use strict";

  // ---- Tokenizer: keep in step with storefront/search.py -----------------------------------
  var ACCENTS = /[\u0300-\u036f]/g;
  var SEGMENT = /([a-z0-9]+)|([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)/g;
  var SUGGEST_MAX_LATIN = 20, SUGGEST_MAX_CJK = 8;

  function normalize(text) {
    return text.normalize("NFKD").replace(ACCENTS, "").toLowerCase();
  }

  function endsWith(w, s) { return w.slice(-s.length) === s; }

  function stem(word) {
    if (word.length < 4 || word[word.length - 1] !== "s") return word;
    if (endsWith(word, "ies") && word.length > 4 && "ae".indexOf(word[word.length - 4]) < 0) {
      return word.slice(0, -3) + "y";
    }
    if (endsWith(word, "sses") || endsWith(word, "xes") || endsWith(word, "ches") || endsWith(word, "shes")) {
      return word.slice(0, -2);
    }
    if (endsWith(word, "ss") || endsWith(word, "us") || endsWith(word, "is")) return word;
    return word.slice(0, -1);
  }

  function segments(text) {
    var out = [], m, norm = normalize(text);
    SEGMENT.lastIndex = 0;
    while ((m = SEGMENT.exec(norm)) !== null) {
      out.push(m[1] ? ["latin", m[1]] : ["cjk", m[2]]);
    }
    return out;
  }

  function isModel(prev, seg) { return !!prev && /^[a-z]+$/.test(prev) && /^[0-9]{1,4}$/.test(seg); }

  function tokenize(text, mode) {
    mode = mode || "index";
    var out = [], segs = segments(text), i, j, seg, n, prev = "";
    for (i = 0; i < segs.length; i++) {
      seg = segs[i][1];
      if (segs[i][0] === "latin") {
        out.push(stem(seg));
        if (mode === "index" && isModel(prev, seg)) out.push(prev + seg);
        prev = seg;
      } else if (mode === "query" && seg.length > 1) {
        prev = "";
        for (j = 0; j < seg.length - 1; j++) out.push(seg.slice(j, j + 2));
      } else {
        prev = "";
        n = seg.length;
        for (j = 0; j < n; j++) {
          out.push(seg[j]);
          if (j + 1 < n) out.push(seg.slice(j, j + 2));
        }
      }
    }
    return out;
  }

  function modelTerms(text) {
    var out = [], segs = segments(text), prev = "";
    segs.forEach(function (s) {
      if (s[0] === "latin" && isModel(prev, s[1])) out.push(prev + s[1]);
      prev = s[0] === "latin" ? s[1] : "";
    });
    return unique(out);
  }

  function unique(list) {
    var seen = {}, out = [];
    list.forEach(function (x) { if (!Object.prototype.hasOwnProperty.call(seen, x)) { seen[x] = 1; out.push(x); } });
    return out;
  }

  function suggestTerms(text) {
    var out = [], segs = segments(text), i, j, seg, chunk;
    for (i = 0; i < segs.length; i++) {
      seg = segs[i][1];
      if (seg.length < 2) continue;
      if (segs[i][0] === "latin") {
        out.push(seg.slice(0, SUGGEST_MAX_LATIN));
      } else {
        for (j = 0; j < seg.length; j += SUGGEST_MAX_CJK) {
          chunk = seg.slice(j, j + SUGGEST_MAX_CJK);
          out.push(chunk.length >= 2 ? chunk : seg.slice(-SUGGEST_MAX_CJK));
        }
      }
    }
    return unique(out);
  }

  var SKU_RE = /^[A-Za-z0-9_-]{1,64}$/;

  // Words of a query (split on spaces), each with its segments' query terms and its SKU form.
  function parseQuery(q) {
    return q.split(/\s+/).filter(Boolean).map(function (raw) {
      var parts = segments(raw).map(function (s) { return [s[0], unique(tokenize(s[1], "query"))]; });
      return { raw: raw, sku: SKU_RE.test(raw) ? "#" + raw.toLowerCase() : null, parts: parts };
    }).filter(function (w) { return w.parts.length || w.sku; });
  }

  var api = { normalize: normalize, stem: stem, segments: segments, tokenize: tokenize, unique: unique,
              modelTerms: modelTerms, suggestTerms: suggestTerms, parseQuery: parseQuery };
  if (typeof module !== "undefined" && module.exports) { module.exports = api; return; }
  root.StorefrontSearch = api;

  // ---- Browser UI --------------------------------------------------------------------------
  var doc = root.document;
  var API = (doc.documentElement.dataset.api || "/api").replace(/\/$/, "");
  var fallback = null;

  // search-index.js is loaded when the API fails (the search page loads it itself); the URL is
  // on this script's tag, as its fingerprinted name is known only to the build.
  function staticIndex() {
    return fallback || (fallback = new Promise(function (resolve, reject) {
      var tag = doc.querySelector("script[data-search-index]"), s;
      function done() { if (api.StaticIndex) resolve(new api.StaticIndex("/search/")); else { fallback = null; reject(new Error("no static index")); } }
      if (api.StaticIndex || !tag) return done();
      s = doc.createElement("script");
      s.src = tag.getAttribute("data-search-index");
      s.onload = s.onerror = done;
      doc.head.appendChild(s);
    }));
  }

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" } }).then(function (r) {
      if (r.status >= 500) throw new Error("service unavailable");
      return r.json().then(function (body) { if (!r.ok) { var e = new Error("bad request"); e.body = body; e.client = true; throw e; } return body; });
    });
  }

  function searchAnywhere(q, category, page) {
    var url = API + "/search?q=" + encodeURIComponent(q) + (category ? "&category=" + encodeURIComponent(category) : "") + "&page=" + page;
    return getJSON(url).catch(function (err) {
      if (err.client) throw err;
      return staticIndex().then(function (idx) { return idx.search(q, { category: category, page: page, pageSize: 20 }); });
    });
  }

  function suggestAnywhere(q) {
    return getJSON(API + "/suggest?q=" + encodeURIComponent(q)).then(function (b) { return b.suggestions; })
      .catch(function (err) {
        if (err.client) return [];
        if (!suggestTerms(q).length) return [];
        return staticIndex().then(function (idx) { return idx.search(q, { pageSize: 8 }); }).then(function (r) {
          return r.hits.map(function (h) { return { title: h.title, url: h.url }; });
        });
      });
  }

  function el(tag, attrs, text) {
    var e = doc.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function money(minor, currency) {
    try {
      return new Intl.NumberFormat(doc.documentElement.lang || "zh-CN", { style: "currency", currency: currency || "CNY" }).format(minor / 100);
    } catch (e) { return (minor / 100).toFixed(2) + " " + currency; }
  }

  // Header box: suggestions as you type, arrows to move, Enter to open, Escape to close.
  function enhanceBox(input) {
    var list = el("ul", { id: "site-search-suggestions", role: "listbox", "class": "search-suggestions" });
    list.hidden = true;
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("aria-expanded", "false");
    input.parentNode.appendChild(list);
    var items = [], active = -1, timer = null, seq = 0;

    function close() { list.hidden = true; input.setAttribute("aria-expanded", "false"); active = -1; input.removeAttribute("aria-activedescendant"); }
    function mark(i) {
      items.forEach(function (li, j) { li.setAttribute("aria-selected", j === i ? "true" : "false"); });
      active = i;
      if (i >= 0) input.setAttribute("aria-activedescendant", items[i].id); else input.removeAttribute("aria-activedescendant");
    }
    function show(suggestions) {
      list.textContent = "";
      items = suggestions.map(function (s, i) {
        var li = el("li", { id: "site-search-option-" + i, role: "option", "aria-selected": "false" });
        var a = el("a", { href: s.url, tabindex: "-1" }, s.title);
        li.appendChild(a);
        li.addEventListener("mousedown", function (e) { e.preventDefault(); root.location.href = s.url; });
        list.appendChild(li);
        return li;
      });
      active = -1;
      if (items.length) { list.hidden = false; input.setAttribute("aria-expanded", "true"); } else close();
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      var q = input.value, mine = ++seq;
      if (!suggestTerms(q).length) { close(); return; }
      timer = setTimeout(function () {
        suggestAnywhere(q).then(function (s) { if (mine === seq) show(s); }).catch(close);
      }, 120);
    });
    input.addEventListener("keydown", function (e) {
      if (list.hidden || !items.length) return;
      if (e.key === "ArrowDown") { e.preventDefault(); mark((active + 1) % items.length); }
      else if (e.key === "ArrowUp") { e.preventDefault(); mark(active <= 0 ? items.length - 1 : active - 1); }
      else if (e.key === "Escape") { close(); }
      else if (e.key === "Enter" && active >= 0) { e.preventDefault(); root.location.href = items[active].querySelector("a").getAttribute("href"); }
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
  }

  function start() {
    var input = doc.getElementById("site-search");
    if (input) enhanceBox(input);
    var q = new URLSearchParams(root.location.search).get("q");
    if (input && !input.value && q && doc.getElementById("search-results")) input.value = q;
  }
  api.searchAnywhere = searchAnywhere;
  api.el = el;
  api.money = money;
  if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", start); else start();
})(typeof window !== "undefined" ? window : this);
