"""Personal data in what the simulator shows: CPR numbers masked (`SIMULATOR_MASK_CPR`, default on)."""

from __future__ import annotations

import re

CPR_RE = re.compile(r"(?<![\dA-Za-z])((?:0[1-9]|[12]\d|3[01])(?:0[1-9]|1[0-2])\d{2})(-?)(\d{4})(?![\dA-Za-z])")
"""A CPR number: DDMMYY, an optional hyphen, four digits; not part of a longer run of digits or letters."""


def mask_cpr(text: str) -> str:
    """`text` with every CPR number's last four digits (the serial and sex digit) replaced: 0101901234 →
    010190xxxx, 010190-1234 → 010190-xxxx."""
    return CPR_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}xxxx", text)
