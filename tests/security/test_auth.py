"""API keys: hashed at rest, scoped, revocable, and enforced on every route by default."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from api.app import create_app
from api.auth import required_scope as required_scope_for_docs
from forecaster.cli import app as cli
from forecaster.security.api_keys import create_key
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.orm import ApiKey

PROFILE = {"capacity_per_replica": 10}
POINTS = {
    "series": [{"service": "chat", "metric": "requests_per_second", "points": [[1704067200, 1.0]]}]
}


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"auth_enabled": True}), database)
    with TestClient(app) as test_client:
        yield test_client


def key(database: Database, *scopes: str) -> dict[str, str]:
    with database.session() as session:
        issued = create_key(session=session, name="test", scopes=list(scopes))
    return {"Authorization": f"Bearer {issued.secret}"}


def test_requests_without_a_key_are_refused_with_a_reason(client: TestClient) -> None:
    response = client.get("/v1/services")
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["detail"]
    assert client.post("/v1/metrics", json=POINTS).status_code == 401
    assert client.get("/v1/plans/metrics").status_code == 401  # forecasts: not open as /metrics
    assert (
        client.get("/v1/services", headers={"Authorization": "Bearer fk_nope_x"}).status_code == 401
    )


def test_a_request_without_a_key_is_refused_before_its_body_is_read(
    client: TestClient, database: Database
) -> None:
    """FastAPI parses a route's JSON body before its dependencies run: as one, the key check
    came after the parse, so anyone could make the API parse a 32 MB body (~800 MB, 8-10 s)."""
    unread = b'{"capacity_per_replica": 10, "broken'  # never parsed: the key decides first
    json = {"Content-Type": "application/json"}
    for refused in ({}, {"Authorization": "Bearer fk_nope_x"}):
        for method, path in (("PUT", "/v1/services/chat"), ("POST", "/v1/simulations")):
            response = client.request(method, path, content=unread, headers=json | refused)
            assert response.status_code == 401, (method, refused, response.text)
    reader = json | key(database, "read")
    assert client.put("/v1/services/chat", content=unread, headers=reader).status_code == 403
    # a read key may simulate: only then is the body read (and found broken)
    assert client.post("/v1/simulations", content=unread, headers=reader).status_code == 422
    # the API's description stays open, as FastAPI's own routes were, and so do the pages
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200
    for slashed in ("/docs/", "/dashboard/"):  # redirected to the open page, not a 401
        assert client.get(slashed, follow_redirects=False).status_code == 307, slashed
    missing = client.get("/dashboard/nope", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and "The overview" in missing.text  # the page, not JSON


def test_a_key_holding_nul_is_unknown_on_both_databases(client: TestClient) -> None:
    """A cookie's quoted value may spell NUL as ``\\000``; such a key was looked up, and
    PostgreSQL (whose text cannot hold NUL) refused the lookup: 422 there, 401 on SQLite."""
    response = client.get("/v1/services", headers={"Cookie": 'forecaster_key="fk_ab\\000c_xyz"'})
    assert response.status_code == 401
    assert response.json()["detail"] == "API key is unknown or revoked"


def test_health_probes_stay_open(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_scopes_decide_what_a_key_may_do(client: TestClient, database: Database) -> None:
    admin, reader, ingester = key(database, "admin"), key(database, "read"), key(database, "ingest")
    assert client.put("/v1/services/chat", json=PROFILE, headers=reader).status_code == 403
    assert client.put("/v1/services/chat", json=PROFILE, headers=ingester).status_code == 403
    assert client.put("/v1/services/chat", json=PROFILE, headers=admin).status_code == 201
    assert client.get("/v1/services", headers=reader).status_code == 200
    assert client.get("/v1/services", headers=ingester).status_code == 403
    assert client.get("/v1/plans/metrics", headers=reader).status_code == 200
    assert client.post("/v1/metrics", json=POINTS, headers=reader).status_code == 403
    assert client.post("/v1/metrics", json=POINTS, headers=ingester).status_code == 200
    assert client.post("/v1/services/chat/train", headers=reader).status_code == 403
    denied = client.put("/v1/services/chat", json=PROFILE, headers=reader)
    assert 'lacks scope "admin" (has read)' in denied.json()["detail"]


def test_keys_are_stored_hashed_and_revocation_is_immediate(
    client: TestClient, database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORECASTER_DATABASE_URL", settings.database_url)
    from forecaster.settings import get_settings

    get_settings.cache_clear()
    runner = CliRunner()
    none_yet = runner.invoke(cli, ["keys", "list"])  # it printed nothing at all
    assert none_yet.exit_code == 0 and "no API keys yet" in none_yet.output
    created = runner.invoke(cli, ["keys", "create", "--name", "bridge", "--scope", "read"])
    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    prefix = secret.split("_")[1]
    with database.session() as session:
        row = session.execute(select(ApiKey).where(ApiKey.prefix == prefix)).scalar_one()
        assert secret not in (row.key_hash, row.name) and len(row.key_hash) == 64
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/v1/services", headers=headers).status_code == 200
    listing = runner.invoke(cli, ["keys", "list"])
    assert prefix in listing.output and secret not in listing.output
    assert runner.invoke(cli, ["keys", "revoke", prefix]).exit_code == 0
    time.sleep(1.1)  # verified keys are trusted for a second without a database read
    assert client.get("/v1/services", headers=headers).status_code == 401
    get_settings.cache_clear()


def test_a_missing_scope_names_the_key_and_lists_its_scopes(
    client: TestClient, database: Database
) -> None:
    with database.session() as session:
        issued = create_key(session=session, name="café", scopes=["read", "ingest"])
    headers = {"Authorization": f"Bearer {issued.secret}"}
    denied = client.put("/v1/services/chat", json=PROFILE, headers=headers)
    assert denied.status_code == 403
    assert denied.json()["detail"] == 'key "café" lacks scope "admin" (has ingest, read)'


def test_unknown_scope_is_refused(database: Database) -> None:
    from forecaster.errors import InvalidInputError

    expected = "^scopes must be some of ingest, read, admin, got root$"
    with database.session() as session, pytest.raises(InvalidInputError, match=expected):
        create_key(session=session, name="x", scopes=["root"])


@pytest.mark.parametrize("name", ["", "   ", "k" * 129, "a\x00b"])
def test_a_key_name_that_cannot_be_stored_is_refused(database: Database, name: str) -> None:
    """On PostgreSQL a 200-character name was a DataError traceback quoting the key's hash."""
    from forecaster.errors import InvalidInputError

    with database.session() as session, pytest.raises(InvalidInputError, match="key's name"):
        create_key(session=session, name=name, scopes=["read"])


