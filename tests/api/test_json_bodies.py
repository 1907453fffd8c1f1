"""Every route that takes a JSON body answers the same malformed body the same way: a 422
saying what is wrong. A body not UTF-8 or nested too deeply was a 400 on the routes FastAPI
parses and a 422 on ``POST /v1/metrics``, which parses its own (QA)."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.app import create_app
from forecaster.settings import Settings
from forecaster.storage.db import Database

JSON_ROUTES = [
    ("POST", "/v1/metrics"),
    ("PUT", "/v1/services/chat"),
    ("POST", "/v1/services/chat/events"),
    ("POST", "/v1/services/chat/exclusions"),
    ("POST", "/v1/simulations"),
]
NOT_JSON = {
    "syntax": (b"{not json", "body is not valid JSON: "),
    "not UTF-8": (b'{"name": "\xff"}', "body is not valid JSON: "),
    "nested too deeply": (b"[" * 5000 + b"]" * 5000, "body is not valid JSON: "),
}


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, database)) as test_client:
        profile = {"capacity_per_replica": 10}
        assert test_client.put("/v1/services/chat", json=profile).status_code == 201
        yield test_client


def test_the_list_holds_every_route_with_a_json_body(client: TestClient) -> None:
    """FastAPI parses the bodies of the routes with a body model; /v1/metrics parses its own."""
    routes: list[APIRoute] = client.app.state.api_routes  # type: ignore[attr-defined]
    modelled = {
        (method, route.path.replace("{name}", "chat"))
        for route in routes
        if route.body_field is not None
        for method in route.methods or ()
    }
    assert modelled | {("POST", "/v1/metrics")} == set(JSON_ROUTES)


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
@pytest.mark.parametrize("kind", NOT_JSON)
def test_a_body_that_is_not_json_is_the_same_422_on_every_route(
    client: TestClient, method: str, path: str, kind: str
) -> None:
    content, said = NOT_JSON[kind]
    headers = {"content-type": "application/json"}
    response = client.request(method, path, content=content, headers=headers)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail.startswith(said), detail


# a valid body for each route, so that only its encoding can be refused
VALID_BODIES = {
    "/v1/metrics": {
        "series": [{"service": "chat", "metric": "requests_per_second", "points": [[0, 1.0]]}]
    },
    "/v1/services/chat": {"capacity_per_replica": 10},
    "/v1/services/chat/events": {
        "name": "launch",
        "start": "2026-01-01T00:00:00Z",
        "end": "2026-01-02T00:00:00Z",
    },
    "/v1/services/chat/exclusions": {
        "start": "2026-01-01T00:00:00Z",
        "end": "2026-01-01T01:00:00Z",
    },
    "/v1/simulations": {
        "points": [[step * 300, 1.0] for step in range(12)],
        "profile": {"capacity_per_replica": 10},
    },
}
WIDE = {  # encoding: (how the body is encoded, with or without a byte order mark, as named)
    "UTF-16 with a byte order mark": ("utf-16", "UTF-16"),
    "UTF-16LE without one": ("utf-16-le", "UTF-16"),
    "UTF-32BE without one": ("utf-32-be", "UTF-32"),
}


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
@pytest.mark.parametrize("encoding", WIDE)
def test_a_body_in_utf16_or_utf32_is_the_same_422_naming_it_on_every_route(
    client: TestClient, method: str, path: str, encoding: str
) -> None:
    """RFC 8259: JSON between systems is UTF-8. FastAPI's routes read a UTF-16 body (Python's
    json guesses it) that /v1/metrics refused as "expected value at line 1 column 1" (QA)."""
    codec, named = WIDE[encoding]
    content = json.dumps(VALID_BODIES[path]).encode(codec)
    headers = {"content-type": "application/json"}
    response = client.request(method, path, content=content, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == (
        f"body is not valid JSON: it is {named} text; send JSON as UTF-8 (RFC 8259)"
    )


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
def test_a_utf8_body_with_a_byte_order_mark_is_read_on_every_route(
    client: TestClient, method: str, path: str
) -> None:
    content = codecs.BOM_UTF8 + json.dumps(VALID_BODIES[path]).encode()
    headers = {"content-type": "application/json"}
    response = client.request(method, path, content=content, headers=headers)
    assert response.status_code < 300, response.text


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
def test_an_array_where_an_object_belongs_is_a_422_saying_so(
    client: TestClient, method: str, path: str
) -> None:
    response = client.request(method, path, json=[1, 2])
    assert response.status_code == 422, response.text
    assert "object" in str(response.json()["detail"])
