"""The context elements Serviceplatformen reads from the front of every request element."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from lxml import etree

from simulator.soap.errors import ErrorCode, SoapFaultError
from simulator.soap.ns import AUTHORITY_CONTEXT, CALL_CONTEXT, INVOCATION_CONTEXT

UUID_RE = re.compile(r"^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$")
UUID_ANYCASE_RE = re.compile(r"^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$")
CVR_RE = re.compile(r"^[0-9]{8}$")

_CONTEXT_NS = {
    "CallContext": CALL_CONTEXT,
    "AuthorityContext": AUTHORITY_CONTEXT,
    "InvocationContext": INVOCATION_CONTEXT,
}
_REQUIRED = ("ServiceAgreementUUID", "UserSystemUUID", "UserUUID", "ServiceUUID")
_OPTIONAL = ("OnBehalfOfUser", "CallersServiceCallIdentifier", "AccountingInfo")


@dataclass(frozen=True)
class InvocationContext:
    service_agreement_uuid: str
    user_system_uuid: str
    user_uuid: str
    service_uuid: str
    on_behalf_of_user: str | None = None
    callers_service_call_identifier: str | None = None
    accounting_info: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class RequestContext:
    invocation: InvocationContext | None
    municipality_cvr: str | None  # AuthorityContext/MunicipalityCVR
    call_context: dict[str, str]
    payload_start: int  # index of the first payload child after the context elements


def _text(el: etree._Element) -> str:
    return (el.text or "").strip()


@functools.cache
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower().replace("u_u_i_d", "uuid")


def check_uuid(value: str, what: str) -> str:
    if UUID_RE.match(value):
        return value
    if UUID_ANYCASE_RE.match(value):
        raise SoapFaultError(ErrorCode.INVALID_UUID, f"{what} '{value}' must be written in lower case")
    raise SoapFaultError(ErrorCode.INVALID_UUID, f"{what} '{value}' is not a UUID")


_INVOCATION_FIELDS = {name: _snake(name) for name in _REQUIRED + _OPTIONAL}
_INVOCATION_TAGS = {f"{{{INVOCATION_CONTEXT}}}{name}": name for name in _REQUIRED + _OPTIONAL}
_CONTEXT_TAGS = {f"{{{ns}}}{name}": name for name, ns in _CONTEXT_NS.items()}
_CVR_TAG = f"{{{AUTHORITY_CONTEXT}}}MunicipalityCVR"


def _split(tag: str) -> tuple[str | None, str]:
    """(namespace, local name) of a Clark-notation tag, as etree.QName gives them."""
    if tag[:1] == "{":
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return None, tag


def _invocation(el: etree._Element) -> InvocationContext:
    seen: dict[str, str] = {}
    for child in el:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        name = _INVOCATION_TAGS.get(tag)
        if name is None:  # not one of ours in our namespace: say which of the two it is
            _, local = _split(tag)
            if local not in _INVOCATION_FIELDS:
                raise SoapFaultError(
                    ErrorCode.INVALID_INVOCATION_CONTEXT, f"InvocationContext has an unknown element {local}"
                )
            raise SoapFaultError(
                ErrorCode.INVALID_INVOCATION_CONTEXT,
                f"InvocationContext/{local} must be in namespace {INVOCATION_CONTEXT}",
            )
        if name in seen:
            raise SoapFaultError(ErrorCode.INVALID_INVOCATION_CONTEXT, f"InvocationContext/{name} appears twice")
        seen[name] = (child.text or "").strip()
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
    return InvocationContext(**{_INVOCATION_FIELDS[k]: v for k, v in seen.items()})


def _misplaced_namespace(tag: str) -> SoapFaultError | None:
    """The fault for a context element in the wrong namespace (None: `tag` is no context element's name)."""
    ns, local = _split(tag)
    if local not in _CONTEXT_NS:
        return None
    return SoapFaultError(
        ErrorCode.MISPLACED_CONTEXT,
        f"{local} is in namespace {ns or '(none)'}; it must be in {_CONTEXT_NS[local]}",
    )


def read_context(payload: etree._Element) -> RequestContext:
    """Read CallContext?, AuthorityContext?, InvocationContext? from the front of the request element."""
    found: dict[str, etree._Element] = {}
    index = 0
    in_front = True
    for child in payload:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        name = _CONTEXT_TAGS.get(tag)
        if in_front:
            if name is None:
                error = _misplaced_namespace(tag)
                if error is not None:
                    raise error
                in_front = False
                continue
            if name in found:
                raise SoapFaultError(ErrorCode.MISPLACED_CONTEXT, f"{name} appears twice")
            found[name] = child
            index += 1
        elif name is not None:
            raise SoapFaultError(
                ErrorCode.MISPLACED_CONTEXT,
                f"{name} must come before the payload (CallContext?, AuthorityContext?, "
                "InvocationContext? first in the request element)",
            )

    cvr = None
    if "AuthorityContext" in found:
        el = next(found["AuthorityContext"].iterchildren(_CVR_TAG), None)
        if el is None:
            raise SoapFaultError(ErrorCode.INVALID_AUTHORITY_CONTEXT, "AuthorityContext lacks MunicipalityCVR")
        cvr = _text(el)
        if not CVR_RE.match(cvr):
            raise SoapFaultError(ErrorCode.INVALID_AUTHORITY_CONTEXT, f"MunicipalityCVR '{cvr}' is not 8 digits")
    call_ctx = {}
    if "CallContext" in found:
        call_ctx = {etree.QName(c).localname: _text(c) for c in found["CallContext"] if isinstance(c.tag, str)}
    invocation = _invocation(found["InvocationContext"]) if "InvocationContext" in found else None
    return RequestContext(invocation=invocation, municipality_cvr=cvr, call_context=call_ctx, payload_start=index)


def build_context_elements(
    invocation: InvocationContext | None, municipality_cvr: str | None = None
) -> list[etree._Element]:
    """The context elements a caller (e.g. the simulated KY) puts first in a request."""
    out: list[etree._Element] = []
    if municipality_cvr:
        ac = etree.Element(f"{{{AUTHORITY_CONTEXT}}}AuthorityContext", nsmap={"ac": AUTHORITY_CONTEXT})
        etree.SubElement(ac, f"{{{AUTHORITY_CONTEXT}}}MunicipalityCVR").text = municipality_cvr
        out.append(ac)
    if invocation:
        ic = etree.Element(f"{{{INVOCATION_CONTEXT}}}InvocationContext", nsmap={"ic": INVOCATION_CONTEXT})
        for name in (
            "ServiceAgreementUUID",
            "UserSystemUUID",
            "UserUUID",
            "OnBehalfOfUser",
            "ServiceUUID",
            "CallersServiceCallIdentifier",
            "AccountingInfo",
        ):
            value = getattr(invocation, _snake(name))
            if value is not None:
                etree.SubElement(ic, f"{{{INVOCATION_CONTEXT}}}{name}").text = value
        out.append(ic)
    return out
