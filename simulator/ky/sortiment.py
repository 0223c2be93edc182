"""Which claim types KY may use: the Fordringstype Klasser of KY's debtor sortiment, in the version the
municipality's debtor system acknowledged (Klassifikation's `SortimentDelivery.claim_types`), or — when the
klassifikation component is not running — in the newest version of the sortiment files KY ships with."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from simulator.capabilities import ClaimType, ClaimTypes, SortimentDelivery
from simulator.klassifikation.sortiment import SortimentError, load_versions
from simulator.klassifikation.state import KlassifikationSettings
from simulator.ky.errors import KyError
from simulator.soap.context import UUID_RE

if TYPE_CHECKING:
    from simulator.runtime import Runtime


class SortimentClaimTypes:
    """KY's view of the sortiment's claim types, per municipality."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._from_files: ClaimTypes | None = None

    def for_municipality(self, municipality: str) -> ClaimTypes:
        provider = self.rt.find(SortimentDelivery)
        found = provider.claim_types(municipality) if provider is not None else None
        return found if found is not None else self._files()

    def _files(self) -> ClaimTypes:
        if self._from_files is None:
            folder = Path(self.rt.settings.messages_dir) / "sortiments" / KlassifikationSettings().sortiment
            try:
                newest = load_versions(folder)[-1]
            except (SortimentError, OSError, IndexError) as e:
                raise KyError(409, f"KY has no debtor sortiment to take claim types from ({folder}: {e})") from None
            types = tuple(
                ClaimType(k.uuid, k.brugervendt_noegle, k.titel) for k in newest.fordringstyper(datetime.now(UTC))
            )
            self._from_files = ClaimTypes(newest.version, f"the sortiment files in {folder}", types)
        return self._from_files

    def resolve(self, types: ClaimTypes, ref: str | None, *, outside_sortiment: bool = False) -> str:
        """The FordringstypeUUID for a claim: `ref` (a UUID or BrugervendtNoegle) when it is a claim type in
        effect, the sortiment's first one when `ref` is None; a UUID outside the sortiment only with
        `outside_sortiment` (a deliberate negative test). Raises KyError naming the valid ones."""
        if ref is None:
            if not types.types:
                raise KyError(409, f"KY's debtor sortiment version {types.version} has no claim type in effect")
            return types.types[0].uuid
        found = types.find(ref)
        if found is not None:
            return found.uuid
        if outside_sortiment and UUID_RE.match(ref):
            return ref
        raise KyError(
            422,
            f"fordringstype '{ref}' is not a claim type in effect in KY's debtor sortiment version {types.version} "
            f"({types.basis}); use one of {types.describe()} (GET /api/ky/fordringstyper)",
        )
