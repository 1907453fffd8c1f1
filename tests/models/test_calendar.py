"""Holiday codes: a country (``US``) or an ISO 3166-2 subdivision (``DE-BY``), read one way."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from models.calendar import Calendar, HolidayRegion, UnknownHolidayRegionError, holiday_region

JANUARY = pd.date_range("2024-01-01", "2024-01-31", freq="D", tz="UTC")
EPIPHANY = date(2024, 1, 6)  # a holiday in Bavaria (DE-BY), not in the whole of Germany


@pytest.mark.parametrize(
    ("code", "region"),
    [
        ("us", HolidayRegion("US")),
        ("de-by", HolidayRegion("DE", "BY")),
        ("GB-eng", HolidayRegion("GB", "ENG")),
        ("de-AUGSBURG", HolidayRegion("DE", "Augsburg")),  # as the holidays package spells it
        (" DE-BY ", HolidayRegion("DE", "BY")),  # pasted with spaces around
        ("de - by", HolidayRegion("DE", "BY")),
        ("DEU-BY", HolidayRegion("DE", "BY")),  # the package's alpha-3 code: one calendar
        ("UK-SCT", HolidayRegion("GB", "SCT")),  # its alias for GB
        ("usa", HolidayRegion("US")),
    ],
)
def test_a_code_reads_in_any_case_as_spelt_by_the_package(code: str, region: HolidayRegion) -> None:
    assert holiday_region(code) == region
    assert holiday_region(region.code) == region


def test_an_unknown_country_or_subdivision_is_named() -> None:
    with pytest.raises(UnknownHolidayRegionError) as country:
        holiday_region("xx-by")
    assert (country.value.country, country.value.subdivision) == ("xx", None)
    with pytest.raises(UnknownHolidayRegionError) as subdivision:
        holiday_region("de-xx")
    assert (subdivision.value.country, subdivision.value.subdivision) == ("DE", "xx")
    assert {"BY", "BW"} <= set(subdivision.value.choices)
    with pytest.raises(UnknownHolidayRegionError) as trimmed:
        holiday_region(" deu-xx ")
    assert (trimmed.value.country, trimmed.value.subdivision) == ("DE", "xx")


def test_a_subdivision_adds_its_own_holidays_to_the_countrys() -> None:
    bavaria = Calendar(holiday_country="DE-BY")
    germany = Calendar(holiday_country="DE")
    assert EPIPHANY in bavaria.holiday_names(JANUARY)
    assert EPIPHANY not in germany.holiday_names(JANUARY)
    assert pd.Timestamp(EPIPHANY, tz="UTC") in bavaria.holiday_dates(JANUARY)
    assert date(2024, 1, 1) in bavaria.holiday_names(JANUARY)  # the country's as well
