"""Security models (issue 8, docs/security.md): the test PKI, mutual TLS (certificate model), the mock STS
issuing SAML holder-of-key tokens (token model), and their verification on Serviceplatform calls and on
Beskedfordeler messages. Off by default (`SIMULATOR_SECURITY_MODE=off`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from simulator.capabilities import BeskedSenderCheck
from simulator.security.auth import Authenticator, Security, entity_id_of, verify_access_token
from simulator.security.besked import BeskedAuthenticator, BeskedTokenError, sign_for_besked, verify_token_for_besked
from simulator.security.pki import fingerprint
from simulator.security.saml import TokenError
from simulator.security.schemas import SecurityStatus
from simulator.security.sts import router as sts_router
from simulator.web.deps import RuntimeDep, require_admin

__all__ = [
    "Authenticator",
    "BeskedTokenError",
    "Security",
    "TokenError",
    "component",
    "entity_id_of",
    "sign_for_besked",
    "verify_access_token",
    "verify_token_for_besked",
]

admin_router = APIRouter(prefix="/security", tags=["security"], dependencies=[Depends(require_admin)])


@admin_router.get(
    "",
    summary="Security model, TLS, STS certificate and the certificate of each system",
    response_model=SecurityStatus,
    response_model_exclude_unset=True,
)
async def security_status(rt: RuntimeDep) -> dict[str, Any]:
    security = rt.find(Security)
    out: dict[str, Any] = {"mode": rt.settings.security_mode, "tls": bool(rt.settings.tls_certfile)}
    if security is not None and security.loaded:
        assert security.sts_cert is not None
        out["certs_dir"] = str(security.pki.dir)
        out["sts"] = {
            "issuer": rt.settings.sts_issuer,
            "fingerprint": fingerprint(security.sts_cert),
            "subject": security.sts_cert.subject.rfc4514_string(),
        }
        issued = {key: fp for fp, key in security.issued.items()}
        out["systems"] = {
            s.key: {"certificate": s.certificate, "issued_fingerprint": issued.get(s.key)}
            for s in rt.routes.systems.values()
        }
        out["entity_ids"] = {s.name: entity_id_of(s) for s in rt.routes.services.values()}
    return out


class SecurityComponent:
    name = "security"
    admin_router = admin_router
    public_router = sts_router
    provides = (Security, BeskedSenderCheck)
    needs = ()
    wants = ()

    async def start(self, rt) -> None:
        security = Security(rt)
        rt.provide(Security, security)
        if rt.settings.security_mode != "off":
            security.load(create=True)
            rt.pipeline.authenticator = Authenticator(security)
        if rt.settings.security_mode != "off":
            rt.provide(BeskedSenderCheck, BeskedAuthenticator(security))

    async def stop(self, rt) -> None:
        rt.withdraw(Security)
        rt.withdraw(BeskedSenderCheck)
        if isinstance(getattr(rt.pipeline, "authenticator", None), Authenticator):
            rt.pipeline.authenticator = None

    async def health(self, rt) -> dict[str, Any]:
        security = rt.find(Security)
        return {
            "ok": rt.settings.security_mode == "off" or bool(security and security.loaded),
            "mode": rt.settings.security_mode,
            "tls": bool(rt.settings.tls_certfile),
            "besked_proof": rt.settings.security_besked_proof,
        }


component = SecurityComponent()
