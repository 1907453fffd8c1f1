"""Offline commands: CSV in, CSV out, no database (``forecast``, ``backtest``)."""

from __future__ import annotations

from pathlib import Path

import typer

from forecaster.cli.app import (
    HOLIDAYS,
    TIMEZONE,
    VALUE_COLUMN,
    app,
    clock_zone,
    fail,
    progress_bar,
    read_input,
    say,
    status_printer,
    writable,
    writing,
)


def parse_quantiles(text: str) -> list[float]:
    """``0.5,0.9,0.95,0.99`` -> [0.5, 0.9, 0.95, 0.99], each strictly between 0 and 1."""
    from forecaster.errors import quoted

    try:
        values = sorted({float(part) for part in text.split(",") if part.strip()})
    except ValueError:
        fail(f"--quantiles must be numbers like 0.5,0.9,0.95,0.99, got {quoted(text)}")
    if not values or any(not 0 < q < 1 for q in values):
        fail(f"--quantiles must lie strictly between 0 and 1, got {quoted(text)}")
    return values


@app.command()
def forecast(
    input: Path = typer.Option(
        ..., "--input", exists=True, dir_okay=False, help="timestamp,value CSV"
    ),
    horizon: str = typer.Option("48h", help="how far ahead, e.g. 48h, 90min, 2d"),
    output: Path = typer.Option(
        ..., "--output", help="CSV to write: timestamp,p50,p90,... (- for stdout)"
    ),
    freq: str | None = typer.Option(None, help="resample to this step first, e.g. 5min"),
    model: str = typer.Option(
        "auto", help="auto (select by backtest), ensemble, or a model name (see backtest)"
    ),
    quantiles: str = typer.Option("0.5,0.9,0.95,0.99", help="comma-separated quantiles"),
    holidays: str | None = HOLIDAYS,
    timezone: str | None = TIMEZONE,
    value_column: str | None = VALUE_COLUMN,
) -> None:
    """Forecast a CSV of history; writes one row per future step with quantile columns."""
    from forecaster.errors import ForecasterError
    from forecaster.offline import forecast_file, write_forecast_csv

    writable(output, inputs=(input,))
    try:
        series_file = read_input(input, value_column=value_column, freq=freq)
        outcome = forecast_file(
            series_file,
            horizon=horizon,
            freq=freq,
            model=model,
            quantiles=parse_quantiles(quantiles),
            holidays=holidays,
            timezone=clock_zone(series_file, timezone),
        )
    except (ForecasterError, ValueError) as error:
        fail(str(error))
    with writing(output) as handle:
        write_forecast_csv(outcome.frame, handle, style=series_file.style)
    note = f" ({outcome.message})" if outcome.message else ""
    tell = status_printer(output)
    tell(f"model: {outcome.model}{note}")
    tell(f"wrote {len(outcome.frame)} steps to {output}")


@app.command()
def backtest(
    input: Path = typer.Option(
        ..., "--input", exists=True, dir_okay=False, help="timestamp,value CSV"
    ),
    horizon: str = typer.Option("24h", help="planning horizon each fold forecasts, e.g. 24h"),
    freq: str | None = typer.Option(None, help="resample to this step first, e.g. 5min"),
    models: str | None = typer.Option(None, help="comma-separated candidates (default: all)"),
    holidays: str | None = HOLIDAYS,
    timezone: str | None = TIMEZONE,
    value_column: str | None = VALUE_COLUMN,
    json_output: bool = typer.Option(False, "--json", help="print JSON for scripts"),
) -> None:
    """Backtest every model on a CSV and print the leaderboard (what --model auto picks from)."""
    import json

    from forecaster.errors import ForecasterError
    from forecaster.offline import backtest_file
    from forecaster.training.forecasting import SINGLE_SERIES
    from forecaster.training.leaderboard import format_leaderboard

    candidates = [m.strip() for m in models.split(",") if m.strip()] if models else None
    total = len(candidates or SINGLE_SERIES)
    bar = progress_bar("models")
    try:
        series_file = read_input(input, value_column=value_column, freq=freq)
        zone = clock_zone(series_file, timezone)
        with bar:
            task = bar.add_task("backtesting", total=total)

            def advance(name: str) -> None:
                bar.update(task, advance=1, description=f"backtested {name}")

            outcome = backtest_file(
                series_file,
                horizon=horizon,
                freq=freq,
                candidates=candidates,
                progress=advance,
                holidays=holidays,
                timezone=zone,
            )
    except (ForecasterError, ValueError) as error:
        fail(str(error))
    rows = [
        {"model": row.model, "status": row.status, "champion": row.champion}
        | row.as_dict()
        | {"message": row.message}
        for row in outcome.leaderboard
    ]
    if not any(row["champion"] for row in rows):  # a fallback, listed as the service lists it
        fallback = {"model": outcome.model, "status": "fallback", "champion": True}
        rows.append(fallback | {"message": outcome.message})
    if json_output:
        payload = {"champion": outcome.model, "message": outcome.message, "models": rows}
        say(json.dumps(payload, indent=2, default=float))
        return
    for line in format_leaderboard(rows):
        say(line)
    note = f" ({outcome.message})" if outcome.message else ""
    say(f"champion: {outcome.model}{note}")
