"""Benchmark: feedback requests/s end to end, against direct boto3 puts to the same S3 server; spool on vs off; recovery.

    python bench/feedback_throughput.py [--count 600] [--rounds 3] [--size 10240] [--outage 60]

The measured path is the whole loop: a client component sends each request
with the v1 SDK -> IPC -> community.greengrass.MLFeedback -> S3 (moto, in its
own process) -> status, prediction and metrics messages; every sample is used
(no sampling strategy). A batch ends when the prediction message of its last
request reaches IoT Core (an in-process stand-in here, as the cloud is no
part of the device's work); only the final local publishes (prediction,
metric) of the last few requests in flight may come after that.

The baselines put the same objects (same size, metadata, new keys) to the
same server from as many threads as the component has upload workers: boto3
`put_object` with a default client (the ratio of the acceptance test), and
the component's own S3Uploader called directly (its botocore settings: no
optional CRC32, no `100-continue` wait), which isolates what IPC and the
messages cost. All are warmed up first (moto and boto3 get faster over their
first few hundred requests), then measured in alternating rounds, since a
shared machine drifts; the median ratios are the result. Also printed: the
component's peak RSS, and the CPU each process spends per request on each
path, which shows where the time goes.

The component runs each round twice, alternating which goes first: with its
spool (the default: every sample on disk before its upload) and without
(`SpoolMaxBytes: 0`, v1's single upload call); the median ratio is the cost
of durability. Then the recovery figure: S3 is stopped, COUNT samples
arrive and wait in the spool for `--outage` seconds, S3 comes back on the
same port, and the bench times how long until every one is uploaded, and
that drain rate against the spool-on steady state.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "component"))

from greengrass_local.nucleus import LocalNucleus  # noqa: E402
from greengrass_local.services.deployments import DeploymentRequest  # noqa: E402
from greengrass_local.services.iotcore import Loopback  # noqa: E402
from greengrass_local.tools.packaging import pack  # noqa: E402
from ml_feedback import messages  # noqa: E402

COMPONENT = "community.greengrass.MLFeedback"
CLIENT = "bench.FeedbackClient"
WORKERS = 4
WARMUP = 300
BUCKET = "bench-feedback"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


class IoTCoreArrivals(Loopback):
    """IoT Core, where v1 sent status and prediction, as the benchmark sees it.

    It notes when each prediction arrives (an uploaded sample's last message to
    the cloud, after its status) and keeps every status that is not a success.
    """

    def __init__(self) -> None:
        super().__init__()
        self.predictions: list[float] = []
        self.failures: list[dict[str, object]] = []

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool, properties: dict[str, object]) -> None:
        if topic == messages.PREDICTION_TOPIC:
            self.predictions.append(time.time())
        elif topic == messages.STATUS_TOPIC:
            status = json.loads(payload)
            if status["response"]["status"] != messages.SUCCESS:
                self.failures.append(status)
        super().publish(topic, payload, qos, retain, properties)


def start_moto(port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """moto's server in its own process, the bucket there before it answers (on `port` again, after an outage)."""
    if port is None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    server = REPO / "tests" / "support" / "s3_server.py"
    process = subprocess.Popen([sys.executable, str(server), str(port), BUCKET], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("moto server did not start")


def s3_client(endpoint: str):  # type: ignore[no-untyped-def]
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(max_pool_connections=WORKERS + 2),
    )


def direct_puts(endpoint: str, count: int, size: int, same_settings: bool = False) -> float:
    """Objects/s of put_object from WORKERS threads, like the component's upload pool; new keys, as the component writes.

    `same_settings`: through the component's own S3Uploader (its botocore settings) instead of a default boto3 client.
    """
    body = os.urandom(size)
    metadata = {"n": "0", "publish-ts": "2026-01-01 00:00:00.000000"}
    if same_settings:
        from ml_feedback.uploader import S3Uploader

        uploader = S3Uploader(endpoint, max_connections=WORKERS + 2)

        def put(_n: int) -> object:
            return uploader.put(BUCKET, f"{uuid.uuid4()}", body, "application/octet-stream", metadata)

    else:
        client = s3_client(endpoint)

        def put(_n: int) -> object:
            return client.put_object(
                Bucket=BUCKET, Key=f"{uuid.uuid4()}", Body=body, ContentType="application/octet-stream", Metadata=metadata
            )

    started = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(put, range(count)))
    return count / (time.perf_counter() - started)


