"""The shapes of KY's admin API (/api/ky): what it takes and what it answers (typed OpenAPI schemas)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from simulator.ky.contracts import FORDRING_TILSTANDE, OPKRAEVNINGSFORMER, ROLLER

Amount = Annotated[Decimal, Field(gt=0, decimal_places=2, description="kroner, e.g. 1250.00")]
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(value: str | None) -> str | None:
    if value is not None and _NOT_XML.search(value):
        raise ValueError("contains characters an XML message cannot carry (control characters)")
    return value


Text = Annotated[str, AfterValidator(_xml_text), Field(max_length=255)]
"""Free text that goes into a message KY sends."""
UuidField = Annotated[str, Field(pattern=UUID_PATTERN, description="a lower-case UUID")]


class Party(BaseModel):
    cpr: str | None = Field(default=None, pattern=r"^[0-9]{10}$")
    cvr: str | None = Field(default=None, pattern=r"^[0-9]{8}$")
    name: Text | None = None

    @model_validator(mode="after")
    def _one(self) -> Party:
        if bool(self.cpr) == bool(self.cvr):
            raise ValueError("give exactly one of cpr or cvr")
        return self


class LiabilityIn(Party):
    role: Literal[ROLLER] = "JuridiskAnsvarlig"  # type: ignore[valid-type]
    uuid: UuidField | None = None
    valid_from: date | None = None


class SubClaimIn(BaseModel):
    amount: Amount
    uuid: UuidField | None = None
    period_from: date | None = None
    period_to: date | None = None
    kontering: Text | None = None


class ClaimIn(BaseModel):
    amount: Amount
    uuid: UuidField | None = None
    fordringstype: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")] | None = Field(
        default=None,
        description="a claim type of KY's debtor sortiment: Klasse UUID or BrugervendtNoegle (e.g. KY-FT-0101); "
        "default the sortiment's first (GET /api/ky/fordringstyper)",
    )
    due_date: date | None = None
    last_payment_date: date | None = None
    period_from: date | None = None
    period_to: date | None = None
    subclaims: list[SubClaimIn] | None = Field(default=None, description="default: one sub-claim of the full amount")


class AccountIn(BaseModel):
    municipality: str = Field(pattern=r"^[0-9]{8}$")
    debitor: Party
    claims: list[ClaimIn] = Field(min_length=1)
    account_uuid: UuidField | None = None
    liabilities: list[LiabilityIn] | None = Field(default=None, description="default: the debtor as JuridiskAnsvarlig")
    opkraevningsform: Literal[OPKRAEVNINGSFORMER] | None = None  # type: ignore[valid-type]
    send: bool = Field(default=True, description="send OpretDebitorkonto to the debtor system now")
    fordringstype_outside_sortiment: bool = Field(
        default=False,
        description="send a fordringstype UUID that is not in the sortiment as it is (a deliberate negative test)",
    )


class ClaimStateIn(BaseModel):
    state: Literal[FORDRING_TILSTANDE]  # type: ignore[valid-type]
    down_adjustment: Amount | None = Field(default=None, description="adjust the claim down by this amount")
    reason: Text | None = None


class EndLiabilityIn(BaseModel):
    valid_to: date | None = Field(default=None, description="default today")
    reason: Text | None = None


class PaymentIn(BaseModel):
    amount: Amount
    subclaim_uuid: UuidField | None = None
    value_date: date | None = None
    payment_uuid: UuidField | None = None


# -- answers ---------------------------------------------------------------------------------------------

Kroner = Annotated[str, Field(description="kroner with two decimals, e.g. 1250.00")]
IsoDate = Annotated[str, Field(description="YYYY-MM-DD")]
IsoTime = Annotated[str, Field(description="ISO 8601 date-time with zone")]


class Fejl(BaseModel):
    kode: str
    tekst: str


class KvitteringOut(BaseModel):
    """The debtor system's Forretningskvittering (SF2900)."""

    status: str = Field(description="MODTAGET|AFLEVERET|ACCEPTERET|AFVIST|FEJLET")
    begrundelse: str | None = None
    fejl: list[Fejl] = Field(default_factory=list)


class Fault(BaseModel):
    code: str
    text: str | None = None


class Sent(BaseModel):
    """A call KY made through the platform and the debtor system's answer."""

    service: str
    operation: str
    exchange_id: str = Field(description="the recorded exchange (GET /api/exchanges/{id})")
    accepted: bool
    kvittering: KvitteringOut
    fault: Fault | None = Field(default=None, description="a SOAP fault instead of an answer")


class PartyOut(BaseModel):
    cpr: str | None = None
    cvr: str | None = None
    name: str | None = None


class StatusEntry(BaseModel):
    status: str
    at: IsoTime
    source: str = Field(description="ky | beskedfordeler")
    besked_id: str | None = None
    exchange_id: str | None = None


class StatusChange(StatusEntry):
    id: int
    account_uuid: str
    municipality: str


