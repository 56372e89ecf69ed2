"""Watching: rebuild when content or templates change.

The watchdog handler only notes which paths changed; ``watch_loop`` waits until changes stop
(debounce: editors save in bursts, atomic saves are a write plus a rename) and then runs the same
incremental ``build()`` as the command line. A failed build is reported and the last good output
stays; the next save that fixes it recovers without a restart. Tests drive ``watch_loop`` with
notes of their own, without a real observer.
"""

from __future__ import annotations

import re
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .builder import BuildOptions, BuildReport, build
from .errors import BuildError, ContentError, Problem

# Editor droppings: vim swap and backup files, emacs locks, JetBrains safe-write temps, dotfiles.
IGNORED = re.compile(r"(^|/)(\.[^/]*|#[^/]*#|[^/]*~|[^/]*\.(swp|swx|swo|tmp|bak)|[^/]*___jb_\w+___)$")


@dataclass
class BuildResult:
    ok: bool
    report: BuildReport | None = None
    problems: list[Problem] = field(default_factory=list)
    generation: int = 0


class ChangeQueue:
    """Paths noted by the file watcher, handed out once they stop changing."""

    def __init__(self) -> None:
        self._paths: set[str] = set()
        self._last = 0.0
        self._cond = threading.Condition()

    def note(self, path: str) -> None:
        if IGNORED.search(path.replace("\\", "/")):
            return
        with self._cond:
            self._paths.add(path)
            self._last = time.monotonic()
            self._cond.notify_all()

    def wait_quiet(self, debounce: float, stop: threading.Event, timeout: float = 0.5) -> set[str]:
        """Changed paths, once none was noted for ``debounce`` seconds; empty after ``timeout`` idle."""
        with self._cond:
            if not self._paths:
                self._cond.wait(timeout)
                if not self._paths:
                    return set()
            while not stop.is_set():
                quiet_for = time.monotonic() - self._last
                if quiet_for >= debounce:
                    paths, self._paths = self._paths, set()
                    return paths
                self._cond.wait(debounce - quiet_for)
            return set()


def build_once(opts: BuildOptions, generation: int = 0) -> BuildResult:
    """One build as the CLI runs it; never raises, so that the watcher outlives any failure."""
    try:
        return BuildResult(True, report=build(opts), generation=generation)
    except ContentError as exc:
        return BuildResult(False, problems=exc.problems, generation=generation)
    except BuildError as exc:  # not the content's fault, e.g. the search index could not be written
        return BuildResult(False, problems=[Problem("build", None, str(exc))], generation=generation)
    except Exception as exc:  # a bug or an OS error: keep watching and serving the last good site
        traceback.print_exc(file=sys.stderr)
        message = (f"internal error {type(exc).__name__}: {exc} (traceback in the terminal). The last good "
                   "site is still served. Fix: save again to retry; if it persists, run `build.py build --full`")
        return BuildResult(False, problems=[Problem("build", None, message)], generation=generation)


def watch_loop(opts: BuildOptions, queue: ChangeQueue, on_result: Callable[[BuildResult], None],
               stop: threading.Event, debounce: float = 0.15) -> None:
    generation = 0
    while not stop.is_set():
        changed = queue.wait_quiet(debounce, stop)
        if not changed:
            continue
        generation += 1
        on_result(build_once(opts, generation))


def start_observer(opts: BuildOptions, queue: ChangeQueue):  # -> watchdog Observer
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event) -> None:  # type: ignore[no-untyped-def]
            if event.event_type in ("opened", "closed_no_write") or (event.is_directory and event.event_type == "modified"):
                return
            for p in (event.src_path, getattr(event, "dest_path", "")):
                if p:
                    queue.note(str(p))

    observer = Observer()
    for root in (opts.content, opts.templates):
        observer.schedule(Handler(), str(Path(root).resolve()), recursive=True)
    observer.daemon = True
    observer.start()
    return observer


def print_result(result: BuildResult) -> None:
    stamp = time.strftime("%H:%M:%S")
    if result.ok and result.report:
        print(f"[{stamp}] {result.report.summary()}", flush=True)
    else:
        for p in result.problems:
            sys.stderr.write(f"{p}\n")
        sys.stderr.write(f"[{stamp}] build failed: {len(result.problems)} errors; still serving the last good build\n")
        sys.stderr.flush()


def watch(opts: BuildOptions) -> int:
    """``build.py watch``: build, then rebuild on every change until interrupted."""
    print_result(build_once(opts))
    queue = ChangeQueue()
    stop = threading.Event()
    observer = start_observer(opts, queue)
    print(f"watching {opts.content} and {opts.templates} (Ctrl-C to stop)", flush=True)
    try:
        watch_loop(opts, queue, print_result, stop)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        observer.stop()
    return 0
