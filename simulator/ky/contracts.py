"""Our reference contracts for the SF1590_B debtor integrations (KOMBIT's WSDL/XSD are not public).

This is the simulator's **reference model**, inferred from public material (see
docs/contracts/sf1590.md). It follows Serviceplatformen's conventions: one WSDL namespace per
service (``http://serviceplatformen.dk/xml/wsdl/soap11/OIR/<Service>/1/``), ASCII SOAPActions
(namespace + operation), the context elements first in every request element, answers that carry
an SF2900 ``Forretningskvittering`` (ns ``http://serviceplatformen.dk/xml/schemas/kvittering/1/``).
The business types (Debitorkonto, Fordring, …) live in one shared namespace, ``DEBITOR_NS``.

Importing this module registers the four contracts under the names used in routes/services.yaml.
"""

from __future__ import annotations

from lxml import etree
from spyne import ComplexModel, Date, Decimal, Integer, ServiceBase, Unicode, rpc

from simulator.soap.contract import register_contract
from simulator.soap.ns import KVITTERING, wsdl_namespace
from simulator.soap.spyne_contract import CONTEXT_FIELDS, XS, SpyneContract, _prefix_for, many, named, opt, req, some

DEBITOR_NS = "http://serviceplatformen.dk/xml/schemas/OIR/Debitor/1/"
"""Namespace of the shared business types of our reference model (an inference, not KOMBIT's)."""
DEBITOR_XSD = "xsd/Debitor_1.xsd"
"""Their file in each service's package."""

NS_REGISTRERING = wsdl_namespace("OIR", "DebitorRegistreringAfsend", 1)
NS_DAEKNING = wsdl_namespace("OIR", "DaekningAfskrivningRegistreringAfsend", 1)
NS_FORESPOERGSEL = wsdl_namespace("OIR", "DebitorForespoergselAfsend", 1)
NS_INDBETALING = wsdl_namespace("OIR", "DebitorIndbetalingAfsend", 1)

KVITTERING_STATUSES = ("MODTAGET", "AFLEVERET", "ACCEPTERET", "AFVIST", "FEJLET")
ROLLER = ("JuridiskAnsvarlig", "JuridiskMedhaefter", "Administrator", "Ligestillingspartner")
FORDRING_TILSTANDE = ("Aktiv", "Suspenderet", "Annulleret", "Nedreguleret")
DEBITORKONTO_TYPER = ("Person", "Virksomhed")
OPKRAEVNINGSFORMER = ("Indbetalingskort", "Betalingsservice", "Modregning")
AFSKRIVNINGSAARSAGER = ("Uerholdelig", "Foraeldet", "Eftergivet", "Smaabeloeb", "Andet")
POSTERINGSARTER = ("Daekning", "Afskrivning", "Nedregulering", "Rente", "Gebyr")

UUID_PATTERN = "[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}"

# Named simple types: one <xs:simpleType> each, so generated code has one class per enumeration (and plain
# strings/decimals for the rest) with the names below, never one per field.
UUID = named(Unicode, "UUIDType", DEBITOR_NS, pattern=UUID_PATTERN)
CPR = named(Unicode, "CPRType", DEBITOR_NS, pattern="[0-9]{10}")
CVR = named(Unicode, "CVRType", DEBITOR_NS, pattern="[0-9]{8}")
Beloeb = named(Decimal, "BeloebType", DEBITOR_NS, fraction_digits=2, total_digits=14)
Tekst = named(Unicode, "TekstType", DEBITOR_NS, max_len=255)
Rolle = named(Unicode, "RolleType", DEBITOR_NS, values=list(ROLLER))
Tilstand = named(Unicode, "TilstandType", DEBITOR_NS, values=list(FORDRING_TILSTANDE))
Kontoart = named(Unicode, "KontoartType", DEBITOR_NS, values=list(DEBITORKONTO_TYPER))
Opkraevningsform = named(Unicode, "OpkraevningsformType", DEBITOR_NS, values=list(OPKRAEVNINGSFORMER))
Afskrivningsaarsag = named(Unicode, "AfskrivningsaarsagType", DEBITOR_NS, values=list(AFSKRIVNINGSAARSAGER))
Posteringsart = named(Unicode, "PosteringsartType", DEBITOR_NS, values=list(POSTERINGSARTER))
ForretningsValideringsKode = named(
    Unicode, "ForretningsValideringsKodeType", KVITTERING, values=list(KVITTERING_STATUSES)
)


