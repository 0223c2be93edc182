"""Text every database can store: PostgreSQL refuses NUL characters and no UTF-8 encoder takes a lone
surrogate, while SQLite stores both. Made storable at the edge, so a row looks the same on either."""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` itself when every database can store it, else a copy with NUL characters and lone surrogates
    replaced by U+FFFD (check with ``is``)."""
    if "\x00" not in text and (text.isascii() or not _UNSTORABLE.search(text)):
        return text
    return _UNSTORABLE.sub(REPLACEMENT, text)
