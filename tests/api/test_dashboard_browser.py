"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a real server
on loopback with a seeded SQLite database. Screenshots go to ``test-artifacts/``.

Skipped when /usr/bin/chromium is absent, unless FORECASTER_REQUIRE_BROWSER=1 (CI sets it).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from api.app import create_app
from forecaster.profiles import CapacityTier
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.services import upsert_service
from forecaster.timeutil import utc_now
from tests.actuators.factories import store_plan
from tests.api.dashboard_seed import CHAT_PROFILE, Seeded, seed_dashboard, seed_stale_service
from tests.helpers import demo_trace_slice, live_server, store_service

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 20_000

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("FORECASTER_REQUIRE_BROWSER") == "1":
            pytest.fail(f"FORECASTER_REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def dashboard_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'forecaster.db'}"


@pytest.fixture(scope="module")
def seeded_server(dashboard_database_url: str) -> Iterator[tuple[str, Seeded]]:
    url = dashboard_database_url
    settings = Settings(database_url=url, auth_enabled=False)
    database = Database(url)
    database.migrate()
    seeded = seed_dashboard(database, settings, demo_trace_slice(days=14))
    with live_server(create_app(settings, database)) as base:
        yield base, seeded
    database.dispose()


class Page:
    """A browser page that records console errors and uncaught exceptions."""

    def __init__(self, browser: Any, timezone_id: str | None = None, width: int = 1400) -> None:
        self.context = browser.new_context(
            viewport={"width": width, "height": 1000}, timezone_id=timezone_id
        )
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, url: str) -> Any:
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready]")
        assert self.page.evaluate("document.body.dataset.ready") == "1", self.page.content()
        return self.page

    def screenshot(self, name: str, *, full_page: bool = True) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    wrapped = Page(browser)
    yield wrapped
    wrapped.close()


def traces(page: Any) -> dict[str, dict[str, Any]]:
    """The chart's Plotly traces by name: how many points each has, and how many are not null."""
    result: dict[str, dict[str, Any]] = page.evaluate(
        """() => Object.fromEntries(document.getElementById('chart').data.map(t => [t.name, {
            points: t.x.length,
            values: t.y.filter(v => v !== null).length,
            yaxis: t.yaxis || 'y',
            first: t.x[0], last: t.x[t.x.length - 1]}]))"""
    )
    return result


def test_overview_lists_every_service(seeded_server: tuple[str, Seeded], page: Page) -> None:
    base, _ = seeded_server
    view = page.open(f"{base}/")
    assert view.locator("tr[data-service]").count() == 2
    chat = view.locator("tr[data-service=chat]")
    assert chat.locator("svg.spark path").count() == 3
    assert "replicas" in chat.inner_text()
    assert view.evaluate("[fc.count(1, 'replica'), fc.count(0, 'GPU')]") == ["1 replica", "0 GPUs"]
    # a load of 0.04 req/s showed as "0"
    numbers = "[fc.num(0.04), fc.num(0.00123, 2), fc.num(0), fc.num(12.345), fc.num(1234.5)]"
    assert view.evaluate(numbers) == ["0.04", "0.0012", "0", "12.3", "1,234.5"]
    assert "unchanged" in chat.inner_text()  # last actuation
    embed = view.locator("tr[data-service=embed]").inner_text()
    assert "actuating" in embed and "not trained" in embed and "none yet" in embed
    assert "no requests_per_second samples yet" in embed
    assert view.locator(".plan-note").count() == 0  # no plan ran out
    page.screenshot("overview.png")
    view.set_viewport_size({"width": 390, "height": 800})  # a phone: the table scrolls alone
    assert view.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.errors == []


