"""The remote-write receiver: Prometheus's own remote_write pushing to our server, and every
kind of bad payload answered with a clear 4xx (never a 500), nothing stored."""

from __future__ import annotations

import logging
import math
import struct
import time
from collections.abc import Iterator

import cramjam
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import select

from api.app import create_app
from forecaster.ingestion import remote_write
from forecaster.ingestion.remote_write_proto import WriteRequest
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.orm import Series
from forecaster.storage.samples import read_samples, sample_count
from forecaster.timeutil import to_epoch_ms
from tests.helpers import live_server
from tests.prometheus_server import PrometheusFactory

PROFILE = {"capacity_per_replica": 10}
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
HEADERS = {"content-encoding": "snappy", "content-type": "application/x-protobuf"}


def encode(*series: tuple[dict[str, str], list[tuple[int, float]]]) -> bytes:
    message = WriteRequest()
    for labels, samples in series:
        added = message.timeseries.add()
        for name, value in labels.items():
            added.labels.add(name=name, value=value)
        for timestamp, value in samples:
            added.samples.add(timestamp=timestamp, value=value)
    return bytes(cramjam.snappy.compress_raw(message.SerializeToString()))


@pytest.fixture
def remote_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "remote_write_metric_map": {"up": "requests_per_second", "gpu_util": "gpu_utilization"}
        }
    )


@pytest.fixture
def client(remote_settings: Settings, database: Database) -> Iterator[TestClient]:
    with TestClient(create_app(remote_settings, database)) as test_client:
        assert test_client.put("/v1/services/chat", json=PROFILE).status_code == 201
        yield test_client


def test_known_series_are_stored_unknown_counted_stale_markers_dropped(
    client: TestClient, database: Database
) -> None:
    t0 = 1_700_000_000_000
    body = encode(
        ({"__name__": "up", "service": "chat", "instance": "a"}, [(t0, 1.0), (t0 + 1000, 0.0)]),
        ({"__name__": "gpu_util", "service": "chat"}, [(t0, 0.5), (t0 + 1000, STALE_NAN)]),
        ({"__name__": "requests_per_second", "service": "chat"}, [(t0, 7.0)]),  # own name
        ({"__name__": "up", "service": "unknown-svc"}, [(t0, 1.0)]),
        ({"__name__": "node_load1", "service": "chat"}, [(t0, 1.0), (t0 + 1, 2.0)]),
        ({"__name__": "up"}, [(t0, 1.0)]),  # no service label
        # Prometheus drops a refused request whole, every service's series in it: what one
        # series or sample cannot be is left out and counted instead
        ({"__name__": "up", "service": "chat", "path": "/x" * 300}, [(t0, 1.0)]),  # > 512
        ({"__name__": "up", "service": "chat", "": "x"}, [(t0, 1.0)]),  # an empty name
        ({"__name__": "up", "service": "chat", "*": "sum"}, [(t0, 1.0)]),  # reserved
        ({"__name__": "queue_length", "service": "chat"}, [(t0, math.inf), (t0 + 1000, -1.0)]),
        ({"__name__": "queue_length", "service": "chat", "q": "b"}, [(t0, 1e16), (t0 + 1, 3.0)]),
        # no float samples (a native histogram only): no series row, not counted
        ({"__name__": "queue_length", "service": "chat", "q": "empty"}, []),
    )
    response = client.post("/api/v1/write", content=body, headers=HEADERS)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "stored": 5,
        "series": 4,
        "ignored_series": 6,
        "ignored_samples": 7,
        "dropped_stale": 1,
        "dropped_not_load": 3,
    }
    with database.session() as session:
        rows = session.execute(select(Series.id, Series.metric, Series.labels)).all()
        by_metric = {(r.metric, tuple(sorted(r.labels.items()))): r.id for r in rows}
        up = read_samples(
            session=session, series_ids=[by_metric[("requests_per_second", (("instance", "a"),))]]
        )
    assert set(by_metric) == {
        ("requests_per_second", (("instance", "a"),)),
        ("requests_per_second", ()),
        ("gpu_utilization", ()),
        ("queue_length", (("q", "b"),)),
    }
    assert to_epoch_ms(up["ts"]).tolist() == [t0, t0 + 1000]
    assert up["value"].tolist() == [1.0, 0.0]


