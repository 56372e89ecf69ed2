"""The local preview server of ``build.py serve``: output/ with pretty URLs, live reload, error overlay.

Serves the built site the way a CDN would (``/x/`` -> ``x/index.html``, ``/404.html`` for the rest),
hands ``/api``, ``/pay`` and ``/sandbox`` to the checkout service when one is given, and, in serve
mode only, injects a small script into HTML responses that listens on ``/__storefront/events``
(server-sent events) to reload after each rebuild and to show every error when a build fails. Nothing
of this is ever written into output/.
"""

from __future__ import annotations

import json
import mimetypes
import os
import socketserver
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .builder import BuildOptions
from .watch import BuildResult, ChangeQueue, build_once, print_result, start_observer, watch_loop

BACKEND_PREFIXES = ("/api", "/pay/", "/sandbox/")
EVENTS = "/__storefront/events"

RELOAD_SCRIPT = """<script>(function(){
var es=new EventSource("%s");
function overlay(errors){var d=document.getElementById("sf-build-errors");if(!d){d=document.createElement("div");
d.id="sf-build-errors";d.setAttribute("role","alert");d.style.cssText="position:fixed;inset:0;z-index:99999;background:rgba(20,0,0,.92);color:#fff;font:14px/1.6 monospace;padding:24px;overflow:auto;white-space:pre-wrap";
document.body.appendChild(d);}d.textContent="构建失败 / Build failed:\\n\\n"+errors.join("\\n");}
es.addEventListener("build",function(e){var m=JSON.parse(e.data);
if(!m.ok){overlay(m.errors);}else if(m.generation>window.__sfGen){location.reload();}});
window.__sfGen=%d;})();</script>"""


class LiveState:
    """The latest build result, for the event stream, and the generation of the last good build.

    Pages carry the last good generation (what output/ holds), not the latest one: a page opened
    while the build is broken must still show the error overlay, and reload once a build succeeds.
    """

    def __init__(self) -> None:
        self.result = BuildResult(True)
        self.good_generation = 0
        self.cond = threading.Condition()

    def publish(self, result: BuildResult) -> None:
        with self.cond:
            self.result = result
            if result.ok:
                self.good_generation = result.generation
            self.cond.notify_all()

    def event(self) -> bytes:
        r = self.result
        data = {"generation": r.generation, "ok": r.ok, "errors": [str(p) for p in r.problems]}
        return f"event: build\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode("utf-8")


def make_app(output: Path, live: LiveState | None = None,
             backend: Callable[..., Iterable[bytes]] | None = None) -> Callable[..., Iterable[bytes]]:
    """A WSGI app serving ``output`` like a CDN, plus the backend and live reload."""
    root = output.resolve()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/") or "/"
        if backend is not None and path.startswith(BACKEND_PREFIXES):
            return backend(environ, start_response)
        if live is not None and path == EVENTS:
            return _events(live, environ, start_response)
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Content-Type", "text/plain"), ("Allow", "GET, HEAD")])
            return [b"method not allowed\n"]
        target, status = _resolve(root, path)
        if target is None:
            start_response("301 Moved Permanently", [("Location", path + "/")])
            return [b""]
        if status.startswith("404") and not target.is_file():
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [b"not found\n"]
        data = target.read_bytes()
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/json", "application/javascript", "image/svg+xml"):
            ctype += "; charset=utf-8"
        if live is not None and target.suffix == ".html":
            script = (RELOAD_SCRIPT % (EVENTS, live.good_generation)).encode("utf-8")
            data = data.replace(b"</body>", script + b"</body>", 1) if b"</body>" in data else data + script
        cache = "no-cache" if live is not None or target.suffix in (".html", ".json", ".xml") else "public, max-age=3600"
        start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(data))), ("Cache-Control", cache)])
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else data]

    return app


def _resolve(root: Path, path: str) -> tuple[Path | None, str]:
    from urllib.parse import unquote
    rel = unquote(path, errors="strict").lstrip("/")
    candidate = (root / rel).resolve()
    if candidate != root and root not in candidate.parents:
        return root / "404.html", "404 Not Found"
    if candidate.is_dir():
        if not path.endswith("/"):
            return None, "301"
        candidate = candidate / "index.html"
    if candidate.is_file():
        return candidate, "200 OK"
    return root / "404.html", "404 Not Found"


def _events(live: LiveState, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-cache")])

    def stream() -> Iterable[bytes]:
        seen = -1
        deadline = time.monotonic() + 600  # browsers reconnect by themselves
        while time.monotonic() < deadline:
            with live.cond:
                if live.result.generation == seen:
                    live.cond.wait(15)
                current = live.result.generation
            if current != seen:
                seen = current
                yield live.event()
            else:
                yield b": ping\n\n"
    return stream()


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        if os.environ.get("STOREFRONT_ACCESS_LOG"):
            super().log_message(format, *args)


def serve(opts: BuildOptions, host: str = "127.0.0.1", port: int = 8000,
          backend: Callable[..., Iterable[bytes]] | None = None) -> int:
    """Build, watch and serve until interrupted."""
    live = LiveState()
    first = build_once(opts)
    print_result(first)
    live.publish(first)
    if not opts.output.exists():
        opts.output.mkdir(parents=True)
    queue = ChangeQueue()
    stop = threading.Event()
    observer = start_observer(opts, queue)

    def on_result(result: BuildResult) -> None:
        print_result(result)
        live.publish(result)

    loop = threading.Thread(target=watch_loop, args=(opts, queue, on_result, stop), daemon=True)
    loop.start()
    try:
        server = make_server(host, port, make_app(opts.output, live, backend), server_class=_ThreadingServer,
                             handler_class=_QuietHandler)
    except OSError as exc:
        stop.set()
        observer.stop()
        print(f"build.py serve: cannot listen on {host}:{port}: {exc.strerror}. Fix: pass --port with a free port",
              file=sys.stderr)
        return 2
    print(f"serving {opts.output} at http://{host}:{server.server_port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        observer.stop()
        server.server_close()
    return 0

