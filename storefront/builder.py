"""The build: the stages in order, incrementally, in parallel, and atomically.

    load (scan, parse, assemble, lock check, templates) -> plan -> render -> data files -> search -> commit

Every stage before ``commit`` writes only into a staging directory beside the output (the search
index into a new directory beside the current one); if anything fails, both are removed and the
previous ``output/`` and search index stay exactly as they were. An output file is rendered again
only when its dependency key changed (the records it shows, the templates it loaded last time, the
shared fragments and assets), and written only when its bytes changed, so a second build writes
nothing.

Both cores are kept busy: parsing and rendering run in forked workers; after a small edit the
search stage runs in a process of its own beside parsing, planning and rendering
(:class:`SearchJob`), and after a big parse the build cache records the sources beside rendering
(:class:`SourceSaver`).
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from . import __version__
from .cache import ArtifactState, BuildCache, SearchDocsChange
from .errors import ContentError, Problem, Problems
from .sources import LOCK_NAME, SourceFile, display, scan

if TYPE_CHECKING:  # the heavy modules (Jinja2, Markdown, YAML, Babel) load only when a build has work
    from .loader import Parsed
    from .model import Library, Product
    from .render import Artifact, Renderer

ENGINE = f"storefront-{__version__}-2"
PARALLEL_MIN = 400
"""Below this many files to parse or pages to render, one process is faster than starting workers."""
STEP_MAX = 200
"""The most files or pages a worker takes at a time: small enough that both finish together."""


@dataclass(frozen=True)
class BuildOptions:
    content: Path = Path("content")
    templates: Path = Path("templates")
    output: Path = Path("output")
    index: Path = Path("search_index")
    drafts: bool = False
    now: dt.date | None = None
    full: bool = False
    jobs: int = 0
    """0 means one worker per core."""
    quiet: bool = False
    search: bool = True
    """Write the search index (the service reads it)."""

    @property
    def cache_dir(self) -> Path:
        out = self.output.resolve()
        return out.parent / f".{out.name}-cache"


@dataclass
class BuildReport:
    pages: int = 0
    rendered: int = 0
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    parsed: int = 0
    search: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        return (f"built {self.pages} pages in {self.seconds:.2f} s: {self.parsed} files parsed, "
                f"{self.rendered} pages rendered, {len(self.written)} files written, {len(self.removed)} removed")


class Progress:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.label, self.total, self.done, self.last = "", 0, 0, 0.0

    def start(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        self._draw(force=True)

    def advance(self, n: int) -> None:
        self.done += n
        self._draw()

    def _draw(self, force: bool = False) -> None:
        if not self.enabled or self.total < 200:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.1 and self.done < self.total:
            return
        self.last = now
        width = 30
        filled = width * self.done // max(1, self.total)
        sys.stderr.write(f"\r{self.label:<10} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}")
        if self.done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


# ------------------------------------------------------------------------------------------------
# load

@dataclass
class Loaded:
    library: Library
    files: dict[str, tuple[int, int, str]]
    fresh: dict[str, tuple[str, Parsed]]
    """Files parsed by this build: rel -> (hash, Parsed with the full bodies)."""
    gone: list[str]
    """Files the last build parsed that are gone now."""
    lock_text: str
    lock_old: str
    template_hashes: dict[str, str]
    env: Any
    now: dt.date
    known_files: dict[str, tuple[int, int, str]]
    """What the cache knew of the files before this build."""


def load(opts: BuildOptions, cache: BuildCache | None, progress: Progress | None = None,
         scanned: tuple[list[SourceFile], Problems] | None = None,
         on_parsed: Callable[[dict[str, tuple[int, int, str]], dict[str, tuple[str, Parsed]], list[str],
                              dict[str, tuple[int, int, str]]], None] | None = None) -> Loaded:
    """Read, parse and check everything. Raises ContentError with every problem found.
    ``on_parsed(files, fresh, gone, known_files)`` is called once every file is parsed, before the
    library is assembled (see :class:`Loaded` for what each holds)."""
    from .loader import DOCUMENT_KINDS, assemble, load_site_config, today_in
    from .privacy import check_lock
    from .render import check_templates, make_environment

    problems = Problems()
    content = opts.content
    if not content.is_dir():
        raise ContentError([Problem(str(content), None, "content directory not found. Fix: pass --content DIR")])
    site, site_fp = load_site_config(content, problems)
    sources, scan_problems = scanned or scan(content)
    problems.items.extend(scan_problems.items)
    if site is None:
        problems.raise_if_any()
        raise AssertionError("unreachable")
    now = opts.now or today_in(site)

    parse_key = f"{ENGINE}:{site_fp}:{os.getcwd()}"
    reuse = cache is not None and not opts.full and cache.meta("parse_key") == parse_key
    known_files = cache.files() if cache is not None and reuse else {}
    records: dict[str, tuple[str, Parsed]] = cache.load_records() if cache is not None and reuse else {}
    stored = set(records)
    files: dict[str, tuple[int, int, str]] = {}
    media: dict[str, str] = {}
    lock_text = ""
    to_parse: list[SourceFile] = []
    for src in sources:
        if src.kind == "site":
            continue
        if src.kind == "lock":
            lock_text = Path(src.path).read_text("utf-8")
            continue
        known = known_files.get(src.rel)
        if known and known[:2] == src.stat and (src.kind == "media" or src.rel in records):
            files[src.rel] = known
            if src.kind == "media":
                media[src.rel[len("media/"):]] = known[2]
            continue
        if src.kind == "media":
            digest = _file_hash(src.path)
            files[src.rel] = (*src.stat, digest)
            media[src.rel[len("media/"):]] = digest
        else:
            to_parse.append(src)

    fresh: dict[str, tuple[str, Parsed]] = {}
    for src, (digest, parsed, changed) in zip(to_parse, _parse_all(content, to_parse, site, records, opts.jobs, progress)):
        files[src.rel] = (*src.stat, digest)
        records[src.rel] = (digest, parsed)
        if changed:
            fresh[src.rel] = (digest, parsed)
    doc_rels = {s.rel for s in sources if s.kind in DOCUMENT_KINDS}
    gone = sorted(rel for rel in stored if rel not in doc_rels)
    if on_parsed is not None:
        on_parsed(files, fresh, gone, known_files)
    library = assemble(site, [records[rel][1] for rel in sorted(records) if rel in doc_rels], media, now=now,
                       drafts=opts.drafts, problems=problems, site_fingerprint=site_fp)
    lock_shown = display(content, f"privacy/{LOCK_NAME}")
    new_lock = check_lock(library.policies, lock_text, lock_shown, now, problems)

    env = make_environment(opts.templates, cache.directory / "templates" if cache is not None else None)
    template_hashes: dict[str, str] = {}
    if not opts.templates.is_dir():
        problems.add(str(opts.templates), None, "templates directory not found. Fix: pass --templates DIR")
    else:
        checked = _json_meta(cache, "templates_ok") if reuse else {}
        template_hashes = check_templates(env, opts.templates, problems, skip=checked)
    problems.raise_if_any()
    return Loaded(library, files, fresh, gone, new_lock, lock_text, template_hashes, env, now, known_files)


def _json_meta(cache: BuildCache | None, key: str) -> dict[str, str]:
    raw = cache.meta(key) if cache is not None else None
    return json.loads(raw) if raw else {}


def _file_hash(path: Path | str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:20]


_WORK: dict[str, Any] = {}


def _parse_one(content: Path, src: SourceFile, site: Any, cached: dict[str, tuple[str, Parsed]],
               cwd: str | None = None) -> tuple[str, Parsed | None]:
    from .loader import fingerprint, parse_file
    data = _read(src.path, src.stat[0])
    digest = fingerprint(data)
    old = cached.get(src.rel)
    if old and old[0] == digest:
        return digest, None  # touched but unchanged: keep the parsed record
    return digest, parse_file(content, src.kind, src.rel, data, site, digest, cwd)


def _read(path: str, size_hint: int) -> bytes:
    """A file's bytes with the fewest system calls: ``open()`` adds two fstat, an isatty ioctl
    and an lseek to each of 10,000 small files (and Python's file objects around them).
    ``size_hint`` (the size the scan saw) is read at once; whatever the file has grown by since
    is read too."""
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.read(fd, size_hint + 1)
        rest = []
        while block := os.read(fd, 1 << 20):
            rest.append(block)
        return data + b"".join(rest) if rest else data
    finally:
        os.close(fd)


def _parse_chunk(indices: list[int]) -> list[tuple[int, str, tuple | None]]:
    """Parse some sources; each Parsed comes back packed (``cache.pack_parsed``)."""
    from .cache import pack_parsed
    w = _WORK
    cwd = os.getcwd()
    out = []
    for i in indices:
        digest, parsed = _parse_one(w["content"], w["sources"][i], w["site"], w["cached"], cwd)
        out.append((i, digest, None if parsed is None else pack_parsed(parsed)))
    return out


def _parse_all(content: Path, sources: list[SourceFile], site: Any, cached: dict[str, tuple[str, Parsed]],
               jobs: int, progress: Progress | None) -> list[tuple[str, Parsed, bool]]:
    """(hash, Parsed, whether it was parsed now) for each source, in order."""
    results: list[tuple[str, Parsed | None]] = [("", None)] * len(sources)
    if progress:
        progress.start("reading", len(sources))
    work = dict(content=content, sources=sources, site=site, cached=cached)
    from .cache import unpack_parsed
    for i, digest, packed in _run_chunks(_parse_chunk, work, len(sources), jobs, progress):
        results[i] = (digest, None if packed is None else unpack_parsed(packed))
    return [(digest, parsed if parsed is not None else cached[src.rel][1], parsed is not None)
            for src, (digest, parsed) in zip(sources, results)]


def _can_fork() -> bool:
    import multiprocessing  # imported when needed: a small rebuild never starts a process
    return "fork" in multiprocessing.get_all_start_methods()


def _alone() -> bool:
    """No other thread runs in this process. A process forked while another thread holds a lock
    (SQLite's allocator and open mutexes, a stream's) inherits it locked and can hang on it: the
    optional helper process that records the sources is forked only from a lone thread, as in
    ``build.py build``; ``watch`` and ``serve`` (watcher, HTTP, mail threads) do that work in the
    building thread. (The search stage starts a new interpreter, which inherits no locks.)"""
    import threading
    return threading.active_count() == 1


def _run_chunks(fn: Callable[[list[int]], list[Any]], work: dict[str, Any], n: int, jobs: int,
                progress: Progress | None) -> Iterable[Any]:
    """Run ``fn`` over index chunks, in forked workers when there is enough to do."""
    jobs = jobs or os.cpu_count() or 1
    _WORK.clear()
    _WORK.update(work)
    try:
        if jobs <= 1 or n < PARALLEL_MIN or not _can_fork():
            step = 100
            for start in range(0, n, step):
                chunk = fn(list(range(start, min(n, start + step))))
                if progress:
                    progress.advance(len(chunk))
                yield from chunk
            return
        step = max(50, min(STEP_MAX, n // (jobs * 8)))
        chunks = [list(range(s, min(n, s + step))) for s in range(0, n, step)]
        import multiprocessing
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(jobs) as pool:
            # A parse chunk's answer is some 800 kB: through the default 64 kB pipe a worker
            # waits for this process to read each piece before it can start its next chunk.
            outqueue = getattr(pool, "_outqueue", None)
            if outqueue is not None and hasattr(outqueue, "_writer"):
                _widen_pipe(outqueue._writer.fileno())
            for chunk in pool.imap_unordered(fn, chunks):
                if progress:
                    progress.advance(len(chunk))
                yield from chunk
    finally:
        _WORK.clear()


# ------------------------------------------------------------------------------------------------
# render

def _render_chunk(indices: list[int]) -> list[tuple[int, str | None, list[str], Problem | None, bool]]:
    from .render import RenderFailure
    w = _WORK
    renderer: Renderer = w["renderer"]
    out = []
    for i in indices:
        art: Artifact = w["artifacts"][i]
        try:
            data, used = renderer.render(art)
        except RenderFailure as exc:
            out.append((i, None, [], exc.problem, False))
            continue
        sha = _digest(data)
        write = w["previous_sha"].get(art.path) != sha
        if write:
            _write(w["staging"] / art.path, data)
        out.append((i, sha, used, None, write))
    return out


def _digest(data: bytes) -> str:
    """What an output file is compared by between builds. SHA-256, which processors with SHA
    instructions (x86 since 2016-2019, ARMv8) make half as costly as BLAKE2b: 230 MB of pages at
    10,000 products took 0.16 s of CPU with BLAKE2b."""
    return hashlib.sha256(data).hexdigest()[:32]


_made_dirs: set[str] = set()


def _write(path: Path, data: bytes) -> None:
    """Write a staged file; each directory is made once per process (pretty URLs mean one per page)."""
    parent = os.path.dirname(path)
    if parent not in _made_dirs:
        try:
            os.mkdir(parent)  # its parent usually exists: one call instead of makedirs' walk
        except FileExistsError:
            pass
        except FileNotFoundError:
            os.makedirs(parent, exist_ok=True)
        _made_dirs.add(parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------------------
# the whole build

class BodyStore:
    """Product descriptions (HTML and meta text): parsed by this build, or read back from the cache.

    Each process (forked render workers included) opens its own connection to the cache database.
    """

    def __init__(self, fresh: dict[str, tuple[str, str]], db_path: Path, texts: dict[str, str | None] | None = None):
        self.fresh = fresh
        self.db_path = db_path
        self.texts = texts or {}
        self._conn: Any = None
        self._pid = 0

    def complete(self, product: Product) -> Product:
        """The product with ``body_html`` and ``description`` filled in."""
        if product.body_html is not None:
            return product
        from markupsafe import Markup
        found = self.fresh.get(product.body_key)
        if found is None:
            if self._conn is None or self._pid != os.getpid():
                import sqlite3
                self._conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
                self._pid = os.getpid()
            found = self._conn.execute("SELECT html, description FROM bodies WHERE rel = ?",
                                       (product.body_key,)).fetchone() or ("", "")
        return replace(product, body_html=Markup(found[0]), description=found[1])

    def body(self, product: Product) -> Any:
        return self.complete(product).body_html

    def text(self, product: Product) -> str:
        """The description as plain text: from the parse when this build parsed it."""
        found = self.texts.get(product.body_key)
        if found is None:
            from .markup import plain_text
            found = plain_text(self.body(product))
        return found


def check(opts: BuildOptions) -> Library:
    """Validate content and templates; writes nothing."""
    from .render import Renderer, collect_assets
    loaded = load(BuildOptions(**{**opts.__dict__, "full": True}), None)
    renderer = Renderer(loaded.library, loaded.env, collect_assets(opts.templates), opts.templates)
    _render_fragments(renderer)
    return loaded.library


def _render_fragments(renderer: Renderer) -> dict[str, Any]:
    from .render import _template_problem
    try:
        return renderer.render_fragments()
    except Exception as exc:  # noqa: BLE001 - any template bug becomes a reported problem
        raise ContentError([_template_problem(exc, renderer.templates_dir, "partials/", "the shared fragments")]) from None


def build(opts: BuildOptions, progress: Progress | None = None) -> BuildReport:
    """Build the site into ``opts.output`` (and the search index), doing only what changed."""
    started = time.perf_counter()
    progress = progress or Progress(False)
    report = BuildReport()
    # A build allocates hundreds of thousands of long-lived objects and frees them at the end: the
    # cyclic garbage collector would scan them again and again for nothing (and in forked workers,
    # touching them copies the pages they share with the parent).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    cache = BuildCache(opts.cache_dir)
    staging = opts.output.resolve().parent / f".{opts.output.resolve().name}-staging-{os.getpid()}"
    try:
        scanned = scan(opts.content) if opts.content.is_dir() else None
        world = _world_key(opts, scanned[0], cache) if scanned and not opts.full else None
        if world is not None and world == cache.meta("world_key"):
            # Nothing that a build reads has changed since the last successful build.
            report.pages = int(cache.meta("pages") or 0)
            report.seconds = time.perf_counter() - started
            return report
        search_job = SearchJob(opts, cache)
        jobs: list[Any] = [search_job]
        try:
            search_job.start_early()
            _build(opts, cache, staging, scanned, progress, report, search_job, jobs)
        except BaseException:
            for job in jobs:
                job.abandon()
            raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        cache.close()
        if gc_was_enabled:
            gc.enable()
    report.seconds = time.perf_counter() - started
    return report


def _build(opts: BuildOptions, cache: BuildCache, staging: Path, scanned: Any, progress: Progress,
           report: BuildReport, search_job: SearchJob, jobs: list[Any]) -> None:
    from .datafiles import catalog_json, policies_json, robots_txt, sitemap_xml
    from .render import Renderer, _hash, collect_assets

    made: dict[str, Any] = {}

    def on_parsed(files: dict[str, tuple[int, int, str]], fresh: dict[str, tuple[str, Parsed]], gone: list[str],
                  known_files: dict[str, tuple[int, int, str]]) -> None:
        # Recording the sources starts as soon as the files are parsed: in a process of its own
        # it then takes the core this one leaves idle while it assembles the library and plans
        # the pages (started after that, it took a share of the cores from rendering).
        products = {rel: p for rel, (_, p) in fresh.items() if p.kind == "product" and p.record is not None}
        bodies = BodyStore({rel: (p.record.body_html, p.record.description) for rel, p in products.items()},
                           cache.directory / "build.sqlite", {rel: p.text for rel, p in products.items()})

        def sources() -> dict[str, Any]:
            return dict(files={rel: f for rel, f in files.items() if known_files.get(rel) != f},
                        files_gone=[rel for rel in known_files if rel not in files],
                        records={rel: (sha, p) for rel, (sha, p) in fresh.items()},
                        records_gone=gone, bodies=bodies.fresh,
                        catalog={rel: p.catalog for rel, p in products.items()})
        saver = SourceSaver(cache, sources)
        jobs.append(saver)
        made.update(products=products, bodies=bodies, saver=saver)
        if not any(p.problems for _, p in fresh.values()):  # a build that fails here records nothing
            saver.start_beside(len(fresh))

    loaded = load(opts, cache, progress, scanned, on_parsed=on_parsed)
    fresh_products, bodies, saver = made["products"], made["bodies"], made["saver"]
    report.parsed = len(loaded.fresh)
    lib = loaded.library
    search_job.give(lib, bodies.text, len(loaded.fresh))
    assets = collect_assets(opts.templates)
    renderer = Renderer(lib, loaded.env, assets, opts.templates, complete=bodies.complete)
    fragments = _render_fragments(renderer)
    artifacts = renderer.plan()
    _check_collisions(artifacts, lib)

    output_id = _dir_id(opts.output)
    previous = cache.artifacts() if output_id and cache.meta("output_id") == output_id else {}
    global_key = _hash([ENGINE, lib.site_fingerprint, str(opts.drafts),
                        *(f"{k}={a.digest}" for k, a in sorted(assets.items())),
                        *(f"{k}={v}" for k, v in sorted(fragments.items()))])
    th = loaded.template_hashes

    template_parts: dict[tuple[str, ...], str] = {}

    def key_for(art: Artifact, templates: Iterable[str]) -> str:
        templates = tuple(templates)
        part = template_parts.get(templates)
        if part is None:  # thousands of pages share a few template lists: join each once
            part = template_parts[templates] = "\0".join(f"{t}={th.get(t, '-')}" for t in templates)
        return _hash((global_key, art.kind, art.inputs, part))

    todo = [i for i, a in enumerate(artifacts)
            if opts.full or a.path not in previous
            or previous[a.path].key != key_for(a, previous[a.path].templates)]
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    _made_dirs.clear()
    changed: dict[str, ArtifactState] = {}
    problems = Problems()
    progress.start("rendering", len(todo))
    work = dict(renderer=renderer, artifacts=[artifacts[i] for i in todo], staging=staging,
                previous_sha={p: s.sha for p, s in previous.items()})
    written: list[str] = []
    for j, sha, used, problem, wrote in _run_chunks(_render_chunk, work, len(todo), opts.jobs, progress):
        art = artifacts[todo[j]]
        if problem is not None:
            problems.items.append(problem)
            continue
        changed[art.path] = ArtifactState(key_for(art, used), sha, tuple(used))
        if wrote:
            written.append(art.path)
    _raise_grouped(problems)
    report.rendered = len(todo)

    # Data files, assets and media: compared by content, written when different.
    html_urls = [_url_of(a.path) for a in artifacts if a.kind not in ("shell", "notfound")]
    entries = {rel: p.catalog for rel, p in fresh_products.items()}
    stored_entries = cache.catalog_entries() if len(entries) < len(lib.products) else {}
    data_files: dict[str, bytes | Path] = {
        "catalog.json": catalog_json(lib, lambda p: entries.get(p.body_key) or stored_entries[p.body_key]),
        "policies.json": policies_json(lib),
        "sitemap.xml": sitemap_xml(lib, sorted(html_urls)),
        "robots.txt": robots_txt(lib),
    }
    for rel, asset in assets.items():
        data_files[asset.url.lstrip("/")] = asset.source
    for rel in lib.media:
        data_files[f"media/{rel}"] = opts.content / "media" / rel
    search_files, report.search, search_state = search_job.result()
    data_files.update(search_files)
    for rel, src in data_files.items():
        if isinstance(src, Path):
            digest = "f:" + (lib.media.get(rel[len("media/"):]) if rel.startswith("media/") else _file_hash(src))
            if previous.get(rel, ArtifactState("", "", ())).sha != digest:
                (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, staging / rel)
                written.append(rel)
        else:
            digest = _digest(src)
            if previous.get(rel, ArtifactState("", "", ())).sha != digest:
                _write(staging / rel, src)
                written.append(rel)
        changed[rel] = ArtifactState("data", digest, ())

    planned = {a.path for a in artifacts} | set(data_files)
    removed = sorted(p for p in previous if p not in planned)
    search_job.swap()
    _commit(opts.output, staging, written, removed)
    report.written, report.removed = sorted(written), removed

    if loaded.lock_text != loaded.lock_old:
        _atomic_write(opts.content / "privacy" / LOCK_NAME, loaded.lock_text.encode("utf-8"))
        scanned = scan(opts.content)  # the lock file changed: the next build must not see a change
    report.pages = len(artifacts)
    saver.finish(artifacts=changed if not previous else {p: s for p, s in changed.items() if previous.get(p) != s},
                 replace_all=not previous, removed=removed,
                 meta={"output_id": _dir_id(opts.output) or "",
                       "parse_key": f"{ENGINE}:{lib.site_fingerprint}:{os.getcwd()}",
                       "templates_ok": json.dumps(loaded.template_hashes, sort_keys=True),
                       "timezone": lib.site.timezone, "pages": str(report.pages),
                       "world_key": _world_key(opts, scanned[0], cache, lib.site.timezone) or ""},
                 search_docs=search_state)
    search_job.finish()


SAVE_BESIDE_MIN = 2000
"""From this many parsed files, what the build learnt of its sources is recorded in the cache by a
forked process while the site renders (0.3 s at 10,000 products, otherwise at the very end)."""


class SourceSaver:
    """Records the sources in the build cache (:func:`storefront.cache.write_sources`), in a forked
    process beside rendering after a big parse; :meth:`finish` then records the outputs. Sources
    may be recorded before the build is known to succeed: those rows depend on the files alone."""

    def __init__(self, cache: BuildCache, sources: Callable[[], dict[str, Any]]):
        self.cache, self.sources = cache, sources
        self._proc: Any = None

    def start_beside(self, files_parsed: int) -> None:
        if files_parsed < SAVE_BESIDE_MIN or not _can_fork() or not _alone():
            return
        import multiprocessing
        self._proc = multiprocessing.get_context("fork").Process(
            target=self._child, name="storefront-cache", daemon=True)
        self._proc.start()

    def _child(self) -> None:
        from .cache import write_sources_to
        try:
            write_sources_to(self.cache.directory / "build.sqlite", **self.sources())
        except BaseException:  # noqa: BLE001 - the parent records them itself then
            os._exit(1)

    def finish(self, **outputs: Any) -> None:
        if self._proc is not None:
            self._proc.join()
            ok, self._proc = self._proc.exitcode == 0, None
            if ok:
                self.cache.save_outputs(**outputs)
                return
        self.cache.save(**self.sources(), **outputs)

    def abandon(self) -> None:
        if self._proc is not None:  # let it finish: what it records is true whatever happens next
            self._proc.join()
            self._proc = None


REINDEX_SHARE = 5
"""When more than one document in this many changed or went, the search index is built afresh."""

SEARCH_BESIDE_MAX = 500
"""After at most this many parsed files, the index update runs in its own process beside planning
and rendering: a small update is serial work, and the second core is otherwise idle then. Bigger
ones (and cold builds) run after rendering, which keeps both cores for each stage and the memory
peak of one at a time."""


class SearchJob:
    """The search stage: index the documents that changed, and make the static index files.

    When it will update an existing index, it runs in a process of its own
    (:mod:`storefront.search_stage`) started before the content is even read
    (:meth:`start_early`): that process loads Whoosh, opens the index and reads the previous
    static export while this one parses, gets the changed documents from :meth:`give`, and
    updates the index while this one plans and renders. Otherwise (cold builds, big changes) it
    runs here, in :meth:`result`.

    The new index is written beside the current one and swapped in only by :meth:`swap`, after
    the output is committed; :meth:`abandon` (a failed build) deletes it, so the index never moves
    ahead of the site.
    """

    def __init__(self, opts: BuildOptions, cache: BuildCache):
        self.opts = opts
        self.enabled = opts.search and importlib.util.find_spec("whoosh") is not None
        self.old: dict[str, str] = {} if opts.full or not self.enabled else cache.search_docs()
        self.lib: Library | None = None
        self.text_of: Callable[[Product], str] | None = None
        self._proc: Any = None
        self._fps: dict[str, str] | None = None
        self._result: tuple[dict[str, bytes], dict[str, Any], SearchDocsChange | None] | None = None
        self._build: str | None = None

    def start_early(self) -> None:
        """Start the stage's process now, when it will be an update of an existing index."""
        if not self.enabled or self.opts.full or not self.old or not self.opts.index.exists() or not sys.executable:
            return
        import subprocess
        self._proc = subprocess.Popen([sys.executable, "-c", _STAGE, str(Path(__file__).resolve().parents[1])],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        _widen_pipe(self._proc.stdin.fileno())
        self._send(str(self.opts.index))

    def _send(self, message: Any) -> None:
        import pickle
        try:
            pickle.dump(message, self._proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._proc.stdin.flush()
        except OSError:  # it stopped early: result() says so
            pass

    def give(self, lib: Library, text_of: Callable[[Product], str], files_parsed: int) -> None:
        """The assembled content: hand the changed documents to the stage's process, or, after a
        big parse (the update is then big too, and rendering needs both cores), stop it and run the
        stage in :meth:`result`."""
        self.lib, self.text_of = lib, text_of
        if self._proc is None:
            return
        if files_parsed > SEARCH_BESIDE_MAX:
            self._proc.kill()  # it has only read so far: nothing to finish
            self.finish()
            return
        self._send(self._changes())

    def _changes(self) -> tuple[list[Any], set[str], bool, bool, str]:
        """(documents to add or replace, every live id, full rebuild?, anything to do?, language)."""
        from .search_docs import documents
        assert self.lib is not None and self.text_of is not None
        fps, make = documents(self.lib, self.text_of)
        self._fps = fps
        changed = [doc_id for doc_id, fp in fps.items() if self.old.get(doc_id) != fp]
        gone = sum(1 for doc_id in self.old if doc_id not in fps)
        # A big change is indexed afresh: that is quicker than updating, and an update leaves the
        # replaced documents in the index, deleted, which every later update accounts for again.
        full = (self.opts.full or not self.old or not self.opts.index.exists()
                or (len(changed) + gone) * REINDEX_SHARE > len(fps))
        docs = [make(doc_id) for doc_id in (fps if full else changed)]
        return docs, set(fps), full, full or bool(changed) or bool(gone), self.lib.site.language

    def result(self) -> tuple[dict[str, bytes], dict[str, Any], SearchDocsChange | None]:
        """(static index files, index stats, the change of the document fingerprints to record)."""
        if self._result is not None:
            return self._result
        if not self.enabled:
            self._result = ({}, {}, None)
            return self._result
        if self._proc is None:
            from .search_stage import update
            ((files, stats), self._build), keep_export = update(self.opts.index, *self._changes())
            keep_export()
        else:
            import pickle
            try:
                status, payload = pickle.load(self._proc.stdout)
            except (EOFError, OSError, pickle.UnpicklingError):
                status, payload = "error", None
            if status != "ok":
                self.finish()
                from .errors import BuildError
                if isinstance(payload, BaseException):
                    raise payload
                raise BuildError("the search stage stopped without an answer. Fix: rebuild with --full")
            (files, stats), self._build = payload
        fps = self._fps
        assert fps is not None
        change: SearchDocsChange | None = None
        if not self.old:
            change = (fps, None)
        elif fps != self.old:
            change = ({i: fp for i, fp in fps.items() if self.old.get(i) != fp}, [i for i in self.old if i not in fps])
        self._result = (files, stats, change)
        return self._result

    def finish(self) -> None:
        """Wait for the stage's process to end (it keeps the static export after answering)."""
        if self._proc is not None:
            try:
                self._proc.stdin.close()
            except OSError:  # what it had not read yet could not be flushed: it stopped
                pass
            self._proc.wait()
            self._proc.stdout.close()
            self._proc = None

    def swap(self) -> None:
        if self._build is not None:
            from .search_base import swap_index
            swap_index(self.opts.index, Path(self._build))
            self._build = None

    def abandon(self) -> None:
        """A failed build: stop the stage and delete the index it wrote."""
        if self._proc is not None:
            self._proc.kill()
            self.finish()
        if self.enabled:
            from .search_base import discard_unswapped
            discard_unswapped(self.opts.index)
            self._build = None


def _widen_pipe(fd: int) -> None:
    """Make a pipe 1 MB, so that the writer does not wait for the reader (the changed documents
    and live ids sent to the search stage, 200 kB at 10,000 products; a worker's parsed chunk).
    Linux only (F_SETPIPE_SZ); elsewhere the pipe stays as it is."""
    try:
        import fcntl
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):  # another system, or a lower pipe-max-size
        pass


_STAGE = "import sys; sys.path.insert(0, sys.argv[1]); from storefront.search_stage import main; main()"
"""The stage's process: the storefront package this build runs from, whatever the working directory."""


def _raise_grouped(problems: Problems) -> None:
    """One template bug breaks every page using it: report it once, with how many pages it broke."""
    groups: dict[tuple[str, int | None, str], list[Problem]] = {}
    for p in problems.items:
        groups.setdefault((p.path, p.line, p.message.split(" (while rendering ")[0]), []).append(p)
    out = Problems()
    for (path, line, _), items in groups.items():
        more = f" and {len(items) - 1} more pages" if len(items) > 1 else ""
        out.add(path, line, items[0].message[:-1] + more + ")" if more else items[0].message)
    out.raise_if_any()


def _world_key(opts: BuildOptions, sources: list[SourceFile], cache: BuildCache, timezone: str | None = None) -> str | None:
    """A hash of everything a build reads (file sizes and mtimes, options, the date): equal keys mean
    that a build would change nothing, so the no-op rebuild costs a directory scan and no parsing."""
    timezone = timezone or cache.meta("timezone")
    if opts.now is None and not timezone:
        return None
    import zoneinfo
    now = opts.now or dt.datetime.now(zoneinfo.ZoneInfo(timezone)).date()
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((ENGINE, opts.drafts, opts.search, str(opts.index.resolve()), now.isoformat(),
                   _dir_id(opts.output), opts.search and _dir_id(opts.index))).encode())
    h.update(_sources_digest(sources))
    for root, dirs, files in os.walk(opts.templates):
        dirs.sort()
        for name in sorted(files):
            st = os.stat(os.path.join(root, name))
            h.update(f"{root}/{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


_digested: list[tuple[list[SourceFile], bytes]] = []


def _sources_digest(sources: list[SourceFile]) -> bytes:
    """A hash of the scanned files' names, sizes and mtimes; a build asks twice for the same scan
    (before, and after for the next build), which costs 10 ms at 10,000 products."""
    if _digested and _digested[0][0] is sources:
        return _digested[0][1]
    listed = "".join([f"{src.rel}\0{src.stat[0]}\0{src.stat[1]}\n" for src in sources])
    _digested[:] = [(sources, hashlib.blake2b(listed.encode(), digest_size=16).digest())]
    return _digested[0][1]


def _check_collisions(artifacts: list[Artifact], lib: Library) -> None:
    seen: dict[str, Artifact] = {}
    problems = Problems()
    for a in artifacts:
        if a.path in seen:
            problems.add(a.path, None, f"two pages want the same URL /{a.path}: {seen[a.path].kind} and {a.kind}. "
                                       "Fix: rename one of them")
        seen[a.path] = a
    problems.raise_if_any()


def _url_of(path: str) -> str:
    return "/" + path[: -len("index.html")] if path.endswith("index.html") else "/" + path


def _dir_id(path: Path) -> str | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return f"{st.st_dev}:{st.st_ino}"


def _commit(output: Path, staging: Path, written: list[str], removed: list[str]) -> None:
    """Move the staged files into the output. A fresh output is one rename."""
    if not output.exists():
        output.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staging, output)
        return
    for rel in written:
        target = output / rel
        try:
            os.replace(staging / rel, target)
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, target)
    for rel in removed:
        target = output / rel
        try:
            target.unlink()
        except FileNotFoundError:
            continue
        parent = target.parent
        while parent != output:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
