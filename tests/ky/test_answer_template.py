"""builtin:ky answers from a frame built once: byte for byte what building the tree would give."""

from __future__ import annotations

import pytest

from simulator.ky import xml as x
from simulator.ky.contracts import NS_DAEKNING
from simulator.soap.envelope import build_envelope
from simulator.soap.kvittering import Kvittering


@pytest.mark.parametrize(
    "k",
    [
        Kvittering("ACCEPTERET"),
        Kvittering("ACCEPTERET", "coverage 1 of 0.01 booked; outstanding now 9.99"),
        Kvittering("AFVIST", 'a & <b> "c" æøå\r\n', [("KY-DA-004", "x > y & z"), ("KY-DA-000", "")]),
        Kvittering("AFVIST", "", [("KY-DA-001", "no claim")]),
    ],
)
@pytest.mark.parametrize("operation", ["RegistrerDaekning", "RegistrerAfskrivning"])
def test_the_answer_is_what_the_tree_would_be(k: Kvittering, operation: str) -> None:
    assert x.response_envelope(NS_DAEKNING, operation, k) == build_envelope(
        x.response_element(NS_DAEKNING, operation, k)
    )


def test_text_xml_cannot_carry_is_refused_as_before() -> None:
    with pytest.raises(ValueError):
        x.response_envelope(NS_DAEKNING, "RegistrerDaekning", Kvittering("AFVIST", "nul \x00 here"))
