"""The synthetic store generator (bench/synth.py) writes valid, deterministic content trees."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def load_bench_module(name: str):
    """bench/ is not a package: load one of its scripts by path (registered, as dataclasses need)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


synth = load_bench_module("synth")

PRODUCT_KEYS = {"sku", "title", "price", "category", "slug", "currency", "compare_at_price", "stock",
                "tags", "images", "variants", "draft", "publish_at", "extra"}
SKU_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
PRICE_RE = re.compile(r"\d+\.\d{2}")


def tree_digest(content: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(content.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(content).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def front_matter(path: Path) -> tuple[dict, str]:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), path
    head, body = text[4:].split("\n---\n", 1)
    meta = yaml.safe_load(head)
    assert isinstance(meta, dict), path
    return meta, body


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    meta = synth.generate_store(root, 300, seed=7)
    return root, meta


def test_same_seed_gives_same_bytes_and_other_seed_differs(tmp_path):
    a = synth.generate_store(tmp_path / "a", 60, seed=3)
    b = synth.generate_store(tmp_path / "b", 60, seed=3)
    c = synth.generate_store(tmp_path / "c", 60, seed=4)
    assert tree_digest(tmp_path / "a" / "content") == tree_digest(tmp_path / "b" / "content")
    assert tree_digest(tmp_path / "a" / "content") != tree_digest(tmp_path / "c" / "content")
    assert [p["sku"] for p in a["products"]] == [p["sku"] for p in b["products"]]
    assert [p["title"] for p in a["products"]] != [p["title"] for p in c["products"]]


def test_every_front_matter_parses_with_only_contract_keys(store):
    root, meta = store
    content = root / "content"
    files = sorted(content.rglob("*.md"))
    assert len(files) == 300 + 50 + 3 + 9 + 2 + 2  # products, categories, help, pages, policies
    for path in (content / "products").rglob("*.md"):
        fm, body = front_matter(path)
        assert set(fm) <= PRODUCT_KEYS, (path, set(fm) - PRODUCT_KEYS)
        assert isinstance(fm["title"], str) and fm["title"]
        assert isinstance(fm["price"], str) and PRICE_RE.fullmatch(fm["price"])
        if "compare_at_price" in fm:
            prices = [float(fm["price"])] + [float(v["price"]) for v in fm.get("variants", [])]
            assert float(fm["compare_at_price"]) > max(prices), path
        assert 250 <= len(body) <= 1200, (path, len(body))
        assert "\n- " in body and "| --- |" in body, path
    for path in (content / "privacy").glob("*.md"):
        fm, _ = front_matter(path)
        assert set(fm) <= {"title", "effective", "major", "summary"}
        assert str(fm["effective"]) < "2025-01-01"  # both versions are already published
    site = tomllib.loads((content / "site.toml").read_text(encoding="utf-8"))
    assert site["site"]["currency"] == "CNY" and site["site"]["base_url"].startswith("https://")


def test_skus_and_slugs_are_unique_and_well_formed(store):
    root, _ = store
    skus, slugs = [], []
    for path in (root / "content" / "products").rglob("*.md"):
        fm, _ = front_matter(path)
        skus.append(fm["sku"])
        skus.extend(v["sku"] for v in fm.get("variants", []))
        slugs.append(fm["slug"])
    assert len(skus) == len(set(skus)) and all(SKU_RE.fullmatch(s) for s in skus)
    assert len(slugs) == 300 and len(set(slugs)) == 300
    assert len(skus) > 300  # some products have variants


def test_every_category_reference_exists(store):
    root, meta = store
    content = root / "content"
    categories = {p.stem: front_matter(p)[0] for p in (content / "categories").glob("*.md")}
    assert len(categories) == 50
    assert sum(1 for c in categories.values() if c.get("parent")) >= 20
    for c in categories.values():
        assert c.get("parent") is None or c["parent"] in categories
    media = {p.name for p in (content / "media").iterdir()}
    for path in (content / "products").rglob("*.md"):
        fm, _ = front_matter(path)
        assert fm["category"] in categories
        assert path.parent.name == fm["category"]
        assert set(fm.get("images", [])) <= media


def test_metadata_matches_files(store):
    root, meta = store
    content = root / "content"
    assert len(meta["products"]) == 300
    for p in meta["products"][:50]:
        fm, _ = front_matter(content / p["path"])
        assert (fm["sku"], fm["title"], fm["slug"], fm["category"]) == (p["sku"], p["title"], p["slug"], p["category"])
        assert fm["extra"]["brand"] == p["brand"]
        assert p["brand"] in p["title"] or p["brand_zh"] in p["title"]
        assert p["skus"][0] == p["sku"] and len(p["skus"]) == 1 + len(fm.get("variants", []))
    mixed = [p for p in meta["products"] if re.search(r"[A-Za-z]", p["title"]) and re.search(r"[\u4e00-\u9fff]", p["title"])]
    assert len(mixed) > 100


def test_edit_one_product_changes_title_and_price_and_undoes_itself(tmp_path):
    synth.generate_store(tmp_path, 20, seed=1)
    path = synth.product_files(tmp_path)[5]
    before = path.read_bytes()
    fm0, body0 = front_matter(path)
    change = synth.edit_one_product(tmp_path, 5)
    fm1, body1 = front_matter(path)
    assert change["path"] == str(path)
    assert fm1["title"] != fm0["title"] and fm1["price"] != fm0["price"]
    assert {k: v for k, v in fm1.items() if k not in ("title", "price")} == \
           {k: v for k, v in fm0.items() if k not in ("title", "price")}
    assert body1 == body0
    synth.edit_one_product(tmp_path, 5)
    assert path.read_bytes() == before


def test_refuses_to_write_over_existing_content(tmp_path):
    synth.generate_store(tmp_path, 5)
    with pytest.raises(FileExistsError, match="Fix:"):
        synth.generate_store(tmp_path, 5)
    synth.generate_store(tmp_path, 3, overwrite=True)
    assert len(synth.product_files(tmp_path)) == 3


def test_cli_writes_a_store(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "synth.py"), str(tmp_path), "--products", "12"],
                         capture_output=True, text=True, check=True)
    assert "12 products" in out.stdout
    assert len(synth.product_files(tmp_path)) == 12