def test_service_page_draws_load_forecast_and_plan(
    seeded_server: tuple[str, Seeded], page: Page
) -> None:
    base, seeded = seeded_server
    view = page.open(f"{base}/")
    view.click("tr[data-service=chat] a")
    view.wait_for_selector("body[data-ready='1']")
    drawn = traces(view)
    assert set(drawn) == {
        "actual",
        "actual peak",
        "forecast p50",
        "forecast p90",
        "forecast p95",
        "planned capacity",
        "planned replicas",
    }
    assert drawn["actual"]["values"] > 500  # a week at 10-minute buckets
    assert "actual load in 10 min buckets" in view.inner_text("#chart-note")
    assert drawn["forecast p50"]["values"] == 144  # 12 h of 5-minute steps
    assert drawn["planned replicas"]["yaxis"] == "y2"
    assert drawn["planned capacity"]["yaxis"] == "y"
    for table in ("plan", "leaderboard", "events", "exclusions", "actuations"):
        assert view.locator(f"#{table} table tbody tr").count() >= 1, table
    assert "spring launch" in view.inner_text("#events")
    assert "outage INC-42" in view.inner_text("#exclusions")
    assert "champion" in view.inner_text("#leaderboard")
    assert "p95 load" in view.inner_text("#plan")
    assert "cost from now to its end" in view.inner_text("#plan")
    assert view.locator(".plan-note").count() == 0  # the plan is in force: nothing to say
    # QA: Plotly's "Share chart..." button sent the chart's data to Plotly's cloud
    assert view.locator("#chart .modebar-btn").count() > 3  # the mode bar is there
    assert view.locator("#chart .modebar-btn[data-title='Share chart...']").count() == 0

    page.screenshot("service.png")
    page.screenshot("service-top.png", full_page=False)  # docs/dashboard.png is a copy

    # zooming in fetches finer buckets for the visible window
    before = view.evaluate("document.getElementById('chart').data[0].x.length")
    view.evaluate(
        """() => { const x = document.getElementById('chart').data[0].x;
        return Plotly.relayout('chart', {'xaxis.range': [x[x.length - 13], x[x.length - 1]]}); }"""
    )
    view.wait_for_function(
        f"document.getElementById('chart').data[0].x.length != {before}", timeout=TIMEOUT_MS
    )
    zoomed = traces(view)["actual"]
    assert 12 <= zoomed["values"] <= 30  # 2 h at 5-minute resolution
    # 2 h fit in 5-second buckets, but the data is 5-minute: the note says what the chart shows
    view.wait_for_function(
        "document.getElementById('chart-note').textContent.includes('5 min buckets')",
        timeout=TIMEOUT_MS,
    )
    page.screenshot("service-zoomed.png")

    # the range buttons count back from now (the plot's own counted back from the plan's end)
    view.click("button[data-days='7']")
    start = view.evaluate("document.getElementById('chart').layout.xaxis.range[0]")
    days_back = (utc_now() - pd.Timestamp(start, tz="UTC")).total_seconds() / 86_400
    assert 6.9 < days_back < 7.1
    # "all" is the whole stored fortnight and what is ahead (it was the default week)
    view.click("button[data-days='0']")
    view.wait_for_function(
        "document.getElementById('chart-note').textContent.includes('actual load in 15 min')"
    )
    first = traces(view)["actual"]["first"]
    assert pd.Timestamp(first, tz="UTC") - seeded.trace.index[0] < pd.Timedelta(minutes=15)
    headers = view.locator("#leaderboard th").all_inner_texts()
    assert "fit s" in headers and "fit_seconds" not in headers  # one column, not two
    assert page.errors == []


VISIBLE_LOAD_TOP = """() => {
    const chart = document.getElementById('chart');
    const [from, to] = chart.layout.xaxis.range.map((t) => Date.parse(fc.isoFromPlot(t)));
    let top = 0, all = 0;
    const shown = (t) => (t.yaxis || 'y') === 'y' && t.visible !== 'legendonly';
    for (const trace of chart.data.filter(shown)) {
        trace.x.forEach((x, i) => {
            const at = Date.parse(fc.isoFromPlot(x));
            all = Math.max(all, trace.y[i] ?? 0);
            if (at >= from && at <= to) top = Math.max(top, trace.y[i] ?? 0);
        });
    }
    return {top, all, axis: chart.layout.yaxis.range[1]};
}"""


