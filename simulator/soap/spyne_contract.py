"""Reference contracts defined with spyne: WSDL in Serviceplatformen's conventions, XSD validation.

spyne only *describes* the contract here; requests are served by our own async pipeline. The
generated WSDL is post-processed so that it follows Serviceplatformen: SOAP-over-HTTP transport,
SOAPAction = WSDL namespace + ASCII operation name, and the context elements referenced in their
own namespaces (``<xs:element ref="ic:InvocationContext"/>``) exactly as the public SP schemas do.
"""

from __future__ import annotations

import copy
from functools import cached_property

from lxml import etree
from spyne import Application, ComplexModel, Unicode
from spyne.interface.wsdl import Wsdl11
from spyne.protocol.soap import Soap11

from simulator.soap.contract import Operation
from simulator.soap.ns import AUTHORITY_CONTEXT, CALL_CONTEXT, INVOCATION_CONTEXT, ascii_name, wsdl_namespace

XS = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
SOAP_HTTP = "http://schemas.xmlsoap.org/soap/http"

_UUID = Unicode(pattern="[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}")
_REQ = dict(min_occurs=1, nillable=False)
_OPT255 = Unicode(max_len=255).customize(min_occurs=0, nillable=False)


class InvocationContextType(ComplexModel):
    __namespace__ = INVOCATION_CONTEXT
    _type_info = [
        ("ServiceAgreementUUID", _UUID.customize(**_REQ)),
        ("UserSystemUUID", _UUID.customize(**_REQ)),
        ("UserUUID", _UUID.customize(**_REQ)),
        ("OnBehalfOfUser", _OPT255),
        ("ServiceUUID", _UUID.customize(**_REQ)),
        ("CallersServiceCallIdentifier", _OPT255),
        ("AccountingInfo", _OPT255),
    ]


class AuthorityContextType(ComplexModel):
    __namespace__ = AUTHORITY_CONTEXT
    _type_info = [("MunicipalityCVR", Unicode(pattern="[0-9]{8}").customize(**_REQ))]


class CallContextType(ComplexModel):
    __namespace__ = CALL_CONTEXT
    _type_info = [
        ("OnBehalfOfUser", _OPT255),
        ("CallServicePrecedenceURI", Unicode.customize(min_occurs=0, nillable=False)),
        ("CallersServiceCallIdentifier", _OPT255),
        ("AccountingInfo", _OPT255),
    ]


CONTEXT_FIELDS = [
    ("CallContext", CallContextType.customize(min_occurs=0, nillable=False)),
    ("AuthorityContext", AuthorityContextType.customize(min_occurs=0, nillable=False)),
    ("InvocationContext", InvocationContextType.customize(min_occurs=0, nillable=False)),
]
"""Put these first in every request type's ``_type_info``: ``_type_info = CONTEXT_FIELDS + [...]``."""

_CONTEXT_ELEMENTS = {
    "CallContext": (CALL_CONTEXT, "CallContextType"),
    "AuthorityContext": (AUTHORITY_CONTEXT, "AuthorityContextType"),
    "InvocationContext": (INVOCATION_CONTEXT, "InvocationContextType"),
}


