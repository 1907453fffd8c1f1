"""Ingestion through the HTTP API: round trip, idempotency, and every bad input refused whole."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from forecaster.offline import read_text_columns
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.orm import Series
from forecaster.storage.samples import read_samples, sample_count

PROFILE = {"capacity_per_replica": 10, "min_replicas": 1, "max_replicas": 20}


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"max_points_per_batch": 1000}), database)
    with TestClient(app) as test_client:
        assert test_client.put("/v1/services/chat", json=PROFILE).status_code == 201
        yield test_client


def batch(points: list[list[Any]], **overrides: Any) -> dict[str, Any]:
    series = {"service": "chat", "metric": "requests_per_second", "points": points}
    series.update(overrides)
    return {"series": [series]}


def stored(database: Database) -> int:
    with database.session() as session:
        return sample_count(session=session)


def test_points_round_trip_with_iso_and_epoch_timestamps(
    client: TestClient, database: Database
) -> None:
    response = client.post(
        "/v1/metrics",
        json=batch(
            [["2024-01-01T00:00:00Z", 1.5], [1704067260, 2], ["2024-01-01T00:02:00+01:00", 3]]
        ),
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 3, "series": 1}
    with database.session() as session:
        frame = read_samples(session=session, series_ids=[1])
    assert frame["value"].tolist() == [3.0, 1.5, 2.0]  # +01:00 is 23:02 the day before
    assert str(frame["ts"].iloc[1]) == "2024-01-01 00:00:00+00:00"


def test_basic_dates_and_negative_zero_are_stored_alike_on_both_databases(
    client: TestClient, database: Database
) -> None:
    """QA: daily rows dated 20261101 were stored a second apart in August 1970, and -0 stayed
    -0 on PostgreSQL (0.0 on SQLite), showing as -0.0 in history maxima there."""
    response = client.post("/v1/metrics", json=batch([[20261101, -0.0], ["20261102", 4]]))
    assert response.status_code == 200, response.text
    with database.session() as session:
        frame = read_samples(session=session, series_ids=[1])
    assert [str(ts) for ts in frame["ts"]] == [
        "2026-11-01 00:00:00+00:00",
        "2026-11-02 00:00:00+00:00",
    ]
    assert str(frame["value"].iloc[0]) == "0.0"  # not "-0.0"


def test_resending_replaces_points_instead_of_duplicating(
    client: TestClient, database: Database
) -> None:
    points = [[1704067200 + 60 * i, float(i)] for i in range(10)]
    assert client.post("/v1/metrics", json=batch(points)).status_code == 200
    again = [[ts, value * 10] for ts, value in points]
    assert client.post("/v1/metrics", json=batch(again)).json()["stored"] == 10
    assert stored(database) == 10
    with database.session() as session:
        values = read_samples(session=session, series_ids=[1])["value"].tolist()
    assert values == [10.0 * i for i in range(10)]


def test_a_series_keeps_its_unit_and_another_unit_is_refused_whole(
    client: TestClient, database: Database
) -> None:
    assert client.post("/v1/metrics", json=batch([[1704067200, 1.0]])).status_code == 200
    named = client.post("/v1/metrics", json=batch([[1704067260, 2.0]], unit="req/s"))
    assert named.status_code == 200, named.text
    other = client.post("/v1/metrics", json=batch([[1704067320, 3000.0]], unit="req/min"))
    assert other.status_code == 422
    detail = other.json()["detail"]
    assert 'in "req/s", this batch says "req/min"' in detail and "nothing stored" in detail
    assert 'series requests_per_second{} of service "chat" is stored' in detail  # which one
    assert stored(database) == 2
    with database.session() as session:
        assert session.scalar(select(Series.unit)) == "req/s"
    # one batch naming a new series twice, in two units, mixed them under the last one
    twice = {
        "series": [
            {
                **batch([[1704067200, 50.0]], unit="percent")["series"][0],
                "metric": "gpu_utilization",
            },
            {**batch([[1704067260, 0.5]], unit="ratio")["series"][0], "metric": "gpu_utilization"},
        ]
    }
    mixed = client.post("/v1/metrics", json=twice)
    assert mixed.status_code == 422
    assert 'of service "chat" is sent in "percent" and in "ratio"' in mixed.json()["detail"]
    assert stored(database) == 2
    # a blank unit is no unit: stored as "", it refused every later batch naming one
    blank = client.post(
        "/v1/metrics", json=batch([[1704067380, 1.0]], unit=" ", metric="queue_length")
    )
    assert blank.status_code == 200, blank.text
    named_later = batch([[1704067440, 2.0]], unit="requests", metric="queue_length")
    assert client.post("/v1/metrics", json=named_later).status_code == 200


def test_labels_make_distinct_series(client: TestClient, database: Database) -> None:
    body = {
        "series": [
            {
                "service": "chat",
                "metric": "requests_per_second",
                "labels": {"region": r},
                "points": [[1704067200, 1.0]],
            }
            for r in ("eu", "us")
        ]
    }
    assert client.post("/v1/metrics", json=body).json() == {"stored": 2, "series": 2}
    assert stored(database) == 2


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            batch([[1704067200, 1.0], [1704067260, -1.0]]),
            "point 1 [1704067260, -1.0]: value is negative",
        ),
        (batch([[1704067200, 1.0], [1704067260, "NaN"]]), "value is not a finite number"),
        (batch([[1704067200, 1.0], [1704067260, "inf"]]), "value is not a finite number"),
        (batch([[1704067200, 1.0], [1704067260, "ten"]]), "value is not a finite number"),
        (
            batch([[1704067200, 1.0], ["yesterday", 1.0]]),
            'point 1 ["yesterday", 1.0]: timestamp is not',
        ),
        (batch([[1704067200, 1.0], [4102444800, 1.0]]), "timestamp is in the future"),
        (batch([[1704067200, 1.0], [1704067260, True]]), "point 1 [1704067260, true]: value"),
        (batch([[1704067200, 1.0], [1704067260]]), "point 1: expected a [timestamp, value] pair"),
        (batch([[1704067200, 1.0], [1704067260, 1.0, 2.0]]), "expected a [timestamp, value]"),
        (batch([[1704067200, 1.0], [10**400, 1.0]]), "timestamp is not ISO-8601"),
        (batch([[1704067200, 1.0], [1704067200000, 1.0]]), "timestamp is not ISO-8601"),
        (batch([[1704067200, 1.0], [1704067260, 1.7e308]]), "value is above 1e+15"),
        (batch([[1704067200, 1.0], [True, 1.0]]), "point 1 [true, 1.0]: timestamp is not"),
        (batch([[1704067200, 1.0]], labels={"a": 1}), "labels.a"),
        (batch([[1704067200, 1.0]], labels={"k" * 600: "v"}), "at most 512"),
        (batch([[1704067200, 1.0]], service="nope"), 'unknown service "nope"'),
        (batch([[1704067200, 1.0]], metric="bogus"), 'unknown metric "bogus"; known: '),
        (batch([[1704067200, 1.0]], colour="red"), "colour"),
        (batch([[1704067200 + i, 1.0] for i in range(1001)]), "1002 points; the limit is 1000"),
    ],
)
def test_bad_batches_are_refused_whole_and_store_nothing(
    client: TestClient, database: Database, body: dict[str, Any], expected: str
) -> None:
    good = {"service": "chat", "metric": "requests_per_second", "points": [[1704060000, 5.0]]}
    body = {"series": [good, *body["series"]]}
    response = client.post("/v1/metrics", json=body)
    assert response.status_code in (413, 422), response.text
    assert expected in str(response.json()["detail"])
    assert stored(database) == 0


def test_a_body_that_is_not_a_batch_is_a_clear_422(client: TestClient) -> None:
    for content, expected in [
        (b"{not json", "body is not valid JSON"),
        (b'{"series": [{"service": "chat\\ud800"}]}', "a lone surrogate such as \\ud800 is"),
        (b"[1, 2]", 'body must be an object {"series": [...]}; got list'),
        (b"{}", 'body must be an object {"series": [...]}; got an empty object'),
        (b'{"points": []}', 'body must be an object {"series": [...]}; got keys points'),
        (b'{"series": {}}', '"series" must be a list'),
        (b'{"series": [{"service": "chat", "metric": "requests_per_second"}]}', 'field "points"'),
    ]:
        response = client.post("/v1/metrics", content=content)
        assert response.status_code == 422, response.text
        assert expected in response.json()["detail"]


def test_rows_ending_with_two_blank_fields_are_read_not_a_500(
    client: TestClient, database: Database
) -> None:
    """Rows ending with two separators the header lacks (``t,5,,``: a spreadsheet's empty
    column after a trailing comma) made pandas take the first two fields as the index; the
    shift back for one trailing comma then failed with a ValueError, a 500. Both blank
    fields are dropped; a second field that holds something still refuses the file."""
    text = "timestamp,value\n2024-01-01 00:00:00,1,,\n2024-01-01 00:05:00,2,,\n"
    response = client.post(
        "/v1/metrics/csv",
        params={"service": "chat", "metric": "requests_per_second"},
        files={"file": ("trace.csv", text, "text/csv")},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 2, "series": 1, "note": None}
    columns = read_text_columns(text.encode())
    assert list(columns.values) == ["1", "2"]
    extra = "timestamp,value\n2024-01-01 00:00:00,1,,7\n2024-01-01 00:05:00,2,,\n"
    bad = client.post(
        "/v1/metrics/csv",
        params={"service": "chat", "metric": "requests_per_second"},
        files={"file": ("trace.csv", extra, "text/csv")},
    )
    assert bad.status_code == 422, bad.text
    assert "more fields than the header" in bad.json()["detail"]


def test_csv_upload_round_trip_and_bad_csv(client: TestClient, database: Database) -> None:
    text = "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,2\n"
    response = client.post(
        "/v1/metrics/csv",
        params={"service": "chat", "metric": "requests_per_second"},
        files={"file": ("trace.csv", text, "text/csv")},
    )
    assert response.json() == {"stored": 2, "series": 1, "note": None}
    bad = client.post(
        "/v1/metrics/csv",
        params={"service": "chat", "metric": "requests_per_second"},
        files={"file": ("trace.csv", "time,val,host\n1,2,a\n", "text/csv")},
    )
    assert bad.status_code == 422
    assert bad.json()["detail"] == (
        "trace.csv: expected columns timestamp,value, got time, val, host; "
        "name the value column with value_column="
    )
    # every row one field longer than the header: pandas would shift the columns
    shifted = "timestamp,value\n2024-01-02T00:00:00Z,5,77\n2024-01-02T00:05:00Z,6,\n"
    bad = client.post(
        "/v1/metrics/csv",
        params={"service": "chat", "metric": "requests_per_second"},
        files={"file": ("trace.csv", shifted, "text/csv")},
    )
    assert bad.status_code == 422
    assert "more fields than the header (2: timestamp, value);" in bad.json()["detail"]
    # a header of 50,000 columns (400 kB) took 11 s of CPU to refuse, a million took minutes
    wide = ",".join(f"c{i}" for i in range(50_000)) + "\n" + ",".join(["1"] * 50_000) + "\n"
    bad = client.post(
        "/v1/metrics/csv",
        params={"service": "chat", "metric": "requests_per_second"},
        files={"file": ("wide.csv", wide, "text/csv")},
    )
    assert bad.status_code == 422
    assert bad.json()["detail"] == (
        "cannot read wide.csv: it has 50000 columns, at most 1000; "
        "keep the timestamp and value columns"
    )
    # a header and no rows answered {"stored": 0}, as if it were a success
    bad = client.post(
        "/v1/metrics/csv",
        params={"service": "chat", "metric": "requests_per_second"},
        files={"file": ("empty.csv", "timestamp,value\n", "text/csv")},
    )
    assert bad.status_code == 422
    assert bad.json()["detail"] == "empty.csv: no rows after the header"
    assert stored(database) == 2


def upload(client: TestClient, text: str, **params: str) -> Any:
    """``text`` uploaded as a CSV of chat's requests per second."""
    return client.post(
        "/v1/metrics/csv",
        params={"service": "chat", "metric": "requests_per_second", **params},
        files={"file": ("upload.csv", text, "text/csv")},
    )


