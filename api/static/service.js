// One service's page: the chart (actual, forecast band, planned replicas and capacity), the
// forecast review, and the tables: plan reasons, leaderboard, events, exclusions, actuations.
"use strict";

const NAME = nameInPath(location.pathname.split("/").filter(Boolean).pop());
const API = `/v1/services/${encodeURIComponent(NAME)}`;
const HISTORY_DAYS = 7;  // loaded when the page opens
const MAX_HISTORY_DAYS = 400;  // the longest window GET .../history answers (history.MAX_WINDOW)
const OPEN_DAYS = 2;  // shown when the page opens
// forecasts the review offers (and a link may name): three days of 15-minute refreshes, so a
// 48-hour forecast can be reviewed to its end (100, a day, dropped it half-way)
const REVIEW_CHOICES = 300;
const REVIEW = ["review p50", "review p95", "review actual"];
const $ = (id) => document.getElementById(id);

/** The service's name from the address's last segment; one that does not decode (a lone "%")
 * is taken as it is, and the API says no service has it. */
function nameInPath(segment) {
  try {
    return decodeURIComponent(segment);
  } catch (_) {
    return segment;
  }
}

function table(columns, rows, empty) {
  if (!rows.length) return `<p class="muted">${empty}</p>`;
  const head = columns.map((c) => `<th class="${c.num ? "num" : ""}">${fc.esc(c.label)}</th>`);
  const body = rows.map((r) => `<tr class="${r._class || ""}">${columns
    .map((c) => `<td class="${c.num ? "num" : ""}">${c.html(r)}</td>`).join("")}</tr>`);
  // wide tables (the leaderboard's scores) scroll inside their section, not the whole page
  return `<div class="wide"><table><thead><tr>${head.join("")}</tr></thead>
    <tbody>${body.join("")}</tbody></table></div>`;
}

function card(label, value, note = "") {
  return `<div class="card"><div class="label">${label}</div><div class="value">${value}</div>
    <div class="small muted">${note}</div></div>`;
}

/** "in band", "outside band" (the warning's rule fired) or how many steps were outside. */
function bandVerdict(band) {
  if (!band) return "–";
  if (band.left_band) return "outside band";
  const outside = band.above_p95 + band.below_p5;
  return outside ? `${outside} of ${fc.count(band.steps, "step")} outside` : "in band";
}

function renderSummary(detail) {
  const s = detail.summary, plan = s.plan;
  $("name").textContent = NAME;
  document.title = `forecaster · ${NAME}`;
  $("mode").innerHTML = fc.mode(s);
  $("warnings").innerHTML = fc.warnings(s.warnings, true);
  const band = s.band
    ? `${s.band.above_p95} above p95, ${s.band.below_p5} below p5 in ${fc.count(s.band.steps, "step")}`
    : "no forecast covers the last hour yet";
  $("cards").innerHTML = [
    card("load now", `${fc.num(s.current_load)} <span class="small muted">${fc.esc(s.unit || "")}</span>`,
      `${fc.esc(s.metric)} · last sample ${fc.ago(s.last_sample_at)}`),
    card("champion", fc.esc(s.champion ? s.champion.model : "not trained"),
      s.champion ? fc.scores(s.champion.scores) : ""),
    card("planned floor", plan && plan.replicas !== null ? fc.count(plan.replicas, "replica") : "–",
      !plan ? "no plan" : plan.replicas === null ? `no step in force${staleness(plan, s.enabled)}` :
        `${plan.gpus ? `${fc.count(plan.gpus, "GPU")} ` : ""}from ${fc.when(plan.since)} · peak next 6 h ` +
        `${plan.peak_replicas ?? "–"}${staleness(plan, s.enabled)}`),
    card("recent load vs forecast", bandVerdict(s.band), band),
    card("last actuation", s.last_actuation ? fc.esc(s.last_actuation.outcome) : "none yet",
      s.last_actuation ? `${fc.esc(s.last_actuation.target)} · ${fc.ago(s.last_actuation.created_at)}` : ""),
  ].join("");
}

