"""The static account pages: they compile, use the theme's form vocabulary, and call real routes."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest

from checkout.openapi import build_document

ROOT = Path(__file__).resolve().parents[2]
SHELLS = ROOT / "templates" / "shells" / "account"
SCRIPT = ROOT / "templates" / "static" / "js" / "account.js"
PAGES = ["index", "login", "register", "activate", "reset", "guardian"]


@pytest.mark.parametrize("name", PAGES)
def test_page_extends_base_and_names_its_script(name):
    source = (SHELLS / f"{name}.html").read_text(encoding="utf-8")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROOT / "templates")))
    env.parse(source)  # compiles
    assert source.startswith('{% extends "base.html" %}')
    assert "{% block content %}" in source and "asset('js/account.js')" in source
    assert f'data-account-page="{name}"' in source
    assert f"pages.{name} = function" in SCRIPT.read_text(encoding="utf-8")
    for form in re.findall(r"<form[^>]*>", source):
        assert 'class="form"' in form


def test_every_field_error_slot_matches_an_input_or_api_field():
    for name in PAGES:
        source = (SHELLS / f"{name}.html").read_text(encoding="utf-8")
        inputs = set(re.findall(r'name="([\w.]+)"', source))
        for slot in re.findall(r'data-field-error="(\w+)"', source):
            assert slot in inputs or slot in ("policy_version", "addresses"), (name, slot)


def test_script_calls_only_documented_routes():
    doc = build_document()
    calls = re.findall(r'call\("(GET|POST|PATCH|DELETE)", "([^"]+)"', SCRIPT.read_text(encoding="utf-8"))
    assert len(calls) >= 10
    for method, path in calls:
        assert method.lower() in doc["paths"].get("/api" + path, {}), f"{method} /api{path} not documented"