def test_a_csv_upload_reads_the_layouts_forecaster_ingest_reads(
    client: TestClient, database: Database, tmp_path: Path
) -> None:
    """The upload used to take only ``timestamp,value`` while ``forecaster ingest`` read the same
    file as a request log, by other column names or without a header (one reader now)."""
    log = (
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2024-01-01 00:00:00.10,10,5\n2024-01-01 00:00:00.70,10,7\n"
        "2024-01-01 00:00:02.25,10,1\n2024-01-01 00:00:03.90,10,2\n"
    )
    response = upload(client, log)
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 4  # seconds 0 to 3: 2, 0, 1, 1 requests
    assert response.json()["note"].startswith("read 4 rows as a request log: requests per second")
    with database.session() as session:
        points = read_samples(session=session, series_ids=[1])["value"].tolist()
    assert points == [2.0, 0.0, 1.0, 1.0]
    path = tmp_path / "log.csv"
    path.write_text(log)
    assert read_text_columns(path).values.tolist() == ["2", "0", "1", "1"]  # as the CLI reads it

    tokens = upload(client, log, metric="tokens_per_second", value_column="generatedtokens")
    assert tokens.json()["note"].startswith("read 4 rows as a request log: GeneratedTokens")
    assert upload(client, "time,rps\n2024-01-02T00:00:00Z,3\n").json() == {
        "stored": 1,
        "series": 1,
        "note": 'read columns "time","rps" as timestamp,value',
    }
    headless = upload(client, "2024-01-03T00:00:00Z,4\n2024-01-03T00:05:00Z,5\n").json()
    assert headless["stored"] == 2
    assert headless["note"] == "no header row: read the two columns as timestamp,value"


