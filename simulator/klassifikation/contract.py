"""Contracts of the Klassifikation services, written as WSDL/XSD by hand (spyne cannot express LoRa).

* ``sf1510/Klasse``, ``sf1510/Facet``, ``sf1510/Klassifikation`` — the read operations of SF1510
  version 5 (``laes``, ``list``, ``soeg``) at ``/service/Klassifikation/<Service>/5``. Operation names,
  SOAPActions, the messages (``RequestHeader`` SOAP header part, ``ServiceplatformFault``) and the wrapper
  elements (``LaesRequest`` = ``CallContext?``, ``AuthorityContext?``, then the LoRa input) are those of the
  official WSDL: no ``InvocationContext``: the platform finds the caller and its agreement itself
  (serviceplatform/caller.py). This is a *minimal* contract in one respect: after the context elements the
  wrapper admits one element of the LoRa namespace (checked by name here and by content in the handler);
  the LoRa content itself is not described, because the official LoRa schemas are not ours to ship.
  Conformance of what we answer is proven in tests against the official schemas.
* ``klassifikation/SortimentModtag`` — our documented stand-in for SF7002 "Overfør Sortiment" (not
  public): the debtor system receives a sortiment delivery and answers with a receipt. Its schema is
  ours (docs/contracts/sortiment.md); the LoRa objects inside it are admitted by namespace.
"""

from __future__ import annotations

import copy
from functools import cached_property

from lxml import etree
from spyne import ServiceBase, rpc

from simulator.klassifikation.lora import FACET, KLASSE, KLASSIFIKATION
from simulator.soap.contract import Operation, register_contract
from simulator.soap.ns import AUTHORITY_CONTEXT, CALL_CONTEXT, INVOCATION_CONTEXT, wsdl_namespace
from simulator.soap.package import REQUEST_HEADER
from simulator.soap.spyne_contract import CONTEXT_FIELDS, SpyneContract, WsdlContract

XS = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
SOAP_HTTP = "http://schemas.xmlsoap.org/soap/http"

READ_OPERATIONS = {
    "laes": ("Laes", "LaesInput", "LaesOutput"),
    "list": ("List", "ListInput", "ListOutput"),
    "soeg": ("Soeg", "SoegInput", "SoegOutput"),
}
LORA_OBJECTS = {"Klasse": KLASSE, "Facet": FACET, "Klassifikation": KLASSIFIKATION}

SORTIMENT_MODTAG = wsdl_namespace("Klassifikation", "SortimentModtag", 1)
LEVERANCETYPER = ("Fuld", "Aendring")
FORRETNINGSKVITTERINGER = ("MODTAGET", "AFLEVERET", "ACCEPTERET", "AFVIST", "FEJLET")


def _context_schemas() -> list[etree._Element]:
    """The three Serviceplatform context schemas, as the core's spyne contracts describe them."""
    from spyne import ComplexModel

    class _Ctx(ComplexModel):
        __namespace__ = "urn:simulator:context-only"
        _type_info = list(CONTEXT_FIELDS)

    class _CtxService(ServiceBase):
        @rpc(_Ctx, _returns=_Ctx, _body_style="bare", _in_message_name="R", _out_message_name="S")
        def r(ctx, req):  # noqa: N805 - description only
            pass

    tree = SpyneContract("_context", "Klassifikation", "Context", 1, [_CtxService])._wsdl_tree
    wanted = {CALL_CONTEXT, AUTHORITY_CONTEXT, INVOCATION_CONTEXT}
    out = []
    for original in tree.iter(f"{{{XS}}}schema"):
        if original.get("targetNamespace") in wanted:
            s = etree.Element(original.tag, dict(original.attrib), nsmap=original.nsmap)  # keep inherited prefixes
            s.extend(copy.deepcopy(child) for child in original)
            out.append(s)
    return out


_CONTEXT_SCHEMAS = _context_schemas()


