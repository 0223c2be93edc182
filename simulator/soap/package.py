"""A contract as KOMBIT ships one: a WSDL plus XSD files that import each other by relative ``schemaLocation``.

`package_from_wsdl` turns a WSDL with inline schemas (what spyne, or a hand-built contract, describes) into
that layout: one file per namespace (the Serviceplatform schemas under ``sp/``, the service's messages in
``<Service>ServiceMsg.xsd``, business types under ``xsd/``), the WSDL under ``wsdl/context/`` including its
message schema, and a ``ServiceplatformFault`` declared on every operation. `ContractPackage` serves each file
with absolute locations (``<service URL>?xsd=<file>``), writes the folder, and compiles the schema that
validates messages.
"""

from __future__ import annotations

import copy
import posixpath
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from lxml import etree

from simulator.soap.ns import AUTHORITY_CONTEXT, CALL_CONTEXT, INVOCATION_CONTEXT, KVITTERING, SP_FAULT

XS = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
WSDL_SOAP12 = "http://schemas.xmlsoap.org/wsdl/soap12/"
REQUEST_HEADER = "http://kombit.dk/xml/schemas/RequestHeader/1/"

SP_FILES = {
    CALL_CONTEXT: "sp/CallContext_1.xsd",
    AUTHORITY_CONTEXT: "sp/AuthorityContext_1.xsd",
    INVOCATION_CONTEXT: "sp/InvocationContext_1.xsd",
    KVITTERING: "sp/Kvittering_1.xsd",
    SP_FAULT: "sp/ServiceplatformFault_1.xsd",
    REQUEST_HEADER: "xsd/common/RequestHeader.xsd",
}
"""Where the Serviceplatform's shared schemas live in a package (KOMBIT's layout)."""

PREFIXES = {
    XS: "xs",
    WSDL: "wsdl",
    WSDL_SOAP: "soap",
    CALL_CONTEXT: "cc",
    AUTHORITY_CONTEXT: "ac",
    INVOCATION_CONTEXT: "ic",
    KVITTERING: "kv",
    SP_FAULT: "spf",
    REQUEST_HEADER: "header",
}
_QNAME_ATTRS = ("type", "ref", "base", "element", "message", "binding", "itemType", "substitutionGroup")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)

SP_FAULT_SCHEMA = f"""<xs:schema xmlns:xs="{XS}" xmlns:spf="{SP_FAULT}" targetNamespace="{SP_FAULT}"
    elementFormDefault="qualified">
  <xs:element name="ServiceplatformFault" type="spf:ServiceplatformFaultType"/>
  <xs:complexType name="ServiceplatformFaultType"><xs:sequence>
    <xs:element name="ErrorList" type="spf:ErrorListType" minOccurs="0"/></xs:sequence></xs:complexType>
  <xs:complexType name="ErrorListType"><xs:sequence>
    <xs:element name="Error" type="spf:ErrorType" maxOccurs="unbounded"/></xs:sequence></xs:complexType>
  <xs:complexType name="ErrorType"><xs:sequence>
    <xs:element name="ErrorCode" type="xs:string"/>
    <xs:element name="ErrorText" type="xs:string"/></xs:sequence></xs:complexType>
</xs:schema>"""
"""The ServiceplatformFault every refusal carries (soap/envelope.build_fault), described as the public one is."""


class PackageError(ValueError):
    """A location that leaves the package, or a file it does not hold."""


def join(name: str, location: str) -> str:
    """The package path `location` (relative to file `name`) points at."""
    target = posixpath.normpath(posixpath.join(posixpath.dirname(name), location))
    if target.startswith("../") or target == ".." or posixpath.isabs(target):
        raise PackageError(f"{name}: {location} leaves the package")
    return target


def relative(name: str, target: str) -> str:
    """How file `name` refers to file `target`."""
    return posixpath.relpath(target, posixpath.dirname(name) or ".")


def locations(root: etree._Element) -> Iterator[tuple[etree._Element, str]]:
    """Every (element, attribute) holding a location: xs:import/include/redefine, wsdl:import."""
    for el in root.iter(f"{{{XS}}}import", f"{{{XS}}}include", f"{{{XS}}}redefine"):
        if el.get("schemaLocation"):
            yield el, "schemaLocation"
    for el in root.iter(f"{{{WSDL}}}import"):
        if el.get("location"):
            yield el, "location"