def test_the_load_axis_fits_the_load_on_screen(
    seeded_server: tuple[str, Seeded], page: Page
) -> None:
    """QA: the axis was scaled to the week fetched, so one spike days off screen flattened
    the two days on it; zoomed in, it fits what the zoom shows."""
    base, _ = seeded_server
    view = page.open(f"{base}/dashboard/services/chat")
    opened = view.evaluate(VISIBLE_LOAD_TOP)
    assert opened["top"] <= opened["axis"] <= 1.06 * opened["top"], opened
    assert opened["axis"] < opened["all"]  # the seeded week peaks off the opening view
    view.click("button[data-days='7']")  # the peak in view: the axis grows to it
    view.wait_for_function(f"() => ({VISIBLE_LOAD_TOP})().axis >= ({VISIBLE_LOAD_TOP})().all")
    widened = view.evaluate(VISIBLE_LOAD_TOP)
    assert widened["top"] <= widened["axis"] <= 1.06 * widened["top"], widened


def wait_for_note(page: Any, text: str) -> str:
    """The chart's note once it holds ``text``."""
    page.wait_for_function(
        "(text) => document.getElementById('chart-note').textContent.includes(text)", arg=text
    )
    note: str = page.inner_text("#chart-note")
    return note


def test_the_chart_note_comes_back_after_a_failed_fetch(
    seeded_server: tuple[str, Seeded], page: Page
) -> None:
    """A fetch that fails says why in the note; the next that works brings the note back (it
    stayed on the error); a view zoomed out past the longest window asks for the newest part."""
    base, _ = seeded_server
    view = page.open(f"{base}/dashboard/services/chat")
    view.evaluate(
        """() => { window.fetchNow = window.fetch;
        window.fetch = () => Promise.reject(new TypeError('Failed to fetch')); }"""
    )
    view.click("button[data-days='1']")
    assert "/history" in wait_for_note(view, "the server could not be reached")
    view.evaluate("() => { window.fetch = window.fetchNow; }")
    view.click("button[data-days='7']")
    assert "Green: declared events" in wait_for_note(view, "actual load in")

    view.evaluate(
        """() => Plotly.relayout('chart', {'xaxis.range': [
            fc.plotTime(new Date(Date.now() - 500 * 86400e3).toISOString()),
            fc.plotTime(new Date().toISOString())]})"""
    )
    note = wait_for_note(view, "actual load in 12 h buckets")  # 400 days in at most 1,500
    assert "422" not in note
    assert traces(view)["actual"]["values"] >= 14 * 2 - 1  # the whole fortnight stored
    assert page.errors == []


def test_a_window_ahead_of_now_has_no_buckets_to_tell_of(
    seeded_server: tuple[str, Seeded], page: Page
) -> None:
    """Zoomed into the forecast alone: the note said "30 s buckets" of 5-minute data."""
    base, _ = seeded_server
    view = page.open(f"{base}/dashboard/services/chat")
    view.evaluate(
        """() => Plotly.relayout('chart', {'xaxis.range': [1, 3].map((hours) =>
            fc.plotTime(new Date(Date.now() + hours * 3600e3).toISOString()))})"""
    )
    note = wait_for_note(view, "No actual load in this window")
    assert "buckets" not in note and "Green: declared events" in note
    assert traces(view)["actual"]["points"] == 0
    assert page.errors == []


def test_hovered_values_are_rounded(seeded_server: tuple[str, Seeded], page: Page) -> None:
    base, _ = seeded_server
    view = page.open(f"{base}/dashboard/services/chat")
    # hover the forecast's middle step: every quantile there is a float
    hovered = view.evaluate(
        """() => { const chart = document.getElementById('chart');
        const index = chart.data.findIndex(t => t.name === 'forecast p50');
        Plotly.Fx.hover(chart, {xval: chart._fullLayout.xaxis.d2c(chart.data[index].x[72])});
        return document.querySelector('.hoverlayer').textContent; }"""
    )
    assert "forecast p95" in hovered
    digits = [len(re.sub(r"\D", "", number)) for number in re.findall(r"[\d,.]*\d", hovered)]
    # at most four significant digits (times on the x axis have four: 2026, 12:35)
    assert digits and max(digits) <= 4, hovered
    assert page.errors == []