def test_names_mapped_to_one_metric_stay_two_series(
    remote_settings: Settings, database: Database
) -> None:
    """QA: vLLM's and TGI's rate of one pod, both mapped to requests_per_second, were one
    series: each request's samples replaced the other name's (stored 12, sent 30 and 12)."""
    both = {"vllm_rps": "requests_per_second", "tgi_rps": "requests_per_second"}
    mapped = remote_settings.model_copy(
        update={"remote_write_metric_map": {**both, "gpu_util": "gpu_utilization"}}
    )
    t0 = 1_700_000_000_000
    with TestClient(create_app(mapped, database)) as client:
        assert client.put("/v1/services/chat", json=PROFILE).status_code == 201
        for name, value in (("vllm_rps", 30.0), ("tgi_rps", 12.0), ("gpu_util", 0.5)):
            body = encode(({"__name__": name, "service": "chat", "pod": "a"}, [(t0, value)]))
            assert client.post("/api/v1/write", content=body, headers=HEADERS).is_success
    with database.session() as session:
        rows = session.execute(select(Series.id, Series.labels)).all()
        values = {
            tuple(sorted(labels.items())): read_samples(session=session, series_ids=[series_id])[
                "value"
            ].tolist()
            for series_id, labels in rows
        }
    assert values == {
        (("__name__", "vllm_rps"), ("pod", "a")): [30.0],
        (("__name__", "tgi_rps"), ("pod", "a")): [12.0],
        (("pod", "a"),): [0.5],  # a name mapped alone keeps its labels as they were
    }


def test_a_metrics_own_name_mapped_too_stays_apart_from_a_name_mapped_to_it(
    remote_settings: Settings, database: Database
) -> None:
    """QA: ``vllm:request_rate`` mapped to requests_per_second beside series already named
    requests_per_second were one series (stored 5 of 10 + 5); mapping the own name too, as
    docs/ingestion.md says, keeps them apart."""
    own = {"vllm:request_rate": "requests_per_second", "requests_per_second": "requests_per_second"}
    mapped = remote_settings.model_copy(update={"remote_write_metric_map": own})
    t0 = 1_700_000_000_000
    with TestClient(create_app(mapped, database)) as client:
        assert client.put("/v1/services/chat", json=PROFILE).status_code == 201
        for name, value in (("vllm:request_rate", 10.0), ("requests_per_second", 5.0)):
            body = encode(({"__name__": name, "service": "chat", "pod": "p1"}, [(t0, value)]))
            assert client.post("/api/v1/write", content=body, headers=HEADERS).is_success
    with database.session() as session:
        rows = session.execute(select(Series.id, Series.labels)).all()
        values = {
            labels["__name__"]: read_samples(session=session, series_ids=[series_id])[
                "value"
            ].tolist()
            for series_id, labels in rows
        }
    assert values == {"vllm:request_rate": [10.0], "requests_per_second": [5.0]}


def test_a_map_to_no_metric_stops_the_start(settings: Settings) -> None:
    with pytest.raises(ValueError, match="'request_per_second', which is no metric"):
        Settings.model_validate(
            {**settings.model_dump(), "remote_write_metric_map": {"a": "request_per_second"}}
        )


def test_series_with_nul_in_a_label_are_ignored_not_the_batch(
    client: TestClient, database: Database
) -> None:
    """PostgreSQL cannot store a NUL in text, SQLite can: such a series is counted as ignored
    on both (not a 500 on PostgreSQL, and a 4xx would make Prometheus drop the good series)."""
    t0 = 1_700_000_000_000
    body = encode(
        ({"__name__": "up", "service": "chat"}, [(t0, 1.0)]),
        ({"__name__": "up", "service": "chat", "instance": "a\x00"}, [(t0, 2.0)]),
        ({"__name__": "up", "service": "chat", "inst\x00ance": "a"}, [(t0, 3.0)]),
        ({"__name__": "up", "service": "chat\x00"}, [(t0, 4.0)]),
    )
    response = client.post("/api/v1/write", content=body, headers=HEADERS)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "stored": 1,
        "series": 1,
        "ignored_series": 3,
        "ignored_samples": 3,
        "dropped_stale": 0,
        "dropped_not_load": 0,
    }
    with database.session() as session:
        assert [labels for (labels,) in session.execute(select(Series.labels))] == [{}]


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (b"", 400, "snappy"),
        (b"\xff\xff\xff\xff\xff\xff", 400, "no valid length header"),
        (b"hello world", 400, "snappy"),
        (bytes(cramjam.snappy.compress_raw(b"\xff\xff\xff\xff")), 400, "WriteRequest protobuf"),
        (b"\xff\xff\xff\xff\x0f" + b"\x00" * 10, 413, "decompresses to"),
        (
            encode(({"__name__": "up", "service": "chat"}, [(4_102_444_800_000, 1.0)])),
            422,
            "timestamp is in the future",
        ),
    ],
)
def test_bad_payloads_get_a_clear_4xx_and_store_nothing(
    client: TestClient, database: Database, body: bytes, status: int, expected: str
) -> None:
    response = client.post("/api/v1/write", content=body, headers=HEADERS)
    assert response.status_code == status, response.text
    assert expected in response.json()["detail"]
    with database.session() as session:
        assert sample_count(session=session) == 0