def test_a_csv_upload_leaves_out_rows_without_a_value(
    client: TestClient, database: Database
) -> None:
    """Blank (or NaN, null) values are gaps, as the offline commands read them, not a 422."""
    text = (
        "timestamp,value\n2024-01-01T00:00:00Z,1\n2024-01-01T00:05:00Z,\n2024-01-01T00:10:00Z,3\n"
    )
    response = upload(client, text)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "stored": 2,
        "series": 1,
        "note": "1 rows without a value left out (gaps)",
    }
    with database.session() as session:
        assert read_samples(session=session, series_ids=[1])["value"].tolist() == [1.0, 3.0]


def test_a_csv_upload_longer_than_a_batch_is_stored_whole_or_not_at_all(
    client: TestClient, database: Database
) -> None:
    """The upload was one batch: a request log of 4 rows over 1,441 s (1,441 points, one per second;
    the client's limit is 1,000) was a 413 that ``forecaster ingest`` stored. Now it is stored in
    batches in one transaction, as the CLI does, and a bad point in a later batch refuses it
    all, named by its place in the file's series."""
    log = "timestamp\n" + "".join(f"2024-01-01T00:{minute:02d}:00Z\n" for minute in (0, 1, 3, 24))
    response = upload(client, log)
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 1441  # 00:00:00 to 00:24:00, one point per second
    assert stored(database) == 1441

    series = "".join(f"{1706745600 + 60 * i},{-1 if i == 1200 else i}\n" for i in range(1500))
    refused = upload(client, "timestamp,value\n" + series)
    assert refused.status_code == 422
    assert "line 1202 [" in refused.json()["detail"]  # its line in the file, header first
    assert stored(database) == 1441


