"""Official-contract mode: validate a service against a vendor's copy of KOMBIT's WSDL/XSD.

A service in ``routes/services.yaml`` with ``official_contract: <folder>`` is described by the WSDL
in that folder instead of our reference contract: its operations, SOAPActions and request/response
elements come from the WSDL's binding and messages; requests and responses are validated with lxml
against the WSDL's schemas (inline ``xs:schema`` and the ``.xsd`` files they import or include by
relative ``schemaLocation``). Nothing is fetched from the network: a schema outside the folder is an
error that names the missing file.
"""

from __future__ import annotations

import copy
from functools import cached_property
from pathlib import Path

from lxml import etree

from simulator.serviceplatform.routefiles import ServiceDef
from simulator.soap.contract import Operation
from simulator.soap.ns import INVOCATION_CONTEXT
from simulator.soap.package import ContractPackage, locations

XS = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
WSDL_SOAP12 = "http://schemas.xmlsoap.org/wsdl/soap12/"
_EMPTY = b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>'


class OfficialContractError(ValueError):
    """The folder does not hold a usable WSDL/XSD set; the message says what is wrong."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
    )


def _parse(path: Path) -> etree._ElementTree:
    try:
        return etree.parse(str(path), _parser())
    except (OSError, etree.XMLSyntaxError) as e:
        raise OfficialContractError(f"{path}: not readable XML ({e})") from None


class _FolderResolver(etree.Resolver):
    """Resolves schema locations to files inside the folder (and our in-memory inline schemas) only."""

    def __init__(self, folder: Path, inline: dict[str, tuple[bytes, str]]) -> None:
        super().__init__()
        self.folder = folder.resolve()
        self.inline = inline
        self.missing: list[str] = []

    def resolve(self, url, pubid, context):
        if url in self.inline:
            text, base = self.inline[url]
            return self.resolve_string(text, context, base_url=base)
        if url.startswith("file:"):
            url = url[5:].lstrip("/")
            url = "/" + url
        path = Path(url)
        if "://" not in url and path.is_absolute():
            try:
                path.resolve().relative_to(self.folder)
            except ValueError:
                self.missing.append(url)
                return self.resolve_string(_EMPTY, context)
            if path.is_file():
                return self.resolve_filename(str(path), context)
        self.missing.append(url)
        return self.resolve_string(_EMPTY, context)


def _local_name(qname: str | None) -> str:
    return (qname or "").split(":")[-1]


def _resolve_qname(el: etree._Element, qname: str) -> str:
    prefix, _, local = qname.rpartition(":")
    ns = el.nsmap.get(prefix or None)
    return f"{{{ns}}}{local}" if ns else local


class OfficialContract:
    """A contract read from an official WSDL/XSD folder (see module doc)."""

    def __init__(self, name: str, wsdl_path: Path, folder: Path) -> None:
        self.name = name
        self.wsdl_path = wsdl_path
        self.folder = folder
        self.docs = self._load_wsdl(wsdl_path)
        root = self.docs[0]
        self.namespace = root.get("targetNamespace") or ""
        self.operations = self._operations()
        if not self.operations:
            raise OfficialContractError(f"{wsdl_path}: no SOAP operations in any wsdl:binding")
        self._schema_roots: list[etree._Element] = []
        self.schema = self._schema()
        self.invocation_context = any(
            _resolve_qname(el, el.get("ref")) == f"{{{INVOCATION_CONTEXT}}}InvocationContext"
            for root in self._schema_roots
            for el in root.iter(f"{{{XS}}}element")
            if el.get("ref")
        )
        """Whether the official requests carry InvocationContext (the SF1510 ones do not: soap/contract.py)."""

    def _load_wsdl(self, path: Path, seen: set[Path] | None = None) -> list[etree._Element]:
        """The WSDL and the WSDLs it imports (wsdl:import location=…, inside the folder)."""
        seen = seen if seen is not None else set()
        path = path.resolve()
        if path in seen:
            return []
        seen.add(path)
        root = _parse(path).getroot()
        if root.tag != f"{{{WSDL}}}definitions":
            raise OfficialContractError(f"{path}: not a WSDL 1.1 document (root is {root.tag})")
        docs = [root]
        for imp in root.findall(f"{{{WSDL}}}import"):
            loc = imp.get("location")
            if not loc:
                continue
            target = (path.parent / loc).resolve()
            if "://" in loc or not target.is_file():
                raise OfficialContractError(f"{path}: imports {loc}, which is not a file in {self.folder}")
            if target.suffix.lower() == ".wsdl" or _parse(target).getroot().tag == f"{{{WSDL}}}definitions":
                docs += self._load_wsdl(target, seen)
        return docs

    def _find(self, tag: str) -> list[etree._Element]:
        return [el for doc in self.docs for el in doc.findall(f"{{{WSDL}}}{tag}")]

    def _operations(self) -> dict[str, Operation]:
        messages: dict[str, dict[str, str | None]] = {}  # message → part name → element
        for doc in self.docs:
            tns = doc.get("targetNamespace")
            for m in doc.findall(f"{{{WSDL}}}message"):
                parts = {}
                for part in m.findall(f"{{{WSDL}}}part"):
                    parts[part.get("name")] = _resolve_qname(part, part.get("element")) if part.get("element") else None
                messages[f"{{{tns}}}{m.get('name')}"] = parts
        port_ops = {}
        for doc in self.docs:
            for pt in doc.findall(f"{{{WSDL}}}portType"):
                for op in pt.findall(f"{{{WSDL}}}operation"):
                    io = {}
                    for kind in ("input", "output"):
                        el = op.find(f"{{{WSDL}}}{kind}")
                        if el is not None and el.get("message"):
                            io[kind] = messages.get(_resolve_qname(el, el.get("message")), {})
                    port_ops[op.get("name")] = io
        out: dict[str, Operation] = {}
        for binding in self._find("binding"):
            for op in binding.findall(f"{{{WSDL}}}operation"):
                name = op.get("name")
                soap_op = op.find(f"{{{WSDL_SOAP}}}operation")
                if soap_op is None:
                    soap_op = op.find(f"{{{WSDL_SOAP12}}}operation")
                io = port_ops.get(name, {})
                request = _body_element(op.find(f"{{{WSDL}}}input"), io.get("input"))
                if not request:
                    continue
                action = (soap_op.get("soapAction") if soap_op is not None else None) or ""
                out[name] = Operation(
                    name=name,
                    soap_action=action or (self.namespace + name),
                    request_element=request,
                    response_element=_body_element(op.find(f"{{{WSDL}}}output"), io.get("output")),
                )
        return out

    def _schema(self) -> etree.XMLSchema:
        inline: dict[str, tuple[bytes, str]] = {}
        for doc in self.docs:
            base = doc.getroottree().docinfo.URL or str(self.wsdl_path)
            for i, original in enumerate(doc.findall(f"{{{WSDL}}}types/{{{XS}}}schema")):
                s = etree.Element(original.tag, dict(original.attrib), nsmap={**doc.nsmap, **original.nsmap})
                s.extend(copy.deepcopy(child) for child in original)
                tns = s.get("targetNamespace") or ""
                key = f"inline:{len(inline)}:{i}"
                inline[key] = (etree.tostring(s), base)
                inline.setdefault(f"ns:{tns}", inline[key])
        # xs:import by namespace only (no schemaLocation) points at another inline schema
        for key, (text, base) in list(inline.items()):
            root = etree.fromstring(text, _parser())
            changed = False
            for imp in root.findall(f"{{{XS}}}import"):
                if not imp.get("schemaLocation") and f"ns:{imp.get('namespace')}" in inline:
                    imp.set("schemaLocation", f"ns:{imp.get('namespace')}")
                    changed = True
            if changed:
                inline[key] = (etree.tostring(root), base)
                tns = root.get("targetNamespace") or ""
                if inline.get(f"ns:{tns}", (None,))[0] == text:
                    inline[f"ns:{tns}"] = inline[key]
        if not inline:
            xsds = sorted(self.folder.rglob("*.xsd"))
            if not xsds:
                raise OfficialContractError(f"{self.wsdl_path}: no schema in wsdl:types and no .xsd in {self.folder}")
            for i, path in enumerate(xsds):
                inline[f"inline:file:{i}"] = (etree.tostring(_parse(path)), str(path))
        self._check_locations(inline)
        main = etree.Element(f"{{{XS}}}schema", nsmap={"xs": XS})
        done = set()
        for key, (text, _base) in inline.items():
            if not key.startswith("inline:"):
                continue
            tns = etree.fromstring(text, _parser()).get("targetNamespace") or ""
            if tns in done:
                continue
            done.add(tns)
            etree.SubElement(main, f"{{{XS}}}import", namespace=tns, schemaLocation=key)
        parser = _parser()
        resolver = _FolderResolver(self.folder, inline)
        parser.resolvers.add(resolver)
        try:
            schema = etree.XMLSchema(etree.fromstring(etree.tostring(main), parser))
        except etree.XMLSchemaParseError as e:
            raise OfficialContractError(f"{self.wsdl_path}: the schemas do not compile: {e}") from None
        if resolver.missing:
            raise OfficialContractError(
                f"{self.wsdl_path}: schema(s) not found in {self.folder}: {', '.join(sorted(set(resolver.missing)))}"
            )
        return schema

    def _check_locations(self, inline: dict[str, tuple[bytes, str]]) -> None:
        """Every schemaLocation must be a file inside the folder (nothing is fetched)."""
        folder = self.folder.resolve()
        todo = [(etree.fromstring(text, _parser()), base) for text, base in inline.values()]
        seen: set[Path] = set()
        while todo:
            root, base = todo.pop()
            self._schema_roots.append(root)
            for ref in root.iter(f"{{{XS}}}import", f"{{{XS}}}include", f"{{{XS}}}redefine"):
                loc = ref.get("schemaLocation")
                if not loc or loc.startswith(("ns:", "inline:")):
                    continue
                if "://" in loc:
                    raise OfficialContractError(
                        f"{base}: schemaLocation {loc} would need the network; put the file in {self.folder}"
                    )
                path = (Path(base).parent / loc).resolve()
                try:
                    path.relative_to(folder)
                except ValueError:
                    raise OfficialContractError(f"{base}: schemaLocation {loc} is outside {self.folder}") from None
                if not path.is_file():
                    raise OfficialContractError(f"{base}: schemaLocation {loc} is not a file in {self.folder}")
                if path not in seen:
                    seen.add(path)
                    todo.append((_parse(path).getroot(), str(path)))

    @property
    def about(self) -> str:
        return (
            f"The contract loaded unchanged from `{self.folder}` (official-contract mode): its WSDL "
            f"`{self.package.main}` and every file it reaches. Nothing in it is the simulator's inference."
        )

    @cached_property
    def package(self) -> ContractPackage:
        """The WSDL and every file it reaches (wsdl:import, xs:import/include), by path inside the folder."""
        folder = self.folder.resolve()
        files: dict[str, etree._Element] = {}
        todo = [self.wsdl_path.resolve()]
        while todo:
            path = todo.pop()
            name = path.relative_to(folder).as_posix()
            if name in files:
                continue
            files[name] = root = _parse(path).getroot()
            for el, attr in locations(root):
                if not el.get(attr).startswith(("ns:", "inline:")):
                    todo.append((path.parent / el.get(attr)).resolve())
        return ContractPackage(main=self.wsdl_path.resolve().relative_to(folder).as_posix(), files=files)

    def wsdl(self, location: str) -> bytes:
        return self.package.served(self.package.main, location)

    def xsd(self, name: str, location: str) -> bytes:
        return self.package.served(name, location)

    def validate_request(self, payload: etree._Element) -> list[str]:
        return self._validate(payload)

    def validate_response(self, payload: etree._Element) -> list[str]:
        return self._validate(payload)

    def _validate(self, payload: etree._Element) -> list[str]:
        if self.schema.validate(payload):
            return []
        return [f"line {e.line}: {e.message}" for e in self.schema.error_log]


def _body_element(bound: etree._Element | None, parts: dict[str, str | None] | None) -> str | None:
    """The element of the message part that goes in the Body: the one ``soap:body parts=`` names, else the
    first part not bound as a ``soap:header`` (KOMBIT's SF1510 messages carry a RequestHeader part first)."""
    if not parts:
        return None
    body_parts = headers = None
    if bound is not None:
        for ns in (WSDL_SOAP, WSDL_SOAP12):
            body = bound.find(f"{{{ns}}}body")
            if body is not None and body.get("parts"):
                body_parts = body.get("parts").split()
            headers = headers or {h.get("part") for h in bound.findall(f"{{{ns}}}header")}
    for name, element in parts.items():
        if (body_parts is None or name in body_parts) and name not in (headers or set()):
            return element
    return None


def _pick_wsdl(folder: Path, service: ServiceDef) -> Path:
    wsdls = sorted(p for p in folder.rglob("*.wsdl") if p.is_file())
    if not wsdls:
        raise OfficialContractError(f"official contract folder {folder} holds no .wsdl file")
    if len(wsdls) == 1:
        return wsdls[0]
    named = [p for p in wsdls if service.name.lower() in p.name.lower()]
    if len(named) >= 1:
        return min(named, key=lambda p: len(p.name))
    for p in wsdls:  # the one whose service or port names the service
        root = _parse(p).getroot()
        if any(service.name.lower() in (s.get("name") or "").lower() for s in root.iter(f"{{{WSDL}}}service")):
            return p
    raise OfficialContractError(
        f"official contract folder {folder} holds {len(wsdls)} WSDLs and none is named after {service.name}"
    )


def load_official_contract(folder: Path, service: ServiceDef) -> OfficialContract:
    """Read the vendor's WSDL/XSD folder for `service` (no network)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise OfficialContractError(f"official contract folder {folder} does not exist")
    return OfficialContract(f"official/{service.name}", _pick_wsdl(folder, service), folder)


__all__ = ["OfficialContract", "OfficialContractError", "load_official_contract"]
