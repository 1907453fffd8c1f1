"""JSON bodies are UTF-8 (RFC 8259, section 8.1): the one encoding check every route that
reads JSON makes, ``POST /v1/metrics`` (its own parser) and the routes FastAPI parses alike.

Python's ``json.loads`` guesses UTF-16 and UTF-32 from a body's first bytes while pydantic-core
reads UTF-8 only, so a UTF-16 body was stored by ``PUT /v1/services/{name}`` and refused by
``POST /v1/metrics`` as "expected value at line 1 column 1", which named no encoding (QA).
"""

from __future__ import annotations

import codecs
import json

from forecaster.errors import InvalidInputError


def utf8_json(body: bytes) -> bytes:
    """``body`` without a UTF-8 byte order mark (some Windows tools write one); a body in
    UTF-16 or UTF-32, with a byte order mark or without, is refused, naming its encoding."""
    encoding = json.detect_encoding(body)  # what json.loads would have decoded it as
    if not encoding.startswith("utf-8"):
        name = encoding[:6].upper()
        raise InvalidInputError(
            f"body is not valid JSON: it is {name} text; send JSON as UTF-8 (RFC 8259)"
        )
    return body.removeprefix(codecs.BOM_UTF8)
