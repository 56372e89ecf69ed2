"""GET /api/search and GET /api/suggest through WSGI (WebTest validates every exchange)."""

from __future__ import annotations

import bottle
import pytest
import webtest

from checkout.search_routes import add_search_routes
from storefront.search import update_index


@pytest.fixture()
def app(index_dir):
    app = bottle.Bottle()
    add_search_routes(app, index_dir)
    return webtest.TestApp(app)


def test_search_answers_the_contract_shape(app):
    body = app.get("/api/search", params={"q": "声驰蓝牙耳机"}).json
    assert body["query"] == "声驰蓝牙耳机" and body["total"] >= 1
    hit = body["hits"][0]
    assert set(hit) >= {"kind", "url", "title", "sku", "price_minor", "currency", "snippet"}
    assert hit["sku"] == "UM-1001" and hit["kind"] == "product"
    assert body["facets"]["category"]["audio"] >= 1


def test_category_and_page_parameters(app):
    body = app.get("/api/search", params={"q": "Aoki", "category": "pc", "page": "1"}).json
    assert body["total"] == 2
    assert app.get("/api/search", params={"q": "Aoki", "page": "2"}).json["hits"] == []


@pytest.mark.parametrize("params,field", [
    ({}, "q"),
    ({"q": "耳机", "page": "abc"}, "page"),
    ({"q": "耳机", "page": "0"}, "page"),
    ({"q": "耳机", "page": "-1"}, "page"),
    ({"q": "耳机", "page": "99999"}, "page"),
    ({"q": "耳" * 201}, "q"),
    ({"q": "耳机", "category": "a/b"}, "category"),
])
def test_bad_parameters_answer_400_naming_the_field(app, params, field):
    res = app.get("/api/search", params=params, status=400)
    err = res.json["error"]
    assert err["field"] == field and err["code"] == "invalid_parameter" and "Fix:" in err["message"]
    assert "Traceback" not in res.text


def test_repeated_parameter_is_rejected(app):
    assert app.get("/api/search?q=a&q=b", status=400).json["error"]["field"] == "q"


def test_invalid_utf8_is_rejected(app):
    assert app.get("/api/search?q=%FF%FE", status=400).json["error"]["field"] == "q"


@pytest.mark.parametrize("q", ['"(AND OR *', "*:*", "title:x", "NOT AND", "{", "耳机~"])
def test_query_syntax_never_errors(app, q):
    assert app.get("/api/search", params={"q": q}).status_int == 200


def test_suggest(app):
    body = app.get("/api/suggest", params={"q": "声驰"}).json
    assert 1 <= len(body["suggestions"]) <= 8
    assert set(body["suggestions"][0]) >= {"title", "url"}
    assert app.get("/api/suggest", params={"q": "声"}).json["suggestions"] == []
    assert app.get("/api/suggest", status=400).json["error"]["field"] == "q"


def test_missing_index_is_503_without_trace(tmp_path):
    app = bottle.Bottle()
    add_search_routes(app, tmp_path / "nothing")
    res = webtest.TestApp(app).get("/api/search", params={"q": "x"}, status=503)
    assert res.json["error"]["code"] == "search_unavailable" and "Traceback" not in res.text


def test_unexpected_failure_is_500_json_without_trace(index_dir, monkeypatch):
    import checkout.search_routes as routes

    def boom(*a, **k):
        raise RuntimeError("secret internals")
    monkeypatch.setattr(routes, "search", boom)
    app = bottle.Bottle()
    routes.add_search_routes(app, index_dir)
    res = webtest.TestApp(app).get("/api/search", params={"q": "x"}, status=500)
    assert res.json["error"]["code"] == "internal_error" and "secret" not in res.text


def test_routes_reopen_after_a_swap(tmp_path, docs):
    path = tmp_path / "search_index"
    update_index(path, docs, full=True)
    app = bottle.Bottle()
    add_search_routes(app, path)
    client = webtest.TestApp(app)
    assert client.get("/api/search", params={"q": "UM-1006"}).json["total"] == 1
    update_index(path, [], keep_ids={d.id for d in docs} - {"product:UM-1006"})
    urls = [h["url"] for h in client.get("/api/search", params={"q": "雷霆运动鞋"}).json["hits"]]
    assert "/products/thunder-running-shoes-r1/" not in urls
    assert client.get("/api/search", params={"q": "UM-1006"}).json["total"] == 0
