"""Search benchmark (issue 3): index build time (cold, one-product incremental), the static
export's cost (after a change and when nothing changed), query latency in process (p50/p99) and
over HTTP (p95), cold start to first answer, index sizes (Whoosh, static total, first-query
download) and quality (top-5 rate, MRR, per query class) on a query set generated from the
synthetic store, for the service and for the static fallback (search.js run by Node); and, in the
same run, Pagefind over the same built site (quality, size, first-query download).

    .venv/bin/python bench/search.py [--products 10000] [--queries 600] [--work /tmp/sbench]
                                     [--pagefind /tmp/pfvenv/bin/python] [--repeat 2]

``--pagefind`` is the Python of a virtualenv with ``pagefind[extended]`` installed
(``python -m venv /tmp/pfvenv && /tmp/pfvenv/bin/pip install "pagefind[extended]"``). The site is
built once with ``build.py`` into ``<work>/site`` and indexed by Pagefind; its queries run in
Chromium (``/usr/bin/chromium``) through Playwright, the way a shopper's browser would run them.

The documents are read from the store's content files the way the build makes them (products,
help articles, policy versions and pages; Markdown stripped to text), so help articles and pages
compete with products as they do on the real site; the build engine itself is not needed. A query is answered
right when a product with the same brand, product type and model as the target (or, for a SKU,
the product selling that SKU) is in the first five hits; MRR uses the first such hit.

Results are printed and written to ``bench/out/search-<date>.json``. Exit status 1 when a target
of issue 3 is missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import gzip
import http.client
import http.server
import json
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import synth  # noqa: E402
import yaml  # noqa: E402

from storefront.search import SearchDoc, open_index, search, static_index_files, update_index  # noqa: E402

JS = ROOT / "templates" / "static" / "js" / "search-index.js"
CHROMIUM = "/usr/bin/chromium"
TARGETS = {"cold_build_s": 8.0, "incremental_one_product_s": 0.3, "p50_ms": 5.0, "p99_ms": 15.0,
           "cold_start_s": 0.5, "top5": 0.98, "mrr": 0.95, "static_gzip_bytes": 400_000,
           "first_query_gzip_bytes": 50_000}


# --------------------------------------------------------------------------------------------
# Documents

_MARKUP = re.compile(r"[#*|`>_\[\]()!]+|^\s*-{3,}\s*$|^\s*[-+]\s+", re.M)


def _read(path: Path) -> tuple[dict, str]:
    _, front, body = path.read_text("utf-8").split("---\n", 2)
    return yaml.load(front, Loader=yaml.CSafeLoader) or {}, " ".join(_MARKUP.sub(" ", body).split())


def read_documents(content: Path, meta: dict) -> list[SearchDoc]:
    cats = {c["slug"]: c["title"] for c in meta["categories"]}
    docs = []
    for p in meta["products"]:
        fm, text = _read(content / p["path"])
        docs.append(SearchDoc(
            id="product:" + fm["sku"], kind="product", url=p["url"], title=fm["title"], text=text, sku=fm["sku"],
            variant_skus=tuple(v["sku"] for v in fm.get("variants") or ()), category=fm["category"],
            category_title=cats.get(fm["category"], ""), tags=tuple(fm.get("tags") or ()),
            price_minor=int(str(fm["price"]).replace(".", "")), currency="CNY",
            image=(fm.get("images") or [""])[0]))
    for path in sorted((content / "help").glob("*/*.md")):
        if path.name == "_section.md":
            continue
        fm, text = _read(path)
        section = path.parent.name
        sec_title = _read(path.parent / "_section.md")[0].get("title", section)
        docs.append(SearchDoc(id=f"help:{section}/{path.stem}", kind="help", url=f"/help/{section}/{path.stem}/",
                              title=fm["title"], text=text, category=section, category_title=sec_title,
                              tags=tuple(fm.get("tags") or ())))
    for path in sorted((content / "privacy").glob("*.md")):
        fm, text = _read(path)
        docs.append(SearchDoc(id=f"policy:{path.stem}", kind="policy", url=f"/privacy/{path.stem}/",
                              title=f"{fm.get('title', '')}（{path.stem}）", text=text, category="privacy",
                              category_title="隐私政策"))
    for path in sorted((content / "pages").glob("*.md")):
        fm, text = _read(path)
        docs.append(SearchDoc(id=f"page:{path.stem}", kind="page", url=f"/{path.stem}/", title=fm["title"], text=text))
    return docs


# --------------------------------------------------------------------------------------------
# Query set


def plural(words: str) -> str:
    """English plural of the last word of a product type ("Power Bank" -> "Power Banks")."""
    head, _, last = words.rpartition(" ")
    low = last.lower()
    if low.endswith("s"):
        return words  # already plural ("Sneakers", "Earbuds")
    if low.endswith("y") and low[-2:-1] not in "aeiou":
        last = last[:-1] + "ies"
    elif low.endswith(("ch", "sh", "x")):
        last += "es"
    else:
        last += "s"
    return f"{head} {last}".strip()


def typo(word: str, rnd: random.Random) -> str:
    """One edit (deletion, transposition, substitution or insertion) inside a word of 5+ letters;
    the first letter is kept, as people rarely get it wrong."""
    i = rnd.randrange(1, len(word) - 1)
    kind = rnd.choice(["delete", "transpose", "substitute", "insert"])
    letters = "abcdefghijklmnopqrstuvwxyz"
    if kind == "delete":
        out = word[:i] + word[i + 1:]
    elif kind == "transpose" and word[i] != word[i + 1]:
        out = word[:i] + word[i + 1] + word[i] + word[i + 2:]
    elif kind == "insert":
        out = word[:i] + rnd.choice(letters) + word[i:]
    else:
        out = word[:i] + rnd.choice(letters.replace(word[i].lower(), "")) + word[i + 1:]
    return out


CLASSES = ("unspaced", "brand_type", "mixed", "english", "english_plural", "sku", "typo")


def query_set(meta: dict, n: int, seed: int = 3) -> list[dict]:
    """``{"cls", "q", "want": [urls]}`` drawn from the store's metadata, the classes in turn.

    Model numbers are kept as they are (no plural "s" glued to "X40"); the plural goes on the
    English product type, where a shopper would write it."""
    rnd = random.Random(seed)
    same: dict[tuple, list[str]] = {}
    by_sku: dict[str, str] = {}
    for p in meta["products"]:
        same.setdefault((p["brand"], p["noun_zh"], p["model"]), []).append(p["url"])
        for s in p["skus"]:
            by_sku[s] = p["url"]
    out = []
    for k, p in enumerate(rnd.sample(meta["products"], min(n, len(meta["products"])))):
        cls = CLASSES[k % len(CLASSES)]
        want = same[(p["brand"], p["noun_zh"], p["model"])]
        if cls == "unspaced":
            q = f"{p['brand_zh']}{p['noun_zh']} {p['model']}"
        elif cls == "brand_type":
            q = f"{p['brand_zh']} {p['noun_zh']} {p['model']}"
        elif cls == "mixed":
            q = f"{p['brand']} {p['noun_zh']} {p['model']}"
        elif cls == "english":
            q = f"{p['brand']} {p['noun_en']} {p['model']}"
        elif cls == "english_plural":
            q = f"{p['brand']} {plural(p['noun_en'])} {p['model']}"
        elif cls == "sku":
            sku = rnd.choice(p["skus"])
            q, want = sku, [by_sku[sku]]
        else:
            words = [w for w in (p["brand"] + " " + p["noun_en"]).split() if len(w) >= 5 and w.isalpha()]
            if not words:
                words = [p["noun_en"].split()[-1]]
            pick = rnd.choice(words)
            text = f"{p['brand']} {p['noun_en']} {p['model']}"
            q = text.replace(pick, typo(pick, rnd), 1)
        out.append({"cls": cls, "q": q, "want": want})
    return out


def score(queries: list[dict], ranked_urls: list[list[str]]) -> dict:
    ranks = []
    per: dict[str, list[float]] = {}
    misses = []
    for item, urls in zip(queries, ranked_urls):
        want = set(item["want"])
        rank = next((i + 1 for i, u in enumerate(urls) if u in want), None)
        ranks.append(rank)
        per.setdefault(item["cls"], []).append(1 / rank if rank else 0.0)
        if not rank or rank > 5:
            misses.append({"cls": item["cls"], "q": item["q"], "rank": rank})
    n = len(ranks) or 1
    return {"top5": round(sum(1 for r in ranks if r and r <= 5) / n, 4),
            "mrr": round(sum(1 / r for r in ranks if r) / n, 4),
            "mrr_by_class": {k: round(sum(v) / len(v), 4) for k, v in sorted(per.items())},
            "top5_by_class": {k: round(sum(1 for x in v if x >= 0.2) / len(v), 4) for k, v in sorted(per.items())},
            "misses": misses[:20], "n_misses": len(misses)}


# --------------------------------------------------------------------------------------------
# Measurements


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def http_latency(index_dir: Path, queries: list[str]) -> dict:
    import bottle

    from checkout.search_routes import add_search_routes
    app = bottle.Bottle()
    add_search_routes(app, index_dir)
    server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    times = []
    try:
        for q in queries:
            conn = http.client.HTTPConnection("127.0.0.1", server.server_port)
            t = time.perf_counter()
            conn.request("GET", "/api/search?q=" + urllib.parse.quote(q))
            resp = conn.getresponse()
            body = resp.read()
            times.append(time.perf_counter() - t)
            conn.close()
            if resp.status != 200:
                raise RuntimeError(f"/api/search?q={q}: HTTP {resp.status}: {body[:200]!r}")
    finally:
        server.shutdown()
    return {"p50_ms": round(pct(times, 50) * 1000, 2), "p95_ms": round(pct(times, 95) * 1000, 2)}


def cold_start(index_dir: Path, q: str) -> float:
    """A fresh interpreter: import, open the index, answer one query (interpreter start excluded)."""
    code = (f"import time; t=time.perf_counter(); import sys; sys.path.insert(0, {str(ROOT)!r}); "
            "from storefront.search import open_index, search; "
            f"r = search(open_index({str(index_dir)!r}), {q!r}); assert r.total; print(time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def static_fallback(files: dict[str, bytes], queries: list[dict], work: Path) -> dict:
    """Run search.js's StaticIndex in Node over the exported files: quality, and the gzipped bytes
    each query downloads from a cold cache (first page of 20 hits, as /search/ asks)."""
    root = work / "static"
    if root.exists():
        import shutil
        shutil.rmtree(root)
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    gz = {rel[len("search/"):]: len(gzip.compress(data, 9)) for rel, data in files.items()}
    script = f"""
    const fs = require("fs");
    const s = require({json.dumps(str(JS))});
    const base = {json.dumps(str(root / "search") + "/")};
    const qs = JSON.parse(fs.readFileSync(0, "utf8"));
    (async () => {{
      const out = [];
      for (const q of qs) {{
        const seen = [];
        const idx = new s.StaticIndex(base, p => {{ seen.push(p.slice(base.length)); return Promise.resolve(JSON.parse(fs.readFileSync(p, "utf8"))); }});
        const t = process.hrtime.bigint();
        const r = await idx.search(q, {{pageSize: 20}});
        const ms = Number(process.hrtime.bigint() - t) / 1e6;
        out.push([r.hits.map(h => h.url), seen, ms]);
      }}
      console.log(JSON.stringify(out));
    }})();
    """
    proc = subprocess.run(["node", "-e", script], input=json.dumps([q["q"] for q in queries]),
                          capture_output=True, text=True, check=True, timeout=600)
    rows = json.loads(proc.stdout)
    first = [sum(gz[f] for f in set(seen)) for _urls, seen, _ms in rows]
    res = score(queries, [urls for urls, _s, _ms in rows])
    res.update(first_query_gzip_p50=pct(first, 50), first_query_gzip_max=max(first),
               node_query_ms_p50=round(pct([ms for *_x, ms in rows], 50), 2))
    return res


# --------------------------------------------------------------------------------------------
# Pagefind


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def pagefind(py: str, site: Path, queries: list[dict]) -> dict:
    out_dir = site / "pagefind"
    t = time.perf_counter()
    proc = subprocess.run([py, "-m", "pagefind_bin_extended", "--site", str(site), "--output-path", str(out_dir)],
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"pagefind failed: {proc.stderr[-2000:]}")
    res: dict = {"index_s": round(time.perf_counter() - t, 2),
                 "version": subprocess.run([py, "-m", "pagefind_bin_extended", "--version"],
                                           capture_output=True, text=True).stdout.strip()}
    # Pagefind's files are already gzip-compressed (fragments, index chunks, meta); the size on
    # disk is what a CDN serves.
    res["total_bytes"] = dir_bytes(out_dir)
    handler = functools.partial(_Files, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    from playwright.sync_api import sync_playwright
    run_all = """async (qs) => {
        const pf = await import('/pagefind/pagefind.js');
        await pf.init();
        const out = [];
        for (const q of qs) {
          const r = await pf.search(q);
          const data = await Promise.all(r.results.slice(0, 10).map(x => x.data()));
          out.push(data.map(d => d.url.replace(/index\\.html$/, '')));
        }
        return out;
    }"""
    first_query = """async (q) => {
        const pf = await import('/pagefind/pagefind.js');
        const r = await pf.search(q);
        await Promise.all(r.results.slice(0, 20).map(x => x.data()));
        return performance.getEntriesByType('resource').filter(e => e.name.includes('/pagefind/'))
          .reduce((n, e) => n + e.encodedBodySize, 0);
    }"""
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"])
            page = browser.new_page()
            page.goto(base + "/404.html")
            t = time.perf_counter()
            urls = page.evaluate(run_all, [q["q"] for q in queries])
            res["browser_query_ms_mean"] = round((time.perf_counter() - t) * 1000 / len(queries), 2)
            first = []
            for item in queries[:15]:
                ctx = browser.new_context()  # cold cache
                pg = ctx.new_page()
                pg.goto(base + "/404.html")
                first.append(pg.evaluate(first_query, item["q"]))
                ctx.close()
            browser.close()
    finally:
        server.shutdown()
    res.update(score(queries, urls))
    res.update(first_query_bytes_p50=pct(first, 50), first_query_bytes_max=max(first))
    return res


# --------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--products", type=int, default=10000)
    ap.add_argument("--queries", type=int, default=700)
    ap.add_argument("--repeat", type=int, default=2, help="cold builds to take the median of")
    ap.add_argument("--work", type=Path, default=Path("/tmp/search-bench"))
    ap.add_argument("--pagefind", default=None, help="python of a venv with pagefind[extended]")
    args = ap.parse_args(argv)
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    meta_path = work / f"meta-{args.products}.json"
    store = work / f"store-{args.products}"
    if meta_path.exists() and (store / "content").is_dir():
        meta = json.loads(meta_path.read_text("utf-8"))
    else:
        meta = synth.generate_store(store, args.products, overwrite=True)
        meta_path.write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
    content = Path(meta["content_dir"])
    res: dict = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                 "products": args.products}

    t = time.perf_counter()
    docs = read_documents(content, meta)
    res["documents"] = len(docs)
    res["load_s"] = round(time.perf_counter() - t, 2)
    index_dir = work / "search_index"

    colds = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        update_index(index_dir, docs, full=True)
        colds.append(time.perf_counter() - t)
    res["cold_build_s"] = round(statistics.median(colds), 3)
    res["cold_build_runs_s"] = [round(c, 3) for c in colds]

    t = time.perf_counter()
    files = static_index_files(index_dir)
    res["static_export_after_change_s"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    static_index_files(index_dir)
    res["static_export_unchanged_s"] = round(time.perf_counter() - t, 4)

    ids = {d.id for d in docs}
    k = next(i for i, d in enumerate(docs) if d.kind == "product")
    incr = []
    for n in range(4):  # edit, undo, edit, undo: the index must answer the same afterwards
        one = docs[k] if n % 2 else dataclasses.replace(docs[k], title=docs[k].title + " 新款")
        t = time.perf_counter()
        update_index(index_dir, [one], keep_ids=ids)
        incr.append(time.perf_counter() - t)
    res["incremental_one_product_s"] = round(statistics.median(incr), 4)
    t = time.perf_counter()
    static_index_files(index_dir)
    res["static_export_after_one_edit_s"] = round(time.perf_counter() - t, 3)

    res["whoosh_index_bytes"] = dir_bytes(index_dir.resolve())
    gz = {k2: len(gzip.compress(v, 9)) for k2, v in files.items()}
    res["static"] = {"files": len(files), "raw_bytes": sum(len(v) for v in files.values()),
                     "gzip_bytes": sum(gz.values()),
                     "largest_file_gzip": max(gz.values())}

    queries = query_set(meta, args.queries)
    oi = open_index(index_dir)
    for item in queries[:50]:  # warm the OS cache and Whoosh's lazily loaded structures
        search(oi, item["q"])
    lat = []
    ranked = []
    for item in queries:
        t = time.perf_counter()
        r = search(oi, item["q"], page_size=20)
        lat.append(time.perf_counter() - t)
        ranked.append([h.url for h in r.hits])
    res["query_ms"] = {"p50": round(pct(lat, 50) * 1000, 2), "p99": round(pct(lat, 99) * 1000, 2),
                       "max": round(max(lat) * 1000, 2)}
    res["quality"] = score(queries, ranked)
    res["http"] = http_latency(index_dir, [item["q"] for item in queries[:300]])
    res["cold_start_s"] = round(statistics.median(cold_start(index_dir, queries[i]["q"]) for i in range(3)), 3)
    res["static_fallback"] = static_fallback(files, queries, work)

    if args.pagefind:
        site = work / f"site-{args.products}"
        if not (site / "index.html").exists():
            t = time.perf_counter()
            subprocess.run([sys.executable, str(ROOT / "build.py"), "build", "--content", str(content),
                            "--output", str(site), "--index", str(work / "site_index"), "--quiet"],
                           check=True)
            res["site_build_s"] = round(time.perf_counter() - t, 1)
        res["pagefind"] = pagefind(args.pagefind, site, queries)

    checks = {
        "cold_build_s": res["cold_build_s"] <= TARGETS["cold_build_s"],
        "incremental_one_product_s": res["incremental_one_product_s"] <= TARGETS["incremental_one_product_s"],
        "p50_ms": res["query_ms"]["p50"] <= TARGETS["p50_ms"],
        "p99_ms": res["query_ms"]["p99"] <= TARGETS["p99_ms"],
        "cold_start_s": res["cold_start_s"] <= TARGETS["cold_start_s"],
        "top5": res["quality"]["top5"] >= TARGETS["top5"],
        "mrr": res["quality"]["mrr"] >= TARGETS["mrr"],
        "static_gzip_bytes": res["static"]["gzip_bytes"] <= TARGETS["static_gzip_bytes"],
        "first_query_gzip_bytes": res["static_fallback"]["first_query_gzip_max"] <= TARGETS["first_query_gzip_bytes"],
    }
    if "pagefind" in res:
        checks["beats_pagefind_top5"] = res["quality"]["top5"] > res["pagefind"]["top5"]
    res["targets"] = {k2: {"target": TARGETS.get(k2), "pass": v} for k2, v in checks.items()}
    print(json.dumps(res, ensure_ascii=False, indent=2))
    out = ROOT / "bench" / "out" / f"search-{dt.date.today().isoformat()}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, ensure_ascii=False, indent=2), "utf-8")
    print("\n".join(f"{'PASS' if v else 'FAIL'}  {k2}" for k2, v in checks.items()))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
