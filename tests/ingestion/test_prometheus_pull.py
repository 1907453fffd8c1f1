"""Pulling from a real Prometheus: backfilled history read back point by point, resumed runs
without gaps or duplicates, failures retried and reported."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from sqlalchemy import select

from forecaster.ingestion.batch import SeriesPoints, ingest_batch
from forecaster.ingestion.prometheus import PrometheusError, pull_prometheus
from forecaster.logs import configure_logging
from forecaster.profiles import PrometheusSource, ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.orm import JobRun, Series
from forecaster.storage.samples import read_samples
from forecaster.storage.services import upsert_service
from forecaster.timeutil import to_epoch_ms, utc_now
from tests.helpers import live_server, prometheus_answering
from tests.prometheus_server import PrometheusFactory

STEP = 60
DAYS = 3
POINTS = DAYS * 86400 // STEP
REGIONS = {"eu": 0.0, "us": 40.0}


def _history() -> tuple[int, dict[str, np.ndarray], str]:
    """Three days of a per-region gauge every minute, ending ten minutes ago, as OpenMetrics."""
    last = (int(utc_now().timestamp()) // STEP - 10) * STEP
    stamps = last - STEP * np.arange(POINTS)[::-1]
    lines = ["# TYPE inference_rps gauge"]
    expected = {}
    for region, offset in REGIONS.items():
        values = np.round(100 + offset + 50 * np.sin(stamps / 86400 * 2 * np.pi), 3)
        expected[region] = values
        lines += [
            f'inference_rps{{service="chat",region="{region}"}} {v!r} {t}'
            for t, v in zip(stamps.tolist(), values.tolist(), strict=True)
        ]
    return last, expected, "\n".join([*lines, "# EOF", ""])


def _service(
    database: Database,
    query: str = 'inference_rps{service="chat"}',
    keep_labels: tuple[str, ...] | None = ("region",),
) -> None:
    kept = None if keep_labels is None else list(keep_labels)
    source = PrometheusSource(metric="requests_per_second", query=query, keep_labels=kept)
    profile = ScalingProfile(capacity_per_replica=5, prometheus=[source])
    with database.session() as session:
        upsert_service(session=session, name="chat", profile=profile)


def _pull_settings(settings: Settings, url: str) -> Settings:
    return settings.model_copy(
        update={
            "prometheus_url": url,
            "prometheus_step_seconds": STEP,
            "prometheus_backfill_days": DAYS + 1,
            "prometheus_max_points_per_query": 1_000,  # several chunks per run
            "prometheus_lag_seconds": 0,
            "prometheus_backoff_seconds": 0.01,
        }
    )


def _stored(database: Database) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    with database.session() as session:
        series = session.execute(select(Series.id, Series.labels)).all()
        out = {}
        for series_id, labels in series:
            frame = read_samples(session=session, series_ids=[series_id])
            stamps = to_epoch_ms(frame["ts"]) // 1000
            out[labels["region"]] = (stamps, frame["value"].to_numpy())
    return out


@pytest.mark.prometheus
def test_backfill_is_chunked_and_matches_prometheus_point_by_point(
    database: Database, settings: Settings, start_prometheus: PrometheusFactory
) -> None:
    last, expected, history = _history()
    url = start_prometheus(openmetrics=history)
    _service(database)
    summary = pull_prometheus(database, _pull_settings(settings, url), now=last)
    assert not summary.failed, summary.failed
    assert summary.stored == POINTS * len(REGIONS)
    assert summary.sources[0].chunks >= (DAYS + 1) * 1440 // 1000
    stored = _stored(database)
    assert set(stored) == set(REGIONS)
    for region, values in expected.items():
        stamps, got = stored[region]
        assert stamps.tolist() == (last - STEP * np.arange(POINTS)[::-1]).tolist()
        np.testing.assert_array_equal(got, values)


@pytest.mark.prometheus
def test_a_restarted_pull_resumes_without_gaps_or_duplicates(
    database: Database, settings: Settings, start_prometheus: PrometheusFactory
) -> None:
    last, expected, history = _history()
    url = start_prometheus(openmetrics=history)
    _service(database)
    pull_settings = _pull_settings(settings, url)
    middle = last - 86400 - 7 * STEP
    first = pull_prometheus(database, pull_settings, now=middle)
    assert first.stored == (POINTS - 1447) * len(REGIONS)
    second = pull_prometheus(database, pull_settings, now=last)  # a new client, as after a restart
    assert second.sources[0].start == middle + STEP
    assert second.stored == 1447 * len(REGIONS)
    assert pull_prometheus(database, pull_settings, now=last).stored == 0  # nothing new
    for region, values in expected.items():
        stamps, got = _stored(database)[region]
        assert len(stamps) == POINTS and set(np.diff(stamps).tolist()) == {STEP}
        np.testing.assert_array_equal(got, values)


@pytest.mark.prometheus
def test_fresher_pushes_of_the_metric_do_not_stop_the_pull(
    database: Database, settings: Settings, start_prometheus: PrometheusFactory
) -> None:
    """QA: a point pushed every 20 s for another label set was always newer than now minus
    the lag, and each pull resumed after it: "0 points in 0 chunks" while the pushes went on,
    the window between skipped for good."""
    last, expected, history = _history()
    url = start_prometheus(openmetrics=history)
    _service(database)
    pull_settings = _pull_settings(settings, url)
    middle = last - 86400 - 7 * STEP
    pull_prometheus(database, pull_settings, now=middle)
    pushed = SeriesPoints(
        service="chat",
        metric="requests_per_second",
        labels={"region": "pushed"},
        timestamps=[last - 30],
        values=[1.0],
    )
    with database.session() as session:
        ingest_batch(session=session, batch=[pushed], settings=settings)
    second = pull_prometheus(database, pull_settings, now=last)
    assert second.sources[0].start == middle + STEP
    assert second.stored == 1447 * len(REGIONS)
    for region, values in expected.items():
        np.testing.assert_array_equal(_stored(database)[region][1], values)


@pytest.mark.prometheus
def test_samples_that_are_not_load_are_skipped_and_counted_not_a_stop(
    database: Database, settings: Settings, start_prometheus: PrometheusFactory
) -> None:
    """One negative sample (an ``a - b`` query dips below zero) refused its whole chunk, and
    the next run resumed before it: the source stopped there for good."""
    last, expected, history = _history()
    bad_at = {100: "-3.0", 101: "+Inf", 102: "NaN", 2000: "1e16"}  # minutes into the history
    lines = history.splitlines()
    first_us = next(i for i, line in enumerate(lines) if 'region="us"' in line)
    for minute, text in bad_at.items():
        labels, _, stamp = lines[first_us + minute].rsplit(" ", 2)
        lines[first_us + minute] = f"{labels} {text} {stamp}"
    url = start_prometheus(openmetrics="\n".join(lines) + "\n")
    _service(database)
    summary = pull_prometheus(database, _pull_settings(settings, url), now=last)
    assert not summary.failed, summary.failed
    assert summary.sources[0].skipped_not_load == len(bad_at)
    assert summary.stored == POINTS * len(REGIONS) - len(bad_at)
    stamps, got = _stored(database)["us"]
    kept = np.delete(np.arange(POINTS), list(bad_at))
    assert stamps.tolist() == (last - STEP * np.arange(POINTS)[::-1])[kept].tolist()
    np.testing.assert_array_equal(got, expected["us"][kept])


@pytest.mark.prometheus
def test_a_bad_query_is_reported_not_retried(
    database: Database, settings: Settings, start_prometheus: PrometheusFactory
) -> None:
    url = start_prometheus()
    _service(database, query="sum(")
    summary = pull_prometheus(database, _pull_settings(settings, url))
    assert summary.stored == 0
    assert "parse error" in str(summary.failed[0].error)
    with database.session() as session:
        job = session.execute(select(JobRun)).scalars().one()
    assert job.status == "failed" and "parse error" in str(job.message)


@pytest.mark.prometheus
def test_a_series_whose_text_cannot_be_stored_is_skipped_and_counted(
    database: Database, settings: Settings, start_prometheus: PrometheusFactory
) -> None:
    """label_replace can write a NUL into a label value. A push of that series is refused
    (PostgreSQL text cannot hold a NUL), yet the pull stored it; like remote-write, the pull now
    leaves it out on both databases, counts it, and stores the rest."""
    last, expected, history = _history()
    url = start_prometheus(openmetrics=history)
    _service(
        database,
        query='label_replace(inference_rps{service="chat"}, "region", "u\\x00s", "region", "us")',
    )
    summary = pull_prometheus(database, _pull_settings(settings, url), now=last)
    [source] = summary.sources
    assert source.error is None and source.stored == POINTS
    assert (source.ignored_series, source.ignored_samples) == (1, POINTS)
    assert "NUL" in str(source.ignored_example)
    stored = _stored(database)
    assert list(stored) == ["eu"]
    np.testing.assert_array_equal(stored["eu"][1], expected["eu"])
    with database.session() as session:
        job = session.execute(select(JobRun)).scalars().one()
    assert job.status == "ok"
    assert (job.details["ignored_series"], job.details["ignored_samples"]) == (1, POINTS)


REFUSED_ON_PUSH = [
    {"region": "us", "*": "sum"},  # would pass for the sum over label sets training derives
    {"": "x"},
    {"region": "\ud800"},
    {"region": "x" * 600},
]


@pytest.mark.prometheus
def test_result_series_kept_under_one_label_set_are_summed(
    database: Database, settings: Settings, start_prometheus: PrometheusFactory
) -> None:
    """QA: ``keep_labels: [service]`` over a per-region result stored each region in turn
    under ``{"service": "chat"}``, so the last region replaced the others: plans sized on one
    region's share of the load, with nothing said."""
    last, expected, history = _history()
    url = start_prometheus(openmetrics=history)
    _service(database, keep_labels=("service",))
    summary = pull_prometheus(database, _pull_settings(settings, url), now=last)
    assert not summary.failed, summary.failed
    with database.session() as session:
        [(series_id, labels)] = session.execute(select(Series.id, Series.labels)).all()
        frame = read_samples(session=session, series_ids=[series_id])
    assert labels == {"service": "chat"} and summary.stored == POINTS
    np.testing.assert_allclose(frame["value"].to_numpy(), sum(expected.values()))