def test_conversions_mirror_the_store_and_rewrite_only_what_an_edit_changes(tmp_path):
    convert = load_bench_module("convert")
    meta = synth.generate_store(tmp_path / "store", 80, seed=2)
    content = tmp_path / "store" / "content"
    assert convert.to_hugo(content, tmp_path / "hugo") > 80
    assert convert.to_pelican(content, tmp_path / "pelican") > 80
    hugo_products = sorted((tmp_path / "hugo" / "content" / "products").glob("*.md"))
    assert len(hugo_products) == 80 + 1  # and the section's _index.md
    parents = {c["slug"]: c["parent"] for c in meta["categories"]}
    p = meta["products"][0]
    fm, _ = front_matter(tmp_path / "hugo" / "content" / "products" / f"{p['slug']}.md")
    assert fm["categories"] == [p["category"], parents[p["category"]]]  # parents list their children's products
    assert len(list((tmp_path / "hugo" / "content" / "categories").glob("*/_index.md"))) == 50

    change = synth.edit_one_product(tmp_path / "store", 3)
    slug = Path(change["path"]).stem
    assert convert.to_hugo(content, tmp_path / "hugo") in range(1, 7)  # the product, pages showing it as related
    assert convert.to_pelican(content, tmp_path / "pelican") in range(1, 7)
    assert change["new_title"] in (tmp_path / "pelican" / "content" / "products" / f"{slug}.md").read_text(encoding="utf-8")
    assert convert.to_hugo(content, tmp_path / "hugo") == 0
