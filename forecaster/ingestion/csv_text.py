"""Read a CSV as text columns, the one way the upload endpoint and the offline commands do."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd

from forecaster.errors import InvalidInputError, listing, quoted

MAX_COLUMNS = 1_000  # a wide export has a few hundred series; a header of a million is an attack
# what spreadsheets write instead of commas: ';' where the decimal mark is a comma, tabs in TSV
_OTHER_SEPARATORS = {";": '";"', "\t": "a tab"}


# pandas' C parser on a row with more fields than the header
_TOO_MANY_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _parser_problem(error: pd.errors.ParserError) -> str:
    """pandas' "Error tokenizing data. C error: Expected 2 fields in line 3, saw 3" as what is
    wrong and the fix; other parser errors as pandas words them."""
    found = _TOO_MANY_FIELDS.search(str(error))
    if found is None:
        return str(error)
    header, line, fields = found.groups()
    return (
        f"line {line} has {fields} fields where the header has {header}; quote a value that "
        "holds a comma, or give every row the header's columns"
    )


GZIP_MAGIC = b"\x1f\x8b"


def read_csv_text(
    source: Path | bytes, *, header: int | None = 0, name: str = "CSV"
) -> pd.DataFrame:
    """Every cell as text (validated by the caller), the header row naming the columns.

    pandas silently takes the first column as the row index when every row has one field more
    than the header (a trailing comma, an extra column): the values would land in the wrong
    columns, so such a file is refused, naming the problem, unless that extra field is blank
    in every row (a trailing comma), which is dropped. So is a file that is not UTF-8
    text, saying so: the decoder's own message names a byte, not the fix. A file separated by
    ';' or tabs is refused with a hint, not read: ';' files often write decimal commas.
    """
    # read as text, a gzip file was "not UTF-8 (UTF-16?)", which misled (QA)
    if _first_bytes(source) == GZIP_MAGIC:
        raise InvalidInputError(f"cannot read {name}: it is gzip-compressed; decompress it first")
    data = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        frame = pd.read_csv(data, dtype=str, keep_default_na=False, header=header)
    except UnicodeDecodeError:
        raise _not_utf8(name) from None
    except pd.errors.EmptyDataError:  # pandas: "No columns to parse from file"
        raise InvalidInputError(f"cannot read {name}: the file is empty") from None
    except pd.errors.ParserError as error:
        raise InvalidInputError(f"cannot read {name}: {_parser_problem(error)}") from None
    except (OSError, ValueError) as error:
        raise InvalidInputError(f"cannot read {name}: {error}") from None
    if frame.shape[1] > MAX_COLUMNS:  # 50,000 columns took 11 s to refuse, 1,000,000 minutes
        raise InvalidInputError(
            f"cannot read {name}: it has {frame.shape[1]} columns, at most {MAX_COLUMNS}; "
            "keep the timestamp and value columns"
        )
    if any("\x00" in str(column) for column in frame.columns):
        raise _not_utf8(name)  # UTF-16 without a byte-order mark decodes, a NUL in every other byte
    header_text = ",".join(str(column) for column in frame.columns)
    for separator, label in _OTHER_SEPARATORS.items():
        if separator in header_text:
            raise InvalidInputError(
                f"cannot read {name}: it seems to use {label} as separator "
                f"({quoted(header_text)}); save it comma-separated"
            )
    if not isinstance(frame.index, pd.RangeIndex):
        frame = _without_trailing_separators(frame)
    unnamed = header is None or str(frame.columns[-1]).startswith("Unnamed: ")
    if frame.shape[1] > 1 and unnamed and _blank(frame.iloc[:, -1]):
        frame = frame.iloc[:, :-1]  # a trailing comma on the header too, or with no header
    if not isinstance(frame.index, pd.RangeIndex):
        raise InvalidInputError(
            f"cannot read {name}: its rows have more fields than the header "
            f"({len(frame.columns)}: {listing(frame.columns)}); "
            "a trailing comma or an extra column?"
        )
    return _without_trailing_empty_rows(frame)


def _blank(column: pd.Series) -> bool:
    """Whether every cell of ``column`` is blank (a missing field reads as NaN)."""
    return bool(column.fillna("").str.strip().eq("").all())


def _without_trailing_separators(frame: pd.DataFrame) -> pd.DataFrame:
    """A file whose rows end with separators the header lacks (``2024-01-01,5,``, as some
    exporters write) read as pandas shifted it: the first columns taken as the index (one a
    field too many: ``5,,`` took two, which a shift back by one failed on, a 500), the values
    as many columns left, the last columns the blank fields. Shifted back, the blank fields
    dropped: nothing is lost, where a refusal had stopped every such file (a QA sweep).
    Unchanged (still shifted: refused) when an extra field holds something."""
    shifted = frame.reset_index(allow_duplicates=True)
    kept = frame.shape[1]
    if not all(_blank(shifted.iloc[:, column]) for column in range(kept, shifted.shape[1])):
        return frame
    return shifted.iloc[:, :kept].set_axis(frame.columns, axis=1)


def _first_bytes(source: Path | bytes) -> bytes:
    """The first two bytes of the file (none when it cannot be opened: pandas says why)."""
    if isinstance(source, bytes):
        return source[:2]
    try:
        with source.open("rb") as file:
            return file.read(2)
    except OSError:
        return b""


def _without_trailing_empty_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without the rows of blank cells at its end: a spreadsheet saves its empty
    rows as ``,`` lines, which had refused the whole file as unreadable (blank lines were
    already skipped). Only trailing ones go, so every other row keeps its line number."""
    filled = (frame.apply(lambda column: column.str.strip()) != "").any(axis=1).to_numpy()
    last = filled.nonzero()[0]
    return frame.iloc[: int(last[-1]) + 1 if len(last) else 0]


def _not_utf8(name: str) -> InvalidInputError:
    """The refusal of a file in another encoding, with what to do about it."""
    return InvalidInputError(
        f"cannot read {name}: it is not UTF-8 text (UTF-16, or a spreadsheet's own encoding?); "
        "save it as a UTF-8 CSV"
    )