@dataclass
class ContractPackage:
    """`files`: package path → document, locations relative; `main`: the WSDL's path."""

    main: str
    files: dict[str, etree._Element]

    def render(self, name: str, href: Callable[[str], str], address: str | None = None) -> etree._Element:
        """File `name` with every location replaced by `href(<package path>)` (and the SOAP address set)."""
        if name not in self.files:
            raise LookupError(f"the contract has no file {name!r} (files: {', '.join(sorted(self.files))})")
        root = copy.deepcopy(self.files[name])
        for el, attr in locations(root):
            el.set(attr, href(join(name, el.get(attr))))
        if address is not None:
            for ns in (WSDL_SOAP, WSDL_SOAP12):
                for addr in root.iter(f"{{{ns}}}address"):
                    addr.set("location", address)
        return root

    def served(self, name: str, location: str) -> bytes:
        """File `name` as the simulator serves it at `location` (the service URL): imports as `location?xsd=…`."""
        root = self.render(name, lambda target: f"{location}?xsd={quote(target, safe='/._-')}", location)
        return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)

    def documents(self, address: str | None = None) -> dict[str, bytes]:
        """Every file as written for a vendor: locations relative (and the SOAP address set)."""
        return {
            name: etree.tostring(
                self.render(name, lambda target, name=name: relative(name, target), address),
                xml_declaration=True,
                encoding="utf-8",
                pretty_print=True,
            )
            for name in sorted(self.files)
        }

    def write(self, folder: Path, address: str | None = None) -> list[Path]:
        """Write every file under `folder`; returns the paths written."""
        return write_files(folder, self.documents(address))

    def xml_schema(self) -> etree.XMLSchema:
        """One XMLSchema over every .xsd in the package (resolved in memory, nothing fetched)."""
        docs = {
            f"urn:package:{name}": etree.tostring(self.render(name, lambda t: f"urn:package:{t}"))
            for name in self.files
            if name.endswith(".xsd")
        }
        main = etree.Element(f"{{{XS}}}schema", nsmap={"xs": XS})
        seen = set()
        for name in sorted(self.files):
            tns = self.files[name].get("targetNamespace")
            if name.endswith(".xsd") and tns not in seen:
                seen.add(tns)
                etree.SubElement(main, f"{{{XS}}}import", namespace=tns, schemaLocation=f"urn:package:{name}")
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        parser.resolvers.add(_MemoryResolver(docs))
        return etree.XMLSchema(etree.fromstring(etree.tostring(main), parser))


def write_files(folder: Path, files: dict[str, bytes]) -> list[Path]:
    """Write package path → content under `folder`; returns the paths written."""
    written = []
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(path)
    return written


class _MemoryResolver(etree.Resolver):
    def __init__(self, docs: dict[str, bytes]) -> None:
        super().__init__()
        self.docs = docs

    def resolve(self, url, pubid, context):
        if url not in self.docs:
            raise PackageError(f"{url} is not in the package")
        return self.resolve_string(self.docs[url], context)


# -- building a package from a WSDL with inline schemas ---------------------------------------------------


def tidy(root: etree._Element, prefixes: dict[str, str]) -> etree._Element:
    """A copy of `root` that declares, on the root only, just the namespaces it uses, with readable prefixes."""
    root = copy.deepcopy(root)
    qnames: list[tuple[etree._Element, str, str, str]] = []
    used = {XS} if root.tag.startswith(f"{{{XS}}}") or root.find(f".//{{{XS}}}schema") is not None else set()
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        used.add(etree.QName(el).namespace)
        for attr in _QNAME_ATTRS:
            value = el.get(attr)
            if value and not value.startswith("{"):
                prefix, _, local = value.rpartition(":")
                ns = el.nsmap.get(prefix or None)
                if ns:
                    qnames.append((el, attr, ns, local))
                    used.add(ns)
    for key in ("targetNamespace",):
        if root.get(key):
            used.add(root.get(key))
    used.discard(None)
    nsmap: dict[str, str] = {}
    taken: set[str] = set()
    for ns in sorted(used, key=lambda n: (n not in prefixes, n)):
        prefix = prefixes.get(ns) or next((p for p, u in root.nsmap.items() if u == ns and p), None)
        if not prefix or prefix in taken:
            prefix = next(f"ns{i}" for i in range(len(used) + 1) if f"ns{i}" not in taken)
        taken.add(prefix)
        nsmap[prefix] = ns
    new = etree.Element(root.tag, dict(root.attrib), nsmap=nsmap)
    new.text = root.text
    new.extend(list(root))
    for el, attr, ns, local in qnames:
        prefix = next(p for p, u in nsmap.items() if u == ns)
        el.set(attr, f"{prefix}:{local}")
    etree.cleanup_namespaces(new, top_nsmap=nsmap, keep_ns_prefixes=list(nsmap))
    return etree.fromstring(etree.tostring(new), _PARSER)


def _drop_type_elements(schema: etree._Element) -> None:
    """spyne declares an element for every complex type (``<element name="X" type="X"/>``): noise in generated
    code, never used in a message."""
    types = {ct.get("name") for ct in schema.findall(f"{{{XS}}}complexType")}
    for el in schema.findall(f"{{{XS}}}element"):
        if el.get("name") in types and (el.get("type") or "").split(":")[-1] == el.get("name"):
            schema.remove(el)


