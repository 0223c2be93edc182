"""``python -m examples.reference_debtor --port 8001``: run the reference debtor system."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from examples.reference_debtor.app import create_app
from examples.reference_debtor.config import Config

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8001)
    p.add_argument(
        "--simulator-url",
        default="http://127.0.0.1:8000",
        help="where to send coverages and write-offs (the simulator's base URL)",
    )
    p.add_argument(
        "--routes-dir",
        type=Path,
        default=ROOT / "routes",
        help="the simulator's routes/ folder: systems, municipalities and agreements",
    )
    p.add_argument(
        "--messages-dir",
        type=Path,
        default=None,
        help="the simulator's messages/ folder (beskedtyper.yaml); default: next to --routes-dir",
    )
    p.add_argument(
        "--auto-report",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="report coverages to KY right after each payment (default: on; --no-auto-report: only on "
        "POST /admin/<cvr>/report)",
    )
    p.add_argument(
        "--messages",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="publish DebitorkontoStatusskift / FordringTilIndbetaling to the simulator's Beskedfordeler (default: on)",
    )
    a = p.parse_args()
    config = Config.from_routes(
        a.routes_dir,
        a.simulator_url,
        auto_report=a.auto_report,
        publish_messages=a.messages,
        messages_dir=a.messages_dir,
    )
    print(
        f"reference debtor system on http://{a.host}:{a.port} for municipalities "
        f"{', '.join(sorted(config.identities))}; reporting to {config.simulator_url} "
        f"(auto-report {'on' if config.auto_report else 'off'}, messages {'on' if config.publish_messages else 'off'})",
        flush=True,
    )
    uvicorn.run(create_app(config), host=a.host, port=a.port, log_level="warning")


if __name__ == "__main__":
    main()
