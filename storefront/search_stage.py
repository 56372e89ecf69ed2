"""The search stage of an incremental build, in a process of its own (``builder.SearchJob``).

The build starts it before reading the content: it loads Whoosh, opens the index and reads the
previous build's static export while the build parses, then takes the changed documents, updates
the index beside the current one, and answers with the static files and the index stats. It keeps
the new static export in the new index build after answering.

A new interpreter rather than a fork: a forked child shares the build's memory pages until either
side writes to them, and the build then spends 45 ms (of a 0.5 s rebuild at 10,000 products)
copying the pages it touches. A new process also needs no care about the locks other threads
hold, so ``watch`` and ``serve`` use it too.

Protocol, pickles over the child's stdin and stdout: the build sends the index path, then
``(documents, live ids, full, anything to do, language)``; the stage answers
``("ok", ((files, stats), new build or None))`` or ``("error", exception)``. When the build does
the stage itself after all (a big parse), it kills this process, which has only read so far.
"""

from __future__ import annotations

import gc
import os
import pickle
import sys
from pathlib import Path
from typing import Any, BinaryIO, Callable


def update(index: Path, docs: list[Any], keep: set[str], full: bool, todo: bool,
           language: str) -> tuple[tuple[tuple[dict[str, bytes], dict[str, Any]], str | None], Callable[[], None]]:
    """((static files, index stats), the new index build or None), and a function that keeps the
    new static export in the new build (worth calling after answering)."""
    from storefront import search, search_static
    stats: dict[str, Any] = {}
    build = None
    if todo:
        stats = search.update_index(index, docs, keep_ids=keep, full=full, language=language, swap=False)
        build = stats["path"]
    files, keep_export = search_static.export_files(Path(build) if build else index)
    return ((files, stats), build), keep_export


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    from storefront import search_static
    index = Path(pickle.load(requests))
    search_static.preload(index)  # the previous export, to derive the new one from
    work = pickle.load(requests)
    answer, keep_export = update(index, *work)
    _send(answers, ("ok", answer))
    answers.close()
    keep_export()


def _send(answers: BinaryIO, message: Any) -> None:
    pickle.dump(message, answers, protocol=pickle.HIGHEST_PROTOCOL)
    answers.flush()


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else a BuildError with its message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - e.g. an exception class with a custom __init__
        from storefront.errors import BuildError
        return BuildError(f"search stage failed: {exc}")


def main() -> None:
    gc.disable()  # short-lived, and it allocates many long-lived objects (see builder.build)
    # The answers go to a copy of stdout; stdout itself goes to stderr, so that a stray print
    # cannot break the protocol.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    code = 0
    try:
        serve(sys.stdin.buffer, answers)
    except EOFError:  # the build stopped
        code = 1
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the build
        code = 1
        try:
            _send(answers, ("error", _portable(exc)))
        except (OSError, ValueError):  # the build stopped, or the answer was sent already
            pass
    try:
        answers.close()
    except OSError:
        pass
    sys.stdout.flush()
    os._exit(code)  # no teardown of the index and export objects


if __name__ == "__main__":
    main()
