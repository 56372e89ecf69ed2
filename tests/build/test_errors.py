"""Bad input: every error is reported at once as PATH:LINE: message, with exit status 1 and no traceback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(site: Path, *args: str, command: str = "build") -> subprocess.CompletedProcess:
    extra = ["--output", str(site / "output"), "--index", str(site / "search_index")] if command == "build" else []
    return subprocess.run(
        [sys.executable, str(ROOT / "build.py"), command, "--content", str(site / "content"),
         "--templates", str(site / "templates"), "--now", "2026-11-25", *extra, *args],
        capture_output=True, text=True, cwd=site)


def write(site: Path, rel: str, text: str | bytes) -> None:
    path = site / "content" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")


def product(sku: str = "UM-9001", price: str = '"10.00"', category: str = "audio", extra: str = "") -> str:
    return f"---\nsku: {sku}\ntitle: 测试商品\nprice: {price}\ncategory: {category}\n{extra}---\n正文\n"


CASES = [
    # (file, content, expected line, fragment of the message)
    ("products/a.md", product(price='"199元"'), 4, "'199元' is not a decimal number"),
    ("products/b.md", product(sku="UM-9002", price='"19.999"'), 4, "has 3 decimals but CNY allows at most 2"),
    ("products/c.md", product(sku="UM-9003", price='"-5.00"'), 4, "must be greater than 0"),
    ("products/d.md", "---\ntitle: 没有SKU\nprice: \"1.00\"\ncategory: audio\n---\n", 1, "'sku' is required"),
    ("products/e.md", product(sku="UM-1001"), 2, "duplicate sku 'UM-1001'"),
    ("products/f.md", product(sku="UM-9006", extra="slug: x12\n"), 6, "duplicate slug 'x12'"),
    ("products/g.md", product(sku="UM-9007", category="audoi"), 5, "unknown category 'audoi' (did you mean 'audio'?)"),
    ("categories/h.md", "---\ntitle: 子类\nparent: nosuch\n---\n", 3, "unknown parent category 'nosuch'"),
    ("products/i.md", "---\nsku: UM-9009\ntitle: 未闭合\nprice: \"1.00\"\n", 1, "never closed"),
    ("products/j.md", "---\nsku: UM-9010\ntitle: [坏的\nprice: \"1.00\"\ncategory: audio\n---\n", 4, "YAML syntax error"),
    ("products/k.md", product(sku="UM-9011", extra="prcie: \"1.00\"\n"), 6, "unknown key 'prcie' (did you mean 'price'?)"),
    ("products/l.md", product(sku="UM-9012", extra="publish_at: 2026-02-30\n"), 6, "'2026-02-30' is not a real date"),
    ("products/m.md", product(sku="UM-9013").encode("utf-8").replace("测试商品".encode(), "测试".encode("gbk")), 3, "not valid UTF-8"),
    ("products/n.md", product(sku="UM-9014", extra="compare_at_price: \"5.00\"\n"), 6, "compare_at_price must be higher"),
    ("products/o.md", product(sku="UM-9015", extra="stock: -3\n"), 6, "'stock' must be 0 or more"),
    ("products/p.md", product(sku="UM 9016"), 2, "may only use letters, digits"),
    ("products/q.md", product(sku="UM-9017", extra="images: [nope.jpg]\n"), 6, "image 'nope.jpg' is not in content/media/"),
    ("privacy/2026-13-01.md", "---\ntitle: 隐私\neffective: 2026-13-01\n---\n正文\n", 3, "is not a real date"),
    ("pages/search.md", "---\ntitle: 搜索\n---\n", 2, "is used by the build itself"),
    ("products/r.md", product(sku="UM-9018", extra="variants:\n  - {sku: UM-1001-BLK, options: {颜色: 红}}\n"), 7, "duplicate sku 'UM-1001-BLK'"),
]


def test_every_bad_input_is_reported_at_once_with_file_and_line(minimal_site: Path) -> None:
    for rel, text, _, _ in CASES:
        write(minimal_site, rel, text)
    (minimal_site / "templates/partials/card.html").write_text("{% if p %}<a>{{ p.title }}</a>\n", encoding="utf-8")
    result = run(minimal_site)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    for rel, _, line, fragment in CASES:
        wanted = [l for l in lines if l.startswith(f"content/{rel}:{line}: ") and fragment in l]
        assert wanted, f"no '{fragment}' at content/{rel}:{line} in:\n{result.stderr}"
    template = [l for l in lines if l.startswith("templates/partials/card.html:")]
    assert template and "template syntax error in 'partials/card.html'" in template[0], result.stderr
    assert re.match(r"build failed: \d+ errors in \d+ files", lines[-1])
    assert not (minimal_site / "output").exists()


def test_check_reports_the_same_and_writes_nothing(minimal_site: Path) -> None:
    write(minimal_site, "products/a.md", product(price='"199元"'))
    result = run(minimal_site, command="check")
    assert result.returncode == 1
    assert "content/products/a.md:4: price '199元' is not a decimal number" in result.stderr
    assert "Fix:" in result.stderr
    assert not (minimal_site / "output").exists() and not (minimal_site / ".output-cache").exists()


def test_check_passes_on_a_good_site(minimal_site: Path) -> None:
    result = run(minimal_site, command="check")
    assert result.returncode == 0, result.stderr
    assert "2 products" in result.stdout


def test_usage_errors_exit_2(minimal_site: Path) -> None:
    result = run(minimal_site, "--now", "2026-02-30")
    assert result.returncode == 2 and "not a date" in result.stderr
    result = run(minimal_site, "--jobs", "many")
    assert result.returncode == 2


def test_category_loops_are_reported(minimal_site: Path) -> None:
    write(minimal_site, "categories/audio.md", "---\ntitle: 数码影音\nparent: earbuds\n---\n")
    result = run(minimal_site)
    assert result.returncode == 1 and "categories form a loop" in result.stderr


def test_duplicate_keys_are_reported(minimal_site: Path) -> None:
    write(minimal_site, "products/dup.md", "---\nsku: UM-9100\ntitle: a\ntitle: b\nprice: \"1.00\"\ncategory: audio\n---\n")
    result = run(minimal_site)
    assert "content/products/dup.md:4: key 'title' is given twice" in result.stderr


@pytest.mark.parametrize("change,fragment", [
    ("body", "is published: its text (title, date or body) cannot change"),
    ("delete", "published privacy policy version 2024-03-01 is missing"),
])
def test_published_policy_text_is_locked(minimal_site: Path, change: str, fragment: str) -> None:
    lock = minimal_site / "content/privacy/versions.lock"
    assert "2024-03-01 sha256:" in lock.read_text()
    path = minimal_site / "content/privacy/2024-03-01.md"
    if change == "body":
        path.write_text(path.read_text(encoding="utf-8").replace("我们重视", "我们非常重视"), encoding="utf-8")
    else:
        path.unlink()
    result = run(minimal_site)
    assert result.returncode == 1 and fragment in result.stderr, result.stderr
    assert "Fix:" in result.stderr or "Fix: restore" in result.stderr


def test_upcoming_policy_may_change_and_is_locked_once_in_force(minimal_site: Path) -> None:
    lock = minimal_site / "content/privacy/versions.lock"
    path = minimal_site / "content/privacy/2030-01-01.md"
    path.write_text(path.read_text(encoding="utf-8").replace("手机号", "手机号码"), encoding="utf-8")
    assert run(minimal_site).returncode == 0
    assert "2030-01-01" not in lock.read_text()
    result = run(minimal_site, "--now", "2030-01-01")
    assert result.returncode == 0, result.stderr
    assert "2030-01-01 sha256:" in lock.read_text()
    path.write_text(path.read_text(encoding="utf-8").replace("手机号码", "手机"), encoding="utf-8")
    result = run(minimal_site, "--now", "2030-01-02")
    assert result.returncode == 1 and "took effect on 2030-01-01" in result.stderr
