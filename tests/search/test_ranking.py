"""Queries of every class the issue names, asserted by rank on the fixture store."""

from __future__ import annotations

import pytest

from storefront.search import SearchQueryError, model_terms, search, suggest, tokenize

# (query, id expected at rank 1)
TOP1 = [
    ("声驰蓝牙耳机", "product:UM-1001"),          # unspaced Chinese name
    ("蓝牙耳机", "product:UM-1001"),
    ("极光 音箱", "product:UM-1003"),             # brand plus type
    ("Aoki keyboard", "product:UM-1005"),         # English brand plus type
    ("青木 keyboard", "product:UM-1005"),         # mixed scripts
    ("earbud", "product:UM-1001"),                # singular of "earbuds"
    ("keyboards", "product:UM-1005"),             # plural of "keyboard"
    ("UM-1005", "product:UM-1005"),               # SKU
    ("um-1001-wht", "product:UM-1001"),           # variant SKU, any case
    ("bluetoth speaker", "product:UM-1003"),      # typo
    ("keybaord", "product:UM-1005"),              # transposition typo
    ("PayPal 付款", "help:payment/paypal"),       # help article
    ("隐私政策", "policy:2025-10-01"),             # policy page
    ("关于我们", "page:about"),
    ("ＡＯＫＩ　ｋｅｙｂｏａｒｄ", "product:UM-1005"),  # fullwidth input
    ("earbuds", "product:UM-1001"),               # plural of the indexed "earbuds" -> "earbud"
    ("Soundrive earbuds", "product:UM-1001"),
    ("UM-1001-BLK", "product:UM-1001"),           # a help article quotes this SKU: the product wins
    ("desk lamp", "product:UM-1012"),             # English only in the product's URL
    ("Aoki desk lamps", "product:UM-1012"),
    ("极光智能手表 Pro 7", "product:UM-1010"),     # "Pro 8" page mentions a 7 elsewhere
    ("极光手表 Pro 8", "product:UM-1011"),
    ("Aurora Pro7", "product:UM-1010"),           # model typed without the space
    ("搜索技巧", "help:guide/search-tips"),
]


@pytest.mark.parametrize("q,expected", TOP1)
def test_right_answer_ranks_first(oi, q, expected):
    result = search(oi, q)
    assert result.hits, f"{q!r} found nothing"
    assert result.hits[0].id == expected, [h.id for h in result.hits[:5]]


@pytest.mark.parametrize("q", ["声驰 耳机", "Soundrive 耳机", "声驰耳机"])
def test_brand_and_type_find_all_three_headphones_on_top(oi, q):
    top3 = {h.id for h in search(oi, q).hits[:3]}
    assert top3 == {"product:UM-1001", "product:UM-1002", "product:UM-1008"}


def test_words_are_anded_first(oi):
    result = search(oi, "声驰 耳机")
    assert result.mode == "all"
    assert all("声驰" in h.title for h in result.hits)


def test_or_fallback_when_and_finds_too_little(oi):
    result = search(oi, "声驰 键盘")  # no product is both
    assert result.mode == "any"
    ids = {h.id for h in result.hits}
    assert "product:UM-1005" in ids and "product:UM-1001" in ids


def test_typo_says_did_you_mean(oi):
    result = search(oi, "bluetoth")
    assert result.did_you_mean == "bluetooth"
    assert result.total >= 2


def test_known_word_is_not_corrected(oi):
    assert search(oi, "speaker").did_you_mean is None


def test_sku_mode_and_product_fields(oi):
    result = search(oi, "UM-1001")
    hit = result.hits[0].to_json()
    assert hit["sku"] == "UM-1001" and hit["price_minor"] == 19900 and hit["currency"] == "CNY"
    assert hit["url"] == "/products/soundrive-wireless-earbuds-x12/"


def test_snippet_is_escaped_and_marks_matches(oi, index_dir):
    hit = search(oi, "降噪").hits[0]
    assert "<mark>降噪</mark>" in hit.snippet
    from storefront.search import _snippet, parse_query
    snippet = _snippet("买 <script>alert(1)</script> 耳机", parse_query("script 耳机"))
    assert "<script" not in snippet and "&lt;<mark>script</mark>&gt;" in snippet
    assert "<mark>耳机</mark>" in snippet


