"""The theme's Jinja environment: imports decide about new globals as Jinja does."""

from __future__ import annotations

from pathlib import Path

from storefront.render import make_environment


def _theme(tmp_path: Path) -> Path:
    (tmp_path / "m.html").write_text("{% macro g() %}[{{ extra | default('none') }}]{% endmacro %}")
    (tmp_path / "p.html").write_text('{% from "m.html" import g %}{{ g() }}')
    return tmp_path


def test_an_import_without_new_globals_reuses_the_module(tmp_path: Path) -> None:
    env = make_environment(_theme(tmp_path))
    assert env.get_template("p.html").render() == "[none]"
    module = env.get_template("m.html")._module
    assert module is not None
    assert env.get_template("p.html").render(extra="a local, not a global") == "[none]"
    assert env.get_template("m.html")._module is module


def test_an_import_under_new_globals_sees_them(tmp_path: Path) -> None:
    env = make_environment(_theme(tmp_path))
    assert env.get_template("p.html").render() == "[none]"
    # globals given to the importing template only: Jinja makes the imported module again with them
    assert env.get_template("p.html", globals={"extra": "X"}).render() == "[X]"