def recipe(
    name: str,
    lifecycle: dict[str, object],
    access: dict[str, object],
    dependencies: dict[str, object] | None = None,
    artifacts: tuple[str, ...] = (),
) -> dict[str, object]:
    document: dict[str, object] = {
        "RecipeFormatVersion": "2020-01-25",
        "ComponentName": name,
        "ComponentVersion": "1.0.0",
        "ComponentConfiguration": {"DefaultConfiguration": {"accessControl": {"aws.greengrass.ipc.pubsub": access}}},
        "Manifests": [{"Platform": {"os": "linux"}, "Lifecycle": lifecycle, "Artifacts": [{"URI": f"s3://bench/{a}"} for a in artifacts]}],
    }
    if dependencies:
        document["ComponentDependencies"] = dependencies
    return document


def project(folder: Path, batches: int, count: int, size: int) -> tuple[Path, Path]:
    recipes, artifacts = folder / "recipes", folder / "artifacts"
    recipes.mkdir(parents=True)
    shutil.copy(REPO / "recipes" / f"{COMPONENT}-1.0.0.yaml", recipes)
    pack(REPO, artifacts)
    (artifacts / CLIENT / "1.0.0").mkdir(parents=True)
    shutil.copy(REPO / "bench" / "feedback_client.py", artifacts / CLIENT / "1.0.0" / "feedback_client.py")
    client = recipe(
        CLIENT,
        {
            "Setenv": {"PYTHONPATH": f"{{{COMPONENT}:artifacts:decompressedPath}}/{COMPONENT}/component"},
            "Run": f"{{{COMPONENT}:work:path}}/python -u {{artifacts:path}}/feedback_client.py {WARMUP} {batches} {count} {size}",
        },
        {"bench:1": {"operations": ["aws.greengrass#PublishToTopic"], "resources": [messages.FEEDBACK_REQUEST_TOPIC]}},
        {COMPONENT: {"VersionRequirement": "^1.0.0"}},
        ("feedback_client.py",),
    )
    (recipes / f"{CLIENT}.yaml").write_text(yaml.safe_dump(client))
    return recipes, artifacts


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU ms per request of each process in the loop, summed over the rounds it measures."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids, self.spent, self.requests = pids, dict.fromkeys(pids, 0.0), 0
        self._start: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def begin(self) -> None:
        self._start = self._now()

    def end(self, requests: int, reported: dict[str, float] | None = None) -> None:
        """`reported`: CPU seconds a process measured itself (one that may exit before it is read here)."""
        for name, value in self._now().items():
            self.spent[name] += value - self._start[name]
        for name, value in (reported or {}).items():
            self.spent[name] = self.spent.get(name, 0.0) + value
        self.requests += requests

    def per_request_ms(self) -> dict[str, float]:
        return {name: 1000 * spent / max(1, self.requests) for name, spent in self.spent.items()}


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


SPOOL_ON, SPOOL_OFF = "spool on", "spool off"


