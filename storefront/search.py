"""Search: the index stage of the build and the query side used by the checkout service.

The build calls :func:`update_index` with one :class:`SearchDoc` per product, help article, policy
version and page; it writes a Whoosh index into a new sibling directory, checks it and repoints the
``search_index`` symlink with ``os.replace``, so a reader never sees a half-written index. The
service opens the index with :func:`open_index` and answers through :func:`search` and
:func:`suggest`. Both sides must analyse text identically, which is why the analyzers live here and
why ``templates/static/js/search.js`` carries a line-for-line port of :func:`tokenize`.

Text analysis (one function, :func:`tokenize`, for indexing and querying):

* NFKD, combining accents removed, lowercased; fullwidth forms become ASCII.
* Latin/digit runs ``[a-z0-9]+`` are words; words of 4+ characters lose an English plural ending
  (a small "S-stemmer", simple enough to port exactly to JavaScript).
* Chinese (and kana) runs are indexed as every single character plus every bigram; a query run of
  two or more characters asks for its bigrams (ORed), a single character for itself.
* A word followed by a number ("Pro 7") is also indexed joined ("pro7"), see :func:`model_terms`.
* SKUs are kept whole, lowercased, in their own field (exact match only; an exact SKU outranks
  any text that quotes it).
* A separate edge-n-gram field over titles and tags serves search-as-you-type.

What is indexed (one composite field, so a query term costs one matcher): the title (weight 4);
the category, tags and the words of the URL's last segment (weight 2: shops name products in
English there); the body (weight 1), whole for help articles, policies and pages, and for products
their Latin words plus the Chinese of the first PRODUCT_BODY_CHARS characters (see there).

Querying: words are ANDed; when nothing matches every word, an unknown Latin word of 4+ letters is
retried one edit away ("did you mean"), then the words are ORed (bare numbers left out). In a big
index, a Chinese word's very common bigrams are left out of its OR when rarer ones remain. Ties
are broken by document id, never by document number, so an incremental index answers exactly like
a full rebuild (tests/search/test_index_swap.py); ``bench/search.py`` measures all of it.

A cold (full) build writes with :class:`storefront.search_bulk.BulkWriter`, which writes what
Whoosh's own writer would, several times faster: one segment, or from 2,000 documents one segment per
process (2 by default, ``STOREFRONT_SEARCH_PROCS``). Incremental builds use Whoosh's writer.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import shutil
import threading
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from heapq import heappush, heapreplace
from operator import add
from pathlib import Path
from typing import Callable, Iterable, Iterator

from whoosh import index as whoosh_index
from whoosh import scoring
from whoosh.analysis import Analyzer, Token
from whoosh.collectors import TopCollector
from whoosh.fields import ID, KEYWORD, STORED, TEXT, Schema
from whoosh.query import And, AndMaybe, Or, Query, Term

from storefront.search_base import SearchDoc, current_build, new_build_dir, point_at, prune
from storefront.search_bulk import write_new_index

try:  # the build's exception base, when the build side has one
    from storefront.errors import BuildError as _ErrorBase
except ImportError:  # pragma: no cover - storefront.errors always exists in this tree
    _ErrorBase = Exception


class SearchIndexError(_ErrorBase):
    """Building, checking or opening the search index failed; the previous index stays in place."""


class SearchQueryError(ValueError):
    """A search request is malformed. ``field`` names the API parameter at fault."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name
        self.message = message


# --------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class Hit:
    """One search result."""

    id: str
    kind: str
    url: str
    title: str
    snippet: str
    """HTML: escaped text with the matched words in ``<mark>``."""
    score: float
    sku: str = ""
    price_minor: int | None = None
    currency: str = ""
    category: str = ""
    image: str = ""

    def to_json(self) -> dict:
        out = {"kind": self.kind, "url": self.url, "title": self.title, "snippet": self.snippet}
        if self.kind == "product":
            out.update(sku=self.sku, price_minor=self.price_minor, currency=self.currency,
                       category=self.category, image=self.image)
        elif self.category:
            out["category"] = self.category
        return out


@dataclass(frozen=True)
class SearchResult:
    """The answer to one search request."""

    query: str
    total: int
    page: int
    pages: int
    hits: tuple[Hit, ...]
    facets: dict[str, dict[str, int]]
    """``{"category": {slug: count}}`` over every match, whatever the category filter."""
    category_titles: dict[str, str]
    mode: str
    """``all`` (every word matched), ``any`` (OR fallback), ``sku`` or ``none``."""
    did_you_mean: str | None = None

    def to_json(self) -> dict:
        return {
            "query": self.query,
            "total": self.total,
            "page": self.page,
            "pages": self.pages,
            "mode": self.mode,
            "did_you_mean": self.did_you_mean,
            "hits": [h.to_json() for h in self.hits],
            "facets": self.facets,
            "category_titles": self.category_titles,
        }


# --------------------------------------------------------------------------------------------
# Text analysis: keep in step with templates/static/js/search.js (tests/search/test_parity.py).

ANALYZER_VERSION = 4
"""Version of the analysis and the schema: an index written under another is rebuilt, not updated.
4: ``kind`` and ``price_minor`` are stored only (nothing queried their terms)."""
_ACCENTS = re.compile("[\u0300-\u036f]")
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
"""Kana, CJK ideographs (with extension A) and compatibility ideographs: the characters of CJK runs."""
_SEGMENT = re.compile(f"([a-z0-9]+)|([{_CJK}]+)")
_LATIN = re.compile("[a-z0-9]+")
SUGGEST_MAX_LATIN = 20
SUGGEST_MAX_CJK = 8


def normalize(text: str) -> str:
    """NFKD without combining accents, lowercased: the form every analyzer works on."""
    return _ACCENTS.sub("", unicodedata.normalize("NFKD", text)).lower()


def stem(word: str) -> str:
    """Strip an English plural ending from a 4+ character word (earbuds -> earbud)."""
    if len(word) < 4 or word[-1] != "s":
        return word
    if word.endswith("ies") and len(word) > 4 and word[-4] not in "ae":
        return word[:-3] + "y"
    if word.endswith("sses") or word.endswith("xes") or word.endswith("ches") or word.endswith("shes"):
        return word[:-2]
    if word.endswith("ss") or word.endswith("us") or word.endswith("is"):
        return word
    return word[:-1]