def test_a_csv_upload_with_two_file_parts_is_refused_whole(
    client: TestClient, database: Database
) -> None:
    """FastAPI kept the last ``file`` part and dropped the first without a word."""
    first = "timestamp,value\n2024-01-01 00:00:00,1\n"
    second = "timestamp,value\n2024-01-01 00:05:00,2\n"
    response = client.post(
        "/v1/metrics/csv",
        params={"service": "chat", "metric": "requests_per_second"},
        files=[("file", ("a.csv", first, "text/csv")), ("file", ("b.csv", second, "text/csv"))],
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "send one file part, got 2"
    assert stored(database) == 0


def test_a_csv_sent_as_the_raw_body_is_told_to_use_a_multipart_part(
    client: TestClient, database: Database
) -> None:
    """``curl --data-binary @trace.csv`` got FastAPI's bare "body.file: Field required"."""
    params = {"service": "chat", "metric": "requests_per_second"}
    text = "timestamp,value\n2024-01-01T00:00:00Z,1\n"
    for request in (
        {"content": text, "headers": {"Content-Type": "text/csv"}},
        # curl --data-binary's default: Starlette's form parser answered 400 "Field exceeded
        # maximum size of 1024KB" for a CSV over a megabyte
        {"content": text * 60000, "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
    ):
        response = client.post("/v1/metrics/csv", params=params, **request)  # type: ignore[arg-type]
        assert response.status_code == 422, response.text
        assert response.json()["detail"].startswith(
            'send the CSV as a multipart/form-data file part named "file" (curl -F file=@trace.csv)'
        )
    assert (
        "the request has Content-Type: text/csv"
        in client.post(
            "/v1/metrics/csv", params=params, content=text, headers={"Content-Type": "text/csv"}
        ).json()["detail"]
    )
    assert stored(database) == 0
    body = client.get("/openapi.json").json()["paths"]["/v1/metrics/csv"]["post"]["requestBody"]
    assert body["content"]["multipart/form-data"]["schema"]["required"] == ["file"]


def test_a_multipart_upload_without_a_file_part_is_told_which_part_is_missing(
    client: TestClient, database: Database
) -> None:
    """A form with no ``file`` file part was told to send "a multipart/form-data file part
    named "file" ...; the request has Content-Type: multipart/form-data": it was multipart
    already, and the part's name, the one thing wrong, went unsaid."""
    params = {"service": "chat", "metric": "requests_per_second"}
    text = "timestamp,value\n2024-01-01T00:00:00Z,1\n"
    how = 'send the CSV as a file part named "file" (curl -F file=@trace.csv)'
    ten = ", ".join(f'"p{k:02}"' for k in range(10))
    for request, said in (
        (
            {"files": {"data": ("trace.csv", text, "text/csv")}},
            f'the form has no part named "file" (it has "data"); {how}',
        ),
        (
            {"data": {"service": "chat"}, "files": {"csv": ("trace.csv", text, "text/csv")}},
            f'the form has no part named "file" (it has "service", "csv"); {how}',
        ),
        (  # past ten names, how many more: they were dropped without a word
            {"files": {f"p{k:02}": ("x.csv", "", "text/csv") for k in range(15)}},
            f'the form has no part named "file" (it has {ten} and 5 more); {how}',
        ),
        (  # curl -F 'file=<trace.csv' sends the file's text as a field
            {"data": {"file": text}, "files": {"other": ("x.csv", "", "text/csv")}},
            f'the form\'s "file" part is text, not a file; {how}',
        ),
        (
            {
                "content": b"--b--\r\n",
                "headers": {"Content-Type": "multipart/form-data; boundary=b"},
            },
            f'the form has no part named "file" (it has no parts); {how}',
        ),
    ):
        response = client.post("/v1/metrics/csv", params=params, **request)  # type: ignore[arg-type]
        assert response.status_code == 422, response.text
        assert response.json()["detail"] == said
    assert stored(database) == 0


def test_service_profile_validation_is_clear(client: TestClient) -> None:
    response = client.put(
        "/v1/services/chat", json={"capacity_per_replica": 10, "min_replicas": 5, "max_replicas": 2}
    )
    assert response.status_code == 422
    assert "min_replicas (5) exceeds max_replicas (2)" in response.text
    assert client.put("/v1/services/chat", json={"capacity_per_replica": -1}).status_code == 422
    tier = {"name": "L4", "capacity_per_replica": 40, "cost_per_replica_hour": 0.8}
    tiered = {"capacity_per_replica": 10, "reactive_tolerance_pct": 0.1, "tiers": [tier]}
    response = client.put("/v1/services/chat", json=tiered)
    assert response.status_code == 422
    assert "reactive_tolerance_pct needs a single replica type" in response.text
    for body, expected in [
        ({"capacity_per_replica": 10, "step_seconds": 1}, "greater than or equal to 60"),
        ({"capacity_per_replica": 10, "horizon_hours": 1e-9}, "shorter than one step"),
        ({"capacity_per_replica": 1e308}, "less than or equal to"),
        ({"capacity_per_replica": 10, "tiers": [tier | {"max_replicas": 0}]}, "max_replicas"),
    ]:
        response = client.put("/v1/services/odd", json=body)
        assert response.status_code == 422 and expected in response.text, response.text
    # NaN and Infinity are not JSON, but parsers accept them: refused, never a server error
    for text in ('{"capacity_per_replica": NaN}', '{"capacity_per_replica": Infinity}'):
        json_type = {"content-type": "application/json"}
        response = client.put("/v1/services/odd", content=text, headers=json_type)
        assert response.status_code == 422 and "capacity_per_replica" in response.text
        assert "finite number" in response.text, response.text  # the field's own refusal
    listing = client.get("/v1/services").json()
    assert listing["count"] == 1 and listing["data"][0]["name"] == "chat"
    assert client.get("/v1/services/missing").status_code == 404


def test_an_oversize_body_is_a_413_before_it_is_read(
    settings: Settings, database: Database
) -> None:
    app = create_app(settings.model_copy(update={"max_body_bytes": 1_000}), database)
    with TestClient(app) as small:
        points = [[1704067200 + i, 1.0] for i in range(200)]
        for path in ("/v1/metrics", "/api/v1/write"):
            response = small.post(path, content=json.dumps(batch(points)).encode())
            assert response.status_code == 413, response.text
            assert "exceeds 1000 bytes" in response.json()["detail"]
    assert stored(database) == 0


def test_the_openapi_spec_documents_the_ingest_bodies(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/metrics"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["series"]["items"]["required"] == [
        "service",
        "metric",
        "points",
    ]
    assert (
        "application/x-protobuf" in spec["paths"]["/api/v1/write"]["post"]["requestBody"]["content"]
    )


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"": "x"}, "a label name is empty"),
        ({"*": "sum"}, 'label name "*" is reserved: it marks the sum over label sets'),
        ({"pod": "a", "*": "x"}, 'label name "*" is reserved'),
    ],
)
def test_label_names_that_name_nothing_or_the_derived_sum_are_refused(
    client: TestClient, database: Database, labels: dict[str, str], expected: str
) -> None:
    """``{"*": "sum"}`` is the series training derives by summing label sets: written, it would
    be left out of training's sum and overwritten by it."""
    response = client.post("/v1/metrics", json=batch([[1704067200, 1.0]], labels=labels))
    assert response.status_code == 422, response.text
    assert expected in response.json()["detail"]
    assert stored(database) == 0