def test_series_whose_labels_a_push_would_refuse_are_skipped_and_counted(
    database: Database, settings: Settings
) -> None:
    """A label named "*" refused every chunk (nothing of the source was ever stored), a lone
    surrogate failed on both databases: such series are now left out, like remote-write does."""
    _service(database, query="rate(requests_total[5m])", keep_labels=None)
    good = {"__name__": "requests_total", "region": "eu"}
    with live_server(prometheus_answering([good, *REFUSED_ON_PUSH])) as url:
        summary = pull_prometheus(database, _pull_settings(settings, url), now=1_700_000_000)
    [source] = summary.sources
    assert source.error is None and source.start is not None and source.end is not None
    points = round((source.end - source.start) / STEP) + 1
    assert source.chunks > 1 and source.stored == points
    assert (source.ignored_series, source.ignored_samples) == (4, 4 * points)
    assert 'label name "*" is reserved' in str(source.ignored_example)
    with database.session() as session:
        assert [labels for (labels,) in session.execute(select(Series.labels))] == [
            {"region": "eu"}
        ]


def test_a_point_pushed_ahead_of_now_does_not_skip_the_backfill(
    database: Database, settings: Settings
) -> None:
    _service(database, query="rate(requests_total[5m])", keep_labels=None)
    now = 1_700_000_000
    ahead = SeriesPoints(
        service="chat", metric="requests_per_second", timestamps=[now + 1800], values=[1.0]
    )
    with database.session() as session:
        ingest_batch(session=session, batch=[ahead], settings=settings)
    pull_settings = _pull_settings(settings, "")
    good = {"__name__": "requests_total", "region": "eu"}
    with live_server(prometheus_answering([good])) as url:
        summary = pull_prometheus(
            database, pull_settings.model_copy(update={"prometheus_url": url}), now=now
        )
    [source] = summary.sources
    assert source.start == math.ceil((now - (DAYS + 1) * 86400) / STEP) * STEP  # all of it
    assert source.stored == round((source.end - source.start) / STEP) + 1


