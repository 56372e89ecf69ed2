"""Errors of the build side. Every error a user can cause names the file and line and says how to fix it."""

from __future__ import annotations

from dataclasses import dataclass


class BuildError(Exception):
    """Base of every error the build reports to the user (exit status 1, no traceback)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the content or the templates."""

    path: str
    """The file at fault, as shown to the user."""
    line: int | None
    """1-based line in that file, when known."""
    message: str
    """What is wrong, ending with a ``Fix: ...`` hint where there is one."""

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


class ContentError(BuildError):
    """The content or templates have problems; carries all of them, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.path, p.line or 0, p.message))
        files = len({p.path for p in self.problems})
        n = len(self.problems)
        super().__init__(f"{n} error{'s' if n != 1 else ''} in {files} file{'s' if files != 1 else ''}")


class TemplateError(ContentError):
    """A template failed to compile or render."""


class UsageError(BuildError):
    """Bad command-line usage (exit status 2)."""


class Problems:
    """Collects problems while a stage goes on, so that all of them are reported together."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, path: str, line: int | None, message: str) -> None:
        self.items.append(Problem(path, line, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self, cls: type[ContentError] = ContentError) -> None:
        if self.items:
            raise cls(self.items)
