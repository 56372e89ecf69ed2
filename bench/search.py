"""Search benchmark: index build (cold, one-product incremental), query latency in process and
over HTTP, cold start to first answer, index sizes, and quality (top-5 rate, MRR) on a query set
generated with the synthetic store; optionally Pagefind on the same documents.

    .venv/bin/python bench/search.py [--products 10000] [--queries 400] [--pagefind /tmp/pfvenv/bin/python]

Results are printed and written to bench/out/search-<date>.json. Documents are read straight from
the synthetic content files (YAML front matter + Markdown body stripped to text), so this runs
without the build engine.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gzip
import http.client
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import synth  # noqa: E402
from storefront.search import SearchDoc, open_index, search, update_index  # noqa: E402
from storefront.search_static import static_index_files  # noqa: E402

_MD = re.compile(r"[#*|`>\-]+")


def read_doc(path: Path, meta: dict) -> SearchDoc:
    text = path.read_text("utf-8")
    _, fm, body = text.split("---", 2)
    front = yaml.load(fm, Loader=yaml.CSafeLoader)
    plain = " ".join(_MD.sub(" ", body).split())
    minor = int(front["price"].replace(".", ""))
    skus = tuple(v["sku"] for v in front.get("variants", []) or [])
    return SearchDoc(id="product:" + front["sku"], kind="product", url=meta["url"], title=front["title"],
                     text=plain, sku=front["sku"], variant_skus=skus, category=front["category"],
                     category_title=meta["category_title"], tags=tuple(front.get("tags", [])),
                     price_minor=minor, currency="CNY")


def typo(word: str, rnd: random.Random) -> str:
    i = rnd.randrange(1, len(word) - 2)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]  # transposition, edit distance 1


def query_set(meta: dict, n: int, seed: int = 3) -> list[tuple[str, str, str]]:
    """(class, query, expected product id) drawn from the store's metadata."""
    rnd = random.Random(seed)
    out = []
    for p in rnd.sample(meta["products"], min(n, len(meta["products"]))):
        want = "product:" + p["sku"]
        cls = rnd.choice(["unspaced", "brand_type", "mixed", "english", "sku", "typo"])
        if cls == "unspaced":
            q = f"{p['brand_zh']}{p['noun_zh']} {p['model']}"
        elif cls == "brand_type":
            q = f"{p['brand_zh']} {p['noun_zh']} {p['model']}"
        elif cls == "mixed":
            q = f"{p['brand']} {p['noun_zh']} {p['model']}"
        elif cls == "english":
            q = f"{p['brand']} {p['model']}s"  # plural form of the model line
        elif cls == "sku":
            q = p["sku"]
        else:
            brand = p["brand"] if len(p["brand"]) >= 4 else p["brand"] + p["series"]
            q = f"{typo(brand, rnd)} {p['model']}"
        out.append((cls, q, want))
    return out


def quality(oi, queries, titles: dict[str, str]) -> dict:
    """Top-5 rate and MRR; a hit with exactly the expected title counts (titles repeat)."""
    ranks = {}
    per_class: dict[str, list[float]] = {}
    for cls, q, want in queries:
        hits = search(oi, q, page_size=10, facets=False).hits
        rank = next((i + 1 for i, h in enumerate(hits) if h.id == want or h.title == titles[want]), None)
        ranks[q] = rank
        per_class.setdefault(cls, []).append(1 / rank if rank else 0.0)
    rr = [1 / r if r else 0.0 for r in ranks.values()]
    return {"top5": sum(1 for r in ranks.values() if r and r <= 5) / len(ranks), "mrr": sum(rr) / len(rr),
            "mrr_by_class": {k: round(sum(v) / len(v), 4) for k, v in sorted(per_class.items())},
            "misses": [q for q, r in ranks.items() if not r or r > 5][:15]}


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
            conn.request("GET", "/api/search?q=" + __import__("urllib.parse").parse.quote(q))
            body = conn.getresponse().read()
            times.append(time.perf_counter() - t)
            conn.close()
            json.loads(body)
    finally:
        server.shutdown()
    return {"p50_ms": round(pct(times, 50) * 1000, 2), "p95_ms": round(pct(times, 95) * 1000, 2)}


def cold_start(index_dir: Path, q: str) -> float:
    code = (f"import time; t=time.perf_counter(); import sys; sys.path.insert(0, {str(ROOT)!r}); "
            "from storefront.search import open_index, search; "
            f"r = search(open_index({str(index_dir)!r}), {q!r}); print(time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--products", type=int, default=10000)
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="search-bench-"))
    meta = synth.generate_store(work, args.products, overwrite=True)
    content = Path(meta["content_dir"])
    t = time.perf_counter()
    docs = [read_doc(content / p["path"], p) for p in meta["products"]]
    read_s = time.perf_counter() - t
    titles = {d.id: d.title for d in docs}
    index_dir = work / "search_index"
    res: dict = {"products": len(docs), "read_docs_s": round(read_s, 3)}

    t = time.perf_counter()
    update_index(index_dir, docs, full=True)
    res["cold_build_s"] = round(time.perf_counter() - t, 3)
    one = dataclasses.replace(docs[17], title=docs[17].title + " 新款")
    incr = []
    for _ in range(3):
        t = time.perf_counter()
        update_index(index_dir, [one], keep_ids=set(titles))
        incr.append(time.perf_counter() - t)
    res["incremental_one_product_s"] = round(statistics.median(incr), 4)
    docs[17] = one
    titles[one.id] = one.title

    res["index_bytes"] = dir_size(index_dir.resolve())
    t = time.perf_counter()
    files = static_index_files(index_dir)
    res["static_export_s"] = round(time.perf_counter() - t, 3)
    gz = {k: len(gzip.compress(v, 6)) for k, v in files.items()}
    res["static"] = {"files": len(files), "raw_bytes": sum(len(v) for v in files.values()),
                     "gzip_bytes": sum(gz.values()), "manifest_gzip": gz["search/manifest.json"],
                     "largest_shard_gzip": max(v for k, v in gz.items() if "/shards/" in k),
                     "doc_block_gzip_max": max(v for k, v in gz.items() if "/docs/" in k)}
    # First query of ~3 terms and one page of 10 hits: manifest + 3 shards + 10 doc blocks, worst case.
    res["static"]["first_query_worst_gzip"] = (gz["search/manifest.json"] + 3 * res["static"]["largest_shard_gzip"]
                                               + 10 * res["static"]["doc_block_gzip_max"])

    queries = query_set(meta, args.queries)
    oi = open_index(index_dir)
    for _cls, q, _w in queries[:50]:  # warm up
        search(oi, q)
    lat = []
    for _cls, q, _w in queries:
        t = time.perf_counter()
        search(oi, q)
        lat.append(time.perf_counter() - t)
    res["query_ms"] = {"p50": round(pct(lat, 50) * 1000, 2), "p99": round(pct(lat, 99) * 1000, 2)}
    res["quality"] = quality(oi, queries, titles)
    res["http"] = http_latency(index_dir, [q for _c, q, _w in queries[:200]])
    res["cold_start_s"] = round(statistics.median(cold_start(index_dir, queries[0][1]) for _ in range(3)), 3)

    print(json.dumps(res, ensure_ascii=False, indent=2))
    out = ROOT / "bench" / "out" / f"search-{dt.date.today().isoformat()}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, ensure_ascii=False, indent=2), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