def test_an_unreachable_prometheus_is_retried_then_reported(
    database: Database, settings: Settings
) -> None:
    from tests.helpers import free_port

    _service(database)
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    summary = pull_prometheus(database, _pull_settings(settings, url))
    assert "unreachable after 4 attempts" in str(summary.failed[0].error)


def test_a_prometheus_found_down_is_not_asked_again_in_the_same_pass(
    database: Database, settings: Settings
) -> None:
    """QA: in an outage each of twenty sources retried with the whole backoff, a pass took
    minutes and the next pulls were skipped; and a failed run's record had no details."""
    from tests.helpers import free_port

    sources = [
        PrometheusSource(metric=metric, query=f"{metric}_total")
        for metric in ("requests_per_second", "queue_length")
    ]
    with database.session() as session:
        profile = ScalingProfile(capacity_per_replica=5, prometheus=sources)
        upsert_service(session=session, name="chat", profile=profile)
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    first, second = pull_prometheus(database, _pull_settings(settings, url)).failed
    assert "unreachable after 4 attempts" in str(first.error)
    assert "not asked: an earlier source of this pass found Prometheus unreachable" in str(
        second.error
    )
    with database.session() as session:
        runs = session.execute(select(JobRun).order_by(JobRun.id)).scalars().all()
    assert [run.details.get("metric") for run in runs] == ["requests_per_second", "queue_length"]