class XsdContract(WsdlContract):
    """A contract from a hand-written schema of the service namespace plus the context schemas."""

    def __init__(
        self,
        name: str,
        area: str,
        service: str,
        version: int,
        schema: etree._Element,
        operations: dict[str, tuple[str, str]],
        lora: dict[str, str] | None = None,
        *,
        invocation_context: bool = True,
        request_header: bool = False,
        about: str = "",
    ) -> None:
        """`operations`: name → (request element, response element), local names in the service namespace;
        `lora`: request/response element → the local name of the one LoRa element it must carry;
        `invocation_context`: whether requests carry one; `request_header`: KOMBIT's ``RequestHeader`` SOAP
        header part in every message (SF1510)."""
        self.name = name
        self.invocation_context = invocation_context
        self.request_header = request_header
        self.about = about
        self.service_name = service
        self.namespace = wsdl_namespace(area, service, version)
        self._schema_el = schema
        self._lora = lora or {}
        self.operations = {
            op: Operation(
                name=op,
                soap_action=self.namespace + op,
                request_element=f"{{{self.namespace}}}{req}",
                response_element=f"{{{self.namespace}}}{resp}",
            )
            for op, (req, resp) in operations.items()
        }

    @cached_property
    def _wsdl_tree(self) -> etree._Element:
        tns = self.namespace
        root = etree.Element(
            f"{{{WSDL}}}definitions",
            name=self.service_name,
            targetNamespace=tns,
            nsmap={"wsdl": WSDL, "soap": WSDL_SOAP, "xs": XS, "tns": tns},
        )
        types = etree.SubElement(root, f"{{{WSDL}}}types")
        for s in _CONTEXT_SCHEMAS:
            if self.invocation_context or s.get("targetNamespace") != INVOCATION_CONTEXT:
                types.append(copy.deepcopy(s))
        types.append(copy.deepcopy(self._schema_el))
        if self.request_header:
            types.append(etree.fromstring(REQUEST_HEADER_SCHEMA))
        port = etree.Element(f"{{{WSDL}}}portType", name=f"{self.service_name}PortType")
        binding = etree.Element(
            f"{{{WSDL}}}binding", name=f"{self.service_name}Binding", type=f"tns:{self.service_name}PortType"
        )
        etree.SubElement(binding, f"{{{WSDL_SOAP}}}binding", style="document", transport=SOAP_HTTP)
        for op in self.operations.values():
            for kind, element in (("Request", op.request_element), ("Response", op.response_element)):
                msg = etree.SubElement(root, f"{{{WSDL}}}message", name=f"{etree.QName(element).localname}Message")
                if self.request_header:
                    etree.SubElement(
                        msg, f"{{{WSDL}}}part", name="header", element=f"{{{REQUEST_HEADER}}}RequestHeader"
                    )
                part = "request" if kind == "Request" else "response"
                etree.SubElement(msg, f"{{{WSDL}}}part", name=part, element=element)
            pop = etree.SubElement(port, f"{{{WSDL}}}operation", name=op.name)
            for io, element in (("input", op.request_element), ("output", op.response_element)):
                etree.SubElement(pop, f"{{{WSDL}}}{io}", message=f"tns:{etree.QName(element).localname}Message")
            bop = etree.SubElement(binding, f"{{{WSDL}}}operation", name=op.name)
            etree.SubElement(bop, f"{{{WSDL_SOAP}}}operation", soapAction=op.soap_action, style="document")
            for io, element, part in (
                ("input", op.request_element, "request"),
                ("output", op.response_element, "response"),
            ):
                el = etree.SubElement(bop, f"{{{WSDL}}}{io}")
                if self.request_header:
                    message = f"{element}Message"
                    etree.SubElement(el, f"{{{WSDL_SOAP}}}header", message=message, part="header", use="literal")
                etree.SubElement(el, f"{{{WSDL_SOAP}}}body", parts=part, use="literal")
        root.append(port)
        root.append(binding)
        service = etree.SubElement(root, f"{{{WSDL}}}service", name=f"{self.service_name}Service")
        p = etree.SubElement(
            service, f"{{{WSDL}}}port", name=f"{self.service_name}Port", binding=f"tns:{self.service_name}Binding"
        )
        etree.SubElement(p, f"{{{WSDL_SOAP}}}address", location="http://localhost/")
        return root

    def _validate(self, payload: etree._Element) -> list[str]:
        problems = super()._validate(payload)
        wanted = self._lora.get(etree.QName(payload).localname)
        if wanted and not problems:
            last = [c for c in payload if isinstance(c.tag, str)][-1:]
            if not last or etree.QName(last[0]).localname != wanted:
                got = etree.QName(last[0]).localname if last else "nothing"
                problems.append(f"{etree.QName(payload).localname} must end with {wanted}, not {got}")
        return problems


