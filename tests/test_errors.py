"""The shared helpers that write values into user-facing messages."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.errors import json_text, listing, quoted


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


def test_quoted_writes_a_name_as_a_user_would() -> None:
    assert quoted("chat") == '"chat"'
    assert quoted("café") == '"café"'
    assert quoted("it's") == '"it\'s"'
    assert quoted('say "hi"') == '"say \\"hi\\""'
    assert quoted("tab\there") == '"tab\\there"'


def test_half_a_surrogate_pair_keeps_its_escape() -> None:
    # a CLI argument that was not UTF-8 arrives as "\udcff"; the message must stay writable
    assert quoted("\udcff") == '"\\udcff"'
    assert json_text(["é", "\ud800"]) == '["é", "\\ud800"]'
    quoted("a\udcffb").encode("utf-8")