def hover_mid_plan(page: Any) -> dict[str, Any]:
    """Hover the plan's middle step: the unified hover's text and where its box lies against
    the chart's."""
    hovered: dict[str, Any] = page.evaluate(
        """() => { const chart = document.getElementById('chart');
        const plan = chart.data.find(t => t.name === 'planned replicas');
        const middle = plan.x[Math.floor(plan.x.length / 2)];
        Plotly.Fx.hover(chart, {xval: chart._fullLayout.xaxis.d2c(middle)});
        const box = document.querySelector('.hoverlayer').getBoundingClientRect();
        const frame = chart.getBoundingClientRect();
        return {text: document.querySelector('.hoverlayer').textContent,
                lines: [...document.querySelectorAll('.hoverlayer text')].map(t => t.textContent),
                inside: box.left >= frame.left && box.right <= frame.right, width: box.width}; }"""
    )
    return hovered


@pytest.mark.parametrize("width", [1400, 390])
def test_the_hover_fits_the_chart(
    seeded_server: tuple[str, Seeded], browser: Any, width: int
) -> None:
    """The planned replicas' hover line is the count, not the planner's whole reason: on one
    line that made the box wider than the chart, its time and quantiles out of sight."""
    base, _ = seeded_server
    wrapped = Page(browser, width=width)
    try:
        view = wrapped.open(f"{base}/dashboard/services/chat")
        hovered = hover_mid_plan(view)
        assert hovered["inside"], hovered
        replicas = [line for line in hovered["lines"] if re.fullmatch(r"\d+ replicas?", line)]
        assert replicas, hovered["lines"]
        assert "forecast p95" in hovered["text"]
        wrapped.screenshot(f"hover-{width}.png", full_page=False)
        assert wrapped.errors == []
    finally:
        wrapped.close()


def test_a_service_that_does_not_exist_says_so(
    seeded_server: tuple[str, Seeded], page: Page
) -> None:
    base, _ = seeded_server
    view = page.page
    view.goto(f"{base}/dashboard/services/ghost")
    view.wait_for_selector("body[data-ready='error']")
    assert view.inner_text("#name") == "ghost"
    assert 'There is no service named "ghost"' in view.inner_text("main")
    view.goto(f"{base}/dashboard/services/not%20a%20name!")  # no service could have it
    view.wait_for_selector("body[data-ready='error']")
    assert 'There is no service named "not a name!"' in view.inner_text("main")
    view.goto(f"{base}/dashboard/services/%")  # no escape: decoding it threw, the page blank
    view.wait_for_selector("body[data-ready='error']")
    assert 'There is no service named "%"' in view.inner_text("main")
    answer = view.goto(f"{base}/dashboard/services/a%2Fb")  # read as /a/b: no such page
    assert answer is not None and answer.status == 404
    assert "There is no dashboard page at /dashboard/services/a/b" in view.inner_text("main")
    view.click("text=The overview")
    view.wait_for_selector("body[data-ready='1']")


def test_service_without_a_plan_still_renders(
    seeded_server: tuple[str, Seeded], page: Page
) -> None:
    base, _ = seeded_server
    view = page.open(f"{base}/dashboard/services/embed?from=2024-01-01&to=2024-01-02")
    assert "no plan yet" in view.inner_text("#plan")
    # no samples, forecast nor plan: a message, not an empty chart whose axis spans 2 ms
    assert "No requests_per_second samples yet" in view.inner_text("#chart")
    assert view.locator("#chart .main-svg").count() == 0
    assert view.locator("button[data-days]").first.is_hidden()
    assert "buckets" not in view.inner_text("#chart-note")
    assert "from=" not in view.url
    assert "no plan" in view.inner_text("#cards")
    assert view.locator(".plan-note").count() == 0
    assert page.errors == []


@pytest.fixture
def stale_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A server whose one service's samples stopped days ago; yields its URL and plan note."""
    url = f"sqlite:///{tmp_path / 'forecaster.db'}"
    settings = Settings(database_url=url, auth_enabled=False)
    database = Database(url)
    database.migrate()
    seed_stale_service(database, settings, "batch")
    with live_server(create_app(settings, database)) as base:
        note = httpx.get(f"{base}/v1/services/batch/plan", timeout=30).json()["note"]
        yield base, note
    database.dispose()


