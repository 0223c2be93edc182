"""The sortiment at run time: every version in memory, persisted in the database, edited atomically."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select

from simulator.klassifikation.models import SortimentVersionRow
from simulator.klassifikation.sortiment import Klasse, SortimentError, SortimentVersion, load_versions
from simulator.store import Database

log = logging.getLogger(__name__)


class KlassifikationSettings(BaseSettings):
    """``SIMULATOR_KLASSIFIKATION_*``: which sortiment to serve and how deliveries are retried."""

    model_config = SettingsConfigDict(env_prefix="SIMULATOR_KLASSIFIKATION_", env_file=None, extra="ignore")

    sortiment: str = "ky-debitorsortiment"  # folder under <messages_dir>/sortiments/
    subscriptions_file: str = "sortiment_subscriptions.yaml"  # in the routes folder
    retry_initial_s: float = 2.0  # wait after the first failed delivery
    retry_factor: float = 2.0  # each further failure multiplies the wait
    retry_max_s: float = 60.0  # the wait never grows beyond this
    deliver: bool = True  # False: keep the sortiment and the read services, send nothing

    def backoff(self, failures: int) -> float:
        return min(self.retry_initial_s * self.retry_factor ** max(failures - 1, 0), self.retry_max_s)


class SortimentState:
    """All versions of the served sortiment (the last is current)."""

    def __init__(self, db: Database, directory: Path) -> None:
        self.db = db
        self.directory = directory
        self.versions: list[SortimentVersion] = []
        self._lock = asyncio.Lock()
        self.on_new_version: list[Callable[[SortimentVersion], Awaitable[None] | None]] = []

    @property
    def current(self) -> SortimentVersion:
        return self.versions[-1]

    def version(self, number: int) -> SortimentVersion:
        if not 1 <= number <= len(self.versions):
            raise SortimentError(f"no version {number} (versions 1–{len(self.versions)})")
        return self.versions[number - 1]

    async def load(self) -> None:
        """Versions from the database; file versions the database lacks are added after them.

        Versions made through the admin API are kept across restarts; a file version whose number
        is already taken (by an API edit) is skipped with a warning.
        """
        files = load_versions(self.directory)
        sortiment_uuid = files[0].sortiment.uuid
        async with self.db.session() as s:
            rows = (
                await s.scalars(
                    select(SortimentVersionRow)
                    .where(SortimentVersionRow.sortiment_uuid == sortiment_uuid)
                    .order_by(SortimentVersionRow.version)
                )
            ).all()
        stored = [SortimentVersion.from_json(r.snapshot) for r in rows]
        matches = all(
            st.origin == "file" and f.to_json()["klasser"] == st.to_json()["klasser"]
            for f, st in zip(files, stored, strict=False)
        )
        new = files[len(stored) :] if matches else []
        if not matches:
            log.warning(
                "sortiment %s: the database's versions differ from the files (edited through the admin "
                "API?); serving the database's %d version(s)",
                self.directory,
                len(stored),
            )
        async with self.db.session() as s, s.begin():
            for v in new:
                s.add(_row(v))
        self.versions = stored + new

    async def edit(
        self, aendringer: list[dict[str, Any]], *, note: str = "", tidspunkt: datetime | None = None
    ) -> SortimentVersion:
        """Apply a change set as a new version, store it, and tell the listeners (delivery)."""
        async with self._lock:
            new = self.current.apply(aendringer, tidspunkt=tidspunkt, note=note, origin="api")
            async with self.db.session() as s, s.begin():
                s.add(_row(new))
            self.versions.append(new)
        for listener in self.on_new_version:
            result = listener(new)
            if result is not None:
                await result
        return new

    def history(self, uuid: str) -> list[SortimentVersion]:
        """The versions that registered a change of the object `uuid` (oldest first)."""
        return [v for v in self.versions if uuid in v.klasser and v.klasser[uuid].version == v.version]

    def klasse(self, uuid: str) -> Klasse | None:
        return self.current.klasser.get(uuid)

    def tree(self) -> list[dict[str, Any]]:
        """The current sortiment as a tree per Facet (for the admin API and CLI)."""
        v = self.current

        def node(k: Klasse) -> dict[str, Any]:
            return {
                "uuid": k.uuid,
                "brugervendt_noegle": k.brugervendt_noegle,
                "titel": k.titel,
                "beskrivelse": k.beskrivelse,
                "virkning_fra": k.virkning_fra.isoformat(),
                "virkning_til": k.virkning_til.isoformat() if k.virkning_til else None,
                "udgaaet": k.udgaaet,
                "version": k.version,
                "underklasser": [node(c) for c in v.children(k.uuid)],
            }

        return [
            {
                "uuid": f.uuid,
                "brugervendt_noegle": f.brugervendt_noegle,
                "titel": f.titel,
                "klasser": [node(k) for k in v.klasser.values() if k.facet == f.uuid and not k.overordnet],
            }
            for f in v.facetter.values()
        ]


def _row(v: SortimentVersion) -> SortimentVersionRow:
    return SortimentVersionRow(
        sortiment_uuid=v.sortiment.uuid,
        version=v.version,
        tidspunkt=v.tidspunkt,
        note=v.note,
        origin=v.origin,
        aendringer=v.aendringer,
        snapshot=v.to_json(),
    )
