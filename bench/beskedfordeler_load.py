"""Beskedfordeler throughput over RabbitMQ, with the raw RabbitMQ rate in the same run as the ceiling.

1. accepted-and-distributed: N DebitorkontoStatusskift messages published the way KOMBIT's sample does
   (AFSEND_BESKED_EXCHANGE, routing key "", mandatory, publisher confirms, direct reply-to) with a window of
   W unanswered messages; the clock stops when every message was answered StatusKode 20 *and* its copy
   sits in the subscriber's dueslag queue (checks, agreement, database, distribution, broker).
2. raw RabbitMQ: the same N bodies published persistent with confirms to a durable queue and consumed
   with manual ack (publish → consume), on the same broker.

`.venv/bin/python bench/beskedfordeler_load.py [--messages 5000] [--window 200] [--database-url …] [--profile out.prof]`
Needs a local RabbitMQ and rabbitmqctl (a private vhost is created and deleted), or pass --amqp-url.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aio_pika
import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import cpu_s, free_port  # noqa: E402  bench/ is the script folder (run as a script)

from simulator.beskedfordeler.broker import AFSEND_EXCHANGE  # noqa: E402
from simulator.beskedfordeler.config import read_messages_config  # noqa: E402
from simulator.beskedfordeler.ky import statusskift_besked  # noqa: E402

DUESLAG = "b3c4d5e6-0000-4000-8000-00000000be01"
PROFILED_SIMULATOR = """
import cProfile, signal, sys, uvicorn
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # uvicorn re-raises it after shutting down
profile = cProfile.Profile()
profile.enable()
try:
    uvicorn.Server(uvicorn.Config("simulator.app:main_app", factory=True, port={port}, log_level="warning")).run()
finally:
    profile.disable()
    profile.dump_stats({out!r})
"""
OPUS = "706e258a-41f3-4a3b-a407-216db3ead494"


def broker_pid() -> int | None:
    """The local RabbitMQ's pid (beam.smp), to account its CPU; None when not found."""
    for stat in Path("/proc").glob("[0-9]*/comm"):
        try:
            if stat.read_text().strip() == "beam.smp":
                return int(stat.parent.name)
        except OSError:
            continue
    return None


class CpuMeter:
    """CPU seconds used by the simulator, this client and RabbitMQ during a phase, per message (ms)."""

    def __init__(self, **pids: int | None) -> None:
        self.pids = pids
        self.start = {name: self._cpu(name) for name in pids}

    def _cpu(self, name: str) -> float | None:
        # the client is this process, whose child is the simulator: count the client alone
        return cpu_s(self.pids[name], descendants=name != "client")

    def per_message_ms(self, n: int) -> dict[str, float]:
        out = {}
        for name in self.pids:
            now, before = self._cpu(name), self.start[name]
            if now is not None and before is not None:
                out[name] = round((now - before) * 1000 / n, 3)
        return out


def loadavg() -> str | None:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return None


def bodies(n: int) -> list[bytes]:
    cfg = read_messages_config(ROOT / "messages")
    return [
        statusskift_besked(
            cfg, municipality="11111111", system_uuid=OPUS, debitorkonto_uuid=str(uuid.uuid4()), status="aktiv"
        )
        for _ in range(n)
    ]


async def queue_depth(conn, name: str) -> int:
    ch = await conn.channel()
    try:
        q = await ch.declare_queue(name, passive=True)
        return q.declaration_result.message_count
    finally:
        await ch.close()


