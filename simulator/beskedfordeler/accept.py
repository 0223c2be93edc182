"""Accepting a sent message: the checks (envelope, sender, municipality, agreement, Beskeddata) and the
distribution rules (which dueslag get a copy, with TilladtModtager trimmed). No storage here: a message that
passes becomes a `Prepared`, which the outbox stores and answers."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from simulator.beskedfordeler import kuvert as kv
from simulator.beskedfordeler.answers import (
    HEADER_MUNICIPALITY,
    HEADER_SYSTEM,
    RECEIVE_SERVICE,
    SEND_SERVICE,
    Proven,
    refuse,
)
from simulator.beskedfordeler.config import Abonnement, MessagesConfig, Subscriptions
from simulator.beskedfordeler.kuvert_schema import KuvertError, check_structure
from simulator.soap.envelope import parse_xml
from simulator.soap.errors import SoapFaultError

if TYPE_CHECKING:
    from simulator.serviceplatform import RouteTable

Copy = tuple[str, str, list[str] | None]
"""(dueslag, abonnement, TilladtModtager trimmed for it, or None = as sent)."""


@dataclass
class Prepared:
    """A message that passed every check: what storing and distributing it needs."""

    besked: kv.Besked
    body: bytes
    sha256: str
    channel: str
    system: str
    system_uuid: str
    municipality: str
    transaktions_id: str
    copies: list[Copy]
    stored_at: datetime | None = None  # set by the outbox's writer when stored now (not a repeat)
    claim: tuple[int | None, list[tuple[str, str]]] = (None, [])  # the outbox's fast-path claim


_DECLARED = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*['\"]([^'\"]*)['\"]")


def check_utf8(body: bytes) -> None:
    """The Beskedfordeler takes UTF-8 only (DOMAIN.md §4): anything else is refused 40 UGYLDIG_XML for this
    message alone, before it is parsed or stored, so what is stored is text every database can store."""
    if body[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(body) > 1 and b"\x00" in body[:2]):
        raise refuse("UGYLDIG_XML", "the message is UTF-16; the Beskedfordeler takes UTF-8 only")
    nul = body.find(b"\x00")
    if nul >= 0:
        raise refuse("UGYLDIG_XML", f"the message holds a NUL byte (byte {nul}), which XML does not allow")
    m = _DECLARED.match(body)
    if m and m.group(1).decode("ascii", "replace").lower() not in ("utf-8", "utf8"):
        raise refuse(
            "UGYLDIG_XML",
            f"the message declares encoding '{m.group(1).decode('ascii', 'replace')}'; "
            "the Beskedfordeler takes UTF-8 only",
        )
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise refuse(
            "UGYLDIG_XML",
            f"the message is not valid UTF-8 (byte {e.start}: {e.reason}); the Beskedfordeler takes UTF-8 only",
        ) from None


class Acceptor:
    """Checks a sent Haendelsesbesked and works out where it goes."""

    def __init__(self, cfg: MessagesConfig, routes: RouteTable, subs: Subscriptions, *, max_body_bytes: int) -> None:
        self.cfg = cfg
        self.routes = routes
        self.subs = subs
        self.max_body_bytes = max_body_bytes
        self._types_cache: dict[tuple[str, ...], frozenset[str]] = {}

    def prepare(self, body: bytes, headers: dict[str, str], channel: str, row: dict, proven: Proven | None) -> Prepared:
        """Every check, in the documented order (docs/beskedfordeler.md); raises BeskedRefusal. `row` collects
        what the exchange record names (BeskedId, system, municipality, agreement)."""
        check_utf8(body)
        try:
            root = parse_xml(body, max_bytes=self.max_body_bytes)
        except SoapFaultError as e:
            raise refuse("UGYLDIG_XML", e.text) from None
        try:
            check_structure(root)
        except KuvertError as e:
            raise refuse("UGYLDIG_KUVERT", str(e)) from None
        besked = kv.read_besked(root)
        row["callers_call_id"] = besked.besked_id

        system = self._identify(headers.get(HEADER_SYSTEM), besked, proven)
        row["system_uuid"] = system.uuid
        municipality = self._municipality(besked, headers.get(HEADER_MUNICIPALITY), proven)
        row["municipality"] = municipality

        agreement = self._agreement(SEND_SERVICE, system.key, municipality, besked.beskedtype)
        if agreement is None:
            bt = self.cfg.beskedtyper.get(besked.beskedtype)
            if bt is None and not self._named_by_any_agreement(besked.beskedtype):
                known = ", ".join(f"{t.name} {t.uuid}" for t in self.cfg.beskedtyper.values())
                raise refuse(
                    "INGEN_AFTALE",
                    f"unknown beskedtype {besked.beskedtype} (Filtreringsdata/Beskedtype), sent by system "
                    f"'{system.key}' for municipality {municipality}: it is not one of the Beskedfordeler's "
                    f"beskedtyper ({known}) and no agreement names it",
                )
            raise refuse(
                "INGEN_AFTALE",
                f"system '{system.key}' ({system.uuid}) has no {SEND_SERVICE} agreement "
                f"for municipality {municipality} and beskedtype {besked.beskedtype}" + (f" ({bt.name})" if bt else ""),
            )
        row["agreement_uuid"] = agreement

        self._check_beskeddata(besked)
        return Prepared(
            besked=besked,
            body=body,
            sha256=hashlib.sha256(body).hexdigest(),
            channel=channel,
            system=system.key,
            system_uuid=system.uuid,
            municipality=municipality,
            transaktions_id=besked.transaktions_id or str(uuid.uuid4()),
            copies=self.match(besked, system.key, municipality, self._sender_trim(besked, system.key)),
        )

    def _identify(self, named: str | None, besked: kv.Besked, proven: Proven | None = None):
        """The sending system: the one the token or client certificate proves (a header naming another is
        refused); without a security model, header x-simulator-system, else Kildesystem/BeskedAnsvarligAktoer."""
        systems = self.routes.systems
        by_uuid = self.routes.systems_by_uuid
        if proven is not None:
            system = systems[proven.system]
            if named and named != system.key and named.lower() != system.uuid:
                raise refuse(
                    "FORKERT_AFSENDER",
                    f"header {HEADER_SYSTEM} names '{named}', but the {proven.model} identifies system "
                    f"'{system.key}' ({system.uuid}); the sender is always the {proven.model}'s system",
                )
            return system
        if named:
            system = systems.get(named) or by_uuid.get(named.lower())
            if system is None:
                raise refuse("UKENDT_AFSENDER", f"{HEADER_SYSTEM} '{named}' is not a system of the route table")
            return system
        for candidate in (besked.kildesystem, besked.besked_ansvarlig):
            if candidate and candidate in by_uuid:
                return by_uuid[candidate]
        raise refuse(
            "UKENDT_AFSENDER",
            "the sending system is unknown: set header "
            f"{HEADER_SYSTEM} (system key or UUID), or put a known system UUID in "
            "Leveranceinformation/Kildesystem or Filtreringsdata/BeskedAnsvarligAktoer",
        )

    @staticmethod
    def _municipality(besked: kv.Besked, sending: str | None, proven: Proven | None) -> str:
        """The sending municipality: ObjektAnsvarligMyndighed (one for all ObjektRegistrering), else the header
        or the token's CVR; when both exist they must agree."""
        named = {r.myndighed for r in besked.registreringer if r.myndighed}
        cvrs = {kv.cvr_of(m) for m in named}
        if None in cvrs:
            bad = next(m for m in named if kv.cvr_of(m) is None)
            raise refuse("MANGLER_MYNDIGHED", f"ObjektAnsvarligMyndighed '{bad}' is not urn:oio:cvr-nr:<8 digits>")
        if len(cvrs) > 1:
            raise refuse(
                "FORKERT_MYNDIGHED",
                f"the ObjektRegistrering elements name different authorities "
                f"({', '.join(sorted(named))}); a message is sent for one",
            )
        if proven is not None and proven.municipality:
            if sending and sending != proven.municipality:
                raise refuse(
                    "FORKERT_MYNDIGHED",
                    f"header {HEADER_MUNICIPALITY} names municipality {sending}, but the token is issued for "
                    f"{proven.municipality}",
                )
            sending = proven.municipality
        municipality = next(iter(cvrs)) if cvrs else sending
        if not municipality:
            raise refuse(
                "MANGLER_MYNDIGHED",
                "ObjektRegistrering/ObjektAnsvarligMyndighed is missing, so the "
                "sending municipality is unknown (or send header "
                f"{HEADER_MUNICIPALITY})",
            )
        if sending and sending != municipality:
            raise refuse(
                "FORKERT_MYNDIGHED",
                f"ObjektAnsvarligMyndighed is urn:oio:cvr-nr:{municipality} but the "
                f"message is sent on behalf of municipality {sending}",
            )
        return municipality

    def _agreement(self, service: str, system: str, municipality: str, beskedtype: str) -> str | None:
        for a in self.routes.agreements_for(system, municipality, service):
            types = self._agreement_types(a)
            if beskedtype in types or "*" in types:
                return a.uuid
        return None

    def _named_by_any_agreement(self, beskedtype: str) -> bool:
        return any(beskedtype in self._agreement_types(a) for a in self.routes.agreements.values() if a.beskedtyper)

    def _agreement_types(self, a: Any) -> frozenset[str]:
        """The beskedtype UUIDs an agreement covers ("*" = any), worked out once per list of beskedtyper
        (the beskedtyper catalogue is read once, at start)."""
        listed = tuple(a.beskedtyper or ())
        types = self._types_cache.get(listed)
        if types is None:
            types = self._types_cache[listed] = frozenset(self.cfg.beskedtype_uuid(t) or t for t in listed)
        return types

    def _check_beskeddata(self, besked: kv.Besked) -> None:
        bt = self.cfg.beskedtyper.get(besked.beskedtype)
        if bt is None or bt.xmlschema is None:
            return
        if not besked.beskeddata:
            raise refuse("UGYLDIG_BESKEDDATA", f"a {bt.name} message must carry Beskeddata ({bt.namespace})")
        for data in besked.beskeddata:
            try:
                payload = kv.beskeddata_payload(data)
            except (SoapFaultError, ValueError) as e:
                raise refuse("UGYLDIG_BESKEDDATA", f"Beskeddata cannot be read: {e}") from None
            if payload is None:
                raise refuse("UGYLDIG_BESKEDDATA", f"Beskeddata is empty; expected {{{bt.namespace}}}{bt.name}")
            schema = bt.xmlschema
            if not schema.validate(payload):  # in place (lxml validates a subtree without copying it)
                err = schema.error_log.last_error
                raise refuse(
                    "UGYLDIG_BESKEDDATA", f"Beskeddata does not follow {bt.schema.name}: line {err.line}: {err.message}"
                )

    # -- distribution rules ------------------------------------------------------------------------------

    def _sender_trim(self, besked: kv.Besked, sender: str) -> list[str]:
        """TilladtModtager trimmed to the authorities the sender's BeskedAfsend agreements cover for this
        beskedtype (BeskedAfsend 2.0 trims instead of refusing, DOMAIN.md §4)."""
        covered = set()
        for a in self.routes.agreements.values():
            if a.system == sender and a.service == SEND_SERVICE and a.active:
                types = self._agreement_types(a)
                if besked.beskedtype in types or "*" in types:
                    covered.add(a.municipality)
        return [t for t in besked.tilladte_modtagere if kv.cvr_of(t) in covered or "*" in covered]

    def match(self, besked: kv.Besked, sender: str, municipality: str, tilladte: list[str] | None = None) -> list[Copy]:
        """(dueslag, abonnement, trimmed TilladtModtager or None) for every dueslag the message goes to.
        `tilladte`: TilladtModtager after the sending side's trimming (None: as sent); a message that named
        TilladtModtager goes only to those left."""
        tilladte = besked.tilladte_modtagere if tilladte is None else tilladte
        out: dict[str, Copy] = {}
        for a in self.subs.abonnementer.values():
            if a.dueslag in out or besked.beskedtype not in a.beskedtyper:
                continue
            d = self.subs.dueslag.get(a.dueslag)
            if d is None or not self._passes(a, besked, sender, tilladte):
                continue
            allowed = self._receiver_authorities(d.system, besked.beskedtype)
            if besked.tilladte_modtagere:
                keep = [t for t in tilladte if kv.cvr_of(t) in allowed or "*" in allowed]
                if not keep:
                    continue
                out[a.dueslag] = (a.dueslag, a.uuid, keep)
            elif municipality in allowed or "*" in allowed:
                out[a.dueslag] = (a.dueslag, a.uuid, None)
        return list(out.values())

    def _receiver_authorities(self, system: str, beskedtype: str) -> set[str]:
        found = set()
        for a in self.routes.agreements.values():
            if a.system == system and a.service == RECEIVE_SERVICE and a.active:
                types = self._agreement_types(a)
                if beskedtype in types or "*" in types:
                    found.add(a.municipality)
        return found

    def _passes(self, a: Abonnement, b: kv.Besked, sender: str, tilladte: list[str]) -> bool:
        f = a.filtre
        if "afsender" in f:
            sender_uuid = self.routes.systems[sender].uuid
            if not (
                {sender, sender_uuid, b.besked_ansvarlig} & {v.lower() if len(v) == 36 else v for v in f["afsender"]}
            ):
                return False
        if "tilladt_modtager" in f:
            cvrs = {kv.cvr_of(t) for t in tilladte}
            if not cvrs & set(f["tilladt_modtager"]):
                return False
        for key, values in (
            ("objekttype", [r.objekttype for r in b.registreringer] + [t for _, t in b.relaterede_objekter]),
            ("objekthandling", [r.objekthandling for r in b.registreringer]),
            ("opgaveemne", [r.opgaveemne for r in b.registreringer]),
        ):
            if key in f and not {v for v in values if v} & {x.lower() if key != "opgaveemne" else x for x in f[key]}:
                return False
        if "vaerdiliste" in f:
            numbers = {kv.number_of(o) for o in b.objekt_ids} - {None}
            if not numbers & set(f["vaerdiliste"]):
                return False
        return True
