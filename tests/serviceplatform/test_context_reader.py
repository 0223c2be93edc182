"""The context reader (simulator/soap/context.py) against the plain QName-based reader it replaced for speed:
for every arrangement of context elements, right and wrong namespaces, duplicates, unknown and misplaced
elements, both give the same context or refuse with the same code and text."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from simulator.soap.context import (
    _CONTEXT_NS,
    _OPTIONAL,
    _REQUIRED,
    CVR_RE,
    InvocationContext,
    RequestContext,
    _snake,
    _text,
    check_uuid,
    read_context,
)
from simulator.soap.errors import ErrorCode, SoapFaultError
from simulator.soap.ns import AUTHORITY_CONTEXT, CALL_CONTEXT, INVOCATION_CONTEXT

# -- the reference: the reader as it was before it was made fast (etree.QName per child) -------------------


def _ref_invocation(el: etree._Element) -> InvocationContext:
    seen: dict[str, str] = {}
    for child in el:
        if not isinstance(child.tag, str):
            continue
        qn = etree.QName(child)
        if qn.localname not in _REQUIRED + _OPTIONAL:
            raise SoapFaultError(
                ErrorCode.INVALID_INVOCATION_CONTEXT,
                f"InvocationContext has an unknown element {qn.localname}",
            )
        if qn.namespace != INVOCATION_CONTEXT:
            raise SoapFaultError(
                ErrorCode.INVALID_INVOCATION_CONTEXT,
                f"InvocationContext/{qn.localname} must be in namespace {INVOCATION_CONTEXT}",
            )
        if qn.localname in seen:
            raise SoapFaultError(
                ErrorCode.INVALID_INVOCATION_CONTEXT, f"InvocationContext/{qn.localname} appears twice"
            )
        seen[qn.localname] = _text(child)
    missing = [n for n in _REQUIRED if not seen.get(n)]
    if missing:
        raise SoapFaultError(ErrorCode.INVALID_INVOCATION_CONTEXT, f"InvocationContext lacks {', '.join(missing)}")
    for name in _REQUIRED:
        check_uuid(seen[name], f"InvocationContext/{name}")
    for name in _OPTIONAL:
        if name in seen and len(seen[name]) > 255:
            raise SoapFaultError(
                ErrorCode.INVALID_INVOCATION_CONTEXT,
                f"InvocationContext/{name} is longer than 255 characters",
            )
    return InvocationContext(**{_snake(k): v for k, v in seen.items()})


def ref_read_context(payload: etree._Element) -> RequestContext:
    """Read CallContext?, AuthorityContext?, InvocationContext? from the front of the request element."""
    found: dict[str, etree._Element] = {}
    index = 0
    children = [c for c in payload if isinstance(c.tag, str)]
    for index, child in enumerate(children):  # noqa: B007 - index used after the loop
        qn = etree.QName(child)
        if qn.localname not in _CONTEXT_NS:
            break
        if qn.namespace != _CONTEXT_NS[qn.localname]:
            raise SoapFaultError(
                ErrorCode.MISPLACED_CONTEXT,
                f"{qn.localname} is in namespace {qn.namespace or '(none)'}; it must be in {_CONTEXT_NS[qn.localname]}",
            )
        if qn.localname in found:
            raise SoapFaultError(ErrorCode.MISPLACED_CONTEXT, f"{qn.localname} appears twice")
        found[qn.localname] = child
    else:
        index = len(children)
    for child in children[index:]:
        qn = etree.QName(child)
        if qn.localname in _CONTEXT_NS and qn.namespace == _CONTEXT_NS[qn.localname]:
            raise SoapFaultError(
                ErrorCode.MISPLACED_CONTEXT,
                f"{qn.localname} must come before the payload (CallContext?, AuthorityContext?, "
                "InvocationContext? first in the request element)",
            )

    cvr = None
    if "AuthorityContext" in found:
        el = found["AuthorityContext"].find(f"{{{AUTHORITY_CONTEXT}}}MunicipalityCVR")
        if el is None:
            raise SoapFaultError(ErrorCode.INVALID_AUTHORITY_CONTEXT, "AuthorityContext lacks MunicipalityCVR")
        cvr = _text(el)
        if not CVR_RE.match(cvr):
            raise SoapFaultError(ErrorCode.INVALID_AUTHORITY_CONTEXT, f"MunicipalityCVR '{cvr}' is not 8 digits")
    call_ctx = {}
    if "CallContext" in found:
        call_ctx = {etree.QName(c).localname: _text(c) for c in found["CallContext"] if isinstance(c.tag, str)}
    invocation = _ref_invocation(found["InvocationContext"]) if "InvocationContext" in found else None
    return RequestContext(invocation=invocation, municipality_cvr=cvr, call_context=call_ctx, payload_start=index)


# -- request elements to read ------------------------------------------------------------------------------

UUIDS = ["0908f8ba-4353-45cf-937a-401ce57c4501", "0908F8BA-4353-45CF-937A-401CE57C4501", "not-a-uuid", ""]
OTHER_NS = [None, "urn:other", CALL_CONTEXT, AUTHORITY_CONTEXT, INVOCATION_CONTEXT]
LONG = "x" * 256


def _tag(ns: str | None, name: str) -> str:
    return f"{{{ns}}}{name}" if ns else name


invocation_child = st.tuples(
    st.sampled_from(list(_REQUIRED + _OPTIONAL) + ["Unknown"]),
    st.sampled_from([INVOCATION_CONTEXT] * 6 + [None, "urn:other"]),
    st.sampled_from(UUIDS + ["short text", LONG, "  0908f8ba-4353-45cf-937a-401ce57c4501  "]),
)
context_element = st.one_of(
    st.tuples(
        st.just("InvocationContext"),
        st.sampled_from([INVOCATION_CONTEXT] * 4 + OTHER_NS),
        st.lists(invocation_child, max_size=9),
    ),
    st.tuples(
        st.just("AuthorityContext"),
        st.sampled_from([AUTHORITY_CONTEXT] * 4 + OTHER_NS),
        st.lists(st.sampled_from(["11111111", "1111111", "abcdefgh", " 22222222 "]), max_size=2),
    ),
    st.tuples(
        st.just("CallContext"),
        st.sampled_from([CALL_CONTEXT] * 4 + OTHER_NS),
        st.lists(st.sampled_from(["OnBehalfOfUser", "CallersServiceCallIdentifier"]), max_size=2),
    ),
    st.tuples(st.sampled_from(["Daekning", "Payload"]), st.sampled_from(["urn:payload", None]), st.just([])),
)


def build(children) -> etree._Element:
    payload = etree.Element("{urn:payload}Request")
    for name, ns, inner in children:
        el = etree.SubElement(payload, _tag(ns, name))
        if name == "InvocationContext":
            for child_name, child_ns, value in inner:
                etree.SubElement(el, _tag(child_ns, child_name)).text = value
        elif name == "AuthorityContext":
            for value in inner:
                etree.SubElement(el, f"{{{AUTHORITY_CONTEXT}}}MunicipalityCVR").text = value
        elif name == "CallContext":
            for child_name in inner:
                etree.SubElement(el, f"{{{CALL_CONTEXT}}}{child_name}").text = "v"
        el.addprevious(etree.Comment("a comment is no element")) if name == "Payload" else None
    return payload


def outcome(reader, payload):
    try:
        return reader(payload)
    except SoapFaultError as e:
        return ("fault", str(e.code), e.text)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(context_element, max_size=6))
def test_the_fast_reader_reads_and_refuses_as_the_reference_does(children):
    payload = build(children)
    assert outcome(read_context, payload) == outcome(ref_read_context, payload)


def test_a_valid_context_is_read_in_full():
    children = [
        ("AuthorityContext", AUTHORITY_CONTEXT, ["11111111"]),
        (
            "InvocationContext",
            INVOCATION_CONTEXT,
            [(n, INVOCATION_CONTEXT, UUIDS[0]) for n in _REQUIRED] + [("AccountingInfo", INVOCATION_CONTEXT, "a")],
        ),
        ("Daekning", "urn:payload", []),
    ]
    ctx = read_context(build(children))
    assert ctx == ref_read_context(build(children))
    assert ctx.municipality_cvr == "11111111" and ctx.payload_start == 2
    assert ctx.invocation.service_agreement_uuid == UUIDS[0] and ctx.invocation.accounting_info == "a"
