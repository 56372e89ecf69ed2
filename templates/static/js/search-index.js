/* The /search/ page, and the fallback (search.js loads it too when the API is down) that answers
 * like GET /api/search from the JSON index in /search/ (storefront/search_static.py). */
(function (root) {
  "use strict";
  var node = typeof module !== "undefined" && module.exports;
  var S = node ? require("./search.js") : root.StorefrontSearch;
  var MODEL_BOOST = 2, COMMON = 0.1, parseQuery = S.parseQuery;
  var keys = Object.keys, has = function (o, k) { return {}.hasOwnProperty.call(o, k); };

  function StaticIndex(base, fetcher) {
    this.base = base || "/search/";
    this.fetcher = fetcher || function (url) {
      return fetch(url).then(function (r) { if (!r.ok) throw new Error(url + ": " + r.status); return r.json(); });
    };
    this.cache = {};
  }

  StaticIndex.prototype.load = function (path) {
    return this.cache[path] || (this.cache[path] = this.fetcher(this.base + path));
  };

  // As search_static.shard_of: 32-bit hash of UTF-16 units, as 2 hex digits.
  function shardOf(term, modulus) {
    var h = 0;
    for (var i = 0; i < term.length; i++) h = (Math.imul(h, 31) + term.charCodeAt(i)) >>> 0;
    return (0x100 + h % modulus).toString(16).slice(1);
  }

  // Postings of a term as {docnum: where}, or null; a SKU ("#um-1") from its run of sorted SKUs.
  StaticIndex.prototype.postings = function (man, term) {
    if (term.charAt(0) === "#") {
      var sku = term.slice(1), runs = man.sku_chunks, n = -1;
      while (n + 1 < runs.length && runs[n + 1] <= sku) n++;
      return n < 0 ? Promise.resolve(null) : this.load("skus/" + n + ".json").then(function (run) {
        var out = {}; out[run[sku]] = 2; return has(run, sku) ? out : null;
      });
    }
    var sid = shardOf(term, man.shards);
    if (man.present.indexOf(sid) < 0) return Promise.resolve(null);
    return this.load("shards/" + sid + ".json").then(function (shard) {
      var enc = has(shard, term) ? shard[term] : [], out = {}, doc = -1;
      for (var i = 0; i < enc.length; i++) { doc += enc[i] >> 2; out[doc] = enc[i] & 3; }
      return enc.length ? out : null;
    });
  };

  function idf(man, p) { return Math.log(man.docs / (keys(p).length + 1)) + 1; }

  // One word's {docnum: score}: segments ANDed, a segment's terms ORed (common Chinese bigrams
  // dropped if rarer ones remain, as the service does), or its SKU.

  function scoreWord(word, lists, man) {
    var boosts = man.boosts, n = man.docs, acc = null;
    word.parts.forEach(function (part) {
      var terms = part[1], seg = {};
      if (part[0] === "cjk" && terms.length > 2 && n >= 1000) {
        var rare = terms.filter(function (t) { return lists[t] && keys(lists[t]).length <= COMMON * n; });
        if (rare.length) terms = rare;
      }
      terms.forEach(function (t) {
        var p = lists[t]; if (!p) return;
        var w = idf(man, p);
        keys(p).forEach(function (d) { seg[d] = (seg[d] || 0) + w * boosts[p[d]]; });
      });
      if (acc === null) { acc = seg; return; }
      var next = {};
      keys(acc).forEach(function (d) { if (seg[d] !== undefined) next[d] = acc[d] + seg[d]; });
      acc = next;
    });
    acc = acc || {};
    if (word.sku && lists[word.sku]) {
      keys(lists[word.sku]).forEach(function (d) { acc[d] = (acc[d] || 0) + 100; });
    }
    return acc;
  }

  function combine(maps, all) {
    var out = {};
    if (maps.length && all) {
      keys(maps[0]).forEach(function (d) {
        var s = 0;
        for (var i = 0; i < maps.length; i++) { if (maps[i][d] === undefined) return; s += maps[i][d]; }
        out[d] = s;
      });
    } else {  // documents that match more of the words first, then by score
      maps.forEach(function (m) { keys(m).forEach(function (d) { out[d] = (out[d] || 0) + 1e6 + m[d]; }); });
    }
    return out;
  }

  function catOf(man, doc) {
    var c = man.doc_categories;
    var v = typeof c === "string" ? parseInt(c.charAt(doc), 36) + (/[A-Z]/.test(c.charAt(doc)) ? 26 : 0) : c[doc];
    return v > 0 ? man.categories[v - 1] : "";
  }

  // Same answer shape as GET /api/search.
  StaticIndex.prototype.search = function (q, opts) {
    opts = opts || {};
    var self = this, page = opts.page || 1, size = opts.pageSize || 10, category = opts.category;
    return this.load("manifest.json").then(function (man) {
      var words = parseQuery(q), models = S.modelTerms(q), terms = models.slice();
      words.forEach(function (w) {
        w.parts.forEach(function (p) { terms = terms.concat(p[1]); });
        if (w.sku) terms.push(w.sku);
      });
      terms = S.unique(terms);
      return Promise.all(terms.map(function (t) { return self.postings(man, t); })).then(function (ps) {
        var lists = {};
        terms.forEach(function (t, i) { if (ps[i]) lists[t] = ps[i]; });
        var maps = words.map(function (w) { return scoreWord(w, lists, man); });
        // Words ANDed; ORed when that finds nothing (search.py's FEW).
        var scores = combine(maps, true), mode = "all";
        if (!keys(scores).length && maps.length > 1) { scores = combine(maps, false); mode = "any"; }
        models.forEach(function (t) {
          var p = lists[t]; if (!p) return;
          var bonus = MODEL_BOOST * idf(man, p);
          keys(p).forEach(function (d) { if (scores[d] !== undefined) scores[d] += bonus * man.boosts[p[d]]; });
        });
        var facets = {}, matched = [];
        keys(scores).forEach(function (d) {
          var c = catOf(man, +d);
          if (c) facets[c] = (facets[c] || 0) + 1;
          if (!category || c === category) matched.push(+d);
        });
        matched.sort(function (a, b) { return (scores[b] - scores[a]) || (a - b); });
        var slice = matched.slice((page - 1) * size, page * size);
        return Promise.all(slice.map(function (d) { return self.load("docs/" + Math.floor(d / man.block) + ".json"); }))
          .then(function (blocks) {
            var hits = slice.map(function (d, i) {
              var r = blocks[i][d % man.block], kind = man.kinds[r[0]];
              var url = kind === "product" && r[1].charAt(0) !== "/" ? "/products/" + r[1] + "/" : r[1];
              var h = { kind: kind, url: url, title: r[2], snippet: "" };
              if (kind === "product") { h.price_minor = r[3]; h.currency = r[4] || man.currency; h.category = catOf(man, d); }
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

  S.StaticIndex = StaticIndex;
  S.shardOf = shardOf;
  if (node) { module.exports = S; return; }

  // ---- The /search/ results page
  var doc = root.document, el = S.el, money = S.money;

  function renderResults(box, q, category, page) {
    function part(name) { return box.querySelector("[data-search-" + name + "]"); }
    function text(name) { return box.getAttribute("data-text-" + name) || ""; }
    function href(cat, n) {
      return "?q=" + encodeURIComponent(q) + (cat ? "&category=" + encodeURIComponent(cat) : "") + (n ? "&page=" + n : "");
    }
    var status = part("status"), list = part("hits"), facets = part("facets"), pager = part("pages"), empty = part("empty");
    if (!q.trim()) { status.textContent = text("prompt"); return; }
    status.textContent = text("loading") || "…";
    S.searchAnywhere(q, category, page).then(function (r) {
      list.textContent = facets.textContent = pager.textContent = "";
      empty.hidden = r.total > 0;
      status.textContent = (text("count") || "{n}").replace("{n}", r.total).replace("{q}", q) +
        (r.source === "static" ? " " + text("offline") : "");
      if (r.did_you_mean) {
        var p = status.appendChild(el("p", { "class": "search-dym" }, text("did-you-mean") + " "));
        p.appendChild(el("a", { href: "?q=" + encodeURIComponent(r.did_you_mean) }, r.did_you_mean));
      }
      r.hits.forEach(function (h) {
        var li = list.appendChild(el("li", { "class": "search-hit search-hit-" + h.kind }));
        li.appendChild(el("h2")).appendChild(el("a", { href: h.url }, h.title));
        if (h.kind === "product" && h.price_minor != null) li.appendChild(el("p", { "class": "price" }, money(h.price_minor, h.currency)));
        if (h.snippet) li.appendChild(el("p", { "class": "snippet" })).innerHTML = h.snippet;
      });
      var counts = r.facets.category || {}, cats = keys(counts);
      if (cats.length) {
        var ul = facets.appendChild(el("ul", { "class": "facets" }));
        ul.appendChild(el("li")).appendChild(el("a", { href: href(""), "aria-current": String(!category) }, text("all") || "*"));
        cats.forEach(function (c) {
          ul.appendChild(el("li")).appendChild(el("a", { href: href(c), "aria-current": String(c === category) },
            ((r.category_titles || {})[c] || c) + " (" + counts[c] + ")"));
        });
      }
      for (var n = 1; n <= Math.min(r.pages, 50); n++) {
        pager.appendChild(el("a", { href: href(category, n), "aria-current": n === page ? "page" : "false" }, String(n)));
      }
    }).catch(function () {
      status.textContent = text("error");
      empty.hidden = false;
    });
  }

  function start() {
    var box = doc.getElementById("search-results");
    if (!box) return;
    var params = new URLSearchParams(root.location.search);
    var q = params.get("q") || "", category = params.get("category") || "", page = parseInt(params.get("page"), 10) || 1;
    var field = doc.getElementById("search-page-q"); if (field) field.value = q;
    renderResults(box, q, category, Math.max(1, page));
  }
  if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", start); else start();
})(typeof window !== "undefined" ? window : this);
