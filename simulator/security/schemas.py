"""The shapes of the security endpoints for the OpenAPI document: GET /api/security, and what the mock STS
answers (WS-Trust over SOAP 1.2, the REST issue, the access-token exchange)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class StsCertificate(BaseModel):
    issuer: str
    fingerprint: str = Field(description="SHA-256 of the STS signing certificate")
    subject: str


class SystemCertificate(BaseModel):
    certificate: str | None = Field(description="the certificate the system is registered with (routes)")
    issued_fingerprint: str | None = Field(description="the certificate the test PKI issued the system, if any")


class SecurityStatus(BaseModel):
    """The security model; the PKI's details only when it is loaded (a mode other than off)."""

    mode: str = Field(description="off | certificate | token | both")
    tls: bool
    certs_dir: str | None = None
    sts: StsCertificate | None = None
    systems: dict[str, SystemCertificate] | None = Field(default=None, description="by system key")
    entity_ids: dict[str, str] | None = Field(default=None, description="each service's entityID, by name")


# -- the mock STS ------------------------------------------------------------------------------------------


class _Assertion(BaseModel):
    Assertion: str = Field(description="base64 of the signed SAML 2.0 assertion XML")


class _Address(BaseModel):
    Address: str


class _AppliesTo(BaseModel):
    EndpointReference: _Address


class _Lifetime(BaseModel):
    Created: str
    Expires: str


class RestIssueAnswer(BaseModel):
    """The REST issue's answer (a JSON RSTR)."""

    TokenType: str
    RequestedSecurityToken: _Assertion
    AppliesTo: _AppliesTo
    Lifetime: _Lifetime


class AccessTokenAnswer(BaseModel):
    access_token: str
    token_type: str = Field(description="Holder-of-key")
    expires_in: int = Field(description="seconds")


XML_TEXT = {"schema": {"type": "string"}}

SOAP_ISSUE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the RSTRC with the signed assertion (SOAP 1.2); a SOAP 1.2 fault otherwise",
        "content": {"application/soap+xml": XML_TEXT},
    }
}
REST_ISSUE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "the signed assertion", "model": RestIssueAnswer}
}
ACCESS_TOKEN_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "the access token", "model": AccessTokenAnswer}
}
