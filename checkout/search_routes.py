"""Search routes of the checkout service: ``GET /api/search`` and ``GET /api/suggest``.

Thin HTTP layer over :mod:`storefront.search`: parse and check the query string, ask the index the
build swapped in last, answer JSON. The index is reopened when the real path behind the
``search_index`` symlink changes (a new build); ``Searcher.refresh()`` is never used because in
Whoosh 2.7.5 it brings deleted documents back.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import bottle

from storefront.search import IndexHandle, SearchIndexError, SearchQueryError, search, suggest

log = logging.getLogger(__name__)

_CATEGORY_RE = re.compile(r"[^\s/]{1,100}$")
MAX_PAGE = 1000


class _BadParam(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _json(status: int, body: dict) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")), status=status,
        headers={"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-cache"})


def _error(status: int, code: str, message: str, field: str | None = None) -> bottle.HTTPResponse:
    err = {"code": code, "message": message}
    if field:
        err["field"] = field
    return _json(status, {"error": err})


def _param(name: str, *, required: bool = False) -> str | None:
    query = bottle.request.query
    if name not in query:
        if required:
            raise _BadParam(name, f"{name} is required. Fix: pass ?{name}=... in the URL.")
        return None
    if len(query.getall(name)) > 1:
        raise _BadParam(name, f"{name} is given more than once. Fix: pass it once.")
    value = query.getunicode(name)
    if value is None:
        raise _BadParam(name, f"{name} is not valid UTF-8. Fix: percent-encode the text as UTF-8.")
    if "\x00" in value:
        raise _BadParam(name, f"{name} contains a NUL character. Fix: remove it.")
    return value


def _page() -> int:
    raw = _param("page")
    if raw is None or raw == "":
        return 1
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise _BadParam("page", f"page must be a whole number from 1 to {MAX_PAGE}. Fix: pass page=1.")
    return int(raw)


def add_search_routes(app: bottle.Bottle, index_dir: Path) -> None:
    """Add ``GET /api/search`` and ``GET /api/suggest`` to ``app``, reading the index at
    ``index_dir`` (the symlink the build repoints)."""
    handle = IndexHandle(Path(index_dir))

    def answer(fn):
        try:
            return _json(200, fn())
        except _BadParam as exc:
            return _error(400, "invalid_parameter", exc.message, exc.field)
        except SearchQueryError as exc:
            return _error(400, "invalid_parameter", exc.message, exc.field)
        except SearchIndexError as exc:
            log.warning("search index unavailable: %s", exc)
            return _error(503, "search_unavailable",
                          "Search is not available right now. Fix: try again shortly.")
        except Exception:  # never a stack trace to the client
            log.exception("search failed")
            return _error(500, "internal_error", "Search failed. Fix: try again shortly.")

    @app.get("/api/search")
    def api_search():
        def run():
            q = _param("q", required=True)
            category = _param("category") or None
            if category is not None and not _CATEGORY_RE.match(category):
                raise _BadParam("category", "category must be a category slug. Fix: use a value "
                                            "from facets.category of a previous answer.")
            page = _page()
            return search(handle.get(), q, category=category, page=page).to_json()
        return answer(run)

    @app.get("/api/suggest")
    def api_suggest():
        def run():
            q = _param("q", required=True)
            return {"query": q, "suggestions": suggest(handle.get(), q)}
        return answer(run)