def segments(text: str) -> list[tuple[str, str]]:
    """Split text into ``("latin", word)`` and ``("cjk", run)`` segments, in order."""
    return [("latin", latin) if latin else ("cjk", cjk) for latin, cjk in _SEGMENT.findall(normalize(text))]


def latin_words(text: str) -> list[str]:
    """The ``latin`` segments of :func:`segments`, in order."""
    return _LATIN.findall(normalize(text))


def tokenize(text: str, mode: str = "index") -> list[str]:
    """Terms of ``text``. ``mode="index"``: CJK unigrams and bigrams, plus a model term for a word
    followed by a number ("Pro 7" -> "pro7", see :func:`model_terms`); ``"query"``: bigrams only
    (a single CJK character stays itself)."""
    out: list[str] = []
    prev = ""
    for kind, seg in segments(text):
        if kind == "latin":
            out.append(stem(seg))
            if mode == "index" and is_model(prev, seg):
                out.append(prev + seg)
            prev = seg
        elif mode == "query" and len(seg) > 1:
            prev = ""
            out.extend(seg[i:i + 2] for i in range(len(seg) - 1))
        else:
            prev = ""
            n = len(seg)
            for i in range(n):
                out.append(seg[i])
                if i + 1 < n:
                    out.append(seg[i:i + 2])
    return out


_ALPHA = re.compile("[a-z]+$")
_DIGITS = re.compile("[0-9]{1,4}$")


def is_model(prev: str, seg: str) -> bool:
    """``seg`` (a number of 1-4 digits) after ``prev`` (a word of letters) names a model."""
    return bool(prev) and bool(_ALPHA.match(prev)) and bool(_DIGITS.match(seg))


def model_terms(text: str) -> list[str]:
    """"Pro 7", "Air-5": a word directly followed by a number names a model; the joined term
    ("pro7") is indexed too, and a query that has it ranks that exact model above "Pro 8" whose
    page happens to contain a 7 elsewhere."""
    out, prev = [], ""
    for kind, seg in segments(text):
        if kind == "latin" and is_model(prev, seg):
            out.append(prev + seg)
        prev = seg if kind == "latin" else ""
    return list(dict.fromkeys(out))


class _Memo(dict):
    """segment -> its terms, made once: a store repeats its words and phrases (brands, product
    types, the boilerplate of its descriptions), and 10,000 synthetic products have 1,400
    different CJK runs among 200,000. Segments longer than ``longest`` are not kept, nor any once
    ``limit`` are, so that the memory stays small whatever the text. Callers must not change the
    lists they get."""

    def __init__(self, make: Callable[[str], list[str]], longest: int, limit: int = 20_000):
        super().__init__()
        self.make, self.longest, self.limit = make, longest, limit

    def __missing__(self, seg: str) -> list[str]:
        terms = self.make(seg)
        if len(seg) <= self.longest and len(self) < self.limit:
            self[seg] = terms
        return terms


def _latin_edges(seg: str) -> list[str]:
    return [seg[:k] for k in range(2, min(len(seg), SUGGEST_MAX_LATIN) + 1)]


def _cjk_edges(seg: str) -> list[str]:
    n = len(seg)
    return [seg[i:i + k] for i in range(n - 1) for k in range(2, min(n - i, SUGGEST_MAX_CJK) + 1)]


_LATIN_EDGES = _Memo(_latin_edges, 24)
_CJK_EDGES = _Memo(_cjk_edges, 12)


def edge_grams(text: str) -> list[str]:
    """Prefix terms for search-as-you-type: Latin word prefixes of 2..20 letters, and for every
    position of a CJK run its prefixes of 2..8 characters (so any inner substring matches)."""
    out: list[str] = []
    for kind, seg in segments(text):
        out += _LATIN_EDGES[seg] if kind == "latin" else _CJK_EDGES[seg]
    return out


_CJK_RUN = re.compile(f"[{_CJK}]+")
_MODEL = re.compile(f"(?<![a-z0-9])([a-z]+)[^a-z0-9{_CJK}]+([0-9]{{1,4}})(?![a-z0-9])")
"""A word of letters, then (past anything that is neither a word nor CJK) a number of 1-4 digits:
what :func:`is_model` says of two neighbouring segments."""


_PAIRS = _Memo(lambda run: list(map(add, run, run[1:])), 32)
"""CJK run -> its bigrams."""


class _Stems(dict):
    """word -> :func:`stem` of it, worked out once per word."""

    def __missing__(self, word: str) -> str:
        self[word] = out = stem(word)
        return out


_STEMS = _Stems()


def counted_terms(text: str, mode: str, *, models: bool | None = None, skip_numbers: bool = False) -> list[str]:
    """The terms of ``tokenize(text, mode)`` in another order: words, model terms (index mode),
    then each CJK run's characters (index mode) and bigrams. Found by regular expressions and
    C-level ``map`` instead of a loop over segments, for the cold build's indexing, which only
    counts them: three times quicker on a product's text.

    ``models`` adds the model terms in query mode too (or leaves them out in index mode);
    ``skip_numbers`` leaves out words that are only digits (the model terms made with them stay)."""
    norm = normalize(text)
    words = _LATIN.findall(norm)
    if skip_numbers:
        words = [w for w in words if not w.isdigit()]
    out = list(map(_STEMS.__getitem__, words))
    index = mode == "index"
    if index if models is None else models:
        out += [word + number for word, number in _MODEL.findall(norm)]
    pairs = _PAIRS
    for run in _CJK_RUN.findall(norm):
        if len(run) == 1:
            out.append(run)
            continue
        if index:
            out += run
        out += pairs[run]
    return out