/** Why a plan's floor is not in force, after its figures: nothing holds a stale one. */
function staleness(plan, enabled) {
  if (!plan.stale) return "";
  if (!enabled) return " · service disabled";
  return plan.ran_out ? " · plan ran out" : " · too old to push";
}

function renderTables(detail) {
  const plan = detail.plan;
  $("plan").innerHTML = plan ? `<p class="small muted">plan ${plan.plan_id} generated
      ${fc.when(plan.generated_at)} from forecast ${plan.forecast_id ?? "–"}, covering the
      p${+(plan.quantile * 100).toFixed(2)} load · cost from now to its end
      ${fc.num(plan.cost_ahead, 2)} (the whole plan ${fc.num(plan.total_cost, 2)})</p>` +
    table([
      { label: "from", html: (r) => fc.whenCell(r.start) },
      { label: "until", html: (r) => fc.whenCell(r.end) },
      { label: "replicas", num: true, html: (r) => r.replicas },
      { label: "GPUs", num: true, html: (r) => r.gpus },
      { label: "tier", html: (r) => fc.esc(r.tier || "–") },
      { label: "peak load", num: true, html: (r) => fc.num(r.peak_load) },
      { label: "capacity", num: true, html: (r) => fc.num(r.capacity) },
      { label: "reason", html: (r) => `<span class="small">${fc.esc(r.reason)}</span>` },
    ], plan.changes, "the plan has no steps") : '<p class="muted">no plan yet</p>';
  // a plan that ran out stays on show: say above it why, as GET .../plan's note does
  const note = detail.summary.plan && detail.summary.plan.note;
  if (note) $("plan").prepend(fc.planNote(note));

  const keys = [...new Set(detail.leaderboard.flatMap((r) => Object.keys(r.scores)))]
    .filter((k) => k !== "fit_seconds");  // it has its own column, "fit s"
  $("leaderboard").innerHTML = table([
    { label: "model", html: (r) => `${fc.esc(r.model)}${r.champion ? " ★ champion" : ""}` },
    { label: "status", html: (r) => fc.esc(r.status) },
    ...keys.map((k) => ({ label: k, num: true, html: (r) => fc.num(r.scores[k], 3) })),
    { label: "fit s", num: true, html: (r) => fc.num(r.fit_seconds, 2) },
    { label: "trained", html: (r) => fc.whenCell(r.trained_at) },
    { label: "note", html: (r) => `<span class="small">${fc.esc(r.message || "")}</span>` },
  ], detail.leaderboard.map((r) => ({ ...r, _class: r.champion ? "champion" : "" })),
  "no model runs yet: train the service");

  $("events").innerHTML = table([
    { label: "event", html: (r) => fc.esc(r.name) },
    { label: "start", html: (r) => fc.whenCell(r.start) },
    { label: "end", html: (r) => fc.whenCell(r.end) },
    { label: "expected ×", num: true, html: (r) => fc.num(r.multiplier, 2) },
  ], detail.events, "none declared");
  $("exclusions").innerHTML = table([
    { label: "start", html: (r) => fc.whenCell(r.start) },
    { label: "end", html: (r) => fc.whenCell(r.end) },
    { label: "reason", html: (r) => fc.esc(r.reason) },
  ], detail.exclusions, "none");
  $("actuations").innerHTML = table([
    { label: "when", html: (r) => fc.whenCell(r.created_at) },
    { label: "target", html: (r) => `${fc.esc(r.target)} <span class="small muted">${fc.esc(r.kind)}</span>` },
    { label: "outcome", html: (r) => `<span class="pill ${fc.esc(r.outcome)}">${fc.esc(r.outcome)}</span>${r.dry_run ? " dry run" : ""}` },
    { label: "before", html: (r) => `<code class="small">${fc.esc(JSON.stringify(r.before))}</code>` },
    { label: "after", html: (r) => `<code class="small">${fc.esc(JSON.stringify(r.after))}</code>` },
    { label: "plan", num: true, html: (r) => r.plan_id ?? "–" },
    { label: "by", html: (r) => fc.esc(r.actor) },
    { label: "error", html: (r) => `<span class="small error">${fc.esc(r.error || "")}</span>` },
  ], detail.actuations, "none yet");
  $("profile").innerHTML = table([
    { label: "field", html: (r) => fc.esc(r[0]) },
    { label: "value", html: (r) => `<code>${fc.esc(JSON.stringify(r[1]))}</code>` },
  ], Object.entries(detail.profile), "");
}