# -- SF2900 receipt ----------------------------------------------------------------------------


class FejlType(ComplexModel):
    __namespace__ = KVITTERING
    _type_info = [("FejlKode", req(Unicode)), ("FejlTekst", req(Unicode))]


class FejlListeType(ComplexModel):
    __namespace__ = KVITTERING
    _type_info = [("Fejl", some(FejlType))]


class ForretningskvitteringType(ComplexModel):
    __namespace__ = KVITTERING
    _type_info = [
        ("ForretningsValideringsKode", req(ForretningsValideringsKode)),
        ("Begrundelse", opt(Unicode)),
        ("FejlListe", opt(FejlListeType)),
    ]


KVITTERING_FIELD = [("Forretningskvittering", req(ForretningskvitteringType))]
"""First field of every response type (rewritten to ``ref="kv:Forretningskvittering"``)."""


# -- shared business types (DEBITOR_NS) -------------------------------------------------------


class PartType(ComplexModel):
    """A person (CPR) or a company (CVR); exactly one of the two."""

    __namespace__ = DEBITOR_NS
    _type_info = [("CPR", opt(CPR)), ("CVR", opt(CVR)), ("Navn", opt(Tekst))]


class HovedoplysningerType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("Version", req(Integer)),
        ("DebitorkontoType", req(Kontoart)),
        ("EjerSystem", opt(Tekst)),
        ("Beskrivelse", opt(Tekst)),
    ]


class HaeftelseType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("HaeftelseUUID", req(UUID)),
        ("Rolle", req(Rolle)),
        ("Part", req(PartType)),
        ("GyldigFra", req(Date)),
        ("GyldigTil", opt(Date)),
        ("GaeldendeAdresse", opt(Tekst)),
        ("Materialeabonnement", opt(Tekst)),
    ]


class DelfordringType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("DelfordringUUID", req(UUID)),
        ("Beloeb", req(Beloeb)),
        ("PeriodeFra", opt(Date)),
        ("PeriodeTil", opt(Date)),
        ("Kontering", opt(Tekst)),
    ]


class FordringType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("FordringUUID", req(UUID)),
        ("FordringstypeUUID", req(UUID)),
        ("PeriodeFra", opt(Date)),
        ("PeriodeTil", opt(Date)),
        ("Forfaldsdato", req(Date)),
        ("SidsteRettidigeBetalingsdato", opt(Date)),
        ("Beloeb", req(Beloeb)),
        ("Tilstand", opt(Tilstand)),
        ("Delfordring", some(DelfordringType)),
    ]


class OpkraevningType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [("Opkraevningsform", req(Opkraevningsform))]


class DebitorkontoType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("DebitorkontoUUID", req(UUID)),
        ("Hovedoplysninger", req(HovedoplysningerType)),
        ("Debitor", req(PartType)),
        ("Haeftelse", many(HaeftelseType)),
        ("Opkraevning", opt(OpkraevningType)),
        ("Fordring", some(FordringType)),
    ]


class PosteringType(ComplexModel):
    """A movement on a claim as the debtor system books it: coverage, write-off, down-adjustment,
    interest or fee."""

    __namespace__ = DEBITOR_NS
    _type_info = [
        ("PosteringUUID", req(UUID)),
        ("Art", req(Posteringsart)),
        ("FordringUUID", req(UUID)),
        ("DelfordringUUID", opt(UUID)),
        ("IndbetalingUUID", opt(UUID)),
        ("Beloeb", req(Beloeb)),
        ("Dato", req(Date)),
        ("Begrundelse", opt(Tekst)),
    ]


class IndbetalingType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("IndbetalingUUID", req(UUID)),
        ("FordringUUID", req(UUID)),
        ("DelfordringUUID", opt(UUID)),
        ("Beloeb", req(Beloeb)),
        ("Valoerdato", req(Date)),
        ("Indbetaler", opt(PartType)),
        ("IndbetalendeMyndighedCVR", opt(CVR)),
    ]