def test_a_plan_that_ran_out_says_why_beside_it(page: Page, stale_server: tuple[str, str]) -> None:
    base, note = stale_server
    assert "already past; send recent samples, then train again" in note
    view = page.open(f"{base}/")
    row_note = view.locator("tr[data-service=batch] td.status .plan-note")
    assert row_note.is_visible() and row_note.inner_text() == note

    view.click("tr[data-service=batch] a")
    view.wait_for_url(f"{base}/dashboard/services/batch")
    view.wait_for_selector("body[data-ready]")
    assert view.evaluate("document.body.dataset.ready") == "1", view.content()
    shown = view.locator("#plan .plan-note")
    assert shown.count() == 1 and shown.is_visible()
    assert shown.inner_text() == note  # the plan route's words, as text
    assert shown.evaluate("el => el.children.length") == 0  # nothing parsed as HTML
    assert view.locator("#plan table tbody tr").count() >= 1  # the outdated plan, still shown
    assert "no step in force · plan ran out" in view.inner_text("#cards")
    # the view opens on the last days up to now, although the plan ran out two days ago
    start, end, now = view.evaluate(
        """() => [...document.getElementById("chart").layout.xaxis.range
                   .map((value) => Date.parse(fc.isoFromPlot(value))), Date.now()]"""
    )
    assert start < end and now - 60e3 <= end <= now + 60e3, (start, end, now)
    page.screenshot("service-stale-plan.png")
    assert page.errors == []


def test_a_disabled_services_floor_is_not_shown_as_in_force(
    page: Page, stale_server: tuple[str, str]
) -> None:
    base, _ = stale_server
    profile = httpx.get(f"{base}/v1/services/batch", timeout=30).json()["profile"]
    httpx.put(f"{base}/v1/services/batch", json={**profile, "enabled": False}, timeout=30)
    note = httpx.get(f"{base}/v1/services/batch/plan", timeout=30).json()["note"]
    assert note.startswith('service "batch" is disabled')
    view = page.open(f"{base}/dashboard/services/batch")
    view.wait_for_selector("body[data-ready]")
    assert view.locator("#plan .plan-note").inner_text() == note
    assert "no step in force · service disabled" in view.inner_text("#cards")
    assert page.errors == []


def test_review_overlays_what_happened(seeded_server: tuple[str, Seeded], page: Page) -> None:
    base, seeded = seeded_server
    view = page.open(f"{base}/dashboard/services/chat")
    options = view.eval_on_selector_all("#review option", "els => els.map(e => e.value)")
    assert options == ["", str(seeded.latest_forecast_id), str(seeded.first_forecast_id)]
    view.select_option("#review", str(seeded.first_forecast_id))
    view.wait_for_selector(f"body[data-review='{seeded.first_forecast_id}']")
    drawn = traces(view)
    assert {"review p50", "review p95", "review actual"} <= set(drawn)
    # six hours of the 12-hour forecast have happened: 72 five-minute steps have actuals
    assert 70 <= drawn["review actual"]["values"] <= 73
    assert drawn["review p50"]["values"] == 144
    assert "steps with actuals" in view.inner_text("#review-stats")
    page.screenshot("review.png")

    # the address keeps the review and its window: a link opens the same view
    view.wait_for_function("new URLSearchParams(location.search).has('from')", timeout=TIMEOUT_MS)
    link = view.url
    assert f"review={seeded.first_forecast_id}" in link
    shown = view.evaluate("document.getElementById('chart').layout.xaxis.range")

    view.select_option("#review", "")  # back to no review: its traces go away
    view.wait_for_function("!document.body.dataset.review")
    assert not {"review p50", "review actual"} & set(traces(view))
    assert "review=" not in view.url
    assert page.errors == []

    shared = page.open(link)
    assert shared.evaluate("document.body.dataset.review") == str(seeded.first_forecast_id)
    assert {"review p50", "review actual"} <= set(traces(shared))
    reopened = shared.evaluate("document.getElementById('chart').layout.xaxis.range")
    assert [pd.Timestamp(t) for t in reopened] == [pd.Timestamp(t) for t in shown]
    # values that name nothing open the default view and leave the address
    broken = page.open(f"{base}/dashboard/services/chat?from=garbage&review=999999")
    assert broken.evaluate("document.body.dataset.review === undefined")
    assert "from=" not in broken.url and "review=" not in broken.url
    assert page.errors == []


