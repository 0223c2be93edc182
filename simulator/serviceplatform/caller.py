"""The calling system and its agreement for a call whose contract carries no InvocationContext.

The public SF1510 contracts (Klasse, Facet, Klassifikation v5) put only ``CallContext?`` and
``AuthorityContext?`` before the payload: Serviceplatformen knows the caller from its certificate or token
and finds the agreement for system × municipality × service. The simulator does the same when a security
model is on (`simulator.security`); without one it knows no caller, so it takes the one active agreement for
municipality × service. No agreement is SP-136, more than one SP-137 (docs/errors.md).
"""

from __future__ import annotations

from simulator.serviceplatform.routefiles import AgreementDef, ServiceDef
from simulator.serviceplatform.routetable import RouteTable
from simulator.soap.errors import ErrorCode, SoapFaultError


def implicit_agreement(
    routes: RouteTable, service: ServiceDef, municipality: str | None, system: str | None
) -> AgreementDef:
    """The one active agreement for (`system`, when the credentials name one) × `municipality` × `service`."""
    if municipality is None:
        raise SoapFaultError(
            ErrorCode.NO_AGREEMENT_FOUND,
            f"{service.name} carries no InvocationContext, so the platform finds the agreement from the "
            "municipality: the call names none (give AuthorityContext/MunicipalityCVR, or a token with a CVR claim)",
        )
    candidates = [
        a
        for a in routes.agreements.values()
        if a.service == service.name and a.municipality == municipality and (system is None or a.system == system)
    ]
    active = [a for a in candidates if a.active]
    if len(active) == 1:
        return active[0]
    caller = f"it-system '{system}'" if system else "any it-system"
    if active:
        systems = sorted({a.system for a in active})
        hint = (
            "switch a security model on (SIMULATOR_SECURITY_MODE) so the certificate or token names the caller"
            if system is None and len(systems) > 1
            else "keep one agreement per system × municipality × service"
        )
        raise SoapFaultError(
            ErrorCode.AMBIGUOUS_AGREEMENT,
            f"{service.name} carries no InvocationContext and {len(active)} active agreements let "
            f"{caller} call it on behalf of {municipality} (systems: {', '.join(systems)}): {hint}",
        )
    if candidates:
        raise SoapFaultError(ErrorCode.AGREEMENT_INACTIVE, f"service agreement {candidates[0].uuid} is not active")
    raise SoapFaultError(
        ErrorCode.NO_AGREEMENT_FOUND,
        f"no service agreement lets {caller} call {service.name} on behalf of municipality {municipality}",
    )