async def simulator_run(url: str, msgs: list[bytes], window: int) -> dict:
    conn = await aio_pika.connect(url)
    ch = await conn.channel(publisher_confirms=True)
    exchange = await ch.get_exchange(AFSEND_EXCHANGE, ensure=True)
    replies: dict[str, asyncio.Future] = {}
    codes: dict[int, int] = {}

    async def on_reply(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        fut = replies.pop(message.correlation_id, None)
        if fut is not None and not fut.done():
            fut.set_result(message.body)

    reply_queue = await ch.get_queue("amq.rabbitmq.reply-to", ensure=False)
    await reply_queue.consume(on_reply, no_ack=True)
    sem = asyncio.Semaphore(window)

    async def send(body: bytes) -> None:
        async with sem:
            cid = str(uuid.uuid4())
            fut = asyncio.get_running_loop().create_future()
            replies[cid] = fut
            await exchange.publish(
                aio_pika.Message(
                    body,
                    correlation_id=cid,
                    message_id=str(uuid.uuid4()),
                    reply_to="amq.rabbitmq.reply-to",
                    headers={"token": "bench"},
                ),
                routing_key="",
                mandatory=True,
            )
            reply = await asyncio.wait_for(fut, 60)
            code = int(reply.split(b"<StatusKode>")[1].split(b"<")[0])
            codes[code] = codes.get(code, 0) + 1

    t0 = time.perf_counter()
    await asyncio.gather(*(send(b) for b in msgs))
    answered = time.perf_counter() - t0
    while await queue_depth(conn, DUESLAG) < len(msgs):
        await asyncio.sleep(0.01)
    distributed = time.perf_counter() - t0
    await conn.close()
    return {
        "messages": len(msgs),
        "status_codes": codes,
        "answered_s": round(answered, 3),
        "distributed_s": round(distributed, 3),
        "accepted_and_distributed_per_s": round(len(msgs) / distributed),
    }


async def raw_run(url: str, msgs: list[bytes], window: int) -> dict:
    conn = await aio_pika.connect(url)
    pub = await conn.channel(publisher_confirms=True)
    name = f"bench-raw-{uuid.uuid4().hex[:8]}"
    queue = await pub.declare_queue(name, durable=True)
    sub = await conn.channel()
    await sub.set_qos(prefetch_count=window)
    done = asyncio.Event()
    got = 0

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal got
        await message.ack()
        got += 1
        if got == len(msgs):
            done.set()

    consume_queue = await sub.get_queue(name)
    await consume_queue.consume(on_message)
    sem = asyncio.Semaphore(window)

    async def send(body: bytes) -> None:
        async with sem:
            await pub.default_exchange.publish(
                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=name, mandatory=True
            )

    t0 = time.perf_counter()
    await asyncio.gather(*(send(b) for b in msgs))
    await done.wait()
    elapsed = time.perf_counter() - t0
    await queue.delete(if_unused=False, if_empty=False)
    await conn.close()
    return {"messages": len(msgs), "elapsed_s": round(elapsed, 3), "publish_consume_per_s": round(len(msgs) / elapsed)}


def make_dirs(tmp: Path) -> tuple[Path, Path]:
    routes, messages = tmp / "routes", tmp / "messages"
    shutil.copytree(ROOT / "routes", routes)
    shutil.copytree(ROOT / "messages", messages)
    (messages / "abonnementer.yaml").write_text(
        yaml.safe_dump(
            {
                "dueslag": [{"uuid": DUESLAG, "system": "ky", "levering": "pull", "navn": "bench"}],
                "abonnementer": [
                    {
                        "uuid": "b3c4d5e6-0000-4000-8000-00000000be02",
                        "dueslag": DUESLAG,
                        "beskedtyper": ["DebitorkontoStatusskift"],
                    }
                ],
            }
        )
    )
    return routes, messages


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--window", type=int, default=200, help="unanswered messages in flight")
    ap.add_argument("--amqp-url", default=None, help="default: a private vhost on amqp://guest:guest@127.0.0.1")
    ap.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    ap.add_argument("--profile", default=None, help="run the simulator under cProfile, its event loop's stats to here")
    args = ap.parse_args()

    vhost = None
    url = args.amqp_url
    if url is None:
        vhost = f"bench-{uuid.uuid4().hex[:8]}"
        subprocess.run(["rabbitmqctl", "add_vhost", vhost], check=True, capture_output=True)
        subprocess.run(
            ["rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True, capture_output=True
        )
        url = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    tmp = Path(tempfile.mkdtemp(prefix="bf-bench-"))
    sim_proc = None
    try:
        routes, messages = make_dirs(tmp)
        database_url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'sim.db'}"
        port = free_port()
        env = os.environ | {
            "SIMULATOR_DATABASE_URL": database_url,
            "SIMULATOR_ROUTES_DIR": str(routes),
            "SIMULATOR_MESSAGES_DIR": str(messages),
            "SIMULATOR_BROKER_URL": url,
            "SIMULATOR_PORT": str(port),
            "SIMULATOR_LOG_LEVEL": "warning",
        }
        # the simulator runs in its own process, as in production; this process is only the client
        command = [
            "-m",
            "uvicorn",
            "--factory",
            "simulator.app:main_app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        if args.profile:
            command = ["-c", PROFILED_SIMULATOR.format(port=port, out=str(Path(args.profile).resolve()))]
        sim_proc = subprocess.Popen([sys.executable, *command], env=env, cwd=ROOT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()["broker"]["ok"]:
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            if time.monotonic() > deadline or sim_proc.poll() is not None:
                raise SystemExit("the simulator did not start")
            await asyncio.sleep(0.2)
        msgs = bodies(args.messages)
        await simulator_run(url, msgs[:200], args.window)  # warm-up
        ch_conn = await aio_pika.connect(url)
        ch = await ch_conn.channel()
        await (await ch.get_queue(DUESLAG)).purge()
        await ch_conn.close()
        load_before = loadavg()
        rabbit = broker_pid()
        sim_msgs = msgs[200:] if len(msgs) > 400 else msgs
        meter = CpuMeter(simulator=sim_proc.pid, client=os.getpid(), rabbitmq=rabbit)
        sim = await simulator_run(url, sim_msgs, args.window)
        sim["cpu_ms_per_message"] = meter.per_message_ms(len(sim_msgs))
        sim_proc.terminate()
        sim_proc.wait(timeout=30)
        meter = CpuMeter(client=os.getpid(), rabbitmq=rabbit)
        raw = await raw_run(url, msgs, args.window)
        raw["cpu_ms_per_message"] = meter.per_message_ms(len(msgs))
        print(
            json.dumps(
                {
                    "database": database_url.split(":")[0],
                    "cpus": os.cpu_count(),
                    "loadavg_before": load_before,
                    "loadavg_after": loadavg(),
                    "window": args.window,
                    "simulator": sim,
                    "raw_rabbitmq": raw,
                    "simulator_share_of_raw": round(
                        sim["accepted_and_distributed_per_s"] / raw["publish_consume_per_s"], 3
                    ),
                },
                indent=2,
            )
        )
    finally:
        if sim_proc is not None and sim_proc.poll() is None:
            sim_proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
        if vhost:
            subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True)


if __name__ == "__main__":
    asyncio.run(main())
