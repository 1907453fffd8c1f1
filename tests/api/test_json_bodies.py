"""Every route that takes a JSON body answers the same malformed body the same way: a 422
saying what is wrong. A body not UTF-8 or nested too deeply was a 400 on the routes FastAPI
parses and a 422 on ``POST /v1/metrics``, which parses its own (QA)."""

from __future__ import annotations

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


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
def test_an_array_where_an_object_belongs_is_a_422_saying_so(
    client: TestClient, method: str, path: str
) -> None:
    response = client.request(method, path, json=[1, 2])
    assert response.status_code == 422, response.text
    assert "object" in str(response.json()["detail"])