class _Resolver(etree.Resolver):
    """Resolves the schemas embedded in one WSDL against each other, and nothing else."""

    def __init__(self, schemas: dict[str, bytes]) -> None:
        super().__init__()
        self.schemas = schemas

    def resolve(self, url, pubid, context):
        if url in self.schemas:
            return self.resolve_string(self.schemas[url], context)
        return self.resolve_string(b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>', context)


def schema_from_wsdl(wsdl: etree._Element) -> etree.XMLSchema:
    """One XMLSchema covering every xs:schema in a WSDL's types section."""
    schemas = wsdl.findall(f"{{{WSDL}}}types/{{{XS}}}schema")
    docs: dict[str, bytes] = {}
    for original in schemas:
        s = etree.Element(original.tag, dict(original.attrib), nsmap=original.nsmap)
        s.extend(copy.deepcopy(child) for child in original)
        for imp in s.findall(f"{{{XS}}}import"):
            imp.set("schemaLocation", "ns:" + imp.get("namespace"))
        docs["ns:" + s.get("targetNamespace")] = etree.tostring(s)
    main = etree.Element(f"{{{XS}}}schema", nsmap={"xs": XS})
    for tns in docs:
        etree.SubElement(main, f"{{{XS}}}import", namespace=tns[3:], schemaLocation=tns)
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    parser.resolvers.add(_Resolver(docs))
    return etree.XMLSchema(etree.fromstring(etree.tostring(main), parser))


class WsdlContract:
    """A contract described by one WSDL tree (`_wsdl_tree`): serves it with our address, validates
    messages against its embedded schemas."""

    _wsdl_tree: etree._Element

    def wsdl(self, location: str) -> bytes:
        root = copy.deepcopy(self._wsdl_tree)
        for addr in root.iter(f"{{{WSDL_SOAP}}}address"):
            addr.set("location", location)
        return etree.tostring(root, xml_declaration=True, encoding="utf-8")

    @cached_property
    def schema(self) -> etree.XMLSchema:
        return schema_from_wsdl(self._wsdl_tree)

    def validate_request(self, payload: etree._Element) -> list[str]:
        return self._validate(payload)

    def validate_response(self, payload: etree._Element) -> list[str]:
        return self._validate(payload)

    def _validate(self, payload: etree._Element) -> list[str]:
        schema = self.schema
        if schema.validate(payload):
            return []
        return [f"line {e.line}: {e.message}" for e in schema.error_log]


class SpyneContract(WsdlContract):
    """A reference contract built from spyne service classes, in Serviceplatformen's style."""

    def __init__(self, name: str, area: str, service: str, version: int, services: list) -> None:
        self.name = name
        self.namespace = wsdl_namespace(area, service, version)
        self.service_name = service
        self._app = Application(services, tns=self.namespace, name=service, in_protocol=Soap11(), out_protocol=Soap11())
        self.operations: dict[str, Operation] = {}
        for method in self._app.interface.method_id_map.values():
            op_name = ascii_name(method.operation_name)
            self.operations[op_name] = Operation(
                name=op_name,
                soap_action=self.namespace + op_name,
                request_element=_clark(method.in_message),
                response_element=_clark(method.out_message),
            )

    @cached_property
    def _wsdl_tree(self) -> etree._Element:
        w = Wsdl11(self._app.interface)
        w.build_interface_document("http://localhost/")
        root = etree.fromstring(w.get_interface_document())
        self._postprocess(root)
        return root

    def _postprocess(self, root: etree._Element) -> None:
        for b in root.iter(f"{{{WSDL_SOAP}}}binding"):
            b.set("transport", SOAP_HTTP)
        for op in root.iter(f"{{{WSDL_SOAP}}}operation"):
            name = op.getparent().get("name")
            op.set("soapAction", self.namespace + ascii_name(name))
        schemas = {s.get("targetNamespace"): s for s in root.iter(f"{{{XS}}}schema")}
        for schema in schemas.values():
            for el in schema.iter(f"{{{XS}}}element"):
                name = el.get("name")
                if name not in _CONTEXT_ELEMENTS or el.get("type") is None:
                    continue
                ns, type_name = _CONTEXT_ELEMENTS[name]
                if not el.get("type").endswith(":" + type_name):
                    continue
                prefix = _prefix_for(el, ns)
                for attr in ("name", "type", "nillable"):
                    el.attrib.pop(attr, None)
                el.set("ref", f"{prefix}:{name}")
        for name, (ns, type_name) in _CONTEXT_ELEMENTS.items():
            schema = schemas.get(ns)
            if schema is None:
                continue
            prefix = _prefix_for(schema, ns)
            for el in schema.findall(f"{{{XS}}}element"):
                if el.get("name") == type_name:
                    schema.remove(el)
            if not any(e.get("name") == name for e in schema.findall(f"{{{XS}}}element")):
                etree.SubElement(schema, f"{{{XS}}}element", name=name, type=f"{prefix}:{type_name}")


def _prefix_for(el: etree._Element, ns: str) -> str:
    for prefix, uri in (el.nsmap or {}).items():
        if uri == ns and prefix:
            return prefix
    raise LookupError(f"no prefix for {ns} in scope")


def _clark(message) -> str:
    return f"{{{message.get_namespace()}}}{message.get_element_name()}"
