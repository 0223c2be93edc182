"""Property-based fuzzing of the envelope parser and context reader: whatever bytes arrive, the
result is an envelope or a documented SoapFaultError — never another exception."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.soap.context import read_context
from simulator.soap.envelope import parse_envelope
from simulator.soap.errors import ErrorCode, SoapFaultError
from tests.serviceplatform.pingservice import envelope

VALID = envelope()
DOCUMENTED = {str(c) for c in ErrorCode}


def parse_and_read(data: bytes) -> None:
    try:
        env = parse_envelope(data, max_bytes=100_000)
        if env.payload is not None:
            read_context(env.payload)
    except SoapFaultError as e:
        assert str(e.code) in DOCUMENTED, e.code
        assert e.text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_never_escape_as_an_unexpected_error(data):
    parse_and_read(data)


@settings(max_examples=400, deadline=None)
@given(st.integers(0, len(VALID) - 1), st.integers(1, 40), st.binary(max_size=40))
def test_mutated_valid_envelopes_get_a_documented_answer(at, cut, insert):
    parse_and_read(VALID[:at] + insert + VALID[at + cut :])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_hostile_strings_in_a_field_are_handled(value):
    from xml.sax.saxutils import escape

    body = VALID.replace(b"<ic:UserUUID>", b"<ic:UserUUID>" + escape(value).encode("utf-8"), 1)
    parse_and_read(body)
