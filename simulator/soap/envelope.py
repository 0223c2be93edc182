"""Hardened parsing and building of SOAP 1.1 envelopes and faults."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from lxml import etree

from simulator.soap.errors import ErrorCode, SoapFaultError
from simulator.soap.ns import SOAP11, SOAP12, SP_FAULT

_PARSER_OPTIONS = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_blank_text=False,
    collect_ids=False,
)
_DECL_ENCODING = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=\s*['\"]([A-Za-z0-9._-]+)['\"]")


_PARSERS = threading.local()


def _parser() -> etree.XMLParser:
    """The hardened parser, one per thread (an lxml parser may not be shared between threads)."""
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = etree.XMLParser(**_PARSER_OPTIONS)
    return parser


def parse_xml(data: bytes, *, max_bytes: int | None = None) -> etree._Element:
    """Parse untrusted XML: no DTD, no entities, no network; raise SoapFaultError on anything odd."""
    if max_bytes is not None and len(data) > max_bytes:
        raise SoapFaultError(ErrorCode.BODY_TOO_LARGE, f"request body is {len(data)} bytes; the limit is {max_bytes}")
    m = _DECL_ENCODING.match(data)
    declared = m.group(1).decode().lower() if m else "utf-8"
    if declared in ("utf-8", "utf8") and not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SoapFaultError(
                ErrorCode.NOT_UTF8, f"request body is not valid UTF-8 (byte {e.start}: {e.reason})"
            ) from None
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise SoapFaultError(ErrorCode.FORBIDDEN_XML, "DTDs and entity declarations are not allowed")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as e:
        raise SoapFaultError(ErrorCode.MALFORMED_XML, f"malformed XML: {e}") from None
    if root is None:
        raise SoapFaultError(ErrorCode.MALFORMED_XML, "empty XML document")
    if root.getroottree().docinfo.doctype:
        raise SoapFaultError(ErrorCode.FORBIDDEN_XML, "DTDs and entity declarations are not allowed")
    return root


@dataclass
class Envelope:
    root: etree._Element
    header: etree._Element | None
    body: etree._Element
    payload: etree._Element | None  # the first element child of Body


def check_media_type(content_type: str | None) -> None:
    """A SOAP 1.1 request is `text/xml` (SP-103; `application/soap+xml` is SOAP 1.2: VersionMismatch). A request
    without a Content-Type is read as text/xml (scripted clients; a browser's cross-site request always carries
    an Origin, which simulator.web.guard refuses)."""
    if content_type is None:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "text/xml":
        return
    raise SoapFaultError(
        ErrorCode.NOT_SOAP11,
        f"Content-Type {media or '(empty)'!r} is not SOAP 1.1's text/xml",
        version_mismatch=media == "application/soap+xml",
    )


def parse_envelope(data: bytes, *, max_bytes: int | None = None) -> Envelope:
    """Parse a SOAP 1.1 envelope; SOAP 1.2 gets a VersionMismatch fault."""
    root = parse_xml(data, max_bytes=max_bytes)
    qn = etree.QName(root)
    if qn.localname != "Envelope" or qn.namespace not in (SOAP11, SOAP12):
        raise SoapFaultError(
            ErrorCode.NOT_SOAP11,
            f"root element is {root.tag}, not a SOAP 1.1 Envelope ({{{SOAP11}}}Envelope)",
        )
    if qn.namespace == SOAP12:
        raise SoapFaultError(
            ErrorCode.NOT_SOAP11,
            "SOAP 1.2 envelopes are not supported here: Serviceplatformen speaks SOAP 1.1",
            version_mismatch=True,
        )
    header = body = None
    for child in root:
        if not isinstance(child.tag, str):
            continue
        if child.tag == f"{{{SOAP11}}}Header" and body is None and header is None:
            header = child
        elif child.tag == f"{{{SOAP11}}}Body" and body is None:
            body = child
        else:
            raise SoapFaultError(ErrorCode.NOT_SOAP11, f"unexpected element {child.tag} in the Envelope")
    if body is None:
        raise SoapFaultError(ErrorCode.NOT_SOAP11, "the Envelope has no Body")
    elements = [c for c in body if isinstance(c.tag, str)]
    return Envelope(root=root, header=header, body=body, payload=elements[0] if elements else None)


def build_envelope(payload: etree._Element | None, header: etree._Element | None = None) -> bytes:
    env = etree.Element(f"{{{SOAP11}}}Envelope", nsmap={"soap": SOAP11})
    if header is not None:
        h = etree.SubElement(env, f"{{{SOAP11}}}Header")
        h.append(header)
    body = etree.SubElement(env, f"{{{SOAP11}}}Body")
    if payload is not None:
        body.append(payload)
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def build_fault(error: SoapFaultError) -> bytes:
    """A SOAP 1.1 Fault whose detail is a ServiceplatformFault (ErrorList/Error(ErrorCode, ErrorText))."""
    env = etree.Element(f"{{{SOAP11}}}Envelope", nsmap={"soap": SOAP11})
    body = etree.SubElement(env, f"{{{SOAP11}}}Body")
    fault = etree.SubElement(body, f"{{{SOAP11}}}Fault")
    kind = "VersionMismatch" if error.version_mismatch else ("Client" if error.client else "Server")
    etree.SubElement(fault, "faultcode").text = f"soap:{kind}"
    etree.SubElement(fault, "faultstring").text = f"{error.code}: {error.text}"
    detail = etree.SubElement(fault, "detail")
    spf = etree.SubElement(detail, f"{{{SP_FAULT}}}ServiceplatformFault", nsmap={"spf": SP_FAULT})
    err_list = etree.SubElement(spf, f"{{{SP_FAULT}}}ErrorList")
    err = etree.SubElement(err_list, f"{{{SP_FAULT}}}Error")
    etree.SubElement(err, f"{{{SP_FAULT}}}ErrorCode").text = str(error.code)
    etree.SubElement(err, f"{{{SP_FAULT}}}ErrorText").text = error.text
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def fault_code_of(data: bytes) -> str | None:
    """The ServiceplatformFault ErrorCode in a response body, if it is such a fault."""
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError:
        return None
    code = root.find(f".//{{{SP_FAULT}}}ErrorCode")
    return code.text if code is not None else None