// ---- the chart ----

function historyTraces(history) {
  const x = history.ts.map(fc.plotTime);
  return [
    { name: "actual", x, y: history.mean, type: "scatter", mode: "lines",
      line: { color: "#1f2933", width: 1.4 }, connectgaps: false },
    { name: "actual peak", x, y: history.max, type: "scatter", mode: "lines",
      line: { color: "#9aa5b1", width: 0.8, dash: "dot" }, connectgaps: false, visible: "legendonly" },
  ];
}

function forecastTraces(forecast) {
  if (!forecast) return [];
  const x = forecast.points.map((p) => fc.plotTime(p.ts));
  const col = (q) => forecast.points.map((p) => p[q]);
  const band = (name, y, opacity) => ({ name, x, y, type: "scatter", mode: "lines",
    line: { width: 0, color: "#2f6fdf" }, fill: "tonexty",
    fillcolor: `rgba(47,111,223,${opacity})` });
  return [
    { name: "forecast p50", x, y: col("p50"), type: "scatter", mode: "lines",
      line: { color: "#2f6fdf", width: 1.6 } },
    band("forecast p90", col("p90"), 0.25),
    band("forecast p95", col("p95"), 0.12),
  ];
}

function planTraces(plan) {
  if (!plan) return [];
  const x = plan.ts.map(fc.plotTime);
  return [
    // the load the planned replicas carry at the utilisation plans are sized at: load should
    // stay inside it
    { name: "planned capacity", x, y: plan.capacity, type: "scatter", mode: "lines",
      line: { color: "#2f855a", width: 1, shape: "hv" }, fill: "tozeroy",
      fillcolor: "rgba(47,133,90,0.10)" },
    { name: "planned replicas", x, y: plan.replicas, yaxis: "y2", type: "scatter", mode: "lines",
      line: { color: "#b7791f", width: 1.4, shape: "hv", dash: "dot" }, text: replicasHover(plan),
      hovertemplate: "%{text}<extra></extra>" },
  ];
}

/** Each step's replicas with their tier mix, if any, for the hover. Not the planner's reason:
 * a whole reason on one line made the hover wider than the chart; the plan table has them. */
function replicasHover(plan) {
  return plan.replicas.map((n, i) =>
    `${fc.count(n, "replica")}${plan.tier[i] ? ` (${fc.esc(plan.tier[i])})` : ""}`);
}

function windowShapes(detail) {
  const rect = (start, end, color) => ({ type: "rect", xref: "x", yref: "paper", y0: 0, y1: 1,
    x0: fc.plotTime(start), x1: fc.plotTime(end), fillcolor: color, opacity: 0.15,
    line: { width: 0 }, layer: "below" });
  const now = new Date().toISOString();
  return [
    ...detail.events.map((e) => rect(e.start, e.end, "#2f855a")),
    ...detail.exclusions.map((e) => rect(e.start, e.end, "#616e7c")),
    { type: "line", xref: "x", yref: "paper", y0: 0, y1: 1, x0: fc.plotTime(now),
      x1: fc.plotTime(now), line: { color: "#c53030", width: 1, dash: "dot" } },
  ];
}

/** Whole-replica ticks, about six of them, whatever the plan's peak. */
function replicaTick(plan) {
  const peak = plan && plan.replicas.length ? Math.max(...plan.replicas) : 1;
  return Math.max(1, Math.ceil(peak / 6));
}

