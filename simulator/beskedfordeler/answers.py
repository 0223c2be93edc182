"""What the Beskedfordeler answers a sender (`Retur`, the StandardRetur), its refusal codes, and the
credentials a request proves its system with (`Credentials` → `Proven`, checked by simulator.security)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from simulator.beskedfordeler import kuvert as kv

SEND_SERVICE = "BeskedAfsend"
RECEIVE_SERVICE = "BeskedModtag"
HEADER_SYSTEM = "x-simulator-system"
HEADER_MUNICIPALITY = "x-simulator-municipality"


@dataclass(frozen=True)
class Retur:
    """The StandardRetur a sender gets: StatusKode, and for refusals a stable code and a text."""

    status: int
    code: str | None = None
    text: str | None = None
    besked_id: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == 20

    @property
    def fejlbesked(self) -> str | None:
        return f"{self.code}: {self.text}" if self.code else None

    def xml(self) -> bytes:
        if self.code is None:  # 20 (and any code without a text): the same bytes every time
            return _plain_retur(self.status)
        return kv.standard_retur(self.status, self.fejlbesked)


@functools.lru_cache(maxsize=16)
def _plain_retur(status: int) -> bytes:
    return kv.standard_retur(status, None)


class BeskedRefusal(Exception):
    """A message (or a request) the Beskedfordeler refuses: carries the StandardRetur its sender gets. (KY's
    own refusal of a booking, simulator.ky.booking.Refusal, is a business answer, AFVIST: another thing.)"""

    def __init__(self, status: int, code: str, text: str) -> None:
        super().__init__(text)
        self.retur = Retur(status, code, text)


RETUR_CODES: dict[str, tuple[int, str]] = {
    "UGYLDIG_XML": (40, "the body is not well-formed UTF-8 XML (or holds a DTD/entities)"),
    "UGYLDIG_KUVERT": (40, "the Haendelsesbesked does not follow Beskedkuvert.xsd (the text names the element)"),
    "UGYLDIG_REPLY_TO": (40, "AMQP reply_to is not direct reply-to (amq.rabbitmq.reply-to…); nothing is published"),
    "UGYLDIG_BESKEDDATA": (40, "the Beskeddata does not follow the schema of its beskedtype"),
    "MANGLER_MYNDIGHED": (40, "no ObjektAnsvarligMyndighed (urn:oio:cvr-nr:…) and no sending municipality"),
    "BESKEDID_GENBRUGT": (40, "the BeskedId was already used for a different message"),
    "TOKEN_UDLOEBET": (41, "the token has expired (token verification)"),
    "UKENDT_AFSENDER": (43, "the sending system cannot be identified"),
    "FORKERT_AFSENDER": (43, f"header {HEADER_SYSTEM} names another system than the token or client certificate"),
    "FORKERT_MYNDIGHED": (43, "ObjektAnsvarligMyndighed differs from the sending municipality"),
    "INGEN_AFTALE": (43, "no BeskedAfsend agreement for system × municipality × beskedtype"),
    "INTERN_FEJL": (50, "the message could not be stored; nothing was accepted, send it again"),
}
"""Every refusal: code → (StatusKode, meaning). FejlbeskedTekst is '<code>: <what was wrong>'."""


def refuse(code: str, text: str) -> BeskedRefusal:
    return BeskedRefusal(RETUR_CODES[code][0], code, text)


@dataclass(frozen=True)
class Credentials:
    """What a request carries to prove which system sends (or pulls): its headers (lower-case names, e.g.
    `token`, `token-signature`), the TLS client certificate when one was presented, and the bytes a
    signature by the token's key must cover (a publish: the message body)."""

    headers: dict[str, str]
    channel: str  # amqp | http
    client_cert: str | None = None
    signed: bytes = b""


@dataclass(frozen=True)
class Proven:
    """Who the credentials prove: the system key, and the municipality CVR when a token names one."""

    system: str
    municipality: str | None
    model: str  # token | certificate


SenderVerifier = Callable[[Credentials], Awaitable[Proven]]
"""Set by simulator.security when a security model is on; raises BeskedRefusal (e.g. 41 token expired)."""
