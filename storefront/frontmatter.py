"""Reading one content document: UTF-8 text, YAML front matter with the line of every key, body.

Part of the load stage. Numbers with a decimal point become ``Decimal`` (never float: they are
prices), impossible dates become ``BadDate`` so that validation can name them, and every key's line
is kept so that errors point at it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class BadDate:
    """A value written like a date that is not one (``2026-02-30``)."""

    text: str
    reason: str


class _Loader(_Base):  # type: ignore[misc, valid-type]
    pass


def _decimal(loader: Any, node: yaml.ScalarNode) -> Any:
    text = str(node.value).replace("_", "")
    try:
        return Decimal(text)
    except InvalidOperation:
        return text


def _timestamp(loader: Any, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except ValueError as exc:
        return BadDate(str(node.value), str(exc))


_Loader.add_constructor("tag:yaml.org,2002:float", _decimal)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


class DocumentError(Exception):
    """The document cannot be read at all; ``line`` is 1-based or None."""

    def __init__(self, line: int | None, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Document:
    meta: dict[str, Any]
    lines: dict[str, int]
    """Dotted key path (``variants.0.price``) -> 1-based line in the file."""
    duplicates: tuple[tuple[str, int], ...]
    """Keys given twice in one mapping, with the line of the repeat."""
    body: str
    body_line: int
    """The line where the body starts."""


def decode(data: bytes) -> str:
    """UTF-8 text with LF line ends; raises DocumentError naming the line of a bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DocumentError(
            line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}). "
            "Fix: save the file as UTF-8 (not GBK or GB2312)"
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def parse(text: str, *, require_front_matter: bool = True) -> Document:
    """Split ``text`` into front matter and body and parse the front matter."""
    if not text.startswith("---\n") and text.rstrip("\n") != "---":
        if require_front_matter:
            raise DocumentError(1, "missing front matter. Fix: start the file with a '---' line, "
                                   "the keys (e.g. 'title: ...'), and another '---' line")
        return Document({}, {}, (), text, 1)
    end = _closing_fence(text)
    if end is None:
        raise DocumentError(1, "front matter opened with '---' on line 1 is never closed. "
                               "Fix: add a line '---' after the last key")
    fm_text = text[4:end]
    rest = text.index("\n", end) + 1 if "\n" in text[end:] else len(text)
    body_line = text.count("\n", 0, rest) + 1
    meta, lines, dups = _load_yaml(fm_text, first_line=2)
    return Document(meta, lines, tuple(dups), text[rest:], body_line)


def _closing_fence(text: str) -> int | None:
    pos = 4
    while True:
        nl = text.find("\n---", pos - 1)
        if nl == -1:
            return None
        after = nl + 4
        tail_end = text.find("\n", after)
        tail = text[after:] if tail_end == -1 else text[after:tail_end]
        if tail.strip() == "":
            return nl + 1
        pos = after


def _load_yaml(fm_text: str, first_line: int) -> tuple[dict[str, Any], dict[str, int], list[tuple[str, int]]]:
    simple = _simple_yaml(fm_text, first_line)
    if simple is not None:
        return simple
    loader = _Loader(fm_text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}, {}, []
        if not isinstance(node, yaml.MappingNode):
            raise DocumentError(first_line + node.start_mark.line,
                                "front matter must be a list of 'key: value' lines")
        lines: dict[str, int] = {}
        dups: list[tuple[str, int]] = []
        _collect_lines(node, "", first_line, lines, dups)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = first_line + mark.line if mark else None
        what = " ".join(x for x in (exc.context, exc.problem) if x)
        raise DocumentError(line, f"YAML syntax error: {what}. Fix: check quoting and indentation; "
                                  "quote values containing ':' or '#', e.g. title: \"A: B\"") from None
    except yaml.YAMLError as exc:
        raise DocumentError(first_line, f"YAML error: {exc}") from None
    finally:
        loader.dispose()
    return data, lines, dups


# --------------------------------------------------------------------------------------------
# The simple path: front matter as content files write it, read without PyYAML's node graph.

_RESOLVER = yaml.resolver.Resolver()
_MAY_RESOLVE = frozenset(k for k in _RESOLVER.yaml_implicit_resolvers if k)
"""First characters of the plain scalars that YAML 1.1 may read as something else than a string."""
_BOOLS = {"yes": True, "no": False, "true": True, "false": False, "on": True, "off": False}
_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):(?: +|$)")
_PLAIN_BLOCK = re.compile(r"[^-?:,\[\]{}#&*!|>'\"%@`\s][^:#\t]*")
_PLAIN_FLOW = re.compile(r"[^-?:,\[\]{}#&*!|>'\"%@`\s][^:#,\[\]{}\t]*")
_QUOTED = re.compile(r'"([^"\\\x00-\x1f\x7f-\x9f]*)"')
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_DECIMAL = re.compile(r"-?[0-9]+\.[0-9]+")


class _NotSimple(Exception):
    pass