async function drawChart(detail, history, forecast) {
  const s = detail.summary;
  const traces = [...historyTraces(history), ...forecastTraces(forecast), ...planTraces(detail.plan)];
  const layout = {
    margin: { l: 60, r: 60, t: 10, b: 40 },
    hovermode: "x unified",
    // above the plot: below it, a phone's many rows of legend shrank the plot, and the time
    // axis's labels and title ran into them; automargin keeps its turned labels in the chart
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", traceorder: "normal" },
    // level labels, few enough to fit: turned, their two-line dates (the day's first tick
    // says "Dec 7, 2026") ran into the title "UTC" on a phone at some times of day
    xaxis: { type: "date", title: { text: "UTC" }, automargin: true, tickangle: 0,
      nticks: Math.max(3, Math.floor(innerWidth / 110)) },
    // hovered values to four significant digits: bucket means and quantiles are long floats
    // escaped: Plotly reads tags in titles, and a unit is whatever an ingest key sent
    yaxis: { title: { text: fc.esc(`${s.metric}${s.unit ? ` (${s.unit})` : ""}`) }, rangemode: "tozero",
      hoverformat: ",.4~r" },
    yaxis2: { title: { text: "replicas" }, overlaying: "y", side: "right", rangemode: "tozero",
      showgrid: false, tickformat: "d", dtick: replicaTick(detail.plan) },
    shapes: windowShapes(detail),
  };
  // open on the last two days and everything ahead; the rest of the week is a pan away.
  // The view reaches now even when the forecast ran out long ago (its jobs stopped).
  const ahead = [...(forecast ? forecast.points.map((p) => p.ts) : []), ...(detail.plan ? detail.plan.ts : [])];
  const daysBack = (days) => fc.plotTime(new Date(Date.now() - days * 86400e3).toISOString());
  let end = daysBack(0);
  if (ahead.length) {
    const step = (detail.plan ? detail.plan.step_seconds : 0) * 1000;
    const lastMs = Math.max(...ahead.map((ts) => Date.parse(ts))) + step;
    end = fc.plotTime(new Date(Math.max(lastMs, Date.now())).toISOString());
    layout.xaxis.range = [daysBack(OPEN_DAYS), end];
  }
  await Plotly.newPlot("chart", traces, layout,
    // no "share" button: it sends the chart's data to Plotly's cloud, off this network
    { responsive: true, displaylogo: false, scrollZoom: true, showSendToCloud: false,
      showEditInChartStudio: false });
  $("chart").on("plotly_relayout", onZoom);
  if (!history.ts.length && !ahead.length && s.last_sample_at) {
    // every sample is older than the window fetched, and nothing lies ahead: open on the
    // data's last days (fetched as a zoom is) rather than an empty axis a few ms wide
    const last = Date.parse(s.last_sample_at);
    await Plotly.relayout("chart", { "xaxis.range": [
      fc.plotTime(new Date(last - OPEN_DAYS * 86400e3).toISOString()),
      fc.plotTime(new Date(last).toISOString())] });
  }
  // "all" starts at the oldest stored sample: the history fetched for its window holds all
  const first = detail.first_sample_at ? fc.plotTime(detail.first_sample_at) : daysBack(HISTORY_DAYS);
  for (const button of document.querySelectorAll("button[data-days]")) {
    const days = Number(button.dataset.days);  // back from now (0: all), and all that is ahead
    button.onclick = () => Plotly.relayout("chart",
      { "xaxis.range": [days ? daysBack(days) : first, end] });
  }
  $("chart-note").textContent = chartNote(history);
  await fitLoadAxis();
}

/** The load axis fitted to the load the view shows: autorange reads every point fetched (a
 * week), so one spike days off screen flattened the two days on it. */
async function fitLoadAxis() {
  const chart = $("chart");
  const [from, to] = chart.layout.xaxis.range.map((t) => Date.parse(fc.isoFromPlot(t)));
  let top = 0;
  for (const trace of chart.data) {
    if ((trace.yaxis || "y") !== "y" || trace.visible === "legendonly") continue;
    trace.x.forEach((x, i) => {
      const at = Date.parse(fc.isoFromPlot(x));
      if (at >= from && at <= to && trace.y[i] > top) top = trace.y[i];
    });
  }
  if (top > 0) await Plotly.relayout(chart, { "yaxis.range": [0, top * 1.05] });
}

/** What the chart shows: its buckets and the colours' key. A window without load (all of it
 * ahead) has no buckets to tell of: the API's are then the finest that fit, not the data's. */