def test_remote_write_2_payloads_are_refused_with_415(client: TestClient) -> None:
    headers = {
        **HEADERS,
        "content-type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
    }
    response = client.post("/api/v1/write", content=encode(), headers=headers)
    assert response.status_code == 415
    assert "2.0 is not supported" in response.json()["detail"]


PROMETHEUS_CONFIG = """
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: self
    static_configs:
      - targets: ["127.0.0.1:{PORT}"]
        labels: {service: chat}
remote_write:
  - url: "WRITE_URL"
    queue_config: {batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s}
"""


@pytest.mark.prometheus
def test_prometheus_remote_write_pushes_into_our_server(
    remote_settings: Settings, database: Database, start_prometheus: PrometheusFactory
) -> None:
    app = create_app(remote_settings, database)
    with live_server(app) as base:
        assert httpx.put(f"{base}/v1/services/chat", json=PROFILE).status_code == 201
        url = start_prometheus(
            config=PROMETHEUS_CONFIG.replace("WRITE_URL", f"{base}/api/v1/write")
        )
        deadline = time.monotonic() + 90
        while True:
            with database.session() as session:
                ids = list(
                    session.execute(
                        select(Series.id).where(Series.metric == "requests_per_second")
                    ).scalars()
                )
                frame = read_samples(session=session, series_ids=ids)
            if len(frame) >= 3:
                break
            assert time.monotonic() < deadline, "Prometheus pushed nothing within 90 s"
            time.sleep(0.5)
        answer = httpx.get(f"{url}/api/v1/query", params={"query": 'up{job="self"}[10m]'}).json()
    raw = answer["data"]["result"][0]["values"]
    prometheus = {round(float(ts) * 1000): float(value) for ts, value in raw}
    ours = dict(zip(to_epoch_ms(frame["ts"]).tolist(), frame["value"].tolist(), strict=True))
    assert ours.items() <= prometheus.items()  # every pushed point is Prometheus's own sample
    assert all(not math.isnan(v) for v in ours.values()) and set(ours.values()) == {1.0}
    with database.session() as session:
        labels = session.execute(select(Series.labels).where(Series.id.in_(ids))).scalars().one()
        metrics = set(session.execute(select(Series.metric)).scalars())
    assert labels == {"instance": url.removeprefix("http://"), "job": "self"}
    assert metrics == {"requests_per_second"}  # hundreds of other series were ignored
    assert np.all(np.diff(sorted(ours)) > 0)


def test_what_is_left_out_is_counted_and_logged_where_an_operator_looks(
    client: TestClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA: the counts of ignored and dropped samples were only in the 200's body, which
    Prometheus throws away: a wrong service label stored nothing with no sign anywhere."""
    monkeypatch.setattr(remote_write, "_warned_at", None)

    def left_out(reason: str) -> float:
        value = REGISTRY.get_sample_value(
            "forecaster_remote_write_left_out_samples_total", {"reason": reason}
        )
        return value or 0.0

    before = {reason: left_out(reason) for reason in ("ignored", "stale", "not_load")}
    t0 = 1_700_000_000_000
    body = encode(
        ({"__name__": "up", "service": "chta"}, [(t0, 1.0), (t0 + 1000, 2.0)]),  # a typo
        ({"__name__": "up", "service": "chat"}, [(t0, STALE_NAN), (t0 + 1000, -1.0)]),
    )
    with caplog.at_level(logging.WARNING, logger="forecaster.ingestion.remote_write"):
        assert client.post("/api/v1/write", content=body, headers=HEADERS).is_success
        assert client.post("/api/v1/write", content=body, headers=HEADERS).is_success
    assert {reason: left_out(reason) - before[reason] for reason in before} == {
        "ignored": 4,
        "stale": 2,
        "not_load": 2,
    }
    [warning] = [r.getMessage() for r in caplog.records]  # once a minute, not per request
    assert "1 series (2 samples) of a request ignored" in warning
    assert "service 'chta' is not known" in warning