def test_an_html_page_where_prometheus_should_answer_is_named_in_one_line(
    database: Database, settings: Settings
) -> None:
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse

    page = FastAPI()

    @page.post("/api/v1/query_range")
    def not_prometheus() -> HTMLResponse:
        return HTMLResponse("<!DOCTYPE HTML>\n<html>\n<body>Not here</body>\n</html>", 501)

    _service(database)
    with live_server(page) as url:
        [failed] = pull_prometheus(database, _pull_settings(settings, url)).failed
    assert "query failed after 4 attempts: HTTP 501: an HTML page, not Prometheus's API" in str(
        failed.error
    )
    assert "\n" not in str(failed.error) and "<html>" not in str(failed.error)


def test_pull_without_a_url_says_so(database: Database, settings: Settings) -> None:
    _service(database)
    with pytest.raises(PrometheusError, match="FORECASTER_PROMETHEUS_URL"):
        pull_prometheus(database, settings)


def test_a_password_in_the_prometheus_url_is_never_logged(
    database: Database, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """QA: with FORECASTER_PROMETHEUS_URL=http://alice:pw@..., httpx's INFO line of each
    request wrote the password into the logs, once per chunk per source, every minute."""
    _service(database, query="rate(requests_total[5m])", keep_labels=None)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("INFO")
    try:
        with live_server(prometheus_answering([{"region": "eu"}])) as url:
            secret = url.replace("http://", "http://alice:s3cr3tpw@")
            summary = pull_prometheus(database, _pull_settings(settings, secret), now=1_700_000_000)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert not summary.failed and summary.stored > 0
    logged = capsys.readouterr().err
    assert "query_range" in logged and "alice:***@" in logged  # the request was logged
    assert "s3cr3tpw" not in logged