class FordringSaldoType(ComplexModel):
    """A claim as the debtor system sees it, with its movements and what is outstanding."""

    __namespace__ = DEBITOR_NS
    _type_info = [
        ("FordringUUID", req(UUID)),
        ("Tilstand", req(Tilstand)),
        ("Beloeb", req(Beloeb)),
        ("Restbeloeb", req(Beloeb)),
        ("Delfordring", many(DelfordringType)),
        ("Indbetaling", many(IndbetalingType)),
        ("Postering", many(PosteringType)),
    ]


class DebitorkontoOversigtType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("DebitorkontoUUID", req(UUID)),
        ("DebitorkontoType", req(Kontoart)),
        ("Status", req(Tekst)),
        ("Restbeloeb", req(Beloeb)),
    ]


class DebitorkontoDetaljeType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("DebitorkontoUUID", req(UUID)),
        ("Hovedoplysninger", req(HovedoplysningerType)),
        ("Debitor", req(PartType)),
        ("Status", req(Tekst)),
        ("Haeftelse", many(HaeftelseType)),
        ("Fordring", many(FordringSaldoType)),
        ("Restbeloeb", req(Beloeb)),
    ]


class DelfordringTilIndbetalingType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("DebitorkontoUUID", req(UUID)),
        ("FordringUUID", req(UUID)),
        ("DelfordringUUID", req(UUID)),
        ("Restbeloeb", req(Beloeb)),
        ("Forfaldsdato", opt(Date)),
    ]


class DaekningType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("DaekningUUID", req(UUID)),
        ("FordringUUID", req(UUID)),
        ("DelfordringUUID", opt(UUID)),
        ("IndbetalingUUID", opt(UUID)),
        ("Beloeb", req(Beloeb)),
        ("Dato", req(Date)),
        ("Begrundelse", opt(Tekst)),
    ]


class AfskrivningType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("AfskrivningUUID", req(UUID)),
        ("FordringUUID", req(UUID)),
        ("DelfordringUUID", opt(UUID)),
        ("Beloeb", req(Beloeb)),
        ("Dato", req(Date)),
        ("Aarsag", req(Afskrivningsaarsag)),
        ("Begrundelse", opt(Tekst)),
    ]


# -- request/response types and services -------------------------------------------------------


def _types(ns: str, name: str, request: list, response: list | None = None) -> tuple[type, type]:
    req = type(f"{name}RequestType", (ComplexModel,), {"__namespace__": ns, "_type_info": CONTEXT_FIELDS + request})
    resp = type(
        f"{name}ResponseType", (ComplexModel,), {"__namespace__": ns, "_type_info": KVITTERING_FIELD + (response or [])}
    )
    return req, resp


def _op(name: str, req: type, resp: type):
    def method(ctx, request):  # contract only: requests are served by the pipeline
        pass

    method.__name__ = method.__qualname__ = name
    return rpc(
        req, _returns=resp, _body_style="bare", _in_message_name=f"{name}Request", _out_message_name=f"{name}Response"
    )(method)


def _service(class_name: str, ns: str, ops: dict[str, tuple[list, list | None]]) -> type:
    body = {}
    for name, (request, response) in ops.items():
        req, resp = _types(ns, name, request, response)
        body[name] = _op(name, req, resp)
    return type(class_name, (ServiceBase,), body)


_AFSLUT = [
    ("DebitorkontoUUID", req(UUID)),
    ("HaeftelseUUID", req(UUID)),
    ("GyldigTil", req(Date)),
    ("Begrundelse", opt(Tekst)),
]

REGISTRERING_OPS: dict[str, tuple[list, list | None]] = {
    "OpretDebitorkonto": ([("Debitorkonto", req(DebitorkontoType))], None),
    "RetFordringTilstand": (
        [
            ("DebitorkontoUUID", req(UUID)),
            ("Hovedoplysninger", opt(HovedoplysningerType)),
            ("FordringUUID", req(UUID)),
            ("Tilstand", req(Tilstand)),
            ("NedreguleringUUID", opt(UUID)),
            ("NedreguleringBeloeb", opt(Beloeb)),
            ("Begrundelse", opt(Tekst)),
        ],
        None,
    ),
    "AfslutHaeftelse": (_AFSLUT, None),
    "AfslutAdministrator": (_AFSLUT, None),
}