def suggest_terms(text: str) -> list[str]:
    """Edge-gram terms a typed prefix must all match; empty when it is too short to ask."""
    out: list[str] = []
    for kind, seg in segments(text):
        if len(seg) < 2:
            continue
        if kind == "latin":
            out.append(seg[:SUGGEST_MAX_LATIN])
        else:
            # A long run is covered by windows of at most 8 characters, each an indexed gram.
            for i in range(0, len(seg), SUGGEST_MAX_CJK):
                chunk = seg[i:i + SUGGEST_MAX_CJK]
                out.append(chunk if len(chunk) >= 2 else seg[-SUGGEST_MAX_CJK:])
    return list(dict.fromkeys(out))


class StoreAnalyzer(Analyzer):
    """Whoosh analyzer over :func:`tokenize`. Whoosh pickles it into the index, so it must stay
    importable as ``storefront.search.StoreAnalyzer``."""

    def __init__(self, grams: bool = False):
        self.grams = grams

    def __eq__(self, other):
        return type(other) is type(self) and other.grams == self.grams

    def _weighted(self, value: str, mode: str) -> Iterator[tuple[str, float]]:
        if self.grams:
            for t in edge_grams(value):
                yield t, 1.0
            return
        if mode == "query":
            for t in tokenize(value, "query"):
                yield t, 1.0
            return
        # Index mode: the value is "title US meta US body"; a term's weight adds up its boosts,
        # so one field scores like BM25F over three (and costs one matcher per query term).
        for part, boost, body in zip(value.split(FIELD_SEP), FIELD_BOOSTS, (False, False, True)):
            # Bodies get bigrams only (a lone character stays itself): halves the postings of
            # long descriptions; single-character queries still match titles, tags, categories.
            for t in tokenize(part, "query" if body else "index"):
                yield t, boost

    def term_stats(self, value: str) -> tuple[int, dict[str, int], dict[str, float]]:
        """What Whoosh's ``Frequency`` format computes from this analyzer's tokens in index mode,
        without a ``Token`` per term: the token count, each term's frequency and its summed boosts
        (whole numbers: the boosts are), the two with the same keys in the same order. Used by
        :class:`storefront.search_bulk.BulkWriter`."""
        if self.grams:
            terms = edge_grams(value)
            freqs = Counter(terms)
            return len(terms), freqs, freqs  # every boost is 1
        title, meta, body = value.split(FIELD_SEP)
        title_terms = counted_terms(title, "index")
        meta_terms = counted_terms(meta, "index")
        body_terms = counted_terms(body, "query")
        freqs = Counter(title_terms)
        freqs.update(meta_terms)
        freqs.update(body_terms)
        # A term's weight is its frequency plus (boost - 1) for each time it is in the title or
        # the meta line; the counting is done in C.
        weights = freqs.copy()
        weights.update(title_terms * _EXTRA_BOOSTS[0])
        weights.update(meta_terms * _EXTRA_BOOSTS[1])
        return len(title_terms) + len(meta_terms) + len(body_terms), freqs, weights

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True,
                 start_pos=0, start_char=0, tokenize=True, mode="", **kwargs) -> Iterator[Token]:
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        terms = [(value, 1.0)] if not tokenize else self._weighted(value, mode)
        for pos, (text, boost) in enumerate(terms, start_pos):
            t.text = text
            t.boost = boost
            t.stopped = False
            if positions:
                t.pos = pos
            if chars:  # offsets are not kept: snippets are made from the stored text instead
                t.startchar = t.endchar = start_char
            yield t


# --------------------------------------------------------------------------------------------
# Schema

FIELD_SEP = "\x1f"
FIELD_BOOSTS = (4.0, 2.0, 1.0)
"""Weights of a term found in the title, the meta line (category, tags) and the body."""
_EXTRA_BOOSTS = (int(FIELD_BOOSTS[0] - FIELD_BOOSTS[2]), int(FIELD_BOOSTS[1] - FIELD_BOOSTS[2]))
assert FIELD_BOOSTS[2] == 1.0 and FIELD_BOOSTS[:2] == tuple(1.0 + b for b in _EXTRA_BOOSTS), \
    "StoreAnalyzer.term_stats counts boosts as whole numbers above a body boost of 1"
TEXT_FIELDS = ("text",)
MANIFEST = "storefront-search.json"


def make_schema() -> Schema:
    ana = StoreAnalyzer()
    return Schema(
        id=ID(stored=True, unique=True, sortable=True),
        kind=STORED(),
        url=STORED(),
        text=TEXT(analyzer=ana, phrase=False),
        title=STORED(),
        meta=STORED(),
        body=STORED(),
        suggest=TEXT(analyzer=StoreAnalyzer(grams=True), phrase=False),
        sku=KEYWORD(stored=True, lowercase=True, scorable=True, field_boost=8.0),
        category=ID(stored=True, sortable=True),
        category_title=STORED(),
        tags=STORED(),
        price_minor=STORED(),
        currency=STORED(),
        image=STORED(),
    )


def _stored_of(doc: SearchDoc, body: bool = True) -> dict:
    """The stored fields of a document (what a reader's ``stored_fields`` gives back); with
    ``body=False``, an empty body (the text is not even referred to)."""
    out = dict(
        id=doc.id, kind=doc.kind, url=doc.url, title=doc.title,
        meta=" ".join([doc.category_title, *doc.tags, *_slug_words(doc.url)]), body=doc.text if body else "",
        category=doc.category, category_title=doc.category_title, tags=list(doc.tags),
        currency=doc.currency, image=doc.image, sku=" ".join(s for s in (doc.sku, *doc.variant_skus) if s),
    )
    if doc.price_minor is not None:
        out["price_minor"] = int(doc.price_minor)
    return out


def _fields_of(doc: SearchDoc) -> dict:
    """Everything a document is written with: its stored fields and its indexed values."""
    out = _stored_of(doc)
    out.update(_indexed_values(doc.kind, doc.title, out["meta"], doc.text, out["sku"], list(doc.tags)))
    return out


PRODUCT_BODY_CHARS = 160
"""A product description is indexed by its Latin words (models, English names, specifications)
and the Chinese of its opening (where a description says what the product is). The rest of a
Chinese description is shipping and care boilerplate that every product repeats: indexing it
tripled the postings, and so the cold build time, and made common queries slower, for no hit
found. Help articles, policies and pages are indexed whole."""


