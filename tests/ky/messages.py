"""Hand-written requests, as a debtor system would send them to KY (our reference contract)."""

from __future__ import annotations

import uuid

from lxml import etree

from tests.ky.conftest import DAEKNING_SERVICE, DEMO_CVR, OPUS_AGREEMENT, OPUS_SYSTEM

NS = "http://serviceplatformen.dk/xml/wsdl/soap11/OIR/DaekningAfskrivningRegistreringAfsend/1/"
D = "http://serviceplatformen.dk/xml/schemas/OIR/Debitor/1/"
KV = "http://serviceplatformen.dk/xml/schemas/kvittering/1/"
PATH = "/service/OIR/DaekningAfskrivningRegistreringAfsend/1"


def coverage(
    claim: str,
    amount: str,
    *,
    item_id: str | None = None,
    subclaim: str | None = None,
    cvr: str = DEMO_CVR,
    agreement: str = OPUS_AGREEMENT,
    system: str = OPUS_SYSTEM,
    write_off: bool = False,
    omit: str | None = None,
) -> bytes:
    """A RegistrerDaekning (or RegistrerAfskrivning) envelope."""
    op, el, id_el = (
        ("RegistrerAfskrivning", "Afskrivning", "AfskrivningUUID")
        if write_off
        else ("RegistrerDaekning", "Daekning", "DaekningUUID")
    )
    fields = [(id_el, item_id or str(uuid.uuid4())), ("FordringUUID", claim)]
    if subclaim:
        fields.append(("DelfordringUUID", subclaim))
    fields += [("Beloeb", amount), ("Dato", "2025-03-01")]
    if write_off:
        fields.append(("Aarsag", "Uerholdelig"))
    body = "".join(f"<d:{k}>{v}</d:{k}>" for k, v in fields if k != omit)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<r:{op}Request xmlns:r="{NS}" xmlns:d="{D}">
<ac:AuthorityContext xmlns:ac="http://serviceplatformen.dk/xml/schemas/AuthorityContext/1/"><ac:MunicipalityCVR>{cvr}</ac:MunicipalityCVR></ac:AuthorityContext>
<ic:InvocationContext xmlns:ic="http://serviceplatformen.dk/xml/schemas/InvocationContext/1/">
<ic:ServiceAgreementUUID>{agreement}</ic:ServiceAgreementUUID><ic:UserSystemUUID>{system}</ic:UserSystemUUID>
<ic:UserUUID>00000000-0000-4000-8000-000000000001</ic:UserUUID><ic:ServiceUUID>{DAEKNING_SERVICE}</ic:ServiceUUID>
</ic:InvocationContext>
<r:{el}>{body}</r:{el}>
</r:{op}Request></soap:Body></soap:Envelope>""".encode()


def action(write_off: bool = False) -> str:
    return f'"{NS}{"RegistrerAfskrivning" if write_off else "RegistrerDaekning"}"'


def kvittering(body: bytes) -> tuple[str, str | None, list[str]]:
    """(ForretningsValideringsKode, Begrundelse, [FejlKode…]) of an answer."""
    root = etree.fromstring(body)
    kv = root.find(f".//{{{KV}}}Forretningskvittering")
    assert kv is not None, body.decode()
    return (
        kv.findtext(f"{{{KV}}}ForretningsValideringsKode"),
        kv.findtext(f"{{{KV}}}Begrundelse"),
        [f.text for f in kv.iterfind(f".//{{{KV}}}FejlKode")],
    )