FORESPOERGSEL_OPS: dict[str, tuple[list, list | None]] = {
    "SoegDebitorkonto": (
        [("Part", req(PartType))],
        [("Debitorkonto", many(DebitorkontoOversigtType))],
    ),
    "LaesDebitorkonto": (
        [("DebitorkontoUUID", req(UUID))],
        [("Debitorkonto", opt(DebitorkontoDetaljeType))],
    ),
}

INDBETALING_OPS: dict[str, tuple[list, list | None]] = {
    "ForetagIndbetaling": ([("Indbetaling", req(IndbetalingType))], None),
    "SoegDelfordringTilIndbetaling": (
        [("DebitorkontoUUID", opt(UUID)), ("Part", opt(PartType))],
        [("DelfordringTilIndbetaling", many(DelfordringTilIndbetalingType))],
    ),
}

DAEKNING_OPS: dict[str, tuple[list, list | None]] = {
    "RegistrerDaekning": ([("Daekning", req(DaekningType))], None),
    "RegistrerAfskrivning": ([("Afskrivning", req(AfskrivningType))], None),
}


class ReferenceContract(SpyneContract):
    """SpyneContract that also references the SF2900 ``Forretningskvittering`` element in its own
    namespace (``ref="kv:Forretningskvittering"``), like the context elements."""

    about = """**This is the simulator's reference model of an SF1590_B (ØiR) debtor service, not KOMBIT's contract.**
KOMBIT's WSDL/XSD for these services ship only in its integration package and are not public. Public are: the
service names and UUIDs (except SF1590_B_02's), some operation names (OpretDebitorkonto, RetFordringTilstand,
AfslutHæftelse, AfslutAdministrator, ForetagIndbetaling, SøgDelfordringTilIndbetaling), Serviceplatformen's
conventions (namespaces, ASCII SOAPActions, the context elements, SF2900's Kvittering, ServiceplatformFault).
Our inference: the other operation names, every business element and type in `xsd/Debitor_1.xsd` (names,
cardinalities, enumerations), and the request/response element names. The field-by-field description is
docs/contracts/sf1590.md in the simulator's repository. When KOMBIT's package arrives, point the simulator at it
(official-contract mode) and regenerate your code from it."""

    def _postprocess(self, root: etree._Element) -> None:
        super()._postprocess(root)
        schemas = {s.get("targetNamespace"): s for s in root.iter(f"{{{XS}}}schema")}
        for schema in schemas.values():
            for el in schema.iter(f"{{{XS}}}element"):
                if (
                    el.get("name") == "Forretningskvittering"
                    and (el.get("type") or "").endswith(":ForretningskvitteringType")
                    and schema.get("targetNamespace") != KVITTERING
                ):
                    prefix = _prefix_for(el, KVITTERING)
                    for attr in ("name", "type", "nillable"):
                        el.attrib.pop(attr, None)
                    el.set("ref", f"{prefix}:Forretningskvittering")
        kv = schemas.get(KVITTERING)
        if kv is not None:
            prefix = _prefix_for(kv, KVITTERING)
            for el in kv.findall(f"{{{XS}}}element"):
                if el.get("name") == "ForretningskvitteringType":
                    kv.remove(el)
            if not any(e.get("name") == "Forretningskvittering" for e in kv.findall(f"{{{XS}}}element")):
                etree.SubElement(
                    kv, f"{{{XS}}}element", name="Forretningskvittering", type=f"{prefix}:ForretningskvitteringType"
                )


SERVICES = {
    "DebitorRegistreringAfsend": (NS_REGISTRERING, REGISTRERING_OPS),
    "DaekningAfskrivningRegistreringAfsend": (NS_DAEKNING, DAEKNING_OPS),
    "DebitorForespoergselAfsend": (NS_FORESPOERGSEL, FORESPOERGSEL_OPS),
    "DebitorIndbetalingAfsend": (NS_INDBETALING, INDBETALING_OPS),
}

CONTRACTS: dict[str, ReferenceContract] = {}
for _name, (_ns, _ops) in SERVICES.items():
    CONTRACTS[_name] = register_contract(
        ReferenceContract(
            f"sf1590/{_name}", "OIR", _name, 1, [_service(f"{_name}Service", _ns, _ops)], {DEBITOR_NS: DEBITOR_XSD}
        )
    )


def ns_of(service: str) -> str:
    return SERVICES[service][0]