def review_names(page: Any) -> list[str]:
    """The chart's review traces, one name per trace (a name twice: two overlays)."""
    names: list[str] = page.evaluate(
        "document.getElementById('chart').data.map(t => t.name).filter(n => n.startsWith('review'))"
    )
    return names


def test_only_the_review_picked_last_is_drawn(
    seeded_server: tuple[str, Seeded], page: Page
) -> None:
    """Picks made faster than the server answers: a late answer for an earlier pick is dropped."""
    base, seeded = seeded_server
    view = page.open(f"{base}/dashboard/services/chat")
    slow = seeded.latest_forecast_id  # the first option below "none": its answer comes last
    view.evaluate(
        """(slow) => { const fetchNow = window.fetch;
        window.fetch = (url, options) => String(url).endsWith(`/v1/forecasts/${slow}`)
          ? new Promise((done) => setTimeout(done, 600)).then(() => fetchNow(url, options))
          : fetchNow(url, options); }""",
        slow,
    )
    view.focus("#review")
    view.keyboard.press("ArrowDown")  # the slow one
    view.keyboard.press("ArrowDown")  # the other, answered first
    view.wait_for_selector(f"body[data-review='{seeded.first_forecast_id}']")
    view.wait_for_timeout(1_200)  # the slow answer has come and gone
    assert view.input_value("#review") == str(seeded.first_forecast_id)
    assert review_names(view) == ["review p50", "review p95", "review actual"]
    assert view.evaluate("document.body.dataset.review") == str(seeded.first_forecast_id)

    view.keyboard.press("ArrowUp")  # the slow one again
    view.keyboard.press("ArrowUp")  # and back to none before it answers
    view.wait_for_timeout(1_200)
    assert view.input_value("#review") == ""
    assert review_names(view) == []
    assert "review=" not in view.url
    assert view.evaluate("document.body.dataset.review === undefined")
    assert page.errors == []


def test_a_linked_window_without_an_offset_is_utc_in_every_viewers_zone(
    seeded_server: tuple[str, Seeded], browser: Any
) -> None:
    base, _ = seeded_server
    tokyo = Page(browser, timezone_id="Asia/Tokyo")
    try:
        day = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
        view = tokyo.open(f"{base}/dashboard/services/chat?from={day}T11:00:00&to={day}T14:00:00")
        view.wait_for_function(
            "document.getElementById('chart').layout.xaxis.range[0].includes('11:00')",
            timeout=TIMEOUT_MS,
        )
        shown = view.evaluate("document.getElementById('chart').layout.xaxis.range")
        assert [pd.Timestamp(t) for t in shown] == [
            pd.Timestamp(f"{day} 11:00"),
            pd.Timestamp(f"{day} 14:00"),
        ]
        assert tokyo.errors == []
    finally:
        tokyo.close()


def vertically_apart(one: dict[str, float], other: dict[str, float]) -> bool:
    """Whether two bounding boxes share no row of pixels."""
    return bool(one["y"] + one["height"] <= other["y"] or other["y"] + other["height"] <= one["y"])


def test_pages_fit_a_phones_width(seeded_server: tuple[str, Seeded], browser: Any) -> None:
    base, _ = seeded_server
    phone = Page(browser, width=375)
    try:
        for path in ("/", "/dashboard/services/chat"):
            view = phone.open(f"{base}{path}")
            width = view.evaluate("document.documentElement.scrollWidth")
            wide = view.evaluate(
                """() => [...document.querySelectorAll('body *')]
                    .filter(e => e.getBoundingClientRect().right > 376)
                    .slice(0, 8).map(e => e.tagName + '.' + e.className + '#' + e.id + ' '
                    + Math.round(e.getBoundingClientRect().right))"""
            )
            assert width <= 375, (path, width, wide)  # nothing makes the page scroll sideways
        # the time axis's labels, its title "UTC" and the legend keep apart: on a phone the
        # legend's rows pushed the axis onto them
        boxes = [
            view.locator(f"#chart {part}").bounding_box()
            for part in (".xaxislayer-above", ".g-xtitle", ".legend")
        ]
        for one, other in itertools.combinations(boxes, 2):
            assert vertically_apart(one, other), boxes
        assert phone.errors == []
    finally:
        phone.close()