def _indexed_body(kind: str, body: str) -> str:
    if kind != "product" or len(body) <= PRODUCT_BODY_CHARS:
        return body
    head = body[:PRODUCT_BODY_CHARS]
    rest = dict.fromkeys(latin_words(body[PRODUCT_BODY_CHARS:]))
    return head + " " + " ".join(rest)


def _composite(title: str, meta: str, body: str) -> str:
    clean = lambda s: s.replace(FIELD_SEP, " ")
    return FIELD_SEP.join((clean(title), clean(meta), clean(body)))


def _slug_words(url: str) -> list[str]:
    """Words of the URL's last path segment ("/products/voltera-power-bank-x40/"): shops name
    products in English there, which makes English queries find Chinese-titled products."""
    slug = url.rstrip("/").rsplit("/", 1)[-1]
    return [w for w in re.split(r"[-_.]+", slug) if w]


def _indexed_values(kind: str, title: str, meta: str, body: str, skus: str, tags: list[str]) -> dict[str, str]:
    """The indexed (not stored) fields of a document: one function for indexing and for
    re-analysing deleted documents, so both count the same terms. Suggestions come from the
    title and the tags (where brands are), not from categories or the description."""
    return {"text": _composite(title, meta, _indexed_body(kind, body)),
            "suggest": " ".join([title, *tags]), "sku": skus}


def _check_doc(doc: SearchDoc) -> None:
    if not isinstance(doc, SearchDoc):
        raise SearchIndexError(f"search: expected a SearchDoc, got {type(doc).__name__}. "
                               "Fix: build documents with storefront.search.SearchDoc.")
    if not doc.id or not doc.url or doc.kind not in ("product", "help", "policy", "page"):
        raise SearchIndexError(f"search: document {doc.id!r} needs an id, a url and a kind among "
                               "product/help/policy/page. Fix: check the indexing stage.")


# --------------------------------------------------------------------------------------------
# Scoring that ignores deleted documents, so an incremental index scores like a full rebuild.


class LiveBM25F(scoring.BM25F):
    """BM25F whose collection statistics leave out documents that are deleted but still in a
    segment (Whoosh counts them until a merge): ``corrections`` holds their per-term document
    frequencies and field lengths. Block-quality skipping is off so equal scores never depend on
    which segment a document sits in."""

    def __init__(self, corrections: dict | None = None, **kw):
        super().__init__(**kw)
        c = corrections or {}
        self.deleted_docs = int(c.get("docs", 0))
        self.deleted_df = c.get("df", {})
        self.deleted_len = c.get("len", {})

    def supports_block_quality(self):
        return False

    def idf(self, searcher, fieldname, text):
        parent = searcher.get_parent()
        n = parent.doc_frequency(fieldname, text)
        if self.deleted_docs:
            t = text.decode("utf-8") if isinstance(text, bytes) else text
            n -= self.deleted_df.get(fieldname, {}).get(t, 0)
        dc = parent.doc_count_all() - self.deleted_docs
        return math.log(dc / (n + 1)) + 1

    def scorer(self, searcher, fieldname, text, qf=1):
        s = super().scorer(searcher, fieldname, text, qf=qf)
        if self.deleted_docs and isinstance(s, scoring.BM25FScorer):
            parent = searcher.get_parent()
            live = parent.doc_count_all() - self.deleted_docs
            total = parent.field_length(fieldname) - self.deleted_len.get(fieldname, 0)
            s.avgfl = (total / (live or 1)) or 1
        return s


def _deleted_corrections(ix, schema: Schema, previous: dict | None = None) -> dict:
    """Statistics of the deleted-but-present documents, re-analysed from their stored fields.

    They are kept per segment with the numbers of the documents they count (``segments``), so an
    update re-analyses only the documents deleted since ``previous`` (the corrections of the build
    it was copied from), and a segment merged away takes its share with it.
    """
    before = (previous or {}).get("segments", {})
    segments: dict[str, dict] = {}
    with ix.reader() as reader:
        for sub, _offset in _leaf_readers(reader):
            seg = sub.segment()
            if not seg.deleted_count():
                continue
            deleted = sorted(seg.deleted_docs())
            kept = before.get(seg.segment_id())
            counted = set(kept["docnums"]) if kept else set()
            if not counted <= set(deleted):  # not the segment those numbers were counted in
                kept, counted = None, set()
            df = {f: Counter(terms) for f, terms in kept["df"].items()} if kept else {}
            lengths = Counter(kept["len"]) if kept else Counter()
            for docnum in deleted:
                if docnum in counted:
                    continue
                stored = sub.stored_fields(docnum)
                values = _indexed_values(stored.get("kind", ""), stored.get("title", ""),
                                         stored.get("meta", ""), stored.get("body", ""), stored.get("sku", ""),
                                         list(stored.get("tags") or ()))
                for fname, value in values.items():
                    if not value:
                        continue
                    counter = df.setdefault(fname, Counter())
                    for btext, freq, _w, _v in schema[fname].index(value):
                        counter[btext.decode("utf-8")] += 1
                        lengths[fname] += freq
            segments[seg.segment_id()] = {"docnums": deleted, "df": {k: dict(v) for k, v in df.items()},
                                          "len": dict(lengths)}
    total_df: dict[str, Counter] = {}
    total_len: Counter = Counter()
    for part in segments.values():
        for fname, terms in part["df"].items():
            total_df.setdefault(fname, Counter()).update(terms)
        total_len.update(part["len"])
    return {"docs": sum(len(p["docnums"]) for p in segments.values()),
            "df": {k: dict(v) for k, v in total_df.items()}, "len": dict(total_len), "segments": segments}


def _leaf_readers(reader):
    if reader.is_atomic():
        return [(reader, 0)]
    return reader.leaf_readers()


# --------------------------------------------------------------------------------------------
# Building and swapping


def _adopt_plain_directory(index_dir: Path) -> None:
    """An index written before swaps existed is a plain directory: move it aside as a build."""
    if index_dir.exists() and not index_dir.is_symlink():
        if not whoosh_index.exists_in(str(index_dir)):
            if any(index_dir.iterdir()):
                raise SearchIndexError(
                    f"{index_dir}: is a directory that holds no search index. "
                    "Fix: remove it or pass another --index directory.")
            index_dir.rmdir()
            return
        target = new_build_dir(index_dir)
        target.rmdir()
        os.replace(index_dir, target)
        os.symlink(target.name, index_dir)


