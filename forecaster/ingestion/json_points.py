"""The fast path for ``POST /v1/metrics`` bodies: points arrays read straight from the bytes.

Building a Python list per point and a float per number was most of the CPU time of a large
batch (about 130 ms of JSON decoding per 100k points, before any validation). Here each
``"points": [[ts, value], ...]`` array whose text is only numbers, commas and brackets is cut
out of the body and read by numpy (``np.fromstring``) after a vectorised check that it is
exactly a list of JSON number pairs; the small rest of the body (services, metrics, labels) is
decoded as usual. Anything else (ISO timestamps, strings, nulls, malformed arrays, a stray
``"points"`` key) returns ``None`` and the caller decodes the body the general way, which also
writes the error messages; the two paths give identical results (a property test checks it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, overload

import numpy as np
from pydantic_core import from_json

# a "points" key whose array holds nothing but number characters, commas, brackets, spaces
_POINTS = re.compile(rb'"points"[ \t\r\n]*:[ \t\r\n]*\[([-+0-9.eE,\[\] \t\r\n]*)\]')
_SPACE = np.zeros(256, dtype=bool)
_SPACE[[ord(c) for c in " \t\r\n"]] = True
_SEPARATOR = _SPACE.copy()
_SEPARATOR[[ord(c) for c in ",[]"]] = True
_RESTRICTED = np.zeros(256, dtype=bool)
_RESTRICTED[[ord(c) for c in "+-.eE0"]] = True
_BRACKETS_TO_SPACES = bytes.maketrans(b"[]", b"  ")
_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[ord("0") : ord("9") + 1] = True


class RawPoints(Sequence[Any]):
    """The points of one fast-path array as the client wrote them, decoded only when quoted."""

    def __init__(self, text: bytes, opens: np.ndarray, closes: np.ndarray) -> None:
        self._text, self._opens, self._closes = text, opens, closes

    def __len__(self) -> int:
        return len(self._opens)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        text = self._text[self._opens[index] : self._closes[index] + 1]
        try:
            return from_json(text)
        except ValueError:  # an integer of over 4,300 digits: quoted as sent, for the message
            return [text.decode("utf-8", "replace")[:80]]


def split_body(body: bytes) -> tuple[bytes, list[tuple[np.ndarray, RawPoints]]] | None:
    """The body with each numeric points array replaced by its index, and the arrays as
    ``(n x 2 float array, raw points)``; ``None`` when any array is not plain number pairs."""
    pieces: list[bytes] = []
    arrays: list[tuple[np.ndarray, RawPoints]] = []
    last = 0
    for match in _POINTS.finditer(body):
        parsed = read_pairs(match.group(1))
        if parsed is None:
            return None
        arrays.append(parsed)
        pieces += [body[last : match.start()], b'"points":%d' % (len(arrays) - 1)]
        last = match.end()
    if not arrays:
        return None
    pieces.append(body[last:])
    return b"".join(pieces), arrays


def read_pairs(text: bytes) -> tuple[np.ndarray, RawPoints] | None:
    """``[a,b],[c,d],...`` (the inside of a points array) as an n x 2 float array, or None.

    Only the brackets, commas and the few characters JSON restricts are looked at (positions
    found once, checked as small arrays); the digits are left to ``np.fromstring``.
    """
    chars = np.frombuffer(text, dtype=np.uint8)
    opens = np.flatnonzero(chars == ord("["))
    closes = np.flatnonzero(chars == ord("]"))
    count = len(opens)
    if count == 0:
        return (np.zeros((0, 2)), RawPoints(text, opens, closes)) if not text.strip() else None
    if len(closes) != count or np.any(opens > closes) or np.any(opens[1:] < closes[:-1]):
        return None  # brackets must alternate [ ] [ ] ...
    if text[: opens[0]].strip() or text[closes[-1] + 1 :].strip():
        return None
    commas = np.flatnonzero(chars == ord(","))
    pair = np.searchsorted(opens, commas) - 1  # the pair whose "[" precedes each comma
    within = (pair >= 0) & (commas < closes[np.maximum(pair, 0)])
    if not (
        np.array_equal(pair[within], np.arange(count))
        and np.array_equal(pair[~within], np.arange(count - 1))
    ):
        return None  # one comma inside each pair, one after each pair but the last
    if not _gaps_are_blank(chars, opens, closes) or not _json_numbers_only(chars):
        return None
    if not _halves_are_numbers(chars, opens, commas[within], closes):
        return None
    try:
        flat = np.fromstring(text.translate(_BRACKETS_TO_SPACES), sep=",")
    except ValueError:
        return None
    if len(flat) != 2 * count:
        return None
    return flat.reshape(count, 2), RawPoints(text, opens, closes)


def _halves_are_numbers(
    chars: np.ndarray, opens: np.ndarray, middles: np.ndarray, closes: np.ndarray
) -> bool:
    """numpy reads an empty number ("[5,]", "[ ,5]") as -1: each half of a pair needs a digit.
    Compact JSON needs only the widths; spaces inside a pair need the digits counted."""
    if np.any(middles - opens < 2) or np.any(closes - middles < 2):
        return False
    if not _SPACE[chars].any():
        return True
    digits_before = np.concatenate(([0], np.cumsum(_DIGIT[chars], dtype=np.int32)))
    return bool(
        np.all(digits_before[middles] > digits_before[opens + 1])
        and np.all(digits_before[closes] > digits_before[middles + 1])
    )


def _gaps_are_blank(chars: np.ndarray, opens: np.ndarray, closes: np.ndarray) -> bool:
    """Between one pair's "]" and the next "[": a comma and spaces only."""
    widths = opens[1:] - closes[:-1] - 1
    if len(widths) == 0 or np.all(widths == 1):  # compact JSON: the comma checked above
        return True
    starts = np.repeat(closes[:-1] + 1, widths)
    offsets = np.arange(len(starts)) - np.repeat(np.cumsum(widths) - widths, widths)
    between = chars[starts + offsets]
    return bool(np.all(_SPACE[between] | (between == ord(","))))


def _json_numbers_only(chars: np.ndarray) -> bool:
    """Refuse what numpy would read but JSON forbids: ``+1``, ``.5``, ``1.``, ``01``, ``1e``.

    (Doubled dots or exponents make ``np.fromstring`` itself fail, so they fall back too.)
    Only the positions of ``+ - . e E 0`` are examined, with their neighbours.
    """
    where = np.flatnonzero(_RESTRICTED[chars])
    if len(where) == 0:
        return True
    if where[0] < 1 or where[-1] >= len(chars) - 1:
        return False  # inside a valid array they sit after a "[" and before a "]"
    char, prev, nxt = chars[where], chars[where - 1], chars[where + 1]
    prev2 = chars[np.maximum(where - 2, 0)]
    digit_before, digit_after = _DIGIT[prev], _DIGIT[nxt]
    exp_before = (prev == ord("e")) | (prev == ord("E"))
    token_start = _SEPARATOR[prev]
    checks = (
        (char != ord("+")) | (exp_before & digit_after),
        (char != ord("-")) | ((exp_before | token_start) & digit_after),
        (char != ord(".")) | (digit_before & digit_after),
        ~((char == ord("e")) | (char == ord("E")))
        | (digit_before & (digit_after | (nxt == ord("+")) | (nxt == ord("-")))),
        # a leading zero: "0" first in a number (or after its sign) with a digit after it
        (char != ord("0"))
        | ~digit_after
        | ~(token_start | ((prev == ord("-")) & _SEPARATOR[prev2])),
    )
    return bool(np.logical_and.reduce(checks).all())
