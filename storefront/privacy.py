"""Versioned privacy policy: the lock on published texts and the readable diff between versions.

A version whose effective date has passed is a published legal text. Its sha256 (see
``loader.policy_text_hash``) is recorded in ``content/privacy/versions.lock``; a later build whose text
differs fails and says so. The diff is made for people: paragraphs are aligned first, then words and
Chinese characters inside changed paragraphs, marked with ``<ins>`` and ``<del>``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from html import escape

from markupsafe import Markup

from .errors import Problems
from .model import PolicyVersion

LOCK_HEADER = ("# Fingerprints of published privacy policy versions (effective date passed).\n"
               "# Written by build.py; commit this file. A published text must never change:\n"
               "# publish a new version file instead.\n")


def parse_lock(text: str) -> dict[str, str]:
    entries: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) == 2 and parts[1].startswith("sha256:"):
            entries[parts[0]] = parts[1][len("sha256:"):]
    return entries


def format_lock(entries: dict[str, str]) -> str:
    return LOCK_HEADER + "".join(f"{vid} sha256:{digest}\n" for vid, digest in sorted(entries.items()))


def check_lock(policies: tuple[PolicyVersion, ...], lock_text: str, lock_shown: str, now: dt.date,
               problems: Problems) -> str:
    """Check published versions against the lock; return the lock text with new publications added."""
    locked = parse_lock(lock_text)
    current = {p.id: p for p in policies}
    updated = dict(locked)
    for vid, digest in sorted(locked.items()):
        p = current.get(vid)
        if p is None:
            problems.add(lock_shown, None, f"published privacy policy version {vid} is missing: its file "
                         f"privacy/{vid}.md was removed or renamed. Fix: restore it; a published legal text "
                         "stays on the site")
        elif p.sha256 != digest:
            problems.add(p.source, 1, f"privacy policy version {vid} took effect on {p.effective} and is "
                         "published: its text (title, date or body) cannot change. Fix: undo the edit and put "
                         "the change into a new version file with a later effective date")
    for p in policies:
        if p.effective <= now and p.id not in locked:
            updated[p.id] = p.sha256
    return format_lock(updated) if updated != locked else lock_text


_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[A-Za-z0-9_@.\-]+|\s+|.", re.S)


def _blocks(text: str) -> list[str]:
    return [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]


def _inline_diff(old: str, new: str) -> str:
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    out: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(escape("".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(f"<del>{escape(''.join(a[i1:i2]))}</del>")
        if j2 > j1:
            out.append(f"<ins>{escape(''.join(b[j1:j2]))}</ins>")
    return "".join(out)


def diff_html(old: PolicyVersion, new: PolicyVersion, context: int = 1) -> Markup:
    """Paragraphs of ``new`` compared with ``old``; unchanged runs beyond ``context`` are folded."""
    a, b = _blocks(_body_of(old)), _blocks(_body_of(new))
    rows: list[tuple[str, str]] = []  # (kind, html) with kind "same" or "change"
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            rows.extend(("same", escape(x)) for x in a[i1:i2])
        elif op == "replace":
            olds, news = a[i1:i2], b[j1:j2]
            for k in range(max(len(olds), len(news))):
                if k < len(olds) and k < len(news):
                    rows.append(("change", _inline_diff(olds[k], news[k])))
                elif k < len(olds):
                    rows.append(("change", f"<del>{escape(olds[k])}</del>"))
                else:
                    rows.append(("change", f"<ins>{escape(news[k])}</ins>"))
        elif op == "delete":
            rows.extend(("change", f"<del>{escape(x)}</del>") for x in a[i1:i2])
        else:
            rows.extend(("change", f"<ins>{escape(x)}</ins>") for x in b[j1:j2])
    changed = [i for i, (kind, _) in enumerate(rows) if kind == "change"]
    keep = {j for i in changed for j in range(i - context, i + context + 1)}
    parts = ['<div class="policy-diff">']
    if not changed:
        parts.append('<p class="diff-none">正文无变化。</p>')
    folded = 0
    for i, (kind, html) in enumerate(rows):
        if i in keep or not changed:
            if folded:
                parts.append(f'<p class="diff-fold">…… 未变更的 {folded} 段 ……</p>')
                folded = 0
            cls = "diff-change" if kind == "change" else "diff-same"
            parts.append(f'<p class="{cls}">{html}</p>')
        else:
            folded += 1
    if folded:
        parts.append(f'<p class="diff-fold">…… 未变更的 {folded} 段 ……</p>')
    parts.append("</div>")
    return Markup("\n".join(parts))


def _body_of(p: PolicyVersion) -> str:
    # body_md starts with the title and the date (see policy_text_hash); the diff shows the body.
    return p.body_md.split("\n\n", 1)[1] if "\n\n" in p.body_md else p.body_md
