// Helpers shared by the dashboard's pages: fetching JSON, escaping, formatting.
// Everything is UTC: the API speaks UTC and the charts are labelled UTC.
"use strict";

const fc = {
  /** Fetch a JSON endpoint of this API (GET by default); errors carry the API's own message. */
  async getJSON(url, options = {}) {
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin", ...options });
    } catch (error) {  // no answer at all: the server is down or the network is
      throw new Error(`${url}: the server could not be reached (${error.message})`);
    }
    if (response.ok) return response.json();
    let detail = response.statusText;
    try {
      const said = (await response.json()).detail;
      // FastAPI's 422s list each invalid field
      detail = Array.isArray(said)
        ? said.map((e) => `${(e.loc || []).join(".")}: ${e.msg}`).join("; ")
        : said || detail;
    } catch (_) { /* not JSON */ }
    if (response.status === 401 || response.status === 403) {
      detail += " (the dashboard sends the API key stored in the forecaster_key cookie)";
      fc.askForKey();
    }
    const error = new Error(`${url}: ${response.status} ${detail}`);
    error.status = response.status;
    throw error;
  },

  /** Offer, once per page, a box to paste a read key; it is kept in a same-site cookie. */
  askForKey() {
    if (document.getElementById("key-form")) return;
    const form = document.createElement("form");
    form.id = "key-form";
    form.className = "key-form";
    form.innerHTML = '<label>This server needs an API key with the <b>read</b> scope: ' +
      '<input type="password" name="key" autocomplete="off" placeholder="fk_..." required></label> ' +
      '<button type="submit">Use key</button>';
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const key = form.elements.key.value.trim();
      document.cookie = `forecaster_key=${encodeURIComponent(key)}; path=/; SameSite=Strict; max-age=2592000`;
      window.location.reload();
    });
    document.body.prepend(form);
    form.elements.key.focus();  // the one thing to do on this page now
  },

  /** POST JSON to an endpoint of this API (what-if simulations). */
  async postJSON(url, body) {
    return fc.getJSON(url, { method: "POST", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json" } });
  },

  esc(value) {
    return String(value ?? "").replace(/[&<>"']/g, (c) => ({
      "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
    })[c]);
  },

  num(value, digits = 1) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    const n = Number(value);
    if (n !== 0 && Math.abs(n) < 0.5 * 10 ** -digits) {  // 0.04 req/s is not "0"
      return n.toLocaleString("en-US", { maximumSignificantDigits: 2 });
    }
    return n.toLocaleString("en-US", { maximumFractionDigits: digits });
  },

  /** "1 replica", "3 replicas": a count with its noun in the right number. */
  count(n, noun) {
    return `${n} ${noun}${Number(n) === 1 ? "" : "s"}`;
  },

  /** "2024-05-01 12:05" from an ISO timestamp, in UTC. */
  when(iso) {
    if (!iso) return "–";
    return new Date(iso).toISOString().slice(0, 16).replace("T", " ");
  },

  /** :func:`when` for a table cell, on one line: a date broken mid-way reads as two. */
  whenCell(iso) {
    return `<span class="nowrap">${fc.when(iso)}</span>`;
  },

  /** A Plotly date string (UTC wall time, no zone) from an ISO timestamp. */
  plotTime(iso) {
    return new Date(iso).toISOString().slice(0, 23).replace("T", " ");
  },

  /** Back from a Plotly date string to an ISO timestamp the API reads as UTC. */
  isoFromPlot(value) {
    const text = String(value).replace(" ", "T");
    return /Z$|[+-]\d\d:\d\d$/.test(text) ? text : `${text}Z`;
  },

  /** A whole duration in its largest whole unit: 300 -> "5 min", 3600 -> "1 h", 45 -> "45 s". */
  duration(seconds) {
    const units = [[86400, "d"], [3600, "h"], [60, "min"]];
    const [size, name] = units.find(([size]) => seconds >= size && seconds % size === 0)
      || [1, "s"];
    return `${seconds / size} ${name}`;
  },

  ago(iso) {
    if (!iso) return "never";
    const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
    const future = seconds < 0;
    let s = Math.abs(seconds);
    let text;
    if (s < 90) text = `${Math.round(s)} s`;
    else if ((s /= 60) < 90) text = `${Math.round(s)} min`;
    else if ((s /= 60) < 36) text = `${Math.round(s)} h`;
    else text = `${Math.round(s / 24)} d`;
    return future ? `in ${text}` : `${text} ago`;
  },

  /** The headline backtest scores (MASE and band coverage when present, else whatever exists). */
  scores(scores) {
    const keys = Object.keys(scores || {});
    if (!keys.length) return '<span class="muted">no scores</span>';
    const headline = ["mase", "coverage.p90", "coverage.p95", "mae"].filter((k) => k in scores);
    return (headline.length ? headline : keys)
      .map((k) => `${fc.esc(k)} ${fc.num(scores[k], 3)}`).join(" · ");
  },

  mode(summary) {
    if (!summary.enabled) return '<span class="pill disabled">disabled</span>';
    if (summary.forecast_only) return '<span class="pill forecast-only">forecast-only</span>';
    const targets = summary.targets.length ? summary.targets.join(", ") : "no targets";
    return `<span class="pill actuating">actuating</span> <span class="small muted">${fc.esc(targets)}</span>`;
  },

  actuation(a) {
    if (!a) return '<span class="muted">none yet</span>';
    const dry = a.dry_run ? " (dry run)" : "";
    return `<span class="pill ${fc.esc(a.outcome)}">${fc.esc(a.outcome)}</span>${dry}
      <div class="small muted">${fc.esc(a.target)} · ${fc.ago(a.created_at)}</div>`;
  },

  /** A stale plan's note (why it ran out) as a warning line. The server's words go in as
   * text, never parsed as HTML, whatever a service's name or the note holds. */
  planNote(note) {
    const line = document.createElement("p");
    line.className = "plan-note";
    line.setAttribute("role", "status");
    line.textContent = note;
    return line;
  },

  warnings(list, block = false) {
    if (!list.length) return block ? "" : '<span class="ok">ok</span>';
    const items = list.map((w) => `<li>${fc.esc(w)}</li>`).join("");
    return `<ul class="warnings${block ? " block" : ""}">${items}</ul>`;
  },

  fail(element, error) {
    element.innerHTML = `<p class="error">${fc.esc(error.message || error)}</p>`;
    document.body.dataset.ready = "error";
  },
};
