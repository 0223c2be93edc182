"""What the load scripts share: a free port, wrk with bench/wrk_post.lua, a process's RSS and CPU."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(url: str, body_file: Path, duration: int, conns: int, soap_action: str) -> dict[str, float]:
    """`wrk -t2 -c<conns>` POSTing body_file (each {{uuid}} fresh per request); its WRKSTATS figures."""
    env = os.environ | {"BODY_FILE": str(body_file), "SOAP_ACTION": soap_action}
    out = subprocess.run(
        ["wrk", "-t2", f"-c{conns}", f"-d{duration}s", "--latency", "-s", str(HERE / "wrk_post.lua"), url],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    m = re.search(r"WRKSTATS (.*)", out)
    if m is None:
        sys.exit("wrk printed no figures:\n" + out)
    return {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """The process's resident set (VmRSS) or its peak (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _with_children(pid: int) -> list[int]:
    """The process and its descendants (uvicorn's worker processes), from /proc."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo += [int(c) for c in task.read_text().split()]
            except OSError:
                continue
    return out


def cpu_s(pid: int | None, *, descendants: bool = True) -> float | None:
    """User + system CPU seconds a process (and, with `descendants`, its live descendants: uvicorn's workers)
    has used so far (Linux /proc), or None."""
    if pid is None:
        return None
    total = 0.0
    try:
        pids = _with_children(pid) if descendants else [pid]
    except OSError:
        return None
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            if p == pid:
                return None
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])