function chartNote(history) {
  const load = history.ts.length ? `actual load in ${bucketText(history)} (mean; ` +
    `"actual peak" shows each bucket's max). Zoom in for finer buckets, down to the data's own step`
    : "No actual load in this window";
  return `${load}. Green: declared events; grey: excluded windows; red: now.`;
}

/** In the chart's place, for a service with nothing to draw (an empty chart had an x axis of
 * a few milliseconds). */
function showNoData(summary) {
  $("chart").innerHTML = `<p class="muted">No ${fc.esc(summary.metric)} samples yet: the chart ` +
    "shows the load once the first arrive.</p>";
  $("chart").style.height = "auto";  // not a chart's 520 px of blank
  $("chart").closest("section").querySelector(".controls").hidden = true;
  keepInUrl({ review: null, from: null, to: null });
}

/** "5 min buckets": the spacing the chart shows, never finer than the data's own step. */
function bucketText(history) {
  return `${fc.duration(history.resolution_seconds)} buckets`;
}

let zoomTimer = null;
function onZoom(change) {
  const start = change["xaxis.range[0]"] ?? (change["xaxis.range"] || [])[0];
  const end = change["xaxis.range[1]"] ?? (change["xaxis.range"] || [])[1];
  const reset = change["xaxis.autorange"];
  if (!reset && (start === undefined || end === undefined)) return;
  clearTimeout(zoomTimer);
  zoomTimer = setTimeout(async () => {
    const range = reset ? {} : { start: fc.isoFromPlot(start), end: fc.isoFromPlot(end) };
    keepInUrl({ from: range.start, to: range.end });
    const params = new URLSearchParams(reset ? {} : historyWindow(range.start, range.end));
    try {
      const history = await fc.getJSON(`${API}/history?${params}`);
      const [actual, peak] = historyTraces(history);
      await Plotly.restyle("chart", { x: [actual.x, peak.x], y: [actual.y, peak.y] }, [0, 1]);
      $("chart-note").textContent = chartNote(history);
      await fitLoadAxis();
    } catch (error) {
      $("chart-note").textContent = error.message;
    }
  }, 250);
}

/** The window of history to fetch for a view: its newest MAX_HISTORY_DAYS at most (a view
 * zoomed out further was refused with a 422). */
function historyWindow(start, end) {
  const earliest = Date.parse(end) - MAX_HISTORY_DAYS * 86400e3;
  return { start: new Date(Math.max(Date.parse(start), earliest)).toISOString(), end };
}

// ---- the address keeps the view (?review=ID&from=ISO&to=ISO): a link shows what was seen ----

function keepInUrl(changes) {
  const url = new URL(location.href);
  for (const [key, value] of Object.entries(changes)) {
    if (value) url.searchParams.set(key, value);
    else url.searchParams.delete(key);
  }
  window.history.replaceState(null, "", url);
}

async function restoreView() {
  const wanted = new URLSearchParams(location.search);
  const review = wanted.get("review");
  if (review && [...$("review").options].some((option) => option.value === review)) {
    $("review").value = review;
    await showReview(review);
  } else {
    keepInUrl({ review: null });  // no such forecast (any more): the address stops naming it
  }
  // a time without an offset is UTC, as everywhere on this page (Date.parse would read it in
  // the viewer's zone, so one link would show each viewer another window)
  const [from, to] = [wanted.get("from"), wanted.get("to")].map((value) =>
    Date.parse(value && value.length > 10 ? fc.isoFromPlot(value) : value));
  if (from < to) {  // NaN (absent or unreadable) compares false
    await Plotly.relayout("chart", { "xaxis.range": [from, to].map((ms) =>
      fc.plotTime(new Date(ms).toISOString())) });
  } else if (!review || $("review").value !== review) {
    keepInUrl({ from: null, to: null });  // unreadable: the page opened on its default view
  }
}

// ---- forecast review ----

async function loadReviewChoices() {
  const list = await fc.getJSON(`${API}/forecasts?limit=${REVIEW_CHOICES}`);
  $("review").insertAdjacentHTML("beforeend", list.data.map((f) =>
    `<option value="${f.id}">#${f.id} · ${fc.esc(f.model)} · ${fc.when(f.origin)} → ${fc.when(f.end)}` +
    ` (made ${fc.when(f.created_at)})</option>`).join(""));
  $("review").addEventListener("change", (event) => showReview(event.target.value));
}

