"""Who this debtor system is on the platform, per municipality (checklist item 2).

What a vendor learns here: to call KY back (1d) and to publish to the Beskedfordeler (1e) a debtor
system needs, per municipality it serves, its own IT-system UUID and the service agreement
(serviceaftale) that lets it call ``DaekningAfskrivningRegistreringAfsend`` for that municipality. The
reference debtor reads both from the simulator's ``routes/`` folder, so that it is always the system the
route table names; a real debtor system gets them from the municipality's STS administration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

RETURN_SERVICE = "DaekningAfskrivningRegistreringAfsend"
STATUSSKIFT = "DebitorkontoStatusskift"
FORDRING_TIL_INDBETALING = "FordringTilIndbetaling"
BESKEDTYPER = {  # name → (beskedtype UUID, Beskeddata namespace); overridden by messages/beskedtyper.yaml
    STATUSSKIFT: (
        "1a4419ff-47d1-4dc8-a900-4c747888edad",
        "urn:ky-debtor-simulator:beskeddata:debitorkontostatusskift:1",
    ),
    FORDRING_TIL_INDBETALING: (
        "25672fd7-e239-4bf3-8f8d-f15023857e0c",
        "urn:ky-debtor-simulator:beskeddata:fordringtilindbetaling:1",
    ),
}


@dataclass
class Identity:
    """Who this debtor system is when it calls KY for one municipality."""

    system_uuid: str
    agreement_uuid: str | None
    system_key: str | None = None  # routes/systems.yaml key: who sends to the Beskedfordeler


@dataclass
class Config:
    simulator_url: str = "http://127.0.0.1:8000"
    return_service_uuid: str = "67275f52-f9a2-484e-a869-92cad1a5572c"
    return_path: str = f"/service/OIR/{RETURN_SERVICE}/1"
    identities: dict[str, Identity] = field(default_factory=dict)  # by municipality CVR
    auto_report: bool = True  # report each payment's coverage to KY right away
    publish_messages: bool = True  # DebitorkontoStatusskift / FordringTilIndbetaling to the Beskedfordeler
    beskedtyper: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(BESKEDTYPER))

    @classmethod
    def from_routes(
        cls,
        routes_dir: Path,
        simulator_url: str,
        *,
        auto_report: bool = True,
        publish_messages: bool = True,
        messages_dir: Path | None = None,
    ) -> Config:
        """Read systems, municipalities, agreements and services from the simulator's routes/ folder, and
        the beskedtyper from its messages/ folder (default: the sibling of routes/, when it exists)."""

        def load(name: str, key: str, folder: Path = routes_dir) -> list[dict]:
            return (yaml.safe_load((folder / name).read_text(encoding="utf-8")) or {}).get(key) or []

        systems = {s["key"]: s for s in load("systems.yaml", "systems")}
        cfg = cls(simulator_url=simulator_url.rstrip("/"), auto_report=auto_report, publish_messages=publish_messages)
        messages_dir = messages_dir or routes_dir.parent / "messages"
        if (messages_dir / "beskedtyper.yaml").is_file():
            for bt in load("beskedtyper.yaml", "beskedtyper", messages_dir):
                if bt.get("name") in cfg.beskedtyper:
                    cfg.beskedtyper[bt["name"]] = (bt["uuid"], bt.get("namespace") or cfg.beskedtyper[bt["name"]][1])
        for s in load("services.yaml", "services"):
            if s["name"] == RETURN_SERVICE:
                cfg.return_service_uuid = s["uuid"]
                cfg.return_path = s.get("path") or f"/service/{s['area']}/{s['name']}/{s.get('version', 1)}"
        agreements = load("agreements.yaml", "agreements")
        for m in load("municipalities.yaml", "municipalities"):
            key = m.get("debtor_system")
            if not key or key not in systems:
                continue
            ag = next(
                (
                    a
                    for a in agreements
                    if a["system"] == key
                    and str(a["municipality"]) == str(m["cvr"])
                    and a["service"] == RETURN_SERVICE
                    and a.get("active", True)
                ),
                None,
            )
            cfg.identities[str(m["cvr"])] = Identity(systems[key]["uuid"], ag["uuid"] if ag else None, key)
        return cfg