@pytest.mark.parametrize(
    ("source", "field", "expected"),
    [
        ({"labels": {"*": "sum"}}, "labels", 'label name "*" is reserved'),
        ({"labels": {"": "x"}}, "labels", "a label name is empty"),
        ({"keep_labels": ["region", "*"]}, "keep_labels", 'label name "*" is reserved'),
        # QA: accepted, then every pull stored nothing ("labels take 625 characters")
        ({"labels": {"team": "x" * 600}}, "labels", "characters as JSON; at most 512"),
    ],
)
def test_a_prometheus_source_naming_a_label_a_push_is_refused_for_is_a_422(
    client: TestClient, source: dict[str, Any], field: str, expected: str
) -> None:
    """Every series the source pulls would carry the name, and the pull leaves such series out:
    refused when the profile is stored, naming the field, instead of pulling nothing."""
    query = {"metric": "requests_per_second", "query": "sum(rate(requests_total[5m]))"}
    body = {"capacity_per_replica": 10, "prometheus": [query | source]}
    response = client.put("/v1/services/pulled", json=body)
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "prometheus", 0, field]
    assert expected in problem["msg"]
    assert client.get("/v1/services/pulled").status_code == 404


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/csv"])
def test_a_body_that_is_not_json_hints_at_the_content_type(
    client: TestClient, content_type: str | None
) -> None:
    """``curl -d @file`` sends form encoding: a body that was not JSON says what was declared."""
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/v1/metrics", content=b"timestamp,value\n1,2\n", headers=headers)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith("body is not valid JSON")
    assert "send the batch as JSON with Content-Type: application/json" in detail
    assert (content_type or "no Content-Type") in detail