def test_category_facets_count_every_match_and_filter(oi):
    everything = search(oi, "耳机")
    assert everything.facets["category"]["audio"] == 3
    filtered = search(oi, "Aoki", category="pc")
    assert filtered.total == 2 and {h.category for h in filtered.hits} == {"pc"}
    assert filtered.facets["category"]["pc"] == 2 and sum(filtered.facets["category"].values()) > 2


def test_paging_is_consistent(oi):
    first = search(oi, "Aurora", page=1, page_size=3)
    second = search(oi, "Aurora", page=2, page_size=3)
    whole = search(oi, "Aurora", page=1, page_size=100)
    assert [h.id for h in first.hits + second.hits] == [h.id for h in whole.hits[:6]]
    assert first.pages == (whole.total + 2) // 3


@pytest.mark.parametrize("q", ['"(AND OR *', "*", "title:声驰", "a AND", "NOT", "(", ")", "~2", "声驰^10",
                               "[a TO z]", "'", "\\", "耳机 OR", "%", "\u200b", "🎧"])
def test_query_syntax_is_just_text(oi, q):
    result = search(oi, q)
    assert result.total >= 0
    for h in result.hits:
        assert h.url.startswith("/")


def test_query_syntax_words_still_match_as_text(oi):
    assert search(oi, "(声驰 AND 耳机)").hits[0].id in {"product:UM-1001", "product:UM-1002", "product:UM-1008"}


def test_too_long_query_names_the_field(oi):
    with pytest.raises(SearchQueryError) as err:
        search(oi, "耳" * 201)
    assert err.value.field == "q"


def test_suggest_needs_two_characters(oi):
    assert suggest(oi, "声") == []
    assert suggest(oi, "a") == []
    titles = [s["title"] for s in suggest(oi, "声驰")]
    assert 3 <= len(titles) <= 8 and all("声驰" in t for t in titles)


def test_suggest_prefixes_and_inner_chinese(oi):
    assert "青木机械键盘 K8" in [s["title"] for s in suggest(oi, "aok")]
    assert "青木机械键盘 K8" in [s["title"] for s in suggest(oi, "机械键")]
    assert len(suggest(oi, "Aurora")) <= 8


def test_analyzer_indexes_bigrams_and_unigrams():
    assert tokenize("声驰耳机") == ["声", "声驰", "驰", "驰耳", "耳", "耳机", "机"]
    assert tokenize("声驰耳机", "query") == ["声驰", "驰耳", "耳机"]
    assert tokenize("Bluetooth EARBUDS batteries boxes glass") == ["bluetooth", "earbud", "battery", "box", "glass"]


def test_exact_sku_outranks_text_that_quotes_it(oi):
    hits = search(oi, "UM-1005").hits
    assert hits[0].id == "product:UM-1005"
    assert "help:guide/search-tips" in [h.id for h in hits]  # still found, below the product


def test_a_few_exact_matches_are_not_diluted_by_the_or_fallback(oi):
    result = search(oi, "极光智能手表 Pro 7")  # the Pro 8 page has a 7 too; nothing else has all words
    assert result.mode == "all" and [h.id for h in result.hits] == ["product:UM-1010", "product:UM-1011"]


def test_model_terms_join_a_word_and_its_number():
    assert model_terms("Soundrive X12 Pro 7, air-5 and 20000mAh") == ["pro7", "air5"]
    assert "pro7" in tokenize("极光手表 Pro 7") and "pro7" not in tokenize("Pro 7", "query")
    assert model_terms("2025 10") == [] and model_terms("pro 12345") == []


def test_common_bigrams_leave_a_chinese_word_when_rarer_ones_remain(oi, monkeypatch):
    assert oi.selective(["极光", "台灯", "护眼"]) == ["极光", "台灯", "护眼"]  # a small shop keeps all
    monkeypatch.setattr("storefront.search.PRUNE_MIN_DOCS", 10)
    assert oi.doc_frequency("text", "极光") > 0.1 * oi.live_count()  # a brand of many fixture products
    assert oi.selective(["极光", "台灯", "护眼"]) == ["台灯", "护眼"]
    assert oi.selective(["极光", "声驰"]) == ["极光", "声驰"]  # nothing rarer: the word keeps its terms
    assert oi.selective(["极光", "光台"]) == ["极光", "光台"]  # a bigram found nowhere is no reason
