"""counted_terms(), the cold build's tokenizer, counts exactly the terms tokenize() gives."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from storefront.search import StoreAnalyzer, _composite, counted_terms, tokenize

SAMPLES = [
    "声驰蓝牙耳机", "声驰 耳机", "Soundrive耳机X12", "earbuds batteries boxes glasses Bus", "UM-1001-BLK",
    "ＡＯＫＩ　ｋｅｙｂｏａｒｄ", "Café crème naïve résumé", "ｶﾀｶﾅ かな カタカナ", "가나다 Ελληνικά İstanbul",
    "ﬁle ﬂag ①②③ ⅻ 20000mAh", "x", "a1b2", "蓝", "‘’“”—…", "\t\n 混合 text\u3000全角空格", "😀 emoji 耳机",
    "𠀀𠀁 ext-b 豈更車 ßtraße Ⅳ號", "déjà-vu's classes series analysis", "", "   ",
    "Pro 7 pro-8 Air5 X 12345 a 1", "Max 9耳机 3", "a b 1", "x 1 2", "pro 7 max 8", "a 1b 2", "耳机pro 7",
    "pro耳机7", "ゃ゛゜゠・ーヽヾ", "型号 X 51 1243 g", "v2 3 air 10000 mini 0042",
]

PIECES = ["pro", "Air", "max", "x", "7", "12", "0042", "12345", "mAh", "耳", "耳机", "无线耳机", "蓝牙", "カタカナ",
          "ゃ", "・", "ー", "Café", "ＡＯＫＩ", "１２", "-", " ", "  ", ",", "/", "\u3000", "。", "'s", "series",
          "batteries", "ﬁle", "①", "豈", "𠀀", "\t", "Ⅳ", "é"]


def _random_texts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 14))) for _ in range(n)]


@pytest.mark.parametrize("mode", ["index", "query"])
def test_counted_terms_are_tokenize_in_another_order(mode):
    texts = SAMPLES + _random_texts(4000)
    for text in texts:
        assert Counter(counted_terms(text, mode)) == Counter(tokenize(text, mode)), (mode, text)
    # The random texts do reach the cases the regular expressions must get right.
    assert sum(1 for t in texts if any(len(x) > 2 and x[-1].isdigit() and x[0].isalpha()
                                       for x in tokenize(t, "index"))) > 100


def test_term_stats_weights_follow_the_frequencies_key_for_key():
    """BulkWriter takes the weights' values in the frequencies' key order."""
    for text in SAMPLES + _random_texts(300, seed=11):
        value = _composite(text, text[::-1], text + " 耳机")
        for analyzer in (StoreAnalyzer(), StoreAnalyzer(grams=True)):
            _length, freqs, weights = analyzer.term_stats(value)
            assert list(weights) == list(freqs)


def _edge_grams_by_definition(text: str) -> list[str]:
    from storefront.search import SUGGEST_MAX_CJK, SUGGEST_MAX_LATIN, segments
    out: list[str] = []
    for kind, seg in segments(text):
        if kind == "latin":
            out.extend(seg[:k] for k in range(2, min(len(seg), SUGGEST_MAX_LATIN) + 1))
        else:
            n = len(seg)
            for i in range(n - 1):
                out.extend(seg[i:i + k] for k in range(2, min(n - i, SUGGEST_MAX_CJK) + 1))
    return out


def test_edge_grams_and_bigrams_kept_per_segment_are_those_made_afresh():
    from storefront import search
    texts = SAMPLES + _random_texts(2000, seed=3) + ["超长的中文句子没有任何标点符号一直写下去直到超过缓存的长度上限为止" * 2]
    for _ in range(2):  # made, then taken from the memo
        for text in texts:
            assert search.edge_grams(text) == _edge_grams_by_definition(text), text
            assert Counter(counted_terms(text, "query")) == Counter(tokenize(text, "query")), text
    # Long segments are made every time, not kept.
    assert all(len(seg) <= search._CJK_EDGES.longest for seg in search._CJK_EDGES)
    assert all(len(seg) <= search._PAIRS.longest for seg in search._PAIRS)
    assert len(search._PAIRS) <= search._PAIRS.limit