def test_a_json_body_under_another_content_type_is_still_read(client: TestClient) -> None:
    body = json.dumps(batch([[1704067200, 1.0]])).encode()
    response = client.post("/v1/metrics", content=body, headers={"content-type": "text/plain"})
    assert response.json() == {"stored": 1, "series": 1}
    response = client.post(
        "/v1/metrics", content=b"{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "Content-Type" not in response.json()["detail"]  # declared JSON: no hint needed


def test_gzip_bodies_are_decoded_within_the_size_limit(
    settings: Settings, database: Database
) -> None:
    """A gzip body was read as it came and refused as unreadable JSON; the cap is on the
    decoded size, so a small gzip of a large body is a 413, not a memory bomb."""
    app = create_app(settings.model_copy(update={"max_body_bytes": 20_000}), database)
    with TestClient(app) as client:
        assert client.put("/v1/services/chat", json=PROFILE).status_code == 201
        points = [[1704067200 + 60 * i, 1.0] for i in range(200)]
        plain = json.dumps(batch(points)).encode()
        headers = {"content-type": "application/json", "content-encoding": "gzip"}
        response = client.post("/v1/metrics", content=gzip.compress(plain), headers=headers)
        assert response.json() == {"stored": 200, "series": 1}
        # two members, as `cat a.gz b.gz` makes them: one body
        halves = gzip.compress(plain[:100]) + gzip.compress(plain[100:])
        assert client.post("/v1/metrics", content=halves, headers=headers).is_success
        large = json.dumps(batch([[1704067200 + 60 * i, 1.0] for i in range(2_000)])).encode()
        squeezed = gzip.compress(large)
        assert len(squeezed) < 20_000 < len(large)
        response = client.post("/v1/metrics", content=squeezed, headers=headers)
        assert response.status_code == 413
        assert "decompresses to more than 20000 bytes" in response.json()["detail"]
        response = client.post("/v1/metrics", content=plain, headers=headers)
        assert response.status_code == 422
        assert "Content-Encoding is gzip but the body is not" in response.json()["detail"]
        cut = gzip.compress(plain)[:-20]
        response = client.post("/v1/metrics", content=cut, headers=headers)
        assert response.status_code == 422 and "cut short" in response.json()["detail"]
        response = client.post(
            "/v1/metrics", content=plain, headers={**headers, "content-encoding": "br"}
        )
        assert response.status_code == 415
        assert "Content-Encoding br is not supported" in response.json()["detail"]


def test_a_byte_order_mark_is_skipped_as_on_the_other_json_routes(
    client: TestClient, database: Database
) -> None:
    """A batch saved by a Windows tool starts with a UTF-8 BOM: PUT /v1/services read such a
    body, /v1/metrics refused it as unreadable JSON (both paths: plain numbers and ISO text)."""
    bom = b"\xef\xbb\xbf"
    headers = {"content-type": "application/json"}
    for points in ([[1704067200, 1.0], [1704067260, 2.0]], [["2024-01-01T00:05:00Z", 3.0]]):
        body = bom + json.dumps(batch(points)).encode()
        response = client.post("/v1/metrics", content=body, headers=headers)
        assert response.status_code == 200, response.text
    assert stored(database) == 3
    profile = bom + json.dumps(PROFILE).encode()
    assert client.put("/v1/services/other", content=profile, headers=headers).is_success


def test_a_number_too_long_to_read_is_a_422_not_a_500(client: TestClient) -> None:
    # Python reads integers of up to 4,300 digits: one longer failed where the message quoted it
    body = (
        '{"series": [{"service": "chat", "metric": "requests_per_second", '
        f'"points": [[1714564860, {"9" * 4301}]]}}]}}'
    )
    response = client.post(
        "/v1/metrics", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert "value is" in response.json()["detail"]
