"""The route table at run time: services, systems and municipalities from the files; routes and
agreements seeded from the files into the database, editable through the admin API."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sqlalchemy import delete, select, update

from simulator.serviceplatform.routefiles import (
    AgreementDef,
    MunicipalityDef,
    RouteDef,
    RouteFiles,
    ServiceDef,
    SystemDef,
    check_agreement,
    check_route,
    read_route_files,
)
from simulator.store import AgreementRow, Base, ConfigVersionRow, Database, RouteRow


class RouteTableError(ValueError):
    """An edit the route table refuses; the message says why."""


class RouteTable:
    def __init__(self, files: RouteFiles, directory: Path | None = None) -> None:
        self.files = files
        self.directory = directory
        self.services: dict[str, ServiceDef] = {s.name: s for s in files.services}
        self.services_by_path: dict[str, ServiceDef] = {s.path.lower(): s for s in files.services}
        self.systems: dict[str, SystemDef] = {s.key: s for s in files.systems}
        self.systems_by_uuid: dict[str, SystemDef] = {s.uuid: s for s in files.systems}
        self.municipalities: dict[str, MunicipalityDef] = {m.cvr: m for m in files.municipalities}
        self.routes: dict[str, RouteDef] = {r.id: r for r in files.routes}
        self.agreements: dict[str, AgreementDef] = {a.uuid: a for a in files.agreements}
        self.version = -1  # the config_version this copy reflects

    @classmethod
    def from_directory(cls, directory: Path, known_contracts: set[str] | None = None) -> RouteTable:
        return cls(read_route_files(directory, known_contracts=known_contracts), directory)

    # -- look-ups on the hot path (memory only) -------------------------------------------------

    def service_for_path(self, path: str) -> ServiceDef | None:
        return self.services_by_path.get(path.rstrip("/").lower())

    def route_for(self, service: str, municipality: str | None) -> RouteDef | None:
        """Implicit routing: the municipality's own route, else the service's '*' route."""
        if municipality:
            r = self.routes.get(f"{service}:{municipality}")
            if r is not None:
                return r
        return self.routes.get(f"{service}:*")

    def agreements_for(self, system: str, municipality: str, service: str) -> list[AgreementDef]:
        return [
            a
            for a in self.agreements.values()
            if a.system == system and a.municipality == municipality and a.service == service and a.active
        ]

    def system_key(self, key_or_uuid: str) -> str:
        if key_or_uuid in self.systems:
            return key_or_uuid
        if key_or_uuid in self.systems_by_uuid:
            return self.systems_by_uuid[key_or_uuid].key
        raise RouteTableError(f"unknown system '{key_or_uuid}'")

    # -- persistence -----------------------------------------------------------------------------

    async def sync(self, db: Database) -> None:
        """Seed the database from the files, then load what it holds.

        Rows that came from the files follow the files (added, changed, removed); rows created or
        edited through the admin API are kept as they are.
        """
        async with db.session() as s, s.begin():
            api_routes = {r.id for r in (await s.scalars(select(RouteRow).where(RouteRow.origin == "api")))}
            await s.execute(delete(RouteRow).where(RouteRow.origin == "file"))
            for r in self.files.routes:
                if r.id not in api_routes:
                    s.add(_route_row(r))
            api_ags = {a.uuid for a in (await s.scalars(select(AgreementRow).where(AgreementRow.origin == "api")))}
            await s.execute(delete(AgreementRow).where(AgreementRow.origin == "file"))
            for a in self.files.agreements:
                if a.uuid not in api_ags:
                    s.add(_agreement_row(a))
            await self._bump(s)
        await self.reload(db)

    async def reload_files(self, db: Database, known_contracts: set[str] | None = None) -> RouteFiles:
        """Read the route files again and apply them (municipalities, and the file-origin routes and agreements,
        as at start); raises RouteFileError for problems, RouteTableError when services or systems changed
        (their contracts and credentials are set up at start: restart the simulator for those)."""
        if self.directory is None:
            raise RouteTableError("this route table was not read from a folder")
        files = read_route_files(self.directory, known_contracts=known_contracts)
        for what, old, new in (
            ("services.yaml", self.files.services, files.services),
            ("systems.yaml", self.files.systems, files.systems),
        ):
            if old != new:
                raise RouteTableError(f"{what} changed since the simulator started: restart it to apply that")
        self.files = files
        self.municipalities = {m.cvr: m for m in files.municipalities}
        await self.sync(db)
        return files

    async def _bump(self, s) -> None:
        await s.execute(update(ConfigVersionRow).values(version=ConfigVersionRow.version + 1))

    async def _commit(self, db: Database, change) -> int:
        """Apply one change (a row to merge, or a DELETE) and bump the config version, in one
        transaction; the number of rows it touched."""
        async with db.session() as s, s.begin():
            if isinstance(change, Base):
                await s.merge(change)
                touched = 1
            else:
                touched = (await s.execute(change)).rowcount or 0
            await self._bump(s)
        return touched

    async def stored_version(self, db: Database) -> int:
        async with db.session() as s:
            return int(await s.scalar(select(ConfigVersionRow.version)) or 0)

    async def refresh_if_changed(self, db: Database) -> bool:
        """Reload when another process edited routes or agreements; True when it did."""
        if await self.stored_version(db) != self.version:
            await self.reload(db)
            return True
        return False

    async def reload(self, db: Database) -> None:
        async with db.session() as s:
            self.version = int(await s.scalar(select(ConfigVersionRow.version)) or 0)
            routes = (await s.scalars(select(RouteRow).order_by(RouteRow.position))).all()
            ags = (await s.scalars(select(AgreementRow))).all()
        self.routes = {
            r.id: RouteDef(
                service=r.service,
                municipality=r.municipality,
                target=r.target,
                fault=r.fault,
                origin=r.origin,
                position=r.position,
            )
            for r in routes
        }
        self.agreements = {
            a.uuid: AgreementDef(
                uuid=a.uuid,
                system=a.system,
                municipality=a.municipality,
                service=a.service,
                beskedtyper=a.beskedtyper,
                active=a.active,
                origin=a.origin,
            )
            for a in ags
        }

    async def put_route(self, db: Database, route: RouteDef) -> RouteDef:
        problem = check_route(route, set(self.services), set(self.municipalities))
        if problem:
            raise RouteTableError(problem)
        route.origin = "api"
        if route.id in self.routes and not route.position:
            route.position = self.routes[route.id].position
        elif not route.position:
            route.position = max((r.position for r in self.routes.values()), default=0) + 1
        await self._commit(db, _route_row(route))
        self.routes[route.id] = route
        return route

    async def delete_route(self, db: Database, route_id: str) -> bool:
        touched = await self._commit(db, delete(RouteRow).where(RouteRow.id == route_id))
        self.routes.pop(route_id, None)
        return bool(touched)

    async def put_agreement(self, db: Database, ag: AgreementDef) -> AgreementDef:
        ag = dataclasses.replace(ag, system=self.system_key(ag.system), origin="api")
        problem = check_agreement(ag, set(self.services), set(self.systems), set(self.municipalities))
        if problem:
            raise RouteTableError(problem)
        await self._commit(db, _agreement_row(ag))
        self.agreements[ag.uuid] = ag
        return ag

    async def delete_agreement(self, db: Database, uuid: str) -> bool:
        touched = await self._commit(db, delete(AgreementRow).where(AgreementRow.uuid == uuid))
        self.agreements.pop(uuid, None)
        return bool(touched)


def _route_row(r: RouteDef) -> RouteRow:
    fault = {k: v for k, v in r.fault.items() if k != "__line__"} if r.fault else None
    return RouteRow(
        id=r.id,
        service=r.service,
        municipality=r.municipality,
        target=r.target,
        fault=fault,
        origin=r.origin,
        position=r.position,
    )


def _agreement_row(a: AgreementDef) -> AgreementRow:
    return AgreementRow(
        uuid=a.uuid,
        system=a.system,
        municipality=a.municipality,
        service=a.service,
        beskedtyper=a.beskedtyper,
        active=a.active,
        origin=a.origin,
    )
