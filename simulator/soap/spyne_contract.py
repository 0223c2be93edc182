"""Reference contracts defined with spyne: WSDL in Serviceplatformen's conventions, XSD validation.

spyne only *describes* the contract here; requests are served by our own async pipeline. The
generated WSDL is post-processed so that it follows Serviceplatformen: SOAP-over-HTTP transport,
SOAPAction = WSDL namespace + ASCII operation name, and the context elements referenced in their
own namespaces (``<xs:element ref="ic:InvocationContext"/>``) exactly as the public SP schemas do.
"""

from __future__ import annotations

from functools import cached_property

from lxml import etree
from spyne import Application, ComplexModel, Unicode
from spyne.interface.wsdl import Wsdl11
from spyne.protocol.soap import Soap11

from simulator.soap.contract import Operation
from simulator.soap.ns import AUTHORITY_CONTEXT, CALL_CONTEXT, INVOCATION_CONTEXT, ascii_name, wsdl_namespace
from simulator.soap.package import ContractPackage, package_from_wsdl

XS = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
SOAP_HTTP = "http://schemas.xmlsoap.org/soap/http"

_UUID_PATTERN = "[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}"


def named(base, name: str, namespace: str, **restrictions):
    """A named simple type (``<xs:simpleType name="…">`` in `namespace`): every field using it refers to it by
    name, so code generators make one class (or none) for it instead of one per field."""
    t = base.customize(type_name=name, __namespace__=namespace, **restrictions)
    t._simulator_named = (name, namespace)
    return t


def _occurs(t, **occurs):
    named_as = t.__dict__.get("_simulator_named")
    if named_as is None:
        return t.customize(**occurs)
    name, namespace = named_as
    out = t.customize(type_name=name, __namespace__=namespace, **occurs)
    out._simulator_named = named_as
    return out


def req(t):
    """Exactly one (the field is required)."""
    return _occurs(t, min_occurs=1, nillable=False)


def opt(t):
    """Zero or one."""
    return _occurs(t, min_occurs=0, nillable=False)


def many(t):
    """Zero or more."""
    return _occurs(t, min_occurs=0, max_occurs="unbounded", nillable=False)


def some(t):
    """One or more."""
    return _occurs(t, min_occurs=1, max_occurs="unbounded", nillable=False)


def _text255(name: str, namespace: str):
    return named(Unicode, name, namespace, max_len=255)


class InvocationContextType(ComplexModel):
    __namespace__ = INVOCATION_CONTEXT
    _uuid = named(Unicode, "UUIDtype", INVOCATION_CONTEXT, pattern=_UUID_PATTERN)
    _type_info = [
        ("ServiceAgreementUUID", req(_uuid)),
        ("UserSystemUUID", req(_uuid)),
        ("UserUUID", req(_uuid)),
        ("OnBehalfOfUser", opt(_text255("OnBehalfOfUserType", INVOCATION_CONTEXT))),
        ("ServiceUUID", req(_uuid)),
        ("CallersServiceCallIdentifier", opt(_text255("CallersServiceCallIdentifierType", INVOCATION_CONTEXT))),
        ("AccountingInfo", opt(_text255("AccountingInfoType", INVOCATION_CONTEXT))),
    ]


class AuthorityContextType(ComplexModel):
    __namespace__ = AUTHORITY_CONTEXT
    _type_info = [("MunicipalityCVR", req(named(Unicode, "CVRNumber", AUTHORITY_CONTEXT, pattern="[0-9]{8}")))]


class CallContextType(ComplexModel):
    __namespace__ = CALL_CONTEXT
    _type_info = [
        ("OnBehalfOfUser", opt(_text255("OnBehalfOfUserType", CALL_CONTEXT))),
        ("CallServicePrecedenceURI", opt(Unicode)),
        ("CallersServiceCallIdentifier", opt(_text255("CallersServiceCallIdentifierType", CALL_CONTEXT))),
        ("AccountingInfo", opt(_text255("AccountingInfoType", CALL_CONTEXT))),
    ]


CONTEXT_FIELDS = [
    ("CallContext", opt(CallContextType)),
    ("AuthorityContext", opt(AuthorityContextType)),
    ("InvocationContext", opt(InvocationContextType)),
]
"""Put these first in every request type's ``_type_info``: ``_type_info = CONTEXT_FIELDS + [...]``."""

_CONTEXT_ELEMENTS = {
    "CallContext": (CALL_CONTEXT, "CallContextType"),
    "AuthorityContext": (AUTHORITY_CONTEXT, "AuthorityContextType"),
    "InvocationContext": (INVOCATION_CONTEXT, "InvocationContextType"),
}


class WsdlContract:
    """A contract described by one WSDL tree with inline schemas (`_wsdl_tree`), served and exported as a
    package of WSDL + XSD files (soap/package.py); messages are validated against the package's schemas."""

    _wsdl_tree: etree._Element
    service_name: str
    invocation_context = True
    about = ""
    """What the contract is and what in it is our inference (the package README, soap/export.py)."""
    schema_files: dict[str, str] = {}
    """Namespace → file in the package, for namespaces beyond the Serviceplatform's and the service's own."""

    @cached_property
    def package(self) -> ContractPackage:
        return package_from_wsdl(self._wsdl_tree, self.service_name, self.schema_files)

    def wsdl(self, location: str) -> bytes:
        return self.package.served(self.package.main, location)

    def xsd(self, name: str, location: str) -> bytes:
        return self.package.served(name, location)

    @cached_property
    def schema(self) -> etree.XMLSchema:
        return self.package.xml_schema()

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

    def __init__(
        self,
        name: str,
        area: str,
        service: str,
        version: int,
        services: list,
        schema_files: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.schema_files = schema_files or {}
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
