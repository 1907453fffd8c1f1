"""Operability: request ids, JSON logs, body-size limits and the service's own /metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, text

from api.app import create_app
from api.deps import SessionDep
from forecaster.logs import JsonFormatter
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.failures import DAMAGED, DAMAGED_DATA
from tests.helpers import damage_sqlite_file, live_server


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"max_body_bytes": 2048}), database)
    with TestClient(app) as test_client:
        yield test_client


def test_request_ids_are_echoed_or_created(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = client.get("/healthz").headers["x-request-id"]
    assert len(made) == 32 and made != "abc-123"


def test_access_log_is_json_with_request_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="forecaster.access"):
        client.get("/healthz", headers={"X-Request-ID": "trace-me"})
    record = next(r for r in caplog.records if r.name == "forecaster.access")
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "request" and line["path"] == "/healthz" and line["status"] == 200
    assert "duration_ms" in line


def test_oversized_bodies_get_413_before_parsing(client: TestClient) -> None:
    big = {
        "series": [
            {
                "service": "x",
                "metric": "requests_per_second",
                "points": [[1704067200 + i, 1.0] for i in range(500)],
            }
        ]
    }
    response = client.post("/v1/metrics", json=big)
    assert response.status_code == 413
    assert "exceeds 2048 bytes" in response.json()["detail"]
    # a chunked body declares no length: routes whose model FastAPI reads refused it with a
    # 400 naming an internal class (found by a QA fuzzing pass)
    for method, path in (("PUT", "/v1/services/x"), ("POST", "/v1/simulations")):
        chunked = (b" " * 1024 for _ in range(4))
        response = client.request(
            method, path, content=chunked, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413, (path, response.text)
        assert "exceeds 2048 bytes" in response.json()["detail"]


def test_metrics_endpoint_exposes_service_health(client: TestClient) -> None:
    client.get("/healthz")
    text = client.get("/metrics").text
    assert "forecaster_http_request_duration_seconds_bucket" in text
    assert 'route="/healthz"' in text
    assert "forecaster_job_duration_seconds" in text
    assert "forecaster_ingested_points_total" in text
    assert "forecaster_actuations_total" in text


def test_readyz_reports_schema_not_at_head(client: TestClient, database: Database) -> None:
    assert client.get("/readyz").json() == {"status": "ok"}
    with database.engine.connect() as connection:
        head = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    database.downgrade("base")
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["status"] == "migrating"
    database.migrate()
    # QA: a schema a newer forecaster migrated read "migrating" too, where nothing migrates
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    try:
        newer = client.get("/readyz")
    finally:
        with database.engine.begin() as connection:
            connection.execute(
                text("UPDATE alembic_version SET version_num = :head"), {"head": head}
            )
    assert newer.status_code == 503 and newer.json()["status"] == "unknown_schema"
    assert "revision 9999, which this version does not know" in newer.json()["reason"]


def test_openapi_summaries_come_from_the_routes_docstrings(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    upload = paths["/v1/metrics/csv"]["post"]
    assert upload["summary"] == "Store a CSV as points of one series"
    assert upload["description"].startswith("Store a CSV as points of one series:")
    summaries = [op["summary"] for ops in paths.values() for op in ops.values()]
    assert not [s for s in summaries if s.istitle()], "a summary titled from a function name"


def test_openapi_declares_the_bearer_key_and_each_operations_scope(client: TestClient) -> None:
    """Review: no security scheme, so Swagger UI had no Authorize button and a client generated
    from the spec sent no key."""
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    paths = spec["paths"]
    assert paths["/v1/metrics/csv"]["post"]["security"] == [{"apiKey": ["ingest"]}]
    assert paths["/v1/services/{name}/plan"]["get"]["security"] == [{"apiKey": ["read"]}]
    assert paths["/v1/simulations"]["post"]["security"] == [{"apiKey": ["read"]}]
    assert paths["/v1/services/{name}"]["delete"]["security"] == [{"apiKey": ["admin"]}]
    assert "security" not in paths["/healthz"]["get"]


def test_a_bug_is_a_json_500_with_the_request_id_in_the_answer_and_the_log(
    settings: Settings, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by a QA fuzzing pass: a 500 was plain text without X-Request-ID, and uvicorn's
    traceback line had no request id to tie it to the client's report."""
    app = create_app(settings, database)

    def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/broken", broken)
    with (
        TestClient(app, raise_server_exceptions=False) as client,
        caplog.at_level(logging.ERROR, logger="forecaster.api"),
    ):
        response = client.get("/broken", headers={"X-Request-ID": "bug-42"})
    assert response.status_code == 500 and response.headers["x-request-id"] == "bug-42"
    assert response.json() == {"detail": "internal error (request id bug-42)"}
    [record] = [r for r in caplog.records if r.name == "forecaster.api"]
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "bug-42" and "RuntimeError: a bug" in line["exception"]


