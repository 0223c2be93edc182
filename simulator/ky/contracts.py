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
from simulator.soap.spyne_contract import CONTEXT_FIELDS, XS, SpyneContract, _prefix_for

DEBITOR_NS = "http://serviceplatformen.dk/xml/schemas/OIR/Debitor/1/"
"""Namespace of the shared business types of our reference model (an inference, not KOMBIT's)."""

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

_R = dict(min_occurs=1, nillable=False)
_O = dict(min_occurs=0, nillable=False)
_MANY = dict(min_occurs=0, max_occurs="unbounded", nillable=False)

UUID = Unicode(pattern="[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}")
CPR = Unicode(pattern="[0-9]{10}")
CVR = Unicode(pattern="[0-9]{8}")
Beloeb = Decimal(fraction_digits=2, total_digits=14)
Tekst = Unicode(max_len=255)


def _enum(values: tuple[str, ...]) -> Unicode:
    return Unicode(values=list(values))


# -- SF2900 receipt ----------------------------------------------------------------------------


class FejlType(ComplexModel):
    __namespace__ = KVITTERING
    _type_info = [("FejlKode", Unicode.customize(**_R)), ("FejlTekst", Unicode.customize(**_R))]


class FejlListeType(ComplexModel):
    __namespace__ = KVITTERING
    _type_info = [("Fejl", FejlType.customize(min_occurs=1, max_occurs="unbounded", nillable=False))]


class ForretningskvitteringType(ComplexModel):
    __namespace__ = KVITTERING
    _type_info = [
        ("ForretningsValideringsKode", _enum(KVITTERING_STATUSES).customize(**_R)),
        ("Begrundelse", Unicode.customize(**_O)),
        ("FejlListe", FejlListeType.customize(**_O)),
    ]


KVITTERING_FIELD = [("Forretningskvittering", ForretningskvitteringType.customize(**_R))]
"""First field of every response type (rewritten to ``ref="kv:Forretningskvittering"``)."""


# -- shared business types (DEBITOR_NS) -------------------------------------------------------


class PartType(ComplexModel):
    """A person (CPR) or a company (CVR); exactly one of the two."""

    __namespace__ = DEBITOR_NS
    _type_info = [("CPR", CPR.customize(**_O)), ("CVR", CVR.customize(**_O)), ("Navn", Tekst.customize(**_O))]


class HovedoplysningerType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("Version", Integer.customize(**_R)),
        ("DebitorkontoType", _enum(DEBITORKONTO_TYPER).customize(**_R)),
        ("EjerSystem", Tekst.customize(**_O)),
        ("Beskrivelse", Tekst.customize(**_O)),
    ]


class HaeftelseType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("HaeftelseUUID", UUID.customize(**_R)),
        ("Rolle", _enum(ROLLER).customize(**_R)),
        ("Part", PartType.customize(**_R)),
        ("GyldigFra", Date.customize(**_R)),
        ("GyldigTil", Date.customize(**_O)),
        ("GaeldendeAdresse", Tekst.customize(**_O)),
        ("Materialeabonnement", Tekst.customize(**_O)),
    ]


class DelfordringType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("DelfordringUUID", UUID.customize(**_R)),
        ("Beloeb", Beloeb.customize(**_R)),
        ("PeriodeFra", Date.customize(**_O)),
        ("PeriodeTil", Date.customize(**_O)),
        ("Kontering", Tekst.customize(**_O)),
    ]


class FordringType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("FordringUUID", UUID.customize(**_R)),
        ("FordringstypeUUID", UUID.customize(**_R)),
        ("PeriodeFra", Date.customize(**_O)),
        ("PeriodeTil", Date.customize(**_O)),
        ("Forfaldsdato", Date.customize(**_R)),
        ("SidsteRettidigeBetalingsdato", Date.customize(**_O)),
        ("Beloeb", Beloeb.customize(**_R)),
        ("Tilstand", _enum(FORDRING_TILSTANDE).customize(**_O)),
        ("Delfordring", DelfordringType.customize(min_occurs=1, max_occurs="unbounded", nillable=False)),
    ]


class OpkraevningType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [("Opkraevningsform", _enum(OPKRAEVNINGSFORMER).customize(**_R))]


class DebitorkontoType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("DebitorkontoUUID", UUID.customize(**_R)),
        ("Hovedoplysninger", HovedoplysningerType.customize(**_R)),
        ("Debitor", PartType.customize(**_R)),
        ("Haeftelse", HaeftelseType.customize(**_MANY)),
        ("Opkraevning", OpkraevningType.customize(**_O)),
        ("Fordring", FordringType.customize(min_occurs=1, max_occurs="unbounded", nillable=False)),
    ]


class PosteringType(ComplexModel):
    """A movement on a claim as the debtor system books it: coverage, write-off, down-adjustment,
    interest or fee."""

    __namespace__ = DEBITOR_NS
    _type_info = [
        ("PosteringUUID", UUID.customize(**_R)),
        ("Art", _enum(POSTERINGSARTER).customize(**_R)),
        ("FordringUUID", UUID.customize(**_R)),
        ("DelfordringUUID", UUID.customize(**_O)),
        ("IndbetalingUUID", UUID.customize(**_O)),
        ("Beloeb", Beloeb.customize(**_R)),
        ("Dato", Date.customize(**_R)),
        ("Begrundelse", Tekst.customize(**_O)),
    ]


class IndbetalingType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("IndbetalingUUID", UUID.customize(**_R)),
        ("FordringUUID", UUID.customize(**_R)),
        ("DelfordringUUID", UUID.customize(**_O)),
        ("Beloeb", Beloeb.customize(**_R)),
        ("Valoerdato", Date.customize(**_R)),
        ("Indbetaler", PartType.customize(**_O)),
        ("IndbetalendeMyndighedCVR", CVR.customize(**_O)),
    ]


