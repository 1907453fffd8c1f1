"""FORECASTER_LOG_LEVEL sets how much the JSON logs say; a level that does not exist stops
start-up naming the ones that do."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from forecaster.errors import ConfigurationError
from forecaster.logs import configure_logging


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, its handlers and level put back after the test reconfigures them."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize(
    ("value", "written"),
    [(None, ["info", "warning"]), ("debug", ["debug", "info", "warning"]), (" Error ", [])],
)
def test_the_log_level_comes_from_the_environment_in_any_case(
    root_logger: logging.Logger,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    value: str | None,
    written: list[str],
) -> None:
    if value is None:
        monkeypatch.delenv("FORECASTER_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("FORECASTER_LOG_LEVEL", value)
    configure_logging()
    log = logging.getLogger("forecaster.test_logs")
    log.debug("a debug line")
    log.info("an info line")
    log.warning("a warning line")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["level"] for line in lines] == written


def test_an_unknown_level_is_refused_naming_the_levels(
    root_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORECASTER_LOG_LEVEL", "verbose")
    with pytest.raises(ConfigurationError) as raised:
        configure_logging()
    assert str(raised.value) == (
        "FORECASTER_LOG_LEVEL='verbose': not a log level; "
        "use one of DEBUG, INFO, WARNING, ERROR (any case)"
    )