def _simple_yaml(fm_text: str, first_line: int) -> tuple[dict[str, Any], dict[str, int], list[tuple[str, int]]] | None:
    """What :func:`_load_yaml` returns, for front matter of one-line ``key: value`` pairs whose
    values are plain or double-quoted scalars, flow lists and flow mappings (nested), and block
    lists of such values: the shape of every product file. PyYAML composes a node graph and
    constructs it in Python, 0.1 ms a product, more than the rest of parsing; this is 6 times
    quicker. None for anything else (comments, anchors, multi-line values, single quotes, escapes,
    dates...), which PyYAML then reads; tests/build/test_frontmatter_simple.py compares both."""
    if "\t" in fm_text or "#" in fm_text or "'" in fm_text or "\\" in fm_text:
        return None
    data: dict[str, Any] = {}
    lines: dict[str, int] = {}
    dups: list[tuple[str, int]] = []
    rows = fm_text.split("\n")
    try:
        i, n = 0, len(rows)
        while i < n:
            row = rows[i].rstrip(" ")
            if not row:
                i += 1
                continue
            m = _KEY.match(row)
            if m is None:
                return None
            key, line = m.group(1), first_line + i
            if _scalar(key) != key:
                return None
            if key in lines:
                dups.append((key, line))
            lines[key] = line
            rest = row[m.end():]
            i += 1
            if rest:
                value, end = _value(rest, 0, False, key + ".", line, lines, dups)
                if end != len(rest):
                    return None
            else:  # a block list on the lines below, or nothing (null)
                items: list[Any] = []
                indent = None
                while i < n:
                    item = rows[i].rstrip(" ")
                    if not item:
                        break
                    lead = len(item) - len(item.lstrip(" "))
                    if not item.startswith("- ", lead) or (indent is not None and lead != indent):
                        break
                    indent = lead
                    k = f"{key}.{len(items)}"
                    lines[k] = first_line + i
                    value, end = _value(item, lead + 2, False, k + ".", first_line + i, lines, dups)
                    if end != len(item):
                        return None
                    items.append(value)
                    i += 1
                value = items if items else None
            data[key] = value
    except _NotSimple:
        return None
    return data, lines, dups


def _value(text: str, pos: int, flow: bool, prefix: str, line: int,
           lines: dict[str, int], dups: list[tuple[str, int]]) -> tuple[Any, int]:
    """The value starting at ``text[pos]`` and where it ends; raises _NotSimple."""
    c = text[pos:pos + 1]
    if c == '"':
        m = _QUOTED.match(text, pos)
        if m is None or not m.group(1).isprintable():
            raise _NotSimple
        return m.group(1), m.end()
    if c == "[":
        out: list[Any] = []
        pos = _skip(text, pos + 1)
        if text.startswith("]", pos):
            return out, pos + 1
        while True:
            k = f"{prefix}{len(out)}"
            lines[k] = line
            value, pos = _value(text, pos, True, k + ".", line, lines, dups)
            out.append(value)
            pos, done = _after_item(text, pos, "]")
            if done:
                return out, pos
    if c == "{":
        mapping: dict[Any, Any] = {}
        pos = _skip(text, pos + 1)
        if text.startswith("}", pos):
            return mapping, pos + 1
        seen: set[str] = set()
        while True:
            key, pos = _value(text, pos, True, "", line, {}, [])
            if not isinstance(key, str) or not text.startswith(": ", pos):
                raise _NotSimple
            k = f"{prefix}{key}"
            if k in seen:
                dups.append((k, line))
            seen.add(k)
            lines[k] = line
            value, pos = _value(text, _skip(text, pos + 2), True, k + ".", line, lines, dups)
            mapping[key] = value
            pos, done = _after_item(text, pos, "}")
            if done:
                return mapping, pos
    m = (_PLAIN_FLOW if flow else _PLAIN_BLOCK).match(text, pos)
    if m is None:
        raise _NotSimple
    return _scalar(m.group().rstrip(" ")), m.end()


def _after_item(text: str, pos: int, close: str) -> tuple[int, bool]:
    """After an item of a flow collection: where the next item starts and False (a comma), or
    past the collection and True (``close``); raises _NotSimple for anything else."""
    pos = _skip(text, pos)
    if text.startswith(",", pos):
        return _skip(text, pos + 1), False
    if text.startswith(close, pos):
        return pos + 1, True
    raise _NotSimple


def _skip(text: str, pos: int) -> int:
    while text.startswith(" ", pos):
        pos += 1
    return pos


def _scalar(plain: str) -> Any:
    """A plain scalar's value as PyYAML resolves it (YAML 1.1): strings, and the plainest ints,
    decimals, booleans and nulls; raises _NotSimple for the rest (dates, octal, 1_000...)."""
    if not plain.isprintable():
        raise _NotSimple
    if plain[0] not in _MAY_RESOLVE:
        return plain
    tag = _RESOLVER.resolve(yaml.ScalarNode, plain, (True, False))
    if tag == "tag:yaml.org,2002:str":
        return plain
    if tag == "tag:yaml.org,2002:int" and _INT.fullmatch(plain):
        return int(plain)
    if tag == "tag:yaml.org,2002:float" and _DECIMAL.fullmatch(plain):
        return Decimal(plain)
    if tag == "tag:yaml.org,2002:bool":
        return _BOOLS[plain.lower()]
    if tag == "tag:yaml.org,2002:null":
        return None
    raise _NotSimple


def _collect_lines(node: yaml.Node, prefix: str, first_line: int,
                   lines: dict[str, int], dups: list[tuple[str, int]]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = f"{prefix}{key_node.value}"
            line = first_line + key_node.start_mark.line
            if key in seen:
                dups.append((key, line))
            seen.add(key)
            lines[key] = line
            _collect_lines(value_node, key + ".", first_line, lines, dups)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            key = f"{prefix}{i}"
            lines[key] = first_line + item.start_mark.line
            _collect_lines(item, key + ".", first_line, lines, dups)


def to_date(value: Any) -> dt.date | BadDate | None:
    """A YAML date, or a string in ISO form; datetimes keep their date."""
    if value is None or isinstance(value, BadDate):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError as exc:
            return BadDate(value, str(exc))
    return BadDate(str(value), "not a date")
