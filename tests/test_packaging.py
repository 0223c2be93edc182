"""An installed simulator works outside the checkout: the wheel carries the demo routes and messages."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from tests.conftest import ROOT


def test_wheel_ships_the_demo_route_table_and_message_catalogue(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("ky_debtor_simulator-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ("services.yaml", "systems.yaml", "municipalities.yaml", "routes.yaml", "agreements.yaml"):
        assert f"simulator/_demo/routes/{f}" in names
    assert any(n.startswith("simulator/_demo/messages/") for n in names)
    assert "simulator/store/migrations/versions/0001_core.py" in names
    assert "simulator/store/migrations/env.py" in names
