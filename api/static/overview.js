// The overview: one row per service, from GET /v1/dashboard/overview.
"use strict";

/** A small SVG: recent actual load (solid), forecast p50 (dashed) in its p95 band, a now line. */
function sparkline(spark, width = 220, height = 44) {
  const actual = spark.actual_ts.map((t, i) => [Date.parse(t), spark.actual[i]]);
  const p50 = spark.forecast_ts.map((t, i) => [Date.parse(t), spark.p50[i]]);
  const p95 = spark.forecast_ts.map((t, i) => [Date.parse(t), spark.p95[i]]);
  const all = [...actual, ...p50, ...p95].filter(([, v]) => v !== null);
  if (!all.length) return '<span class="muted small">no data</span>';
  const now = Date.now();
  const x0 = now - 6 * 3600e3, x1 = now + 6 * 3600e3;
  const yMax = Math.max(...all.map(([, v]) => v)) || 1;
  const x = (t) => ((t - x0) / (x1 - x0)) * width;
  const y = (v) => height - 2 - (v / yMax) * (height - 4);
  const path = (points) => {
    let d = "", pen = "M";
    for (const [t, v] of points) {
      if (v === null) { pen = "M"; continue; }
      d += `${pen}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      pen = "L";
    }
    return d;
  };
  const band = p95.length
    ? `M${p95.map(([t, v]) => `${x(t).toFixed(1)},${y(v ?? 0).toFixed(1)}`).join("L")}` +
      `L${[...p50].reverse().map(([t, v]) => `${x(t).toFixed(1)},${y(v ?? 0).toFixed(1)}`).join("L")}Z`
    : "";
  return `<svg class="spark" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"
      role="img" aria-label="load sparkline">
    <path d="${band}" fill="#2f6fdf" fill-opacity="0.18" stroke="none"/>
    <path d="${path(actual)}" fill="none" stroke="#1f2933" stroke-width="1.3"/>
    <path d="${path(p50)}" fill="none" stroke="#2f6fdf" stroke-width="1.3" stroke-dasharray="3 2"/>
    <line x1="${x(now)}" x2="${x(now)}" y1="0" y2="${height}" stroke="#9aa5b1" stroke-width="0.8"/>
  </svg>`;
}

function planned(plan, field) {
  if (!plan) return '<span class="muted">no plan</span>';
  const replicas = plan[`${field}replicas`], gpus = plan[`${field}gpus`];
  if (replicas === null) return '<span class="muted">–</span>';
  const since = field === "" && plan.since ? ` from ${fc.when(plan.since).slice(11)}` : "";
  // a stale plan's floor is one nothing holds: the actuators restored their baselines
  const stale = field === "" && plan.stale ? " · not in force" : "";
  const detail = [gpus ? fc.count(gpus, "GPU") : "", since, stale].filter(Boolean).join("");
  return `${fc.count(replicas, "replica")}${detail ? `<div class="small muted">${detail}</div>` : ""}`;
}

function row(s) {
  const unit = s.unit ? ` <span class="small muted">${fc.esc(s.unit)}</span>` : "";
  const champion = s.champion
    ? `${fc.esc(s.champion.model)}<div class="small muted">${fc.scores(s.champion.scores)}</div>`
    : '<span class="muted">not trained</span>';
  const href = `/dashboard/services/${encodeURIComponent(s.name)}`;
  return `<tr data-service="${fc.esc(s.name)}">
    <td class="name"><a href="${href}">${fc.esc(s.name)}</a><div class="small muted">${fc.esc(s.metric)}</div></td>
    <td>${fc.mode(s)}</td>
    <td class="num">${fc.num(s.current_load)}${unit}
      <div class="small muted">${fc.ago(s.last_sample_at)}</div></td>
    <td>${sparkline(s.sparkline)}</td>
    <td>${champion}</td>
    <td class="num">${planned(s.plan, "")}</td>
    <td class="num">${planned(s.plan, "peak_")}</td>
    <td>${fc.actuation(s.last_actuation)}</td>
    <td class="status">${fc.warnings(s.warnings)}</td>
  </tr>`;
}

async function main() {
  const body = document.querySelector("#services tbody");
  try {
    const overview = await fc.getJSON("/v1/dashboard/overview");
    body.innerHTML = overview.count
      ? overview.data.map(row).join("")
      : '<tr><td colspan="9" class="muted">no services yet: create one with PUT /v1/services/{name}</td></tr>';
    // why a plan ran out, under the row's warnings (the rows are in overview.data's order)
    overview.data.forEach((s, i) => {
      if (s.plan && s.plan.note) body.rows[i].querySelector("td.status").append(fc.planNote(s.plan.note));
    });
    document.getElementById("generated").textContent = `as of ${fc.when(overview.generated_at)} UTC`;
    document.body.dataset.ready = "1";
  } catch (error) {
    fc.fail(body.parentElement.parentElement, error);
  }
}

main();