def test_head_is_answered_as_get_without_the_body(
    settings: Settings, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """An uptime check's ``curl -I /healthz`` got a 405 (RFC 9110: every server serves HEAD).
    Over a real server, as HTTP framing is the server's: the same headers as GET, no body."""
    app = create_app(settings, database)
    with live_server(app) as base, httpx.Client(base_url=base) as http:
        with caplog.at_level(logging.INFO, logger="forecaster.access"):
            got, head = http.get("/healthz"), http.head("/healthz")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == got.headers["content-length"] != "0"
        assert head.headers["content-type"] == got.headers["content-type"]
        access = [r for r in caplog.records if r.name == "forecaster.access"]
        assert [r.__dict__["method"] for r in access] == ["GET", "HEAD"]  # logged as sent

        missing = http.head("/v1/services/nope")
        assert missing.status_code == 404 and missing.content == b""
        page = http.head("/dashboard", headers={"accept": "text/html"})
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]

        post_only = http.head("/v1/metrics")
        assert post_only.status_code == 405 and post_only.headers["allow"] == "POST"
        refused = http.request("OPTIONS", "/v1/metrics")
        assert refused.json()["detail"] == "OPTIONS is not served at this path; it takes POST"
        assert http.request("OPTIONS", "/healthz").headers["allow"] == "GET, HEAD"


def test_a_database_refusing_writes_is_named_in_the_503_with_its_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """QA: a SQLite file the service could not write (left by an earlier run under another
    user) answered every write "database unavailable ... retry shortly" and logged nothing;
    then, named, still "retry shortly" with Retry-After, which no retry could mend. Opened
    read-only (``mode=ro``: chmod does not stop root), as SQLite opens a file it may not write."""
    path = tmp_path / "ro.db"
    Database(f"sqlite:///{path}").migrate()
    database = Database(f"sqlite:///file:{path}?mode=ro&uri=true")
    settings = Settings(database_url=database.url, auth_enabled=False)
    try:
        with TestClient(create_app(settings, database)) as client:
            with caplog.at_level(logging.WARNING, logger="forecaster.api"):
                refused = client.put("/v1/services/chat", json={"capacity_per_replica": 5})
            listed = client.get("/v1/services")
    finally:
        database.dispose()
    assert refused.status_code == 503 and "retry-after" not in refused.headers
    assert refused.json()["detail"] == (
        "database unusable (attempt to write a readonly database), nothing was stored; the "
        "service may not write the database: give the user it runs as write access to the "
        "SQLite file and its folder (or open it read-write)"
    )
    logged = [r for r in caplog.records if "readonly database" in r.getMessage()]
    assert [r.levelno for r in logged] == [logging.ERROR]
    assert listed.status_code == 200  # reads still work