def _read_manifest(build: Path) -> dict:
    try:
        return json.loads((build / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise SearchIndexError(f"{build / MANIFEST}: unreadable search manifest ({exc}). "
                               "Fix: rebuild with --full.") from exc


def _copy_build(src: Path, dst: Path) -> None:
    # Whoosh never rewrites a segment file once written (deletions live in the new TOC), so hard
    # links are safe and make the copy cost nothing; fall back to copying across filesystems.
    for f in src.iterdir():
        # Only Whoosh's own files: not locks, and not the static export cached beside them
        # (storefront.search_static), which belongs to that build alone. Nor the manifest: it is
        # rewritten for the new build, and writing through a hard link would change the previous
        # build's copy, the one kept for rollback.
        if not f.is_file() or f.name.startswith(".") or f.name.endswith(".lock") or f.name == MANIFEST \
                or f.name.startswith("_") and "LOCK" in f.name:
            continue
        try:
            os.link(f, dst / f.name)
        except OSError:
            shutil.copy2(f, dst / f.name)


def _writer_procs(n: int) -> int:
    if n < PARALLEL_MIN_DOCS:
        return 1
    return min(os.cpu_count() or 1, int(os.environ.get("STOREFRONT_SEARCH_PROCS", "2")))


def update_index(index_dir: Path, docs: Iterable[SearchDoc], *, keep_ids: set[str] | None = None,
                 full: bool = False, language: str = "zh-CN", swap: bool = True) -> dict:
    """Write the search index and swap it in (``swap=False``: leave that to
    :func:`storefront.search_base.swap_index`, which takes the ``path`` of the returned stats).

    ``full=True`` indexes exactly ``docs``. ``full=False`` starts from the index at ``index_dir``,
    adds or replaces ``docs`` and deletes every document whose id is neither in ``keep_ids`` nor
    among ``docs`` (``keep_ids=None`` keeps all others). The new index is built in a sibling
    directory, checked (open, count, one lookup), then ``index_dir`` (a symlink) is repointed with
    ``os.replace``; the previous build is kept for rollback and older ones are deleted.
    """
    started = time.perf_counter()
    index_dir = Path(index_dir)
    docs = list(docs)
    for d in docs:
        _check_doc(d)
    ids = [d.id for d in docs]
    if len(set(ids)) != len(ids):
        dup = next(i for i, c in Counter(ids).items() if c > 1)
        raise SearchIndexError(f"search: document id {dup!r} given twice. "
                               "Fix: give every product, article and page a unique id.")
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    _adopt_plain_directory(index_dir)
    current = current_build(index_dir)
    if current is not None and not full:
        old_manifest = _read_manifest(current)
        if old_manifest.get("analyzer") != ANALYZER_VERSION or old_manifest.get("language") != language:
            full = True  # terms written by another analyzer cannot be mixed with ours
    else:
        full = True

    build = new_build_dir(index_dir)
    stats = {"mode": "full" if full else "incremental", "added": 0, "replaced": 0, "deleted": 0}
    try:
        schema = make_schema()
        if full:
            ix = whoosh_index.create_in(str(build), schema)
            # The static export needs only the documents: made while the index is written (this
            # process would otherwise wait), kept in the new build for static_index_files.
            exported: list = []
            write_new_index(ix, docs, _fields_of, _writer_procs(len(docs)),
                            meanwhile=lambda: exported.append(_static_entries(docs)),
                            pack=(_doc_values, _doc_from))
            stats["added"] = len(docs)
            category_titles = {}
        else:
            _copy_build(current, build)
            ix = whoosh_index.open_dir(str(build))
            schema = ix.schema
            with ix.reader() as reader:
                present = {t.decode("utf-8") for t in reader.lexicon("id")}
            new_ids = set(ids)
            keep = present if keep_ids is None else set(keep_ids)
            to_delete = sorted(i for i in present if i not in keep and i not in new_ids)
            category_titles = dict(old_manifest.get("category_titles", {}))
            if docs or to_delete:
                writer = ix.writer(limitmb=64)
                for i in to_delete:
                    writer.delete_by_term("id", i)
                for d in docs:
                    if d.id in present:
                        stats["replaced"] += 1
                    else:
                        stats["added"] += 1
                    writer.update_document(**_fields_of(d))
                writer.commit()
            stats["deleted"] = len(to_delete)
        for d in docs:
            if d.category and d.category_title:
                category_titles[d.category] = d.category_title
        ix = whoosh_index.open_dir(str(build))
        corrections = (_deleted_corrections(ix, schema, old_manifest.get("corrections")) if not full
                       else {"docs": 0})
        with ix.searcher() as s:
            count = s.doc_count()
            probe = docs[0].id if docs else next(
                (t.decode("utf-8") for t in s.reader().lexicon("id")), None)
            if probe is not None and not any(True for _ in s.documents(id=probe)):
                raise SearchIndexError(f"{build}: the new index does not find document {probe!r}. "
                                       "Fix: rebuild with --full.")
        if full and count != len(docs):
            raise SearchIndexError(f"{build}: the new index holds {count} documents, expected "
                                   f"{len(docs)}. Fix: rebuild with --full.")
        manifest = {"format": 1, "analyzer": ANALYZER_VERSION, "language": language,
                    "doc_count": count, "category_titles": dict(sorted(category_titles.items())),
                    "corrections": corrections}
        if not full:  # what changed since the build this one was copied from (for search_static)
            manifest.update(derived_from=current.name, changed=sorted(ids), deleted=to_delete)
        (build / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False), "utf-8")
        if full:  # made after the writers: made beside them, it raised the memory peak past 300 MiB
            from storefront.search_static import Export
            Export(exported[0]).keep(build)
        if swap:
            point_at(index_dir, build)
    except SearchIndexError:
        shutil.rmtree(build, ignore_errors=True)
        raise
    except Exception as exc:  # whoosh and OS errors: keep the old index, report cleanly
        shutil.rmtree(build, ignore_errors=True)
        raise SearchIndexError(f"{index_dir}: building the search index failed: {exc}. "
                               "Fix: check disk space and permissions, then rebuild with --full.") from exc
    if swap:
        prune(index_dir, keep={build, current} - {None})
    stats.update(documents=count, seconds=round(time.perf_counter() - started, 4), path=str(build))
    return stats


def _doc_values(doc: SearchDoc) -> tuple:
    return tuple(doc.__dict__.values())


def _doc_from(values: tuple) -> SearchDoc:
    return SearchDoc(*values)


def _static_entries(docs: list[SearchDoc]) -> dict[str, tuple]:
    """The static export's entries of ``docs``. Made while the writer processes run: a product's
    description (which its entry leaves out) is not even referred to, since taking a reference
    writes to the object, and each page written to then stops being shared with the writers
    (about 25 MiB at 10,000 products)."""
    from storefront.search_static import entry
    out = {}
    pairs: dict = {}
    for d in docs:
        out[d.id] = entry(_stored_of(d, body=d.kind != "product"), pairs)
    return out


PARALLEL_MIN_DOCS = 2000
"""Below this many documents a second writer process costs more than it saves."""


# --------------------------------------------------------------------------------------------
# Query side


@dataclass
class OpenIndex:
    """An opened build of the index plus what the query side derives from it."""

    path: Path
    """The real build directory (the symlink's target when it was opened)."""
    ix: object
    searcher: object
    manifest: dict
    _vocab: dict[str, int] | None = field(default=None, repr=False)

    _order: "_DocOrder | None" = field(default=None, repr=False)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    """Held by every query: a Whoosh searcher reads its files through shared handles (seek, then
    read), so two threads using one searcher at once read each other's bytes (seen as
    UnpicklingError under a threaded server). Python runs one query at a time anyway."""

    def close(self) -> None:
        self.searcher.close()

    def order(self) -> "_DocOrder":
        if self._order is None:
            self._order = _DocOrder.of(self.searcher)
        return self._order

    def live_count(self) -> int:
        return self.searcher.doc_count()

    def doc_frequency(self, fieldname: str, term: str) -> int:
        """Documents holding ``term``, not counting deleted ones still in a segment."""
        n = self.searcher.doc_frequency(fieldname, term)
        fix = self.manifest.get("corrections", {}).get("df", {}).get(fieldname, {}).get(term, 0)
        return n - fix

    def has_sku(self, sku: str) -> bool:
        return self.doc_frequency("sku", sku) > 0

    def selective(self, terms: list[str]) -> list[str]:
        n = self.live_count()
        if n < PRUNE_MIN_DOCS:
            return terms
        keep = [t for t in terms if 0 < self.doc_frequency("text", t) <= COMMON * n]
        return keep or terms

    def latin_vocabulary(self) -> dict[str, int]:
        """Latin terms of the text fields with their document frequency (for "did you mean")."""
        if self._vocab is None:
            vocab: Counter = Counter()
            reader = self.searcher.reader()
            for fname in TEXT_FIELDS:
                for btext in reader.lexicon(fname):
                    if btext[:1].isascii() and btext[:1].isalpha():
                        t = btext.decode("utf-8")
                        vocab[t] += reader.doc_frequency(fname, t)
            self._vocab = dict(vocab)
        return self._vocab


def open_index(index_dir: Path) -> OpenIndex:
    """Open the build ``index_dir`` points at (a symlink or a plain index directory)."""
    index_dir = Path(index_dir)
    real = index_dir.resolve()
    if not whoosh_index.exists_in(str(real)):
        raise SearchIndexError(f"{index_dir}: no search index here. Fix: run `python build.py build`.")
    try:
        manifest = json.loads((real / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        manifest = {"category_titles": {}, "corrections": {}}
    ix = whoosh_index.open_dir(str(real))
    searcher = ix.searcher(weighting=LiveBM25F(manifest.get("corrections")))
    return OpenIndex(real, ix, searcher, manifest)


class IndexHandle:
    """Thread-safe holder the service keeps: reopens when the symlink's real path changes (a new
    build was swapped in), never with ``Searcher.refresh()``, which in Whoosh 2.7.5 brings back
    deleted documents."""

    def __init__(self, index_dir: Path):
        self.index_dir = Path(index_dir)
        self._lock = threading.Lock()
        self._open: OpenIndex | None = None

    def get(self) -> OpenIndex:
        real = self.index_dir.resolve()
        current = self._open
        if current is not None and current.path == real:
            return current
        with self._lock:
            if self._open is None or self._open.path != self.index_dir.resolve():
                # The old searcher is not closed here: a request in flight may still use it, and
                # its files survive because one previous build is always kept.
                self._open = open_index(self.index_dir)
            return self._open


MAX_QUERY_CHARS = 200
PAGE_SIZE = 20
FEW = 1
"""The OR fallback and the typo retry run when the ANDed words find fewer than this. One: with 2-3
exact matches for "声驰蓝牙耳机 X12", ORing the words appended thousands of loose matches and made
the median query 5x slower (bench/search.py); an exact answer is shown as it is."""
_SKU_RE = re.compile(r"[A-Za-z0-9_-]{1,64}$")


def _text_clause(term: str) -> Query:
    return Or([Term(f, term) for f in TEXT_FIELDS])


COMMON = 0.1
"""A Chinese bigram found in more than this share of documents is left out of its word's OR when
rarer bigrams of the word remain: it adds next to nothing to a score (its idf is low) and is what
makes a query walk thousands of documents."""
PRUNE_MIN_DOCS = 1000
"""Below this many documents every query is fast, and a word's bigrams are all kept: in a small
shop "付款" may be in a tenth of the pages and still be the word that matters."""
SKU_BOOST = 50.0
MODEL_BOOST = 2.0
"""Weight of the joined model term ("pro7") that a query like "Pro 7" adds as an optional bonus."""
"""An exact SKU outranks any text that merely mentions it (a help article quoting a SKU)."""


@dataclass(frozen=True)
class _Word:
    raw: str
    sku: str | None
    parts: tuple[tuple[str, tuple[str, ...]], ...]
    """(kind, terms) per segment; a segment's terms are ORed, segments ANDed."""

    def is_number(self) -> bool:
        return all(kind == "latin" and all(t.isdigit() for t in terms) for kind, terms in self.parts)

    def clause(self, oi: "OpenIndex | None" = None, replace: dict[str, str] | None = None) -> Query | None:
        subs = []
        for kind, terms in self.parts:
            ts = list(dict.fromkeys(replace.get(t, t) if replace else t for t in terms))
            if oi is not None and kind == "cjk" and len(ts) > 2:
                ts = oi.selective(ts)
            subs.append(_text_clause(ts[0]) if len(ts) == 1 else Or([_text_clause(t) for t in ts]))
        text = None if not subs else (subs[0] if len(subs) == 1 else And(subs))
        sku = None
        if self.sku:
            exact = oi is not None and oi.has_sku(self.sku)
            sku = Term("sku", self.sku, boost=SKU_BOOST if exact else 1.0)
        options = [q for q in (sku, text) if q is not None]
        if not options:
            return None
        return options[0] if len(options) == 1 else Or(options)


def parse_query(q: str) -> list[_Word]:
    """Words of the user's query; nothing in it is Whoosh syntax."""
    words = []
    for raw in q.split():
        parts = []
        for kind, seg in segments(raw):
            terms = tokenize(seg, "query")
            parts.append((kind, tuple(dict.fromkeys(terms))))
        sku = raw.lower() if _SKU_RE.match(raw) else None
        if parts or sku:
            words.append(_Word(raw, sku, tuple(parts)))
    return words


def _edits1(word: str) -> set[str]:
    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + c + b[1:] for a, b in splits if b for c in letters}
    out |= {a + c + b for a, b in splits for c in letters}
    out.discard(word)
    return out


def _correct(oi: OpenIndex, words: list[_Word]) -> dict[str, str]:
    """Replacements for unknown Latin words of 4+ letters: the most frequent term one edit away."""
    fixes = {}
    for w in words:
        for kind, terms in w.parts:
            if kind != "latin" or len(terms[0]) < 4 or not terms[0].isalpha():
                continue
            vocab = oi.latin_vocabulary()
            if vocab.get(terms[0], 0) > 0:
                continue
            cands = [(vocab[c], c) for c in _edits1(terms[0]) if c in vocab]
            if cands:
                fixes[terms[0]] = max(cands, key=lambda x: (x[0], [-ord(ch) for ch in x[1]]))[1]
    return fixes


class _RankedCollector(TopCollector):
    """Top ``limit`` live documents by score, ties broken by document id (never by document
    number, so an incremental index answers exactly like a full rebuild), counting category facets
    over every match and applying the category filter in the same pass: one walk over the matches
    instead of Whoosh's sorting and grouping collectors, which read two columns per match."""

    def __init__(self, limit: int, order: "_DocOrder", category: int | None):
        super().__init__(limit=limit, usequality=False)
        self.order = order
        self.category = category
        self.facets = [0] * (len(order.categories) + 1)
        self.matched = 0

    def collect(self, sub_docnum):
        g = self.offset + sub_docnum
        c = self.order.cat[g]
        self.facets[c] += 1
        if self.category is not None and c != self.category:
            return 0
        self.matched += 1
        key = (self.matcher.score(), -self.order.rank[g])
        items = self.items
        if len(items) < self.limit:
            heappush(items, key)
        elif key > items[0]:
            heapreplace(items, key)
        return 0

    def top(self) -> list[tuple[float, int]]:
        return [(score, self.order.docnums[-r]) for score, r in sorted(self.items, reverse=True)]


@dataclass
class _DocOrder:
    """Per global document number: its rank in id order and its category number (0: none)."""

    rank: list[int]
    docnums: list[int]
    cat: list[int]
    categories: list[str]

    @classmethod
    def of(cls, searcher) -> "_DocOrder":
        reader = searcher.reader()
        n = reader.doc_count_all()
        ids = list(reader.column_reader("id"))
        cats_raw = list(reader.column_reader("category"))
        categories = sorted({c for c in cats_raw if c})
        number = {c: i + 1 for i, c in enumerate(categories)}
        live = [d for d in range(n) if not reader.is_deleted(d)]
        live.sort(key=lambda d: ids[d])
        rank = [0] * n
        for i, d in enumerate(live):
            rank[d] = i
        return cls(rank, live, [number.get(c, 0) for c in cats_raw], categories)


def _ranked(oi: "OpenIndex", q: Query, category: str | None, need: int) -> tuple[list, int, dict]:
    """The first ``need`` hits ordered by score, then id; the number of matches in ``category``
    (or all); and category facets over every match, whatever the filter."""
    order = oi.order()
    want = None
    if category is not None:
        want = order.categories.index(category) + 1 if category in order.categories else -1
    collector = _RankedCollector(max(1, need), order, want)
    oi.searcher.search_with_collector(q, collector)
    reader = oi.searcher.reader()
    rows = [(score, reader.stored_fields(d)) for score, d in collector.top()[:need]]
    groups = {order.categories[i - 1]: n for i, n in enumerate(collector.facets) if i and n}
    return rows, collector.matched, groups


def _snippet(text: str, words: list[_Word], width: int = 120) -> str:
    needles = set()
    for w in words:
        for kind, terms in w.parts:
            if kind == "latin":
                needles.add(terms[0])
            else:
                needles.update(terms)
        seg_text = normalize(w.raw)
        if seg_text:
            for kind, seg in segments(w.raw):
                needles.add(seg)
    needles = sorted((n for n in needles if n), key=len, reverse=True)
    if not text:
        return ""
    if not needles:
        return html.escape(text[:width])
    pattern = re.compile("|".join(re.escape(n) for n in needles), re.IGNORECASE)
    m = pattern.search(text)
    start = 0 if m is None else max(0, m.start() - width // 4)
    window = text[start:start + width]
    out, pos = [], 0
    for m in pattern.finditer(window):
        out.append(html.escape(window[pos:m.start()]))
        out.append(f"<mark>{html.escape(m.group(0))}</mark>")
        pos = m.end()
    out.append(html.escape(window[pos:]))
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + width < len(text) else ""
    return prefix + "".join(out) + suffix


def search(oi: OpenIndex, q: str, *, category: str | None = None, page: int = 1,
           page_size: int = PAGE_SIZE, facets: bool = True) -> SearchResult:
    """Ranked, paged, faceted search (see :func:`_search`); safe to call from many threads."""
    with oi.lock:
        return _search(oi, q, category=category, page=page, page_size=page_size, facets=facets)


def _search(oi: OpenIndex, q: str, *, category: str | None = None, page: int = 1,
            page_size: int = PAGE_SIZE, facets: bool = True) -> SearchResult:
    """Ranked, paged, faceted search. Words are ANDed (a SKU matches exactly, a Chinese word's
    bigrams are ORed); when that finds fewer than FEW documents, an unknown Latin word of 4+
    letters is retried one edit away and reported as ``did_you_mean``, then the words are ORed
    (what matched every word stays on top)."""
    if len(q) > MAX_QUERY_CHARS:
        raise SearchQueryError("q", f"q is longer than {MAX_QUERY_CHARS} characters. Fix: shorten the query.")
    if page < 1 or page > 1000:
        raise SearchQueryError("page", "page must be between 1 and 1000. Fix: pass page=1 for the first page.")
    titles = oi.manifest.get("category_titles", {})
    words = parse_query(q)
    if not words:
        return SearchResult(q, 0, page, 0, (), {"category": {}}, {}, "none")
    need = page * page_size
    bonus = [Term("text", t, boost=MODEL_BOOST) for t in model_terms(q)]

    def run(clauses: list[Query], combine=And) -> tuple[list, int, dict]:
        query = clauses[0] if len(clauses) == 1 else combine(clauses)
        if bonus:
            query = AndMaybe(query, bonus[0] if len(bonus) == 1 else Or(bonus))
        return _ranked(oi, query, category, need)

    clauses = [c for c in (w.clause(oi) for w in words) if c is not None]
    rare = [c for w in words if not w.is_number() and (c := w.clause(oi)) is not None]
    did_you_mean = None
    mode = "all"
    rows, total, groups = run(clauses)
    if total < FEW:
        fixes = _correct(oi, words)
        if fixes:
            fixed = [c for c in (w.clause(oi, fixes) for w in words) if c is not None]
            found = run(fixed)
            if found[1] > total:
                (rows, total, groups), clauses = found, fixed
                did_you_mean = " ".join(_fix_word(w.raw, fixes) for w in words)
                words = parse_query(did_you_mean)
    if total < FEW and len(clauses) > 1:
        # The OR leaves out bare numbers ("Max 7" -> "7") when other words remain: alone they
        # match thousands of documents (weights, dates, delivery days) and rank none of them.
        if did_you_mean is None and 0 < len(rare) < len(clauses):
            clauses = rare
        found = run(clauses, Or) if len(clauses) > 1 else run(clauses)
        if found[1] > total:
            # What matched every word stays on top; the rest follows by score.
            first = {f["id"] for _s, f in rows}
            rows = rows + [(sc, f) for sc, f in found[0] if f["id"] not in first]
            rows = rows[:need]
            total, groups, mode = found[1], found[2], "any"
    if not facets:
        groups = {}
    facet_counts = {k: v for k, v in sorted(groups.items(), key=lambda kv: (-kv[1], kv[0] or "")) if k}
    hits = tuple(
        Hit(id=f["id"], kind=f["kind"], url=f["url"], title=f["title"],
            snippet=_snippet(f.get("body", "") or f.get("title", ""), words), score=score,
            sku=(f.get("sku") or "").split(" ")[0], price_minor=f.get("price_minor"),
            currency=f.get("currency", ""), category=f.get("category", ""), image=f.get("image", ""))
        for score, f in rows[(page - 1) * page_size: need])
    if total and all(w.sku and not w.parts for w in words):
        mode = "sku"
    pages = (total + page_size - 1) // page_size
    shown = set(facet_counts) | {h.category for h in hits}
    titles = {k: v for k, v in titles.items() if k in shown}
    return SearchResult(q, total, page, pages, hits, {"category": facet_counts}, titles, mode, did_you_mean)


def _fix_word(raw: str, fixes: dict[str, str]) -> str:
    out = raw
    for kind, seg in segments(raw):
        if kind == "latin" and stem(seg) in fixes:
            out = re.sub(re.escape(seg), fixes[stem(seg)], out, count=1, flags=re.IGNORECASE)
    return out


def suggest(oi: OpenIndex, q: str, limit: int = 8) -> list[dict]:
    """Search-as-you-type (see :func:`_suggest`); safe to call from many threads."""
    with oi.lock:
        return _suggest(oi, q, limit)


def _suggest(oi: OpenIndex, q: str, limit: int = 8) -> list[dict]:
    """Up to ``limit`` ``{"title", "url"}`` whose title has every typed segment (two Chinese
    characters or two Latin letters at least) as a word prefix."""
    if len(q) > MAX_QUERY_CHARS:
        raise SearchQueryError("q", f"q is longer than {MAX_QUERY_CHARS} characters. Fix: shorten the query.")
    terms = suggest_terms(q)
    if not terms:
        return []
    query = Term("suggest", terms[0]) if len(terms) == 1 else And([Term("suggest", t) for t in terms])
    rows, _total, _g = _ranked(oi, query, None, limit * 2)
    out, seen = [], set()
    for _score, f in rows:
        if f["title"] in seen:
            continue
        seen.add(f["title"])
        item = {"title": f["title"], "url": f["url"], "kind": f["kind"]}
        if f["kind"] == "product" and f.get("price_minor") is not None:
            item.update(price_minor=f["price_minor"], currency=f.get("currency", ""))
        out.append(item)
        if len(out) >= limit:
            break
    return out


def static_index_files(index_dir: Path) -> dict[str, bytes]:
    """The static fallback index as ``{relative path under output/: bytes}`` (see
    :mod:`storefront.search_static`), derived from the index ``index_dir`` points at."""
    from storefront.search_static import static_index_files as export

    return export(index_dir)