let reviewCall = 0;  // counts picks: an answer that comes after a later pick is dropped

/** The chart's traces with the review's (if any) swapped for ``traces``, in one redraw. */
function swapReviewTraces(chart, traces) {
  const kept = chart.data.filter((t) => !REVIEW.includes(t.name));
  return Plotly.react(chart, [...kept, ...traces], chart.layout);
}

async function showReview(id) {
  const chart = $("chart");
  const call = ++reviewCall;
  const current = () => call === reviewCall;
  $("review-stats").textContent = "";
  delete document.body.dataset.review;
  keepInUrl({ review: id });
  try {
    // the old overlay stays until this answer comes: a pick made meanwhile draws its own
    const review = id ? await fc.getJSON(`/v1/forecasts/${id}`) : null;
    if (!current()) return;
    if (!review) {
      await swapReviewTraces(chart, []);
      return;
    }
    const x = review.ts.map(fc.plotTime);
    await swapReviewTraces(chart, [
      { name: REVIEW[0], x, y: review.p50, type: "scatter", mode: "lines",
        line: { color: "#805ad5", width: 1.6, dash: "dash" } },
      { name: REVIEW[1], x, y: review.p95, type: "scatter", mode: "lines",
        line: { color: "#805ad5", width: 1, dash: "dot" } },
      { name: REVIEW[2], x, y: review.actual, type: "scatter", mode: "lines+markers",
        marker: { size: 3 }, line: { color: "#c53030", width: 1.4 }, connectgaps: false },
    ]);
    if (!current()) return;
    const step = review.step_seconds * 1000;
    await Plotly.relayout(chart, { "xaxis.range": [x[0],
      fc.plotTime(new Date(Date.parse(review.ts[review.ts.length - 1]) + step).toISOString())] });
    const c = review.check;
    $("review-stats").innerHTML = c.steps
      ? `${c.steps} steps with actuals · above p95: ${c.above_p95} ` +
        `(${fc.num(100 * (1 - c.coverage_p95))} %) · below p5: ${c.below_p5} · ` +
        `MAE of p50: ${fc.num(c.mae_p50, 2)}`
      : '<span class="muted">nothing has happened in this window yet</span>';
    document.body.dataset.review = String(id);
  } catch (error) {
    if (!current()) return;
    $("review-stats").innerHTML = `<span class="error">${fc.esc(error.message)}</span>`;
    await swapReviewTraces(chart, []);  // the overlay drawn before is not the one picked
  }
}

// ---- what-if: POST /v1/simulations with the service's profile, three fields changed ----

const POLICY_NAMES = {
  static: "static peak", reactive: "reactive HPA", predictive: "predictive (our plan + HPA)",
  oracle: "oracle (perfect foresight)", reactive_equal_spend: "reactive HPA, same spend",
};

function setupWhatIf(detail) {
  const form = $("whatif"), profile = detail.profile;
  const risk = String(profile.risk_quantile);
  if (![...form.risk_quantile.options].some((o) => o.value === risk)) {
    form.risk_quantile.add(new Option(`p${+(profile.risk_quantile * 100).toFixed(2)}`, risk));
  }
  form.risk_quantile.value = risk;
  form.startup_seconds.value = profile.startup_seconds;
  form.capacity_per_replica.value = profile.capacity_per_replica;
  const champion = detail.summary.champion ? detail.summary.champion.model : null;
  const models = [...new Set([champion, "seasonal_naive_daily", "auto"].filter(Boolean))];
  form.model.innerHTML = models.map((m) => `<option>${fc.esc(m)}</option>`).join("");
  if (profile.tiers && profile.tiers.length) {  // the simulator would refuse it: say so up front
    form.querySelector("button").disabled = true;
    $("whatif-status").textContent =
      "the replay simulates one replica type; this profile has capacity tiers";
    return;
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    runWhatIf(form, profile);
  });
}