def test_a_schema_lacking_a_table_says_to_migrate_and_not_to_retry(
    settings: Settings, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """A table gone from under the service (a file swapped for an old backup, a table dropped by
    hand) is "no such table" on SQLite, an error PostgreSQL's driver files as a programming
    one: "retry shortly" on the first and a bare 500 on the second. Each is the operator's to
    mend: a 503 naming the fix, no Retry-After, logged as an error; /metrics still answers."""
    client = TestClient(create_app(settings, database))
    assert client.put("/v1/services/chat", json={"capacity_per_replica": 5}).is_success
    with database.engine.begin() as connection:
        connection.execute(text("DROP TABLE events"))
    with caplog.at_level(logging.WARNING):
        listed = client.get("/v1/services/chat/events")
        added = client.post(
            "/v1/services/chat/events",
            json={"name": "launch", "start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00Z"},
        )
        cascade = "" if database.is_sqlite else " CASCADE"  # the plans' key to it
        with database.engine.begin() as connection:  # and /metrics, which a scrape reads
            connection.execute(text(f"DROP TABLE forecasts{cascade}"))
        scraped = client.get("/metrics")
    for answer, stored in ((listed, ""), (added, ", nothing was stored")):
        assert answer.status_code == 503 and "retry-after" not in answer.headers
        detail = answer.json()["detail"]
        assert detail.startswith("database unusable (") and "events" in detail
        assert detail.endswith(
            f"{stored}; the schema lacks a table or column this forecaster reads: restart it, "
            "as it migrates the database at start-up (/readyz names the schema's revision), or "
            "restore a backup if that revision is already the newest"
        )
    assert scraped.status_code == 200
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 3 and "/metrics: database unusable (" in errors[2]
    assert all("retry" not in message for message in errors)


def test_a_locked_database_still_says_retry_shortly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A lock another writer holds passes: the same 503 as before, with Retry-After."""
    path = tmp_path / "locked.db"
    database = Database(f"sqlite:///{path}")
    database.migrate()
    settings = Settings(database_url=database.url, auth_enabled=False)
    event.listen(database.engine, "connect", lambda conn, _: conn.execute("PRAGMA busy_timeout=50"))
    database.engine.dispose()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        with TestClient(create_app(settings, database)) as client:
            holder.execute("BEGIN IMMEDIATE")  # holds the write lock
            with caplog.at_level(logging.WARNING, logger="forecaster.api"):
                refused = client.put("/v1/services/chat", json={"capacity_per_replica": 5})
            holder.execute("ROLLBACK")
            stored = client.put("/v1/services/chat", json={"capacity_per_replica": 5})
    finally:
        holder.close()
        database.dispose()
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert refused.json()["detail"] == (
        "database unavailable (database is locked), nothing was stored; retry shortly"
    )
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert stored.is_success  # and the retry did store it


def test_a_missing_keys_table_names_the_fix_too(settings: Settings, database: Database) -> None:
    """The key check reads the database before any route: the same answer there."""
    client = TestClient(create_app(settings.model_copy(update={"auth_enabled": True}), database))
    with database.engine.begin() as connection:
        connection.execute(text("DROP TABLE api_keys"))
    refused = client.get("/v1/services", headers={"Authorization": "Bearer fk_abc_def"})
    assert refused.status_code == 503 and "retry-after" not in refused.headers
    assert "api_keys" in refused.json()["detail"]
    assert "the schema lacks a table" in refused.json()["detail"]


def test_a_client_leaving_mid_upload_is_no_server_error(
    settings: Settings, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """A CSV upload cut short was logged as an unhandled error and a 500 (security review)."""
    app = create_app(settings, database)
    part = b'--cut\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n1,2\n'
    arriving: list[dict[str, Any]] = [
        {"type": "http.request", "body": part, "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return arriving.pop(0) if arriving else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/metrics/csv",
        "raw_path": b"/v1/metrics/csv",
        "root_path": "",
        "query_string": b"service=chat&metric=rps",
        "headers": [(b"content-type", b"multipart/form-data; boundary=cut")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    with caplog.at_level(logging.INFO):
        asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 400
    assert "client left during POST /v1/metrics/csv" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_write_sent_to_a_standby_says_retry_shortly(
    settings: Settings, database: Database
) -> None:
    """A write that reaches a standby during a failover (read_only_sql_transaction, filed by
    PostgreSQL's driver as an internal error) was a bare 500; a retry reaches the primary."""
    if database.is_sqlite:
        pytest.skip("PostgreSQL's standby")
    standby = Database(f"{database.url}%20-cdefault_transaction_read_only%3Don")
    try:
        with TestClient(create_app(settings, standby)) as client:
            refused = client.put("/v1/services/chat", json={"capacity_per_replica": 5})
    finally:
        standby.dispose()
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    detail = refused.json()["detail"]
    assert detail.startswith("database unavailable (cannot execute INSERT in a read-only")
    assert detail.endswith(", nothing was stored; retry shortly")


@pytest.mark.parametrize(
    ("header", "said"),
    [(True, "file is not a database"), (False, "database disk image is malformed")],
    ids=["header", "pages"],
)
def test_a_damaged_sqlite_file_names_the_fix_and_not_a_retry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, header: bool, said: str
) -> None:
    """A SQLite file damaged under a running service (a failing disk, a backup copied over it)
    is a plain DatabaseError, which no handler caught: a bare 500. No retry mends it."""
    path = tmp_path / "damaged.db"
    database = Database(f"sqlite:///{path}")
    settings = Settings(database_url=database.url, auth_enabled=False)
    try:
        with TestClient(create_app(settings, database)) as client:
            assert client.get("/v1/services").is_success
            damage_sqlite_file(path, header=header)
            database.engine.dispose()  # what a connection the pool opens from now on reads
            with caplog.at_level(logging.WARNING, logger="forecaster.api"):
                listed = client.get("/v1/services")
    finally:
        database.dispose()
    _waits_for_an_operator(listed, said, DAMAGED, caplog)


def _waits_for_an_operator(
    answer: httpx.Response, said: str, fix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A 503 with no Retry-After (retrying mends nothing) naming what is wrong and the fix,
    logged once as an error."""
    assert answer.status_code == 503 and "retry-after" not in answer.headers
    assert answer.json()["detail"] == f"database unusable ({said}); {fix}"
    logged = [r for r in caplog.records if said in r.getMessage()]
    assert [r.levelno for r in logged] == [logging.ERROR]


def test_a_pool_with_no_connection_free_says_retry_shortly(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every pooled connection busy past the pool's timeout (PostgreSQL's 30 of them, held by
    slow requests) raised SQLAlchemy's TimeoutError, a bare 500; the requests holding them
    end, so it passes. A pool of one here, held by the test."""
    pool_of_one = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2}
    monkeypatch.setattr(
        "forecaster.storage.db.create_engine",
        lambda url, **options: create_engine(url, **{**options, **pool_of_one}),
    )
    database = Database(database_url)
    settings = Settings(database_url=database.url, auth_enabled=False)
    try:
        with TestClient(create_app(settings, database)) as client:
            with database.engine.connect():
                busy = client.get("/v1/services")
            listed = client.get("/v1/services")
    finally:
        database.dispose()
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
    assert busy.json()["detail"] == (
        "database unavailable (QueuePool limit of size 1 overflow 0 reached, connection timed "
        "out, timeout 0.20); retry shortly"
    )
    assert listed.is_success


def test_a_pool_all_busy_answers_within_its_setting_not_after_30_s(database_url: str) -> None:
    """QA: on PostgreSQL, with the pool's 10 connections and 20 more all held by slow requests,
    the next request hung 30 s (SQLAlchemy's pool timeout) before its 503, past most clients'
    and proxies' patience. The API's engine waits ``database_pool_timeout_seconds`` (5 s by
    default): a quick 503 with Retry-After. A real engine of the app's own, every connection
    it may open held here."""
    assert Settings(database_url=database_url).database_pool_timeout_seconds == 5.0
    settings = Settings(
        database_url=database_url, auth_enabled=False, database_pool_timeout_seconds=0.3
    )
    app = create_app(settings)
    engine = app.state.database.engine
    most = engine.pool.size() + engine.pool._max_overflow  # PostgreSQL 10 + 20, SQLite 5 + 10
    with TestClient(app) as client:
        held = [engine.connect() for _ in range(most)]
        try:
            started = time.monotonic()
            busy = client.get("/v1/services")
            waited = time.monotonic() - started
        finally:
            for connection in held:
                connection.close()
        listed = client.get("/v1/services")
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
    assert busy.json()["detail"].endswith("connection timed out, timeout 0.30); retry shortly")
    assert 0.3 <= waited < 3, waited
    assert listed.is_success


def test_a_mistake_in_our_own_sql_is_a_traced_500_on_either_database(
    settings: Settings, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite files a statement it cannot parse as an operational error, which read as a
    database to retry: a 503 "retry shortly" for a bug no retry mends. PostgreSQL's is a
    programming error. Either is a 500 with the traceback logged, as any bug is."""
    app = create_app(settings, database)

    def misspelt(session: SessionDep) -> None:
        session.execute(text("SELEKT 1"))

    app.add_api_route("/misspelt", misspelt)
    with (
        TestClient(app, raise_server_exceptions=False) as client,
        caplog.at_level(logging.ERROR, logger="forecaster.api"),
    ):
        response = client.get("/misspelt", headers={"X-Request-ID": "sql-7"})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error (request id sql-7)"}
    [record] = [r for r in caplog.records if r.name == "forecaster.api"]
    assert "SELEKT" in JsonFormatter().format(record)


@pytest.mark.parametrize(
    ("damage", "read", "said"),
    [
        (
            "UPDATE services SET profile = '{\"capacity_per_replica\": 5'",
            "/v1/services/chat",
            "a stored JSON value is malformed: Expecting ',' delimiter: line 1 column 27 (char 26)",
        ),
        (
            "UPDATE events SET start = 'soon'",
            "/v1/services/chat/events",
            "a stored time is malformed: Invalid isoformat string: 'soon'",
        ),
        (
            "UPDATE events SET start = 1700000000",
            "/v1/services/chat/events",
            "a stored time is malformed: fromisoformat: argument must be str",
        ),
        (
            "UPDATE samples SET value = 'x'",
            "/v1/services/chat/history",
            "a stored number in samples is not a number: could not convert string to float: 'x'",
        ),
    ],
    ids=["json", "time", "epoch-time", "number"],
)
def test_a_stored_value_damaged_by_hand_names_the_fix_and_not_a_retry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str, read: str, said: str
) -> None:
    """A row changed by hand or by another tool in a real SQLite file (a profile cut short, a
    time that is no time, a text where a number goes): SQLAlchemy's decoding of it, or
    numpy's, raised a plain ValueError, a bare 500 on every read of the service (its history,
    the overview). No retry mends the row; an operator does."""
    path = tmp_path / "rows.db"
    database = Database(f"sqlite:///{path}")
    settings = Settings(database_url=database.url, auth_enabled=False)
    event_body = {"name": "launch", "start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00Z"}
    try:
        with TestClient(create_app(settings, database), raise_server_exceptions=False) as client:
            assert client.put("/v1/services/chat", json={"capacity_per_replica": 5}).is_success
            assert client.post("/v1/services/chat/events", json=event_body).is_success
            minute = int(time.time()) // 60 * 60 - 60
            points = [[minute - 60 * i, 10.0] for i in range(3)]
            series = {"service": "chat", "metric": "requests_per_second", "points": points}
            assert client.post("/v1/metrics", json={"series": [series]}).is_success
            with sqlite3.connect(path) as connection:
                connection.execute(damage)
            with caplog.at_level(logging.WARNING, logger="forecaster.api"):
                answer = client.get(read)
    finally:
        database.dispose()
    _waits_for_an_operator(answer, said, DAMAGED_DATA, caplog)