# a tiered plan's reason, as long as the planner writes them
TIERED_REASON = (
    "p95 load 23132 in the hour after start-up lead; hedge with a neighbour step at 0.7 "
    "utilisation: cheapest mix CPU:6+L4:7 (of CPU 1500/replica $0.2/h 120s start-up, L4 "
    "4000/replica $0.8/h 300s start-up); floor CPU:6+L4:8 after start-up lead, hold and min/max"
)


@pytest.fixture
def tiered_server(tmp_path: Path) -> Iterator[str]:
    """A server whose one service, ``mixed``, has capacity tiers and a plan of 13 replicas."""
    url = f"sqlite:///{tmp_path / 'forecaster.db'}"
    database = Database(url)
    database.migrate()
    tiers = [
        CapacityTier(name="CPU", capacity_per_replica=4, cost_per_replica_hour=0.1),
        CapacityTier(name="L4", capacity_per_replica=40, cost_per_replica_hour=0.8),
    ]
    with database.session() as session:
        upsert_service(
            session=session, name="mixed", profile=CHAT_PROFILE.model_copy(update={"tiers": tiers})
        )
    store_plan(database, name="mixed", replicas=[13] * 48, tier="CPU:6+L4:7", reason=TIERED_REASON)
    with live_server(create_app(Settings(database_url=url, auth_enabled=False), database)) as base:
        yield base
    database.dispose()


def test_what_if_is_off_for_a_tiered_profile_the_simulator_refuses(
    page: Page, tiered_server: str
) -> None:
    view = page.open(f"{tiered_server}/dashboard/services/mixed")
    assert view.locator("#whatif button").is_disabled()
    assert "capacity tiers" in view.inner_text("#whatif-status")
    assert page.errors == []


def test_a_tiered_plans_hover_names_the_mix(page: Page, tiered_server: str) -> None:
    view = page.open(f"{tiered_server}/dashboard/services/mixed")
    hovered = hover_mid_plan(view)
    assert hovered["inside"], hovered
    assert "13 replicas (CPU:6+L4:7)" in hovered["lines"], hovered["lines"]
    assert "hedge" not in hovered["text"]
    page.screenshot("hover-tiers.png", full_page=False)
    assert page.errors == []


def test_what_if_takes_any_value_a_profile_holds(page: Page, tmp_path: Path) -> None:
    """A capacity below 0.001 and a start-up of fractional seconds are valid in a profile: the
    form prefilled with them submits (the browser refused it, and "simulate" did nothing)."""
    url = f"sqlite:///{tmp_path / 'forecaster.db'}"
    database = Database(url)
    database.migrate()
    profile = CHAT_PROFILE.model_copy(
        update={"capacity_per_replica": 0.0005, "startup_seconds": 90.5}
    )
    with database.session() as session:
        upsert_service(session=session, name="tiny", profile=profile)
    with live_server(create_app(Settings(database_url=url, auth_enabled=False), database)) as base:
        view = page.open(f"{base}/dashboard/services/tiny")
        assert view.input_value("#whatif [name=capacity_per_replica]") == "0.0005"
        assert view.input_value("#whatif [name=startup_seconds]") == "90.5"
        assert view.evaluate("document.getElementById('whatif').checkValidity()")
        view.click("#whatif button")
        view.wait_for_selector("body[data-whatif]")  # sent: a service without samples is refused
        page.errors.remove(
            "Failed to load resource: the server responded with a status of 409 (Conflict)"
        )
        assert page.errors == []
    database.dispose()