def _schema(tns: str, body: str, *, invocation_context: bool = True) -> etree._Element:
    contexts = [CALL_CONTEXT, AUTHORITY_CONTEXT] + ([INVOCATION_CONTEXT] if invocation_context else [])
    return etree.fromstring(f"""<xs:schema xmlns:xs="{XS}" xmlns:tns="{tns}" targetNamespace="{tns}"
        xmlns:cc="{CALL_CONTEXT}" xmlns:ac="{AUTHORITY_CONTEXT}" xmlns:ic="{INVOCATION_CONTEXT}"
        elementFormDefault="qualified">
      {"".join(f'<xs:import namespace="{ns}"/>' for ns in contexts)}
      {body}
    </xs:schema>""")


_OFFICIAL_CONTEXT_REFS = """<xs:element ref="cc:CallContext" minOccurs="0"/>
          <xs:element ref="ac:AuthorityContext" minOccurs="0"/>"""
"""The context elements of the public SF1510 contracts (no InvocationContext)."""
_CONTEXT_REFS = (
    _OFFICIAL_CONTEXT_REFS
    + """
          <xs:element ref="ic:InvocationContext" minOccurs="0"/>"""
)

REQUEST_HEADER_SCHEMA = f"""<xs:schema xmlns:xs="{XS}" xmlns:h="{REQUEST_HEADER}" targetNamespace="{REQUEST_HEADER}"
    elementFormDefault="qualified">
  <xs:element name="RequestHeader" type="h:RequestHeaderType"/>
  <xs:complexType name="RequestHeaderType"><xs:all>
    <xs:element ref="h:TransactionUUID"/></xs:all></xs:complexType>
  <xs:element name="TransactionUUID" type="h:UUIDType"/>
  <xs:simpleType name="UUIDType"><xs:restriction base="xs:string">
    <xs:pattern value="[a-fA-F0-9]{{8}}-[a-fA-F0-9]{{4}}-[a-fA-F0-9]{{4}}-[a-fA-F0-9]{{4}}-[a-fA-F0-9]{{12}}"/>
  </xs:restriction></xs:simpleType>
</xs:schema>"""
"""KOMBIT's SOAP header of the SF1510 messages (a transaction id), as its public contract describes it."""


def read_contract(obj: str) -> XsdContract:
    """The minimal contract of SF1510 `<obj>` version 5 (read operations)."""
    lora = LORA_OBJECTS[obj]
    body = []
    for wrapper, _in, _out in READ_OPERATIONS.values():  # the official shape: named request/response types
        body.append(f"""<xs:element name="{wrapper}Request" type="tns:{wrapper}RequestType"/>
        <xs:complexType name="{wrapper}RequestType"><xs:sequence>{_OFFICIAL_CONTEXT_REFS}
          <xs:any namespace="{lora}" processContents="lax"/></xs:sequence></xs:complexType>
        <xs:element name="{wrapper}Response" type="tns:{wrapper}ResponseType"/>
        <xs:complexType name="{wrapper}ResponseType"><xs:sequence>
          <xs:any namespace="{lora}" processContents="lax"/></xs:sequence></xs:complexType>""")
    tns = wsdl_namespace("Klassifikation", obj, 5)
    lora_names = {}
    for wrapper, inp, out in READ_OPERATIONS.values():
        lora_names[f"{wrapper}Request"] = inp
        lora_names[f"{wrapper}Response"] = out
    return XsdContract(
        f"sf1510/{obj}",
        "Klassifikation",
        obj,
        5,
        _schema(tns, "".join(body), invocation_context=False),
        {op: (f"{w}Request", f"{w}Response") for op, (w, _i, _o) in READ_OPERATIONS.items()},
        lora_names,
        invocation_context=False,
        request_header=True,
        about=f"""The read operations (laes, list, soeg) of KOMBIT's **public** SF1510 {obj} version 5 contract, in its
shape: the same operations, SOAPActions, messages (`RequestHeader` header part, body part), request/response
elements and context elements (`CallContext?`, `AuthorityContext?`, no `InvocationContext`). Ours: the LoRa
content (`{lora}`) is described only as "one element of that namespace", because the official LoRa schemas are
not ours to ship; the write operations are not offered. For the full typed LoRa model, generate your code from
KOMBIT's public SF1510 package instead: the simulator answers it exactly as generated.""",
    )


