"""The integration package: each service's contract as WSDL + XSD files in KOMBIT's folder layout, with a README
saying what the contract is and what in it is our inference (``simulator contracts export DIR``, and
``GET <service path>?package`` as a zip). A folder written here loads back through official-contract mode."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from simulator.serviceplatform.routefiles import ServiceDef
from simulator.soap.contract import Contract
from simulator.soap.package import write_files

FILE_ROLES = {
    "CallContext_1.xsd": "context element `CallContext` (Serviceplatform)",
    "AuthorityContext_1.xsd": "context element `AuthorityContext` (`MunicipalityCVR`)",
    "InvocationContext_1.xsd": "context element `InvocationContext` (agreement, system, user, service UUIDs)",
    "Kvittering_1.xsd": "SF2900 `Forretningskvittering`, the receipt in every answer",
    "ServiceplatformFault_1.xsd": "`ServiceplatformFault`, the detail of every refusal (docs/errors.md)",
    "RequestHeader.xsd": "KOMBIT's `RequestHeader` SOAP header (`TransactionUUID`)",
}


def exportable(contract: Contract | None) -> bool:
    return contract is not None and hasattr(contract, "package")


def _role(name: str, main: str, message_schema: str) -> str:
    if name == main:
        return "the WSDL (SOAP 1.1, document/literal): operations, SOAPActions, messages, faults"
    if name == message_schema:
        return "the request and response elements of every operation"
    return FILE_ROLES.get(name.rsplit("/", 1)[-1], "business types" if name.startswith("xsd/") else "")


def readme(service: ServiceDef, contract: Contract, base_url: str) -> str:
    package = contract.package
    main = package.main
    message_schema = f"{service.name}ServiceMsg.xsd"
    ops = "\n".join(
        f"| `{op.name}` | `{op.soap_action}` | `{op.request_element}` | `{op.response_element or '—'}` |"
        for op in contract.operations.values()
    )
    files = "\n".join(f"| `{name}` | {_role(name, main, message_schema)} |" for name in sorted(package.files))
    carries = (
        "yes: `ServiceAgreementUUID`, `UserSystemUUID`, `UserUUID`, `ServiceUUID` identify caller and agreement"
        if contract.invocation_context
        else "no: the platform finds the caller from its certificate or token, and the agreement from "
        "system × municipality (`AuthorityContext`) × service"
    )
    about = getattr(contract, "about", "").strip() or "A contract the KY debtor simulator defines."
    return f"""# {service.name}: integration package

Written by the KY debtor simulator (`simulator contracts export`, or the download link on its configuration page).

{about}

| | |
|---|---|
| service | `{service.name}`{f" ({service.integration})" if service.integration else ""} |
| endpoint | `{base_url}{service.path}` (WSDL `?wsdl`, schemas `?xsd=<file>`) |
| ServiceUUID | `{service.uuid}` |
| entityID | `{service.entity_id or "—"}` |
| requests carry `InvocationContext` | {carries} |

## Operations

| operation | SOAPAction | request element | response element |
|---|---|---|---|
{ops}

## Files (KOMBIT's package layout; locations are relative)

| file | holds |
|---|---|
{files}
| `sp/service.properties` | service UUID and entityID |

## Generate code

```sh
mkdir -p src classes && wsimport -keep -s src -d classes {main}   # Java (JAX-WS; Debian package jaxws)
dotnet-svcutil {main}                                               # .NET
```

## Validate against this folder

The simulator loads a folder like this one as the service's contract (official-contract mode, docs/routes.md):

```yaml
# routes/services.yaml
  - name: {service.name}
    official_contract: path/to/{service.name}
    validation: strict
```

Not included: the WS-Policy files of KOMBIT's packages (`wsdl/context/policies.wsdl`, `wsdl/token/`). The
simulator's security models (client certificate, SAML token) are switched on with `SIMULATOR_SECURITY_MODE`.
"""


def contract_files(service: ServiceDef, contract: Contract, base_url: str) -> dict[str, bytes]:
    """The package of one service: path → content (the README and service.properties included)."""
    files = contract.package.documents(address=base_url + service.path)
    files["sp/service.properties"] = (
        f"service.uuid={service.uuid}\nservice.entityID={service.entity_id or ''}\nservice.endpoint={service.path}\n"
    ).encode()
    files["README.md"] = readme(service, contract, base_url).encode()
    return files


def zip_package(service: ServiceDef, contract: Contract, base_url: str) -> bytes:
    """The package as a zip whose top folder is the service's name."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in sorted(contract_files(service, contract, base_url).items()):
            z.writestr(f"{service.name}/{name}", content)
    return buffer.getvalue()


def export_contracts(services: list[tuple[ServiceDef, Contract]], folder: Path, base_url: str) -> list[Path]:
    """Write `<folder>/<service>/…` for each (service, contract), and an index README; returns what was written."""
    written = []
    rows = []
    for service, contract in services:
        written += write_files(folder / service.name, contract_files(service, contract, base_url))
        rows.append(
            f"| [`{service.name}`]({service.name}/README.md) | {service.integration or '—'} | `{service.path}` |"
        )
    index = (
        "# Contracts of the KY debtor simulator\n\nOne folder per service, each in KOMBIT's package layout "
        "(WSDL + XSD files, a README of what is our inference).\n\n| service | integration | path |\n|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )
    written += write_files(folder, {"README.md": index.encode()})
    return written