def _add_fault(root: etree._Element, tns: str) -> None:
    """Declare ``ServiceplatformFault`` on every operation, as KOMBIT's WSDLs do."""
    message = etree.Element(f"{{{WSDL}}}message", name="ServiceplatformFault")
    etree.SubElement(message, f"{{{WSDL}}}part", name="error", element=f"{{{SP_FAULT}}}ServiceplatformFault")
    first_port = root.find(f"{{{WSDL}}}portType")
    first_port.addprevious(message)
    for op in root.iterfind(f"{{{WSDL}}}portType/{{{WSDL}}}operation"):
        etree.SubElement(op, f"{{{WSDL}}}fault", name="ServiceplatformFault", message=f"{{{tns}}}ServiceplatformFault")
    for op in root.iterfind(f"{{{WSDL}}}binding/{{{WSDL}}}operation"):
        fault = etree.SubElement(op, f"{{{WSDL}}}fault", name="ServiceplatformFault")
        etree.SubElement(fault, f"{{{WSDL_SOAP}}}fault", name="ServiceplatformFault", use="literal")


def _clark_to_qnames(root: etree._Element) -> None:
    """Give attribute values written in Clark notation ({ns}local) a prefix declared on the root."""
    for el in root.iter():
        for attr in _QNAME_ATTRS:
            value = el.get(attr)
            if value and value.startswith("{"):
                ns, local = value[1:].split("}")
                prefix = next((p for p, u in el.nsmap.items() if u == ns and p), None)
                if prefix is None:
                    raise PackageError(f"no prefix for {ns} on <{etree.QName(el).localname}>")
                el.set(attr, f"{prefix}:{local}")


def _part_namespace(part: etree._Element) -> str | None:
    prefix, _, _local = (part.get("element") or "").rpartition(":")
    return part.nsmap.get(prefix or None)


def package_from_wsdl(
    wsdl: etree._Element, service: str, schema_files: dict[str, str] | None = None
) -> ContractPackage:
    """Split a WSDL with inline schemas into KOMBIT's layout (module doc). `schema_files`: namespace → package
    path for namespaces beyond the Serviceplatform's (e.g. the business types)."""
    tns = wsdl.get("targetNamespace")
    main = f"wsdl/context/{service}Service.wsdl"
    where = {**SP_FILES, **(schema_files or {}), tns: f"{service}ServiceMsg.xsd"}
    prefixes = {**PREFIXES, tns: "tns"}
    for ns, path in (schema_files or {}).items():  # xsd/Debitor_1.xsd → prefix "debitor"
        prefixes.setdefault(ns, re.sub("[^a-z]", "", posixpath.basename(path).split("_")[0].split(".")[0].lower()))
    root = copy.deepcopy(wsdl)
    types = root.find(f"{{{WSDL}}}types")
    files: dict[str, etree._Element] = {}
    for inline in types.findall(f"{{{XS}}}schema"):
        ns = inline.get("targetNamespace")
        if ns not in where:
            raise PackageError(f"no file is named for the schema of {ns}")
        name = where[ns]
        doc = etree.Element(inline.tag, dict(inline.attrib), nsmap={**root.nsmap, **inline.nsmap})
        doc.extend(copy.deepcopy(list(inline)))
        for imp in doc.findall(f"{{{XS}}}import"):
            target = where.get(imp.get("namespace"))
            if target is None:
                raise PackageError(f"{name} imports {imp.get('namespace')}, which has no file")
            imp.set("schemaLocation", relative(name, target))
        _drop_type_elements(doc)
        files[name] = tidy(doc, prefixes)
        types.remove(inline)
    files[SP_FILES[SP_FAULT]] = etree.fromstring(SP_FAULT_SCHEMA, _PARSER)
    root_nsmap = {"wsdl": WSDL, "soap": WSDL_SOAP, "xs": XS, "tns": tns, "spf": SP_FAULT, "header": REQUEST_HEADER}
    for prefix, ns in root.nsmap.items():
        if prefix and ns not in root_nsmap.values() and prefix not in root_nsmap:
            root_nsmap[prefix] = ns
    rebuilt = etree.Element(root.tag, dict(root.attrib), nsmap=root_nsmap)
    rebuilt.extend(list(root))
    root = rebuilt
    _add_fault(root, tns)
    _clark_to_qnames(root)
    types = root.find(f"{{{WSDL}}}types")
    schema = etree.SubElement(types, f"{{{XS}}}schema", targetNamespace=tns)
    etree.SubElement(schema, f"{{{XS}}}include", schemaLocation=relative(main, where[tns]))
    for ns in (SP_FAULT, REQUEST_HEADER):
        if ns == SP_FAULT or any(_part_namespace(p) == ns for p in root.iter(f"{{{WSDL}}}part")):
            etree.SubElement(schema, f"{{{XS}}}import", namespace=ns, schemaLocation=relative(main, where[ns]))
    for service_el in root.findall(f"{{{WSDL}}}service"):  # WSDL 1.1 order: … portType, binding, service
        root.append(service_el)
    files[main] = tidy(root, prefixes)
    return ContractPackage(main=main, files=files)