def sortiment_modtag_contract() -> XsdContract:
    """Our SortimentModtag contract (the stand-in for SF7002; documented in docs/contracts/sortiment.md)."""
    uuid = "[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}"
    body = f"""
      <xs:simpleType name="UUIDType"><xs:restriction base="xs:string">
        <xs:pattern value="{uuid}"/></xs:restriction></xs:simpleType>
      <xs:simpleType name="LeveranceTypeType"><xs:restriction base="xs:string">
        {"".join(f'<xs:enumeration value="{t}"/>' for t in LEVERANCETYPER)}</xs:restriction></xs:simpleType>
      <xs:simpleType name="ForretningskvitteringType"><xs:restriction base="xs:string">
        {"".join(f'<xs:enumeration value="{t}"/>' for t in FORRETNINGSKVITTERINGER)}</xs:restriction></xs:simpleType>
      <xs:complexType name="SortimentType"><xs:sequence>
        <xs:element name="SortimentUUID" type="tns:UUIDType"/>
        <xs:element name="BrugervendtNoegle" type="xs:string"/>
        <xs:element name="Titel" type="xs:string"/>
        <xs:element name="LeveranceUUID" type="tns:UUIDType"/>
        <xs:element name="LeveranceType" type="tns:LeveranceTypeType"/>
        <xs:element name="Version" type="xs:positiveInteger"/>
        <xs:element name="ForrigeVersion" type="xs:nonNegativeInteger" minOccurs="0"/>
        <xs:element name="VersionTidspunkt" type="xs:dateTime"/>
        <xs:element name="VersionNote" type="xs:string" minOccurs="0"/>
        <xs:element name="Klassifikation"><xs:complexType><xs:sequence>
          <xs:any namespace="{KLASSIFIKATION}" processContents="lax"/></xs:sequence></xs:complexType></xs:element>
        <xs:element name="Facetter"><xs:complexType><xs:sequence>
          <xs:any namespace="{FACET}" processContents="lax" minOccurs="0" maxOccurs="unbounded"/>
          </xs:sequence></xs:complexType></xs:element>
        <xs:element name="Klasser"><xs:complexType><xs:sequence>
          <xs:any namespace="{KLASSE}" processContents="lax" minOccurs="0" maxOccurs="unbounded"/>
          </xs:sequence></xs:complexType></xs:element>
      </xs:sequence></xs:complexType>
      <xs:complexType name="FejlType"><xs:sequence>
        <xs:element name="FejlKode" type="xs:string"/>
        <xs:element name="FejlTekst" type="xs:string"/></xs:sequence></xs:complexType>
      <xs:complexType name="KvitteringType"><xs:sequence>
        <xs:element name="LeveranceUUID" type="tns:UUIDType"/>
        <xs:element name="SortimentUUID" type="tns:UUIDType"/>
        <xs:element name="Forretningskvittering" type="tns:ForretningskvitteringType"/>
        <xs:element name="Version" type="xs:nonNegativeInteger"/>
        <xs:element name="Begrundelse" type="xs:string" minOccurs="0"/>
        <xs:element name="FejlListe" minOccurs="0"><xs:complexType><xs:sequence>
          <xs:element name="Fejl" type="tns:FejlType" maxOccurs="unbounded"/></xs:sequence></xs:complexType>
        </xs:element>
      </xs:sequence></xs:complexType>
      <xs:element name="SortimentModtagRequest"><xs:complexType><xs:sequence>{_CONTEXT_REFS}
        <xs:element name="Sortiment" type="tns:SortimentType"/></xs:sequence></xs:complexType></xs:element>
      <xs:element name="SortimentModtagResponse"><xs:complexType><xs:sequence>
        <xs:element name="Kvittering" type="tns:KvitteringType"/></xs:sequence></xs:complexType></xs:element>
    """
    return XsdContract(
        "klassifikation/SortimentModtag",
        "Klassifikation",
        "SortimentModtag",
        1,
        _schema(SORTIMENT_MODTAG, body),
        {"SortimentModtag": ("SortimentModtagRequest", "SortimentModtagResponse")},
        about="""**The simulator's own stand-in for SF7002 "Overfør Sortiment"**, whose contract is not public: the
debtor system provides `SortimentModtag`; the simulator (as Klassifikation) delivers KY's debtor sortiment to it,
whole and then as changes, and expects a receipt. Everything in `SortimentModtagServiceMsg.xsd` is our design
(docs/contracts/sortiment.md); the Klasser inside are official LoRa `klasse:Klasse` elements (admitted by
namespace).""",
    )


KLASSE_CONTRACT = register_contract(read_contract("Klasse"))
FACET_CONTRACT = register_contract(read_contract("Facet"))
KLASSIFIKATION_CONTRACT = register_contract(read_contract("Klassifikation"))
SORTIMENT_MODTAG_CONTRACT = register_contract(sortiment_modtag_contract())