async function runWhatIf(form, profile) {
  const button = form.querySelector("button");
  const body = {
    service: NAME,
    days: Number(form.days.value),
    model: form.model.value,
    plot: true,
    profile: { ...profile,
      risk_quantile: Number(form.risk_quantile.value),
      startup_seconds: Number(form.startup_seconds.value),
      capacity_per_replica: Number(form.capacity_per_replica.value) },
  };
  button.disabled = true;
  delete document.body.dataset.whatif;
  $("whatif-result").innerHTML = '<p class="muted">simulating…</p>';
  try {
    const report = await fc.postJSON("/v1/simulations", body);
    $("whatif-result").innerHTML = whatIfTable(report);
    document.body.dataset.whatif = "done";
  } catch (error) {
    const missing = error.status === 404 || error.status === 405;
    $("whatif-result").innerHTML = `<p class="error">${fc.esc(missing
      ? "this server has no simulator (POST /v1/simulations)" : error.message)}</p>`;
    document.body.dataset.whatif = "error";
  } finally {
    const hadFocus = document.activeElement === document.body;  // the disabled button lost it
    button.disabled = false;
    if (hadFocus) button.focus();
  }
}

function whatIfTable(report) {
  const rows = Object.entries(report.policies).map(([name, p]) => ({ name, ...p }));
  const reactive = report.policies.reactive, predictive = report.policies.predictive;
  const verdict = reactive && predictive
    ? `<p>Under-provisioned ${fc.num(predictive.under_provisioned_pct, 2)} % of the time with the
        plan against ${fc.num(reactive.under_provisioned_pct, 2)} % reactive, at
        ${fc.num(predictive.cost, 2)} against ${fc.num(reactive.cost, 2)}.</p>` : "";
  const plot = report.svg
    ? `<img alt="load against ready capacity per policy" style="max-width: 100%"
         src="data:image/svg+xml;charset=utf-8,${encodeURIComponent(report.svg)}">` : "";
  return verdict + table([
    { label: "policy", html: (r) => fc.esc(POLICY_NAMES[r.name] || r.name) },
    { label: "under-provisioned % of time", num: true, html: (r) => fc.num(r.under_provisioned_pct, 2) },
    { label: "unserved load %", num: true, html: (r) => fc.num(r.unserved_load_pct, 2) },
    { label: "replica-hours", num: true, html: (r) => fc.num(r.replica_hours, 1) },
    { label: "cost", num: true, html: (r) => fc.num(r.cost, 2) },
    { label: "scale events", num: true, html: (r) => r.scale_events },
    { label: "peak replicas", num: true, html: (r) => r.peak_replicas },
  ], rows.map((r) => ({ ...r, _class: r.name === "predictive" ? "champion" : "" })), "no policies") + plot;
}

async function main() {
  const end = new Date();
  const start = new Date(end.getTime() - HISTORY_DAYS * 86400e3);
  try {
    const [detail, history] = await Promise.all([
      fc.getJSON(`/v1/dashboard/services/${encodeURIComponent(NAME)}`),
      fc.getJSON(`${API}/history?${new URLSearchParams({
        start: start.toISOString(), end: end.toISOString() })}`),
    ]);
    // a service that was never trained has no forecast yet: draw without one (asking anyway
    // got a 409, which the browser logs as an error on every such page)
    const forecast = detail.summary.forecast_id === null ? null
      : await fc.getJSON(`${API}/forecast`).catch((error) => {
        if (error.status === 409) return null;  // gone since: retention, a deleted series
        throw error;
      });
    renderSummary(detail);
    renderTables(detail);
    setupWhatIf(detail);
    if (detail.first_sample_at || forecast || detail.plan) {
      await drawChart(detail, history, forecast);
      await loadReviewChoices();
      await restoreView();
    } else {
      showNoData(detail.summary);
    }
    document.body.dataset.ready = "1";
  } catch (error) {
    $("name").textContent = NAME;
    // 422: the API refuses the name itself (no service could have it)
    fc.fail(document.querySelector("main"), [404, 422].includes(error.status)
      ? `There is no service named "${NAME}". The overview lists every service.` : error);
  }
}

main();
