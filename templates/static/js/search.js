/* Search for the static pages: suggestions in the header box, the /search/ results page, and a
 * fallback that answers from the sharded JSON index in /search/ when the API is unreachable.
 * The tokenizer below is a line-for-line port of storefront/search.py (normalize, stem,
 * segments, tokenize, suggestTerms); tests/search/test_parity.py runs both on the same inputs. */
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

  function tokenize(text, mode) {
    mode = mode || "index";
    var out = [], segs = segments(text), i, j, seg, n;
    for (i = 0; i < segs.length; i++) {
      seg = segs[i][1];
      if (segs[i][0] === "latin") {
        out.push(stem(seg));
      } else if (mode === "query" && seg.length > 1) {
        for (j = 0; j < seg.length - 1; j++) out.push(seg.slice(j, j + 2));
      } else {
        n = seg.length;
        for (j = 0; j < n; j++) {
          out.push(seg[j]);
          if (j + 1 < n) out.push(seg.slice(j, j + 2));
        }
      }
    }
    return out;
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

  // ---- Static fallback index ---------------------------------------------------------------
  var SKU_RE = /^[A-Za-z0-9_-]{1,64}$/;
  var FEW = 3;

  function StaticIndex(base, fetcher) {
    this.base = base || "/search/";
    this.fetcher = fetcher || function (url) {
      return fetch(url).then(function (r) { if (!r.ok) throw new Error(url + ": " + r.status); return r.json(); });
    };
    this.cache = {};
  }

  StaticIndex.prototype.load = function (path) {
    if (!this.cache[path]) this.cache[path] = this.fetcher(this.base + path);
    return this.cache[path];
  };

  StaticIndex.prototype.manifest = function () { return this.load("manifest.json"); };

  function shardOf(term, modulus) {
    var id = (term.charCodeAt(0) % modulus).toString(16);
    return id.length < 2 ? "0" + id : id;
  }

  // Postings of a term as {docnum: where}, or null when the term is not indexed.
  StaticIndex.prototype.postings = function (man, term) {
    var key = term.charAt(0) === "#" ? term.slice(1) : term;
    if (!key) return Promise.resolve(null);
    var sid = shardOf(key, man.shards);
    if (man.present.indexOf(sid) < 0) return Promise.resolve(null);
    return this.load("shards/" + sid + ".json").then(function (shard) {
      var enc = Object.prototype.hasOwnProperty.call(shard, term) ? shard[term] : null;
      if (!enc) return null;
      var out = {}, doc = -1;
      for (var i = 0; i < enc.length; i++) { doc += enc[i] >> 2; out[doc] = enc[i] & 3; }
      return out;
    });
  };

  function parseQuery(q) {
    return q.split(/\s+/).filter(Boolean).map(function (raw) {
      var parts = segments(raw).map(function (s) { return unique(tokenize(s[1], "query")); });
      return { raw: raw, sku: SKU_RE.test(raw) ? "#" + raw.toLowerCase() : null, parts: parts };
    }).filter(function (w) { return w.parts.length || w.sku; });
  }

  // Scores {docnum: score} of one word: its segments ANDed, a segment's terms ORed, or its SKU.
  function scoreWord(word, lists, man) {
    var boosts = man.boosts, n = man.docs;
    function idfOf(p) { return Math.log(n / (Object.keys(p).length + 1)) + 1; }
    var acc = null;
    word.parts.forEach(function (terms) {
      var seg = {};
      terms.forEach(function (t) {
        var p = lists[t]; if (!p) return;
        var idf = idfOf(p);
        Object.keys(p).forEach(function (d) { seg[d] = (seg[d] || 0) + idf * boosts[p[d]]; });
      });
      if (acc === null) { acc = seg; return; }
      var next = {};
      Object.keys(acc).forEach(function (d) { if (seg[d] !== undefined) next[d] = acc[d] + seg[d]; });
      acc = next;
    });
    acc = acc || {};
    if (word.sku && lists[word.sku]) {
      Object.keys(lists[word.sku]).forEach(function (d) { acc[d] = (acc[d] || 0) + 100; });
    }
    return acc;
  }

  function combine(maps, all) {
    var out = {};
    if (!maps.length) return out;
    if (all) {
      Object.keys(maps[0]).forEach(function (d) {
        var s = 0;
        for (var i = 0; i < maps.length; i++) { if (maps[i][d] === undefined) return; s += maps[i][d]; }
        out[d] = s;
      });
    } else {
      // Documents that match more of the words come first, then by score.
      maps.forEach(function (m) { Object.keys(m).forEach(function (d) { out[d] = (out[d] || 0) + 1e6 + m[d]; }); });
    }
    return out;
  }

  function catOf(man, doc) {
    var c = man.doc_categories;
    var v = typeof c === "string" ? "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".indexOf(c.charAt(doc)) : c[doc];
    return v > 0 ? man.categories[v - 1] : "";
  }

  // Same answer shape as GET /api/search.
  StaticIndex.prototype.search = function (q, opts) {
    opts = opts || {};
    var self = this, page = opts.page || 1, size = opts.pageSize || 10, category = opts.category || "";
    return this.manifest().then(function (man) {
      var words = parseQuery(q), terms = [];
      words.forEach(function (w) {
        w.parts.forEach(function (p) { terms = terms.concat(p); });
        if (w.sku) terms.push(w.sku);
      });
      terms = unique(terms);
      return Promise.all(terms.map(function (t) { return self.postings(man, t); })).then(function (ps) {
        var lists = {};
        terms.forEach(function (t, i) { if (ps[i]) lists[t] = ps[i]; });
        var maps = words.map(function (w) { return scoreWord(w, lists, man); });
        var scores = combine(maps, true), mode = "all";
        if (Object.keys(scores).length < FEW && maps.length > 1) {
          var any = combine(maps, false);
          if (Object.keys(any).length > Object.keys(scores).length) { scores = any; mode = "any"; }
        }
        var facets = {}, matched = [];
        Object.keys(scores).forEach(function (d) {
          var c = catOf(man, +d);
          if (c) facets[c] = (facets[c] || 0) + 1;
          if (!category || c === category) matched.push(+d);
        });
        matched.sort(function (a, b) { return (scores[b] - scores[a]) || (a - b); });
        var slice = matched.slice((page - 1) * size, page * size);
        return Promise.all(slice.map(function (d) { return self.load("docs/" + Math.floor(d / man.block) + ".json"); }))
          .then(function (blocks) {
            var hits = slice.map(function (d, i) {
              var r = blocks[i][d % man.block];
              var h = { kind: r[0], url: r[1], title: r[2], snippet: "" };
              if (r[0] === "product") { h.sku = r[3]; h.price_minor = r[4]; h.currency = r[5]; h.category = r[6]; h.image = r[7]; }
              return h;
            });
            return {
              query: q, total: matched.length, page: page, pages: Math.ceil(matched.length / size),
              mode: words.length ? mode : "none", did_you_mean: null, hits: hits,
              facets: { category: facets }, category_titles: man.category_titles, source: "static"
            };
          });
      });
    });
  };

  var api = { normalize: normalize, stem: stem, segments: segments, tokenize: tokenize,
              suggestTerms: suggestTerms, parseQuery: parseQuery, StaticIndex: StaticIndex, shardOf: shardOf };
  if (typeof module !== "undefined" && module.exports) { module.exports = api; return; }
  root.StorefrontSearch = api;

  // ---- Browser UI --------------------------------------------------------------------------
  var doc = root.document;
  var API = (doc.documentElement.dataset.api || "/api").replace(/\/$/, "");
  var fallback = new StaticIndex("/search/");

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
      return fallback.search(q, { category: category, page: page, pageSize: 20 });
    });
  }

  function suggestAnywhere(q) {
    return getJSON(API + "/suggest?q=" + encodeURIComponent(q)).then(function (b) { return b.suggestions; })
      .catch(function (err) {
        if (err.client) return [];
        if (!suggestTerms(q).length) return [];
        return fallback.search(q, { pageSize: 8 }).then(function (r) {
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

  function renderResults(box, q, category, page) {
    var status = box.querySelector("[data-search-status]"), list = box.querySelector("[data-search-hits]");
    var facetsBox = box.querySelector("[data-search-facets]"), pager = box.querySelector("[data-search-pages]");
    var empty = box.querySelector("[data-search-empty]");
    if (!q.trim()) { status.textContent = box.dataset.textPrompt || ""; return; }
    status.textContent = box.dataset.textLoading || "…";
    searchAnywhere(q, category, page).then(function (r) {
      list.textContent = ""; facetsBox.textContent = ""; pager.textContent = "";
      empty.hidden = r.total > 0;
      var line = (box.dataset.textCount || "{n}").replace("{n}", r.total).replace("{q}", q);
      status.textContent = line + (r.source === "static" ? " " + (box.dataset.textOffline || "") : "");
      if (r.did_you_mean) {
        var p = el("p", { "class": "search-dym" }, (box.dataset.textDidYouMean || "") + " ");
        p.appendChild(el("a", { href: "?q=" + encodeURIComponent(r.did_you_mean) }, r.did_you_mean));
        status.appendChild(p);
      }
      r.hits.forEach(function (h) {
        var li = el("li", { "class": "search-hit search-hit-" + h.kind });
        var a = el("a", { href: h.url }, h.title);
        li.appendChild(el("h2")).appendChild(a);
        if (h.kind === "product" && h.price_minor != null) li.appendChild(el("p", { "class": "price" }, money(h.price_minor, h.currency)));
        if (h.snippet) { var s = el("p", { "class": "snippet" }); s.innerHTML = h.snippet; li.appendChild(s); }
        list.appendChild(li);
      });
      var cats = Object.keys(r.facets.category || {});
      if (cats.length) {
        var ul = el("ul", { "class": "facets" });
        var all = el("li"); all.appendChild(el("a", { href: "?q=" + encodeURIComponent(q), "aria-current": category ? "false" : "true" }, box.dataset.textAll || "*"));
        ul.appendChild(all);
        cats.forEach(function (c) {
          var li = el("li");
          li.appendChild(el("a", { href: "?q=" + encodeURIComponent(q) + "&category=" + encodeURIComponent(c), "aria-current": c === category ? "true" : "false" },
            ((r.category_titles || {})[c] || c) + " (" + r.facets.category[c] + ")"));
          ul.appendChild(li);
        });
        facetsBox.appendChild(ul);
      }
      for (var n = 1; n <= Math.min(r.pages, 50); n++) {
        pager.appendChild(el("a", { href: "?q=" + encodeURIComponent(q) + (category ? "&category=" + encodeURIComponent(category) : "") + "&page=" + n,
          "aria-current": n === page ? "page" : "false" }, String(n)));
      }
    }).catch(function () {
      status.textContent = box.dataset.textError || "";
      empty.hidden = false;
    });
  }

  function start() {
    var input = doc.getElementById("site-search");
    if (input) enhanceBox(input);
    var box = doc.getElementById("search-results");
    if (box) {
      var params = new URLSearchParams(root.location.search);
      var q = params.get("q") || "", category = params.get("category") || "", page = parseInt(params.get("page") || "1", 10) || 1;
      if (input && !input.value) input.value = q;
      var field = doc.getElementById("search-page-q"); if (field) field.value = q;
      renderResults(box, q, category, Math.max(1, page));
    }
  }
  if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", start); else start();
})(typeof window !== "undefined" ? window : this);