def test_scope_rules() -> None:
    assert required_scope_for_docs("GET", "/healthz") is None
    assert required_scope_for_docs("POST", "/v1/metrics/csv") == "ingest"
    assert required_scope_for_docs("GET", "/v1/services/x/plan") == "read"
    assert required_scope_for_docs("DELETE", "/v1/services/x/events/1") == "admin"
    assert required_scope_for_docs("DELETE", "/v1/services/x") == "admin"


def test_keys_revoke_takes_a_whole_key_and_never_prints_it(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA: ``keys revoke`` given the whole key (pasted from a secret store) echoed the secret
    to stderr in its refusal; it now revokes the key the whole key names, and says only its
    prefix."""
    monkeypatch.setenv("FORECASTER_DATABASE_URL", settings.database_url)
    from forecaster.settings import get_settings

    get_settings.cache_clear()
    with database.session() as session:
        issued = create_key(session=session, name="bridge", scopes=["read"])
    runner = CliRunner()
    unknown = f"fk_00000000_{issued.secret.split('_', 2)[2]}"
    refused = runner.invoke(cli, ["keys", "revoke", unknown])
    assert refused.exit_code == 2
    assert 'no API key with the key given (prefix "00000000")' in refused.output
    assert unknown.split("_", 2)[2] not in refused.output
    # pasted without its start, the key is no prefix: not repeated either
    clipped = runner.invoke(cli, ["keys", "revoke", issued.secret.removeprefix("fk_")])
    assert clipped.exit_code == 2 and "no API key with the prefix given" in clipped.output
    assert issued.secret.split("_", 2)[2] not in clipped.output
    revoked = runner.invoke(cli, ["keys", "revoke", issued.secret])
    assert revoked.exit_code == 0, revoked.output
    assert revoked.output == f"revoked key {issued.prefix} (bridge)\n"
    with database.session() as session:
        row = session.execute(select(ApiKey).where(ApiKey.prefix == issued.prefix)).scalar_one()
        assert row.revoked_at is not None
    get_settings.cache_clear()
