"""Benchmark: 10 KB local pub/sub across two component processes through the emulator.

    python bench/ipc_pubsub.py [--count 5000] [--size 10240]

Prints messages/s and the CPU share (of one core) of the emulator and of both
component processes, then the same traffic between the same two kinds of
process over a plain Unix-socket relay in this process (length-prefixed
frames, no IPC protocol): the baseline. The ratio IPC / relay is what the
event-stream protocol, JSON and the official client cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "component"))

from greengrass_local.deployment.lifecycle import State  # noqa: E402
from greengrass_local.nucleus import LocalNucleus  # noqa: E402
from greengrass_local.services.deployments import DeploymentRequest  # noqa: E402

PEER = Path(__file__).resolve().parent / "pubsub_peer.py"


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def recipe(name: str, role: str, count: int, size: int, operation: str, dependencies: dict[str, object] | None = None) -> dict[str, object]:
    step = "Startup" if role == "subscribe" else "Run"
    document: dict[str, object] = {
        "RecipeFormatVersion": "2020-01-25",
        "ComponentName": name,
        "ComponentVersion": "1.0.0",
        "ComponentConfiguration": {
            "DefaultConfiguration": {
                "accessControl": {
                    "aws.greengrass.ipc.pubsub": {f"{name}:1": {"operations": [f"aws.greengrass#{operation}"], "resources": ["bench/data"]}}
                }
            }
        },
        "Manifests": [{"Platform": {"os": "linux"}, "Lifecycle": {step: f"python3 -u {PEER} {role} {count} {size}"}}],
    }
    if dependencies:
        document["ComponentDependencies"] = dependencies
    return document


def read_json(path: Path, timeout: float = 600) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.01)
    return json.loads(path.read_text())


async def through_emulator(folder: Path, count: int, size: int) -> dict[str, float]:
    recipes = folder / "recipes"
    recipes.mkdir(parents=True)
    (recipes / "sub.yaml").write_text(yaml.safe_dump(recipe("bench.Subscriber", "subscribe", count, size, "SubscribeToTopic")))
    (recipes / "pub.yaml").write_text(
        yaml.safe_dump(
            recipe("bench.Publisher", "publish", count, size, "PublishToTopic", {"bench.Subscriber": {"VersionRequirement": "1.0.0"}})
        )
    )
    nucleus = LocalNucleus(folder / "root", environment=environment())
    await nucleus.start()
    try:
        record = nucleus.deployments.submit(DeploymentRequest(recipe_dir=recipes, add={"bench.Publisher": "1.0.0"}))
        await nucleus.changes.wait_until(
            lambda: nucleus.state("bench.Publisher") is not None and nucleus.state("bench.Subscriber") is State.RUNNING, 60
        )
        cpu, wall = time.process_time(), time.time()
        result = folder / "root" / "work" / "bench.Subscriber" / "bench.json"
        while not result.exists():
            await asyncio.sleep(0.01)
        emulator_cpu, emulator_wall = time.process_time() - cpu, time.time() - wall
        await record.done.wait()
        subscriber = read_json(result)
        publisher = read_json(folder / "root" / "work" / "bench.Publisher" / "bench.json")
    finally:
        await nucleus.stop()
    return summarize(count, size, publisher, subscriber, emulator_cpu / emulator_wall)


async def through_relay(folder: Path, count: int, size: int) -> dict[str, float]:
    socket_path = str(folder / "relay.sock")
    subscriber_ready: asyncio.Future[asyncio.StreamWriter] = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        role = await reader.readexactly(1)
        if role == b"S":
            subscriber_ready.set_result(writer)
            return
        target = await subscriber_ready
        while chunk := await reader.read(1 << 20):
            target.write(chunk)
            await target.drain()
        writer.write(b"x")
        await writer.drain()

    server = await asyncio.start_unix_server(serve, socket_path)
    env = {**environment(), "BENCH_RELAY": socket_path}
    sub_dir, pub_dir = folder / "sub", folder / "pub"
    sub_dir.mkdir()
    pub_dir.mkdir()
    cpu, wall = time.process_time(), time.time()
    subscriber = subprocess.Popen([sys.executable, str(PEER), "subscribe", str(count), str(size)], cwd=sub_dir, env=env)
    while not (sub_dir / "ready").exists():
        await asyncio.sleep(0.005)
    publisher = subprocess.Popen([sys.executable, str(PEER), "publish", str(count), str(size)], cwd=pub_dir, env=env)
    while subscriber.poll() is None or publisher.poll() is None:
        await asyncio.sleep(0.01)
    relay_cpu, relay_wall = time.process_time() - cpu, time.time() - wall
    server.close()
    return summarize(count, size, read_json(pub_dir / "bench.json"), read_json(sub_dir / "bench.json"), relay_cpu / relay_wall)


def summarize(count: int, size: int, publisher: dict[str, float], subscriber: dict[str, float], broker_share: float) -> dict[str, float]:
    seconds = subscriber["finished"] - publisher["started"]
    return {
        "messages": subscriber["received"],
        "per_second": subscriber["received"] / seconds,
        "mib_per_second": subscriber["received"] * size / seconds / 2**20,
        "broker_cpu": broker_share,
        "publisher_cpu": publisher["cpu"] / seconds,
        "subscriber_cpu": subscriber["cpu"] / seconds,
    }


def line(label: str, result: dict[str, float]) -> str:
    return (
        f"{label:<22} {result['per_second']:8.0f} msg/s {result['mib_per_second']:6.1f} MiB/s   CPU (share of one core): "
        f"broker {result['broker_cpu']:4.0%}  publisher {result['publisher_cpu']:4.0%}  subscriber {result['subscriber_cpu']:4.0%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--size", type=int, default=10 * 1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ggb") as folder:
        emulator = asyncio.run(through_emulator(Path(folder) / "ipc", args.count, args.size))
        relay = asyncio.run(through_relay(Path(folder), args.count, args.size))
    print(f"{args.count} messages of {args.size} bytes, publisher process -> subscriber process, {os.cpu_count()} cores")
    print(line("emulator (IPC)", emulator))
    print(line("raw Unix-socket relay", relay))
    print(f"ratio emulator / relay: {emulator['per_second'] / relay['per_second']:.3f}")
    if emulator["messages"] != args.count:
        raise SystemExit(f"lost messages: {args.count - emulator['messages']}")


if __name__ == "__main__":
    main()
