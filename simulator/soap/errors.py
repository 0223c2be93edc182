"""The simulator's stable Serviceplatform error codes (documented in docs/errors.md)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    MALFORMED_XML = "SP-100"
    FORBIDDEN_XML = "SP-101"
    BODY_TOO_LARGE = "SP-102"
    NOT_SOAP11 = "SP-103"
    NOT_UTF8 = "SP-104"
    UNKNOWN_SERVICE = "SP-110"
    UNKNOWN_OPERATION = "SP-111"
    MISSING_INVOCATION_CONTEXT = "SP-120"
    INVALID_INVOCATION_CONTEXT = "SP-121"
    INVALID_UUID = "SP-122"
    SERVICE_UUID_MISMATCH = "SP-123"
    MISPLACED_CONTEXT = "SP-124"
    INVALID_AUTHORITY_CONTEXT = "SP-125"
    UNKNOWN_AGREEMENT = "SP-130"
    AGREEMENT_OTHER_SYSTEM = "SP-131"
    AGREEMENT_OTHER_SERVICE = "SP-132"
    AGREEMENT_OTHER_MUNICIPALITY = "SP-133"
    UNKNOWN_SYSTEM = "SP-134"
    AGREEMENT_INACTIVE = "SP-135"
    NO_AGREEMENT_FOUND = "SP-136"
    AMBIGUOUS_AGREEMENT = "SP-137"
    NO_ROUTE = "SP-140"
    PROVIDER_UNREACHABLE = "SP-141"
    PROVIDER_BAD_RESPONSE = "SP-142"
    REQUEST_SCHEMA = "SP-150"
    RESPONSE_SCHEMA = "SP-151"
    CLIENT_CERT_MISSING = "SP-170"
    CLIENT_CERT_UNKNOWN = "SP-171"
    AUTH_OTHER_SYSTEM = "SP-172"
    TOKEN_MISSING = "SP-173"
    TOKEN_MALFORMED = "SP-174"
    TOKEN_SIGNATURE = "SP-175"
    TOKEN_EXPIRED = "SP-176"
    TOKEN_AUDIENCE = "SP-177"
    TOKEN_OTHER_MUNICIPALITY = "SP-178"
    TOKEN_PROOF = "SP-179"
    INTERNAL = "SP-199"


@dataclass
class SoapFaultError(Exception):
    """A refusal: becomes a SOAP 1.1 Fault with a ServiceplatformFault detail."""

    code: str
    text: str
    client: bool = True  # soap:Client (the caller's fault) or soap:Server
    http_status: int = 500
    version_mismatch: bool = False

    def __str__(self) -> str:
        return f"{self.code}: {self.text}"