class FordringSaldoType(ComplexModel):
    """A claim as the debtor system sees it, with its movements and what is outstanding."""

    __namespace__ = DEBITOR_NS
    _type_info = [
        ("FordringUUID", UUID.customize(**_R)),
        ("Tilstand", _enum(FORDRING_TILSTANDE).customize(**_R)),
        ("Beloeb", Beloeb.customize(**_R)),
        ("Restbeloeb", Beloeb.customize(**_R)),
        ("Delfordring", DelfordringType.customize(**_MANY)),
        ("Indbetaling", IndbetalingType.customize(**_MANY)),
        ("Postering", PosteringType.customize(**_MANY)),
    ]


class DebitorkontoOversigtType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("DebitorkontoUUID", UUID.customize(**_R)),
        ("DebitorkontoType", _enum(DEBITORKONTO_TYPER).customize(**_R)),
        ("Status", Tekst.customize(**_R)),
        ("Restbeloeb", Beloeb.customize(**_R)),
    ]


class DebitorkontoDetaljeType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("DebitorkontoUUID", UUID.customize(**_R)),
        ("Hovedoplysninger", HovedoplysningerType.customize(**_R)),
        ("Debitor", PartType.customize(**_R)),
        ("Status", Tekst.customize(**_R)),
        ("Haeftelse", HaeftelseType.customize(**_MANY)),
        ("Fordring", FordringSaldoType.customize(**_MANY)),
        ("Restbeloeb", Beloeb.customize(**_R)),
    ]


class DelfordringTilIndbetalingType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("DebitorkontoUUID", UUID.customize(**_R)),
        ("FordringUUID", UUID.customize(**_R)),
        ("DelfordringUUID", UUID.customize(**_R)),
        ("Restbeloeb", Beloeb.customize(**_R)),
        ("Forfaldsdato", Date.customize(**_O)),
    ]


class DaekningType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("DaekningUUID", UUID.customize(**_R)),
        ("FordringUUID", UUID.customize(**_R)),
        ("DelfordringUUID", UUID.customize(**_O)),
        ("IndbetalingUUID", UUID.customize(**_O)),
        ("Beloeb", Beloeb.customize(**_R)),
        ("Dato", Date.customize(**_R)),
        ("Begrundelse", Tekst.customize(**_O)),
    ]


class AfskrivningType(ComplexModel):
    __namespace__ = DEBITOR_NS
    _type_info = [
        ("AfskrivningUUID", UUID.customize(**_R)),
        ("FordringUUID", UUID.customize(**_R)),
        ("DelfordringUUID", UUID.customize(**_O)),
        ("Beloeb", Beloeb.customize(**_R)),
        ("Dato", Date.customize(**_R)),
        ("Aarsag", _enum(AFSKRIVNINGSAARSAGER).customize(**_R)),
        ("Begrundelse", Tekst.customize(**_O)),
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
    ("DebitorkontoUUID", UUID.customize(**_R)),
    ("HaeftelseUUID", UUID.customize(**_R)),
    ("GyldigTil", Date.customize(**_R)),
    ("Begrundelse", Tekst.customize(**_O)),
]

REGISTRERING_OPS: dict[str, tuple[list, list | None]] = {
    "OpretDebitorkonto": ([("Debitorkonto", DebitorkontoType.customize(**_R))], None),
    "RetFordringTilstand": (
        [
            ("DebitorkontoUUID", UUID.customize(**_R)),
            ("Hovedoplysninger", HovedoplysningerType.customize(**_O)),
            ("FordringUUID", UUID.customize(**_R)),
            ("Tilstand", _enum(FORDRING_TILSTANDE).customize(**_R)),
            ("NedreguleringUUID", UUID.customize(**_O)),
            ("NedreguleringBeloeb", Beloeb.customize(**_O)),
            ("Begrundelse", Tekst.customize(**_O)),
        ],
        None,
    ),
    "AfslutHaeftelse": (_AFSLUT, None),
    "AfslutAdministrator": (_AFSLUT, None),
}

FORESPOERGSEL_OPS: dict[str, tuple[list, list | None]] = {
    "SoegDebitorkonto": (
        [("Part", PartType.customize(**_R))],
        [("Debitorkonto", DebitorkontoOversigtType.customize(**_MANY))],
    ),
    "LaesDebitorkonto": (
        [("DebitorkontoUUID", UUID.customize(**_R))],
        [("Debitorkonto", DebitorkontoDetaljeType.customize(**_O))],
    ),
}

INDBETALING_OPS: dict[str, tuple[list, list | None]] = {
    "ForetagIndbetaling": ([("Indbetaling", IndbetalingType.customize(**_R))], None),
    "SoegDelfordringTilIndbetaling": (
        [("DebitorkontoUUID", UUID.customize(**_O)), ("Part", PartType.customize(**_O))],
        [("DelfordringTilIndbetaling", DelfordringTilIndbetalingType.customize(**_MANY))],
    ),
}

DAEKNING_OPS: dict[str, tuple[list, list | None]] = {
    "RegistrerDaekning": ([("Daekning", DaekningType.customize(**_R))], None),
    "RegistrerAfskrivning": ([("Afskrivning", AfskrivningType.customize(**_R))], None),
}


class ReferenceContract(SpyneContract):
    """SpyneContract that also references the SF2900 ``Forretningskvittering`` element in its own
    namespace (``ref="kv:Forretningskvittering"``), like the context elements."""

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
        ReferenceContract(f"sf1590/{_name}", "OIR", _name, 1, [_service(f"{_name}Service", _ns, _ops)])
    )


def ns_of(service: str) -> str:
    return SERVICES[service][0]