async def alternating_rounds(folder: Path, endpoint: str, moto: subprocess.Popen[bytes], args: argparse.Namespace) -> dict[str, object]:
    """Per round: direct boto3 puts, then one batch through the component with its spool and one without (order alternating)."""
    rounds, count, size = args.rounds, args.count, args.size
    recipes, artifacts = project(folder, 2 * rounds + 1, count, size)
    environment = {**os.environ, **CREDENTIALS, "AWS_ENDPOINT_URL_S3": endpoint}
    environment["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environment.get("PATH", "")])
    cloud = IoTCoreArrivals()
    nucleus = LocalNucleus(folder / "root", environment=environment, iot_core=cloud)
    await nucleus.start()
    settings = {
        "FeedbackConfigurationMap": {"Bench": {"s3-bucket-name": BUCKET, "content-type": "application/octet-stream"}},
        "RequestLimit": "999",
        "UploadWorkers": WORKERS,
        "MaxRetryIntervalSeconds": 30,  # the default: recovery does not lean on a short backoff
    }
    work = folder / "root" / "work" / CLIENT
    direct: list[float] = []
    same: list[float] = []
    component: dict[str, list[float]] = {SPOOL_ON: [], SPOOL_OFF: []}
    batch = 0

    async def deploy(spool_max_bytes: int, add: dict[str, str] | None = None) -> None:
        update = {COMPONENT: {"MERGE": {**settings, "SpoolMaxBytes": spool_max_bytes}}}
        record = nucleus.deployments.submit(
            DeploymentRequest(recipes if add else None, artifacts if add else None, add or {}, configuration=update)
        )
        await record.done.wait()
        assert record.status == "SUCCEEDED", record.details

    async def run_batch(meter: CpuMeter | None) -> tuple[float, float]:
        """One batch of COUNT requests: (requests/s until the last prediction reached IoT Core, when S3 work began)."""
        nonlocal batch
        predictions.clear()
        if meter:
            meter.begin()
        (work / f"go-{batch}").touch()
        while len(predictions) + len(failures) < count or not (work / f"round-{batch}.json").exists():
            await asyncio.sleep(0.02)
        client = json.loads((work / f"round-{batch}.json").read_text())
        if meter:
            meter.end(count, {"client": client["cpu"]})
        batch += 1
        return count / (max(predictions) - client["started"]), client["started"]

    try:
        await deploy(SPOOL_DEFAULT, {COMPONENT: "1.0.0"})
        await asyncio.to_thread(direct_puts, endpoint, WARMUP, size)
        nucleus.deployments.submit(DeploymentRequest(None, None, {CLIENT: "1.0.0"}))
        predictions, failures = cloud.predictions, cloud.failures
        while len(predictions) + len(failures) < WARMUP:
            await asyncio.sleep(0.01)
        direct_cpu = CpuMeter({"S3 server": moto.pid, "boto3 threads (bench process)": os.getpid()})
        component_pid = nucleus.components[COMPONENT].runner.pids()[0]
        loop_cpu = {
            mode: CpuMeter({"S3 server": moto.pid, "component": component_pid, "emulator (bench process)": os.getpid()})
            for mode in component
        }
        for round_number in range(rounds):
            direct_cpu.begin()
            direct.append(await asyncio.to_thread(direct_puts, endpoint, count, size))
            direct_cpu.end(count)
            same.append(await asyncio.to_thread(direct_puts, endpoint, count, size, True))
            order = (SPOOL_ON, SPOOL_OFF) if round_number % 2 == 0 else (SPOOL_OFF, SPOOL_ON)
            for mode in order:
                await deploy(SPOOL_DEFAULT if mode == SPOOL_ON else 0)
                rate, _started = await run_batch(loop_cpu[mode])
                component[mode].append(rate)
        rss = peak_rss_mib(component_pid)
        await deploy(SPOOL_DEFAULT)
        recovery = await outage(moto, endpoint, args.outage, run_batch, cloud)
    finally:
        await nucleus.stop()
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    cpu = {"direct boto3 put_object": direct_cpu.per_request_ms()}
    cpu.update({f"client -> IPC -> component ({mode}) -> S3": meter.per_request_ms() for mode, meter in loop_cpu.items()})
    return {"direct": direct, "same": same, "component": component, "rss_mib": rss, "cpu": cpu, "recovery": recovery}


SPOOL_DEFAULT = 268435456


RESTARTED: list[subprocess.Popen[bytes]] = []  # the S3 server started after the outage, stopped at the end


async def outage(
    moto: subprocess.Popen[bytes],
    endpoint: str,
    seconds: float,
    run_batch: Callable[[CpuMeter | None], Awaitable[tuple[float, float]]],
    cloud: IoTCoreArrivals,
) -> dict[str, float]:
    """Stop S3, let one batch arrive and wait `seconds`, bring S3 back on the same port: how long until all are uploaded."""
    moto.kill()
    moto.wait(10)
    port = int(endpoint.rsplit(":", 1)[1])
    batch = asyncio.ensure_future(run_batch(None))
    await asyncio.sleep(seconds)
    if cloud.predictions:
        raise SystemExit("samples were uploaded while S3 was stopped")
    restarted, _ = await asyncio.to_thread(start_moto, port)
    back = time.time()
    RESTARTED.append(restarted)
    await batch
    first, last = min(cloud.predictions), max(cloud.predictions)
    return {"seconds": seconds, "to_first": first - back, "to_all": last - back, "drain": len(cloud.predictions) / (last - first)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=10 * 1024)
    parser.add_argument("--outage", type=float, default=60.0, help="seconds S3 stays stopped for the recovery figure")
    args = parser.parse_args()
    os.environ.update(CREDENTIALS)  # for the S3Uploader baseline, which finds credentials as the component does
    moto, endpoint = start_moto()
    result: dict[str, object] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="ggf") as folder:
            result = asyncio.run(alternating_rounds(Path(folder), endpoint, moto, args))
    finally:
        for server in [moto, *RESTARTED]:
            server.terminate()
            server.wait(10)
    direct, same, component = result["direct"], result["same"], result["component"]
    on, off = component[SPOOL_ON], component[SPOOL_OFF]  # type: ignore[index]
    print(f"{args.count} samples of {args.size} bytes per batch, all uploaded, to one moto S3 server (own process), {os.cpu_count()} cores")
    for batch, (d, u, c, o) in enumerate(zip(direct, same, on, off, strict=True)):  # type: ignore[call-overload]
        print(
            f"round {batch + 1}: direct boto3 put_object {d:6.1f} obj/s | direct, component's S3 client {u:6.1f} obj/s | "
            f"component, spool on {c:6.1f} req/s | spool off {o:6.1f} req/s | on/off {c / o:.3f}"
        )
    print(
        f"median ratio spool on / spool off (same run, alternating): {statistics.median(c / o for c, o in zip(on, off, strict=True)):.3f}"
    )
    print(f"median ratio component (spool on) / direct boto3 put_object ({WORKERS} threads, defaults): {_median_ratio(on, direct):.3f}")
    print(f"median ratio component (spool on) / direct puts with the component's own S3 client: {_median_ratio(on, same):.3f}")
    print(f"median ratio component (spool off) / direct boto3 put_object: {_median_ratio(off, direct):.3f}")
    print(f"component peak RSS: {result['rss_mib']:.1f} MiB")
    for path, processes in result["cpu"].items():  # type: ignore[attr-defined]
        shares = ", ".join(f"{name} {ms:.2f}" for name, ms in processes.items())
        print(f"CPU ms per request, {path}: {shares}; total {sum(processes.values()):.2f}")
    r = result["recovery"]
    print(
        f"recovery: {args.count} samples waited {r['seconds']:.0f} s with S3 stopped (MaxRetryIntervalSeconds 30); after S3 returned, "  # type: ignore[index]
        f"first upload {r['to_first']:.2f} s, all uploaded {r['to_all']:.2f} s; drain {r['drain']:.1f} req/s = "  # type: ignore[index]
        f"{r['drain'] / statistics.median(on):.2f} x the spool-on steady state ({statistics.median(on):.1f} req/s)"  # type: ignore[index]
    )


def _median_ratio(values: list[float], baseline: list[float]) -> float:
    return statistics.median(v / b for v, b in zip(values, baseline, strict=True))


if __name__ == "__main__":
    main()
