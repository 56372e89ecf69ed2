"""The static build end to end on the minimal sample site: pages, data files, golden output."""

from __future__ import annotations

import datetime as dt
import filecmp
import json
import os
import shutil
from pathlib import Path


from storefront import builder
from storefront.builder import BuildOptions, build

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "minimal"
NOW = dt.date(2026, 11, 25)


def options(site: Path, **kw) -> BuildOptions:
    base = dict(content=site / "content", templates=site / "templates", output=site / "output",
                index=site / "search_index", now=NOW, jobs=1, quiet=True, search=False)
    base.update(kw)
    return BuildOptions(**base)


def tree(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_builds_every_page_of_the_contract(minimal_site: Path) -> None:
    build(options(minimal_site))
    out = minimal_site / "output"
    for rel in ["index.html", "products/x12/index.html", "products/speaker/index.html",
                "categories/audio/index.html", "categories/earbuds/index.html", "help/index.html",
                "help/order/index.html", "help/order/how-to-order/index.html", "privacy/index.html",
                "privacy/2024-03-01/index.html", "privacy/2025-10-01/index.html", "privacy/2030-01-01/index.html",
                "privacy/history/index.html", "about/index.html", "cart/index.html", "account/login/index.html",
                "404.html", "sitemap.xml", "robots.txt", "catalog.json", "policies.json", "media/x12.svg"]:
        assert (out / rel).is_file(), rel
    # unpublished: a draft and a product whose publish_at is ahead
    assert not (out / "products/draft").exists()
    assert not (out / "products/future").exists()


def test_drafts_flag_builds_drafts(minimal_site: Path) -> None:
    build(options(minimal_site, drafts=True))
    assert (minimal_site / "output/products/draft/index.html").is_file()
    skus = [p["sku"] for p in json.loads((minimal_site / "output/catalog.json").read_text())["products"]]
    assert "UM-1004" in skus and "UM-1003" not in skus


def test_catalog_json_prices_in_minor_units(minimal_site: Path) -> None:
    build(options(minimal_site))
    cat = json.loads((minimal_site / "output/catalog.json").read_text())
    assert cat["schema"] == 1 and cat["currency"] == "CNY" and len(cat["version"]) == 64
    by_sku = {p["sku"]: p for p in cat["products"]}
    assert set(by_sku) == {"UM-1001", "UM-1002"}
    x12 = by_sku["UM-1001"]
    assert x12["price_minor"] == 19900 and x12["url"] == "/products/x12/" and x12["stock"] == 120
    assert [(v["sku"], v["price_minor"], v["stock"]) for v in x12["variants"]] == [
        ("UM-1001-BLK", 19900, 60), ("UM-1001-WHT", 20900, 0)]
    assert by_sku["UM-1002"]["price_minor"] == 9950  # unquoted 99.5 in YAML, never a float


def test_catalog_version_changes_with_a_price_only(minimal_site: Path) -> None:
    build(options(minimal_site))
    v1 = json.loads((minimal_site / "output/catalog.json").read_text())["version"]
    p = minimal_site / "content/products/audio/speaker.md"
    p.write_text(p.read_text().replace("防水音箱。", "防水音箱，新说明。"))
    build(options(minimal_site))
    assert json.loads((minimal_site / "output/catalog.json").read_text())["version"] == v1
    p.write_text(p.read_text().replace("price: 99.5", "price: 89.5"))
    build(options(minimal_site))
    assert json.loads((minimal_site / "output/catalog.json").read_text())["version"] != v1


def test_policies_json_says_in_force_and_upcoming(minimal_site: Path) -> None:
    build(options(minimal_site))
    pol = json.loads((minimal_site / "output/policies.json").read_text())
    assert pol["in_force"] == "2025-10-01" and pol["upcoming"] == "2030-01-01"
    v = {x["id"]: x for x in pol["versions"]}
    assert v["2030-01-01"]["major"] is True and v["2030-01-01"]["url"] == "/privacy/2030-01-01/"
    assert all(len(x["sha256"]) == 64 for x in pol["versions"])
    build(options(minimal_site, now=dt.date(2030, 1, 1)))
    pol = json.loads((minimal_site / "output/policies.json").read_text())
    assert pol["in_force"] == "2030-01-01" and pol["upcoming"] is None


def test_product_page_money_jsonld_and_links(minimal_site: Path) -> None:
    build(options(minimal_site))
    html = (minimal_site / "output/products/x12/index.html").read_text()
    assert "¥199.00" in html and "¥259.00" in html
    assert '<link rel="canonical" href="https://shop.example.com/products/x12/">' in html
    assert '"@type": "Product"' in html and '"priceCurrency": "CNY"' in html and '"price": "209.00"' in html
    assert '"availability": "https://schema.org/OutOfStock"' in html  # the white variant
    # breadcrumbs walk the category chain
    assert '<a href="/categories/audio/">数码影音</a><a href="/categories/earbuds/">真无线耳机</a>' in html


def test_markup_in_titles_is_escaped(minimal_site: Path) -> None:
    build(options(minimal_site))
    html = (minimal_site / "output/products/x12/index.html").read_text()
    assert "<b>限量</b>" not in html
    assert "&lt;b&gt;限量&lt;/b&gt;" in html
    # also inside JSON-LD, where a closing tag could end the script element
    script = html.split('<script type="application/ld+json">')[1].split("</script>")[0]
    assert "<" not in script and "\\u003cb\\u003e" in script


def test_upcoming_major_policy_puts_a_notice_on_every_page(minimal_site: Path) -> None:
    build(options(minimal_site))
    out = minimal_site / "output"
    for rel in ["index.html", "products/x12/index.html", "help/order/cart/index.html", "about/index.html"]:
        assert 'href="/privacy/2030-01-01/"' in (out / rel).read_text(), rel
    current = (out / "privacy/index.html").read_text()
    assert "新版将于 2030年1月1日 生效" in current
    build(options(minimal_site, now=dt.date(2030, 1, 2)))
    assert "2030-01-01" not in (out / "about/index.html").read_text()


def test_history_diff_marks_inserted_and_removed_text(minimal_site: Path) -> None:
    build(options(minimal_site))
    html = (minimal_site / "output/privacy/history/index.html").read_text()
    v2 = html.split('id="v-2025-10-01"')[1].split("</section>")[0]
    assert "<ins>，以及您的收货地址</ins>" in v2
    v3 = html.split('id="v-2030-01-01"')[1].split("</section>")[0]
    assert "<del>客服会在24小时内回复。</del>" in v3
    assert "@@" not in html and "+++" not in html  # not a unified diff


def test_sitemap_and_robots(minimal_site: Path) -> None:
    build(options(minimal_site))
    sitemap = (minimal_site / "output/sitemap.xml").read_text()
    assert "<loc>https://shop.example.com/products/x12/</loc>" in sitemap
    assert "/account/" not in sitemap and "404" not in sitemap
    robots = (minimal_site / "output/robots.txt").read_text()
    assert "Sitemap: https://shop.example.com/sitemap.xml" in robots


def test_assets_are_fingerprinted(minimal_site: Path) -> None:
    build(options(minimal_site))
    css = list((minimal_site / "output/static/css").glob("site.*.css"))
    assert len(css) == 1 and len(css[0].name.split(".")) == 3
    assert f'href="/static/css/{css[0].name}"' in (minimal_site / "output/index.html").read_text()


def test_output_is_deterministic_serial_or_parallel(minimal_site: Path, tmp_path: Path, monkeypatch) -> None:
    build(options(minimal_site, output=tmp_path / "a", jobs=1))
    monkeypatch.setattr(builder, "PARALLEL_MIN", 0)  # use forked workers even for a tiny site
    report = build(options(minimal_site, output=tmp_path / "b", jobs=2))
    assert report.parsed > 0 and report.rendered == report.pages
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


def test_golden_minimal_site(minimal_site: Path) -> None:
    build(options(minimal_site, search=False))
    out = minimal_site / "output"
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(GOLDEN, ignore_errors=True)
        shutil.copytree(out, GOLDEN)
    cmp = filecmp.dircmp(out, GOLDEN)
    diffs = _differences(cmp)
    assert not diffs, f"output differs from {GOLDEN} (regenerate deliberately with UPDATE_GOLDEN=1): {diffs}"


def _differences(cmp: filecmp.dircmp, prefix: str = "") -> list[str]:
    out = [f"only in output: {prefix}{x}" for x in cmp.left_only] + [f"missing: {prefix}{x}" for x in cmp.right_only]
    _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
    out += [f"differs: {prefix}{x}" for x in mismatch + errors]
    for name, sub in cmp.subdirs.items():
        out += _differences(sub, f"{prefix}{name}/")
    return out
