"""Contracts: the operations a service offers, its WSDL, and schema validation of messages.

A contract is named in `routes/services.yaml` (``contract: <name>``) and registered here by the
sub-package that defines it (our reference contracts are built with spyne, see `spyne_contract`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from lxml import etree


@dataclass(frozen=True)
class Operation:
    name: str
    soap_action: str
    request_element: str  # Clark notation {ns}local
    response_element: str | None = None


class Contract(Protocol):
    name: str
    namespace: str
    operations: dict[str, Operation]
    invocation_context: bool
    """Whether its requests carry ``InvocationContext`` (our SF1590 contracts). When False (the public SF1510
    contracts), the platform finds the calling system and agreement itself (serviceplatform/caller.py)."""

    def wsdl(self, location: str) -> bytes: ...

    def xsd(self, name: str, location: str) -> bytes:
        """A schema file of the contract's package (``<service>?xsd=<name>``); LookupError if there is none."""
        ...

    def validate_request(self, payload: etree._Element) -> list[str]: ...

    def validate_response(self, payload: etree._Element) -> list[str]: ...


@dataclass
class OperationsOnly:
    """A contract that knows operations but no schema (e.g. a provider-defined service)."""

    name: str
    namespace: str
    operations: dict[str, Operation] = field(default_factory=dict)
    invocation_context: bool = True

    def wsdl(self, location: str) -> bytes:
        raise LookupError(f"contract {self.name} has no WSDL")

    def xsd(self, name: str, location: str) -> bytes:
        raise LookupError(f"contract {self.name} has no schema files")

    def validate_request(self, payload: etree._Element) -> list[str]:
        return []

    def validate_response(self, payload: etree._Element) -> list[str]:
        return []


def find_operation(contract: Contract, soap_action: str | None, payload_tag: str | None) -> Operation | None:
    """The operation named by SOAPAction (full or bare name), else by the request element."""
    if soap_action:
        action = soap_action.strip().strip('"').strip()
        if action:
            for op in contract.operations.values():
                if action in (op.soap_action, op.name):
                    return op
            return None
    if payload_tag:
        for op in contract.operations.values():
            if op.request_element == payload_tag:
                return op
    return None


_REGISTRY: dict[str, Contract] = {}


def register_contract(contract: Contract) -> Contract:
    _REGISTRY[contract.name] = contract
    return contract


def get_contract(name: str) -> Contract | None:
    return _REGISTRY.get(name)


def contract_names() -> list[str]:
    return sorted(_REGISTRY)