class LiabilityOut(BaseModel):
    uuid: str
    role: str
    party: PartyOut
    valid_from: IsoDate
    valid_to: IsoDate | None = None


class SubClaimOut(BaseModel):
    uuid: str
    amount: Kroner
    period_from: IsoDate | None = None
    period_to: IsoDate | None = None
    kontering: str | None = None


class PostingOut(BaseModel):
    id: int
    uuid: str
    kind: str = Field(description="indbetaling | daekning | afskrivning | nedregulering | rente | gebyr")
    municipality: str
    claim_uuid: str
    subclaim_uuid: str | None = None
    payment_uuid: str | None = None
    amount: Kroner
    date: IsoDate
    reason: str | None = None
    exchange_id: str | None = None
    created_at: IsoTime


class ClaimOut(BaseModel):
    uuid: str
    account_uuid: str
    municipality: str
    fordringstype: str = Field(description="Klasse UUID of KY's debtor sortiment")
    amount: Kroner
    state: str
    period_from: IsoDate | None = None
    period_to: IsoDate | None = None
    due_date: IsoDate | None = None
    last_payment_date: IsoDate | None = None
    subclaims: list[SubClaimOut]
    paid: Kroner = Field(description="KY's own payments (they do not move the balance)")
    covered: Kroner
    written_off: Kroner
    down_adjusted: Kroner
    interest: Kroner
    fees: Kroner
    outstanding: Kroner
    outstanding_oere: int
    balance_consistent: bool = Field(description="the running balance agrees with the sum of the postings")
    postings_count: int
    postings: list[PostingOut] = Field(description="the newest 200, oldest first")


class AccountOut(BaseModel):
    uuid: str
    municipality: str
    kind: str = Field(description="Person | Virksomhed")
    debitor: PartyOut
    version: int
    status: str
    opkraevningsform: str | None = None
    created_at: IsoTime
    status_history: list[StatusEntry]
    liabilities: list[LiabilityOut]
    claims: list[ClaimOut]
    outstanding: Kroner


class CreatedAccount(BaseModel):
    account_uuid: str
    sent: Sent | None = Field(default=None, description="OpretDebitorkonto, when sent")
    account: AccountOut


class SentAccount(BaseModel):
    sent: Sent
    account: AccountOut


class SentClaim(BaseModel):
    sent: Sent
    claim: ClaimOut


class Payment(SentClaim):
    payment_uuid: str


class RemotePayment(BaseModel):
    uuid: str
    amount: Kroner
    date: IsoDate


class RemotePosting(BaseModel):
    uuid: str
    kind: str = Field(description="Daekning | Afskrivning | Nedregulering | Rente | Gebyr")
    amount: Kroner
    subclaim_uuid: str | None = None
    payment_uuid: str | None = None
    date: IsoDate
    reason: str | None = None


class RemoteSubClaim(BaseModel):
    uuid: str
    amount: Kroner


class RemoteClaim(BaseModel):
    uuid: str
    state: str
    amount: Kroner
    outstanding: Kroner
    payments: list[RemotePayment]
    postings: list[RemotePosting]
    subclaims: list[RemoteSubClaim]


class RemoteLiability(BaseModel):
    uuid: str
    role: str
    valid_to: IsoDate | None = None


class RemoteAccount(BaseModel):
    """A DebitorkontoDetalje as the debtor system answered LaesDebitorkonto."""

    uuid: str
    kind: str | None = None
    status: str
    debitor: PartyOut
    liabilities: list[RemoteLiability]
    claims: list[RemoteClaim]
    outstanding: Kroner


class RemoteAccountAnswer(BaseModel):
    sent: Sent
    account: RemoteAccount | None = None


class AccountOverview(BaseModel):
    uuid: str
    kind: str
    status: str
    outstanding: Kroner


class SearchAnswer(BaseModel):
    sent: Sent
    accounts: list[AccountOverview]


class OpenSubClaim(BaseModel):
    account_uuid: str
    claim_uuid: str
    subclaim_uuid: str
    outstanding: Kroner
    due_date: IsoDate | None = None


class OpenSubClaimsAnswer(BaseModel):
    sent: Sent
    subclaims: list[OpenSubClaim]


class FordringTilIndbetalingOut(BaseModel):
    id: int
    municipality: str
    fordring_uuid: str
    authorities: list[str]
    period_from: IsoDate | None = None
    period_to: IsoDate | None = None
    besked_id: str
    received_at: IsoTime


class ClaimTypeOut(BaseModel):
    uuid: str
    brugervendt_noegle: str
    titel: str


class ClaimTypesOut(BaseModel):
    """The claim types KY uses for a municipality."""

    municipality: str
    version: int = Field(description="the sortiment version they come from")
    basis: str = Field(description="why that version (acknowledged by the debtor system, or the newest)")
    types: list[ClaimTypeOut]
