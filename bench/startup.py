"""Start to healthy: `simulator run` on embedded defaults (a fresh SQLite file, in-process broker, every
default component) until `/healthz` answers 200, several times; prints each time, the median and RSS.

`.venv/bin/python bench/startup.py [--runs 5] [--components '["ky"]']`
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import VENV_BIN, free_port, rss_mb  # bench/ is the script folder (run as a script)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def one_start(components: str | None) -> tuple[float, float]:
    work = Path(tempfile.mkdtemp(prefix="startup-bench-"))
    port = free_port()
    env = os.environ | {
        "SIMULATOR_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'simulator.db'}",
        "SIMULATOR_PORT": str(port),
        "SIMULATOR_LOG_LEVEL": "warning",
    }
    if components is not None:
        env["SIMULATOR_COMPONENTS"] = components
    t0 = time.perf_counter()
    sim = subprocess.Popen([VENV_BIN / "simulator", "run"], env=env, stdout=subprocess.DEVNULL)
    try:
        while not healthy(f"http://127.0.0.1:{port}/healthz"):
            if sim.poll() is not None or time.perf_counter() - t0 > 60:
                sys.exit("the simulator did not become healthy")
            time.sleep(0.01)
        return time.perf_counter() - t0, rss_mb(sim.pid)
    finally:
        sim.terminate()
        sim.wait(30)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--components", default=None, help="JSON list, e.g. '[\"ky\"]'; default: every default one")
    args = ap.parse_args()
    times = []
    for i in range(args.runs):
        seconds, rss = one_start(args.components)
        times.append(seconds)
        print(f"run {i + 1}: healthy after {seconds:.2f} s, RSS {rss:.0f} MB", flush=True)
    print(f"start to healthy: median {statistics.median(times):.2f} s, max {max(times):.2f} s over {args.runs} runs")


if __name__ == "__main__":
    main()