def test_what_if_replays_with_other_settings(seeded_server: tuple[str, Seeded], page: Page) -> None:
    base, _ = seeded_server
    paths = httpx.get(f"{base}/openapi.json", timeout=10).json()["paths"]
    if "/v1/simulations" not in paths:
        pytest.skip("this branch has no simulator (POST /v1/simulations) yet")
    view = page.open(f"{base}/dashboard/services/chat")
    assert view.input_value("#whatif [name=startup_seconds]") == "180"  # the service's own
    view.select_option("#whatif [name=risk_quantile]", "0.99")
    view.fill("#whatif [name=startup_seconds]", "600")
    view.fill("#whatif [name=capacity_per_replica]", "15")
    view.fill("#whatif [name=days]", "4")
    view.select_option("#whatif [name=model]", "seasonal_naive_daily")
    view.click("#whatif button")
    view.wait_for_selector("body[data-whatif]", timeout=120_000)
    assert view.evaluate("document.body.dataset.whatif") == "done", view.inner_text(
        "#whatif-result"
    )
    rows = view.eval_on_selector_all(
        "#whatif-result tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText))"
    )
    policies = {row[0]: row[1:] for row in rows}
    assert {"reactive HPA", "predictive (our plan + HPA)", "oracle (perfect foresight)"} <= set(
        policies
    )
    for numbers in policies.values():  # every score is a number
        assert all(float(cell.replace(",", "")) >= 0 for cell in numbers)
    assert "Under-provisioned" in view.inner_text("#whatif-result")
    page.screenshot("what-if.png")
    assert page.errors == []


def test_dashboard_asks_for_a_read_key_when_auth_is_on(
    seeded_server: tuple[str, Seeded], dashboard_database_url: str, browser: Any
) -> None:
    """With auth on, the page offers a key box; a read key from it unlocks the data."""
    from forecaster.security.api_keys import create_key

    database = Database(dashboard_database_url)  # the seeded database, served again with auth
    with database.session() as session:
        key = create_key(session=session, name="dashboard", scopes=["read"]).secret
    secured = Settings(database_url=database.url, auth_enabled=True)
    with live_server(create_app(secured, database)) as secured_base:
        context = browser.new_context(viewport={"width": 360, "height": 800})  # a phone
        view = context.new_page()
        view.set_default_timeout(TIMEOUT_MS)
        view.goto(f"{secured_base}/")
        view.wait_for_selector("#key-form")
        assert view.locator("tr[data-service]").count() == 0
        # QA: the key box made a phone's page scroll sideways, and waited for a tap to focus
        assert view.evaluate("document.documentElement.scrollWidth") <= 360
        assert view.evaluate("document.activeElement.name") == "key"
        view.fill("#key-form input[name=key]", key)
        view.click("#key-form button")
        view.wait_for_selector("tr[data-service=chat]")
        assert view.locator("#key-form").count() == 0
        context.close()
    database.dispose()


def test_a_service_whose_samples_all_predate_the_window_opens_on_its_last_days(
    page: Page, tmp_path: Path
) -> None:
    """Samples a month old, never trained: the chart drew an empty axis a few milliseconds
    wide, the state the no-data message was written to prevent."""
    url = f"sqlite:///{tmp_path / 'forecaster.db'}"
    settings = Settings(database_url=url, auth_enabled=False)
    database = Database(url)
    database.migrate()
    trace = demo_trace_slice(days=3)
    trace.index = trace.index + (pd.Timestamp(utc_now()) - pd.Timedelta(days=30) - trace.index[-1])
    store_service(database, settings, "old", trace, CHAT_PROFILE)
    with live_server(create_app(settings, database)) as base:
        view = page.open(f"{base}/dashboard/services/old")
        view.wait_for_function(
            "document.getElementById('chart').data[0].x.length > 0", timeout=TIMEOUT_MS
        )
        start, end = view.evaluate(
            """() => document.getElementById("chart").layout.xaxis.range
                   .map((value) => Date.parse(fc.isoFromPlot(value)))"""
        )
        last = trace.index[-1].timestamp() * 1000
        assert end - start >= 86_400e3 and abs(end - last) < 600e3, (start, end, last)
    database.dispose()
    assert page.errors == []
