"""The two debtor message types (the simulator's own beskedtyper) as a debtor system sends them: complete
Haendelsesbesked envelopes. Beskeddata schemas: messages/schemas/*.xsd. The simulated KY reads them in
simulator/ky/besked_receiver.py."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from lxml import etree

from simulator.beskedfordeler import kuvert as kv
from simulator.beskedfordeler.config import MessagesConfig

STATUSSKIFT = "DebitorkontoStatusskift"
FORDRING_TIL_INDBETALING = "FordringTilIndbetaling"

# Klasse UUIDs the simulator uses for ObjektType/ObjektHandling of the debtor messages (its own: not public)
OBJEKTTYPE_DEBITORKONTO = "5d2f3c55-0d3e-4a4c-9a1e-3b1f6a0c7d01"
OBJEKTTYPE_FORDRING = "5d2f3c55-0d3e-4a4c-9a1e-3b1f6a0c7d02"
HANDLING_STATUSSKIFT = "5d2f3c55-0d3e-4a4c-9a1e-3b1f6a0c7d11"
HANDLING_TIL_INDBETALING = "5d2f3c55-0d3e-4a4c-9a1e-3b1f6a0c7d12"
OBJEKTTYPE_PERSON = "ce7fcf97-a8a2-447a-8690-d38aa0f6e23c"  # "Person", as in KOMBIT's sample messages
OBJEKTTYPE_VIRKSOMHED = "5d2f3c55-0d3e-4a4c-9a1e-3b1f6a0c7d03"


# -- building (a debtor system's side) ------------------------------------------------------------------------


def _envelope(
    beskedtype: str,
    municipality: str,
    system_uuid: str,
    objekt_id: str,
    objekttype: str,
    handling: str,
    payload: etree._Element,
    *,
    besked_id: str | None = None,
    tilladte_modtagere: list[str] | None = None,
    at: datetime | None = None,
    debitor: str | None = None,
) -> bytes:
    at = at or datetime.now(UTC)
    root = etree.Element(kv.k("Haendelsesbesked"), nsmap={"besked": kv.KUVERT, None: kv.SAGDOK})

    def unik(parent, name, value, tag=None):
        el = etree.SubElement(parent, kv.k(name))
        tag = tag or ("URNIdentifikator" if value.startswith("urn:") else "UUIDIdentifikator")
        etree.SubElement(el, kv.sd(tag)).text = value
        return el

    def tid(parent, name):
        el = etree.SubElement(parent, kv.k(name))
        etree.SubElement(el, kv.sd("TidsstempelDatoTid")).text = at.isoformat(timespec="milliseconds")

    unik(root, "BeskedId", besked_id or str(uuid.uuid4()))
    etree.SubElement(root, kv.k("BeskedVersion")).text = "1.0"
    kuv = etree.SubElement(root, kv.k("Beskedkuvert"))
    f = etree.SubElement(kuv, kv.k("Filtreringsdata"))
    unik(f, "Beskedtype", beskedtype)
    unik(f, "BeskedAnsvarligAktoer", system_uuid)
    for cvr in tilladte_modtagere if tilladte_modtagere is not None else [municipality]:
        unik(f, "TilladtModtager", f"urn:oio:cvr-nr:{cvr}")
    if debitor:  # the debtor (urn:oio:cpr-nr:… or urn:oio:cvr-nr:…) as a related object, for value-list filters
        rel = etree.SubElement(f, kv.k("RelateretObjekt"))
        unik(rel, "ObjektId", debitor)
        unik(rel, "ObjektType", OBJEKTTYPE_PERSON if "cpr" in debitor else OBJEKTTYPE_VIRKSOMHED)
    reg = etree.SubElement(f, kv.k("ObjektRegistrering"))
    unik(reg, "ObjektRegistreringId", str(uuid.uuid4()))
    unik(reg, "RegistreringsAktoer", system_uuid)
    tid(reg, "Registreringstidspunkt")
    unik(reg, "ObjektAnsvarligMyndighed", f"urn:oio:cvr-nr:{municipality}")
    unik(reg, "ObjektId", objekt_id)
    unik(reg, "ObjektType", objekttype)
    unik(reg, "ObjektHandling", handling)
    li = etree.SubElement(kuv, kv.k("Leveranceinformation"))
    tid(li, "Dannelsestidspunkt")
    unik(li, "TransaktionsId", str(uuid.uuid4()))
    unik(li, "Kildesystem", system_uuid)
    tid(kuv, "GyldighedFra")
    data = etree.SubElement(root, kv.k("Beskeddata"))
    data.append(payload)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def statusskift_besked(
    cfg: MessagesConfig,
    *,
    municipality: str,
    system_uuid: str,
    debitorkonto_uuid: str,
    status: str,
    at: datetime | None = None,
    forrige_status: str | None = None,
    begrundelse: str | None = None,
    **kw: Any,
) -> bytes:
    """A DebitorkontoStatusskift Haendelsesbesked as a debtor system sends it."""
    bt = cfg.by_name(STATUSSKIFT)
    at = at or datetime.now(UTC)
    ns = bt.namespace
    p = etree.Element(f"{{{ns}}}{STATUSSKIFT}", nsmap={None: ns})
    etree.SubElement(p, f"{{{ns}}}DebitorkontoUUID").text = debitorkonto_uuid
    etree.SubElement(p, f"{{{ns}}}MyndighedCVR").text = municipality
    if forrige_status:
        etree.SubElement(p, f"{{{ns}}}ForrigeStatus").text = forrige_status
    etree.SubElement(p, f"{{{ns}}}Status").text = status
    etree.SubElement(p, f"{{{ns}}}StatusTidspunkt").text = at.isoformat()
    if begrundelse:
        etree.SubElement(p, f"{{{ns}}}Begrundelse").text = begrundelse
    return _envelope(
        bt.uuid,
        municipality,
        system_uuid,
        debitorkonto_uuid,
        OBJEKTTYPE_DEBITORKONTO,
        HANDLING_STATUSSKIFT,
        p,
        at=at,
        **kw,
    )


def fordring_til_indbetaling_besked(
    cfg: MessagesConfig,
    *,
    municipality: str,
    system_uuid: str,
    fordring_uuid: str,
    authorities: list[str],
    period_from: date,
    period_to: date | None = None,
    debitorkonto_uuid: str | None = None,
    beloeb: str | None = None,
    **kw: Any,
) -> bytes:
    """A FordringTilIndbetaling Haendelsesbesked as a debtor system sends it."""
    bt = cfg.by_name(FORDRING_TIL_INDBETALING)
    ns = bt.namespace
    p = etree.Element(f"{{{ns}}}{FORDRING_TIL_INDBETALING}", nsmap={None: ns})
    etree.SubElement(p, f"{{{ns}}}FordringUUID").text = fordring_uuid
    if debitorkonto_uuid:
        etree.SubElement(p, f"{{{ns}}}DebitorkontoUUID").text = debitorkonto_uuid
    etree.SubElement(p, f"{{{ns}}}MyndighedCVR").text = municipality
    payers = etree.SubElement(p, f"{{{ns}}}BetalendeMyndigheder")
    for cvr in authorities:
        etree.SubElement(payers, f"{{{ns}}}MyndighedCVR").text = cvr
    etree.SubElement(p, f"{{{ns}}}PeriodeFra").text = period_from.isoformat()
    if period_to:
        etree.SubElement(p, f"{{{ns}}}PeriodeTil").text = period_to.isoformat()
    if beloeb:
        etree.SubElement(p, f"{{{ns}}}Beloeb").text = beloeb
    return _envelope(
        bt.uuid, municipality, system_uuid, fordring_uuid, OBJEKTTYPE_FORDRING, HANDLING_TIL_INDBETALING, p, **kw
    )
