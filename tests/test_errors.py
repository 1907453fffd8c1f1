"""The shared helpers that write values into user-facing messages."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.errors import json_text, listing


def test_listing_writes_names_and_numbers_plainly() -> None:
    assert listing(["static", "reactive"]) == "static, reactive"
    assert listing((1.0, 15.0, np.float64(2.5), np.int64(3))) == "1, 15, 2.5, 3"
    assert listing([pd.Timestamp("2024-05-01 12:00", tz="UTC")]) == "2024-05-01T12:00:00+00:00"


def test_json_text_writes_what_a_client_sent() -> None:
    assert json_text([0, "x"]) == '[0, "x"]'
    assert json_text([np.float64(1.5), None, True]) == "[1.5, null, true]"
    assert json_text([float("nan"), np.float64("inf")]) == '["nan", "inf"]'
    assert json_text(pd.Timestamp("2024-05-01", tz="UTC")) == '"2024-05-01T00:00:00+00:00"'
    assert json_text({"a": [np.int64(1)]}) == '{"a": [1]}'
