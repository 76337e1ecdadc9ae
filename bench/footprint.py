"""Benchmark: the component's footprint. Drop path against the IPC ceiling, upload path against direct puts, idle and backlog RSS.

    python bench/footprint.py [--count 600] [--rounds 3] [--size 10240] [--warmup 300]
                              [--backlog 3000] [--backlog-seconds 3] [--backlog-request-limit ""]

Everything is measured in one run: the local nucleus (this process), community.greengrass.MLFeedback, a
client component (bench/footprint_client.py: the v1 SDK's `publish`, one request after the other, the same
SIZE-byte ModelInput every time), a trivial subscriber component (bench/footprint_sink.py), and moto's S3
server in its own process, all on 127.0.0.1. Every path is warmed up first (moto and boto3 get faster over
their first few hundred requests); then ROUNDS rounds run every path once, odd rounds in reverse order, since
a shared machine drifts. Ratios are taken within a round; their medians are the result. Nothing is asserted
on time: the figures are printed, with the CPU that other processes used during the rounds (/proc/PID/stat of
every other process) and that the hypervisor stole, so a disturbed run shows as one.

1. Drop path: requests with ConfigId `Drop`, whose sampling strategy (RANDOM_SAMPLING, rate 0) drops every
   sample. A batch ends when the `sample_dropped_by_strategy` status of its last request reaches IoT Core (an
   in-process stand-in: the statuses are counted there). The IPC ceiling: the same client making the same
   publish calls with the same payload to the same topic, when its only subscriber is bench/footprint_sink.py,
   an awsiotsdk component that subscribes and counts, nothing more (meanwhile the component listens on a
   parked topic, switched by configuration deployments; the nucleus's own subscription table is checked
   before each batch). That batch ends when the last message reaches the subscriber. The drop path also runs
   with `PublishMetrics: false` (no SampleSize or SampleNotUsed metric: two publishes per request, not four), and
   with `LocalStatusAndPrediction: false` as well (the status to IoT Core only: one publish per request).
2. Upload path: ConfigId `Bench`, no sampling strategy, the default spool: every sample is uploaded, and a
   batch ends when the prediction message of its last request reaches IoT Core. The baselines put objects of
   the same size, content type and metadata, under new keys, to the same server from this process, 4 at a
   time: boto3 `put_object` from 4 threads with a default client (feedback_throughput.direct_puts: its CRC32,
   payload SHA-256 and `Expect: 100-continue` included); awscrt.http from 4 threads, each request signed with
   aws_sign_request (SigV4, payload SHA-256 over plain HTTP) and sent on the thread's connection, as the
   component's awscrt uploader (ml_feedback/s3_crt.py) does: the fair baseline of the same engine; and
   awscrt's S3Client, the CRT's own S3 client (signing, connections and HTTP all in C; UNSIGNED-PAYLOAD, no
   checksum) with 4 requests in flight on at most 4 connections: the cheapest PUT awscrt offers. moto closes
   the connection after every answer, so every PUT of every path opens a new one.
   CPU per request: user + system time from /proc/PID/stat of each process over the measured batches. The
   "bench process" is the emulator during the component's batches (and polls files and counts statuses), and
   the boto3 or awscrt threads during the direct ones.
3. Idle RSS: VmRSS (and VmHWM) from /proc/PID/status of the component 2 s after it reports RUNNING, before any
   request; no inference service is configured.
4. Backlog: the component is stopped (SIGSTOP) and the client sends BACKLOG drop-path requests (upload-path
   ones with --backlog-config Bench) over about BACKLOG_SECONDS: the nucleus takes each and holds it for the
   component. Then SIGCONT, and the bench waits until every request has a status of any kind (`fail` with
   Queue.Full included). The component's VmHWM is reset (/proc/PID/clear_refs) just before, so the peak
   printed is the backlog's; VmRSS is also sampled every 10 ms while the backlog drains. RequestLimit during
   the backlog is the component's default ("", i.e. 50) unless --backlog-request-limit says otherwise; the
   throughput batches run with RequestLimit 999, so no request of theirs is refused.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "component"))
sys.path.insert(0, str(BENCH))

from feedback_throughput import BUCKET, COMPONENT, CREDENTIALS, WORKERS, CpuMeter, direct_puts, recipe, start_moto  # noqa: E402

from greengrass_local.nucleus import LocalNucleus  # noqa: E402
from greengrass_local.services.deployments import DeploymentRequest  # noqa: E402
from greengrass_local.services.iotcore import Loopback  # noqa: E402
from greengrass_local.tools.packaging import pack  # noqa: E402
from ml_feedback import messages  # noqa: E402

CLIENT = "bench.FootprintClient"
SINK = "bench.FootprintSink"
TOPIC = messages.FEEDBACK_REQUEST_TOPIC
PARKED_TOPIC = "bench/parked/feedback"
DROP, UPLOAD = "Drop", "Bench"
CONTENT_TYPE = "application/octet-stream"
METADATA = {"n": "0", "publish-ts": "2026-01-01 00:00:00.000000"}  # as feedback_throughput.direct_puts sends
SETTLE_SECONDS = 2.0
APPLIED = "configuration applied:"  # what the component logs once it has applied a new configuration
WAIT_SECONDS = 180.0
SAMPLE_SECONDS = 0.01
SETTINGS: dict[str, Any] = {
    "FeedbackConfigurationMap": {
        UPLOAD: {"s3-bucket-name": BUCKET, "content-type": CONTENT_TYPE},
        DROP: {
            "s3-bucket-name": BUCKET,
            "content-type": CONTENT_TYPE,
            "sampling-strategy": {"strategy-name": "RANDOM_SAMPLING", "rate": 0},
        },
    },
    "RequestLimit": "999",
    "UploadWorkers": WORKERS,
    "FeedbackRequestTopic": TOPIC,
    # Lets the component listen on the parked topic while the trivial subscriber measures the ceiling.
    "accessControl": {
        "aws.greengrass.ipc.pubsub": {
            "bench:park": {"operations": ["aws.greengrass#SubscribeToTopic"], "resources": [PARKED_TOPIC]},
        }
    },
}


class Answers(Loopback):
    """IoT Core as the benchmark sees it: each status counted by kind, each prediction, and when the last arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.reset()

    def reset(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.statuses = self.predictions = 0
        self.last_status = self.last_prediction = 0.0

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool, properties: dict[str, object]) -> None:
        if topic == messages.STATUS_TOPIC:
            response = json.loads(payload)["response"]
            kind = response["status"] if response["status"] != messages.FAIL else f"fail ({response.get('error')})"
            self.kinds[kind] += 1
            self.statuses += 1
            self.last_status = time.time()
        elif topic == messages.PREDICTION_TOPIC:
            self.predictions += 1
            self.last_prediction = time.time()
        super().publish(topic, payload, qos, retain, properties)


class CrtHttpPuts:
    """Direct PUTs with awscrt.http from WORKERS threads, as the component's outbox uploader makes them.

    Each thread keeps its connection while the server does (moto closes it after every answer) and signs each
    request with aws_sign_request: SigV4, the body's SHA-256 over plain HTTP, as botocore and the component do.
    """

    def __init__(self, endpoint: str, size: int) -> None:
        from awscrt.auth import AwsCredentialsProvider, AwsSignatureType, AwsSignedBodyHeaderType, AwsSigningAlgorithm, AwsSigningConfig
        from awscrt.io import ClientBootstrap

        parts = urlsplit(endpoint)
        self._host, self._host_name, self._port = parts.netloc, str(parts.hostname), int(parts.port or 80)
        self._body = os.urandom(size)
        self._bootstrap = ClientBootstrap.get_or_create_static_default()
        credentials = AwsCredentialsProvider.new_static(CREDENTIALS["AWS_ACCESS_KEY_ID"], CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
        self._signing = AwsSigningConfig(
            algorithm=AwsSigningAlgorithm.V4,
            signature_type=AwsSignatureType.HTTP_REQUEST_HEADERS,
            credentials_provider=credentials,
            region="us-east-1",
            service="s3",
            use_double_uri_encode=False,
            should_normalize_uri_path=False,
            signed_body_header_type=AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256,
        )

    def puts(self, count: int) -> float:
        """Objects/s of `count` PUTs of new keys."""
        from awscrt.auth import aws_sign_request
        from awscrt.http import HttpClientConnection, HttpHeaders, HttpRequest

        headers = [("Host", self._host), ("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(self._body)))]
        headers += [(f"x-amz-meta-{key}", value) for key, value in METADATA.items()]
        local = threading.local()

        def connection(fresh: bool) -> Any:
            current = getattr(local, "connection", None)
            if fresh or current is None or not current.is_open():
                current = local.connection = HttpClientConnection.new(
                    host_name=self._host_name, port=self._port, bootstrap=self._bootstrap
                ).result(10)
            return current

        def put(_n: int) -> None:
            body = io.BytesIO(self._body)
            request = HttpRequest("PUT", f"/{BUCKET}/{uuid.uuid4()}", HttpHeaders(headers), body)
            aws_sign_request(request, self._signing).result(10)
            body.seek(0)
            status: list[int] = []
            try:
                stream = connection(False).request(request, lambda status_code, **_: status.append(status_code), lambda **_: None)
            except RuntimeError:  # closed by the server between the check and the request
                stream = connection(True).request(request, lambda status_code, **_: status.append(status_code), lambda **_: None)
            stream.activate()
            stream.completion_future.result(30)
            if status != [200]:
                raise RuntimeError(f"awscrt.http PUT answered {status}")

        started = time.perf_counter()
        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(put, range(count)))
        return count / (time.perf_counter() - started)


class CrtS3ClientPuts:
    """Direct PUTs with awscrt's S3Client, the CRT's own S3 client: WORKERS requests in flight, on at most WORKERS connections.

    Signing, connections and HTTP all happen in C; it signs UNSIGNED-PAYLOAD and adds no checksum.
    """

    def __init__(self, endpoint: str, size: int) -> None:
        from awscrt.auth import AwsCredentialsProvider
        from awscrt.s3 import S3Client, S3RequestTlsMode

        self._host = urlsplit(endpoint).netloc  # 127.0.0.1:PORT; path-style keys: /BUCKET/KEY
        self._body = os.urandom(size)
        credentials = AwsCredentialsProvider.new_static(CREDENTIALS["AWS_ACCESS_KEY_ID"], CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
        self._client = S3Client(
            region="us-east-1",
            tls_mode=S3RequestTlsMode.DISABLED,
            credential_provider=credentials,
            max_active_connections_override=WORKERS,
        )

    def puts(self, count: int) -> float:
        """Objects/s of `count` PUTs of new keys."""
        from awscrt.http import HttpHeaders, HttpRequest
        from awscrt.s3 import S3RequestType

        slots = threading.Semaphore(WORKERS)
        failures: list[str] = []

        def done(*, error: BaseException | None = None, status_code: int | None = None, **_: object) -> None:
            if error is not None or status_code != 200:
                failures.append(f"HTTP {status_code}: {error}")
            slots.release()

        headers = [("Host", self._host), ("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(self._body)))]
        headers += [(f"x-amz-meta-{key}", value) for key, value in METADATA.items()]
        requests = []
        started = time.perf_counter()
        for _ in range(count):
            slots.acquire()
            request = HttpRequest("PUT", f"/{BUCKET}/{uuid.uuid4()}", HttpHeaders(headers), io.BytesIO(self._body))
            requests.append(self._client.make_request(type=S3RequestType.PUT_OBJECT, request=request, on_done=done))
        for _ in range(WORKERS):
            slots.acquire()
        elapsed = time.perf_counter() - started
        for request in requests:
            request.finished_future.exception(10)
        if failures:
            raise RuntimeError(f"{len(failures)} awscrt S3Client PUTs failed, e.g. {failures[0]}")
        return count / elapsed


class OthersMeter:
    """CPU the machine spent elsewhere meanwhile: in processes other than the benchmark's, and stolen by the hypervisor.

    Other processes: user + system time, their reaped children's included, from /proc/PID/stat of every process
    but ours, at the start and the end (a process that came and went is counted in its parent's children time).
    Stolen: the steal column of /proc/stat.
    """

    def __init__(self, ours: list[int]) -> None:
        self._ours = set(ours)
        self._start = self._now()

    def _now(self) -> tuple[float, dict[int, float], float]:
        ticks = os.sysconf("SC_CLK_TCK")
        others: dict[int, float] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and int(entry.name) not in self._ours:
                try:
                    fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:  # ended meanwhile
                    continue
                others[int(entry.name)] = sum(int(field) for field in fields[11:15]) / ticks  # utime stime cutime cstime
        steal = int(Path("/proc/stat").read_text().splitlines()[0].split()[8]) / ticks
        return time.monotonic(), others, steal

    def end(self) -> dict[str, float]:
        """Seconds elapsed since the start, CPU seconds (all cores) of other processes, and CPU seconds stolen."""
        (started, before, steal_before), (ended, after, steal_after) = self._start, self._now()
        spent = sum(max(0.0, cpu - before.get(pid, 0.0)) for pid, cpu in after.items())
        return {"seconds": ended - started, "cpu": spent, "steal": steal_after - steal_before}


def memory_mib(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process, MiB."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values


def process_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.with_suffix(".tmp").write_text(json.dumps(document))
    os.replace(path.with_suffix(".tmp"), path)


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(SAMPLE_SECONDS)


async def read_json(path: Path, timeout: float = WAIT_SECONDS) -> dict[str, Any]:
    await wait_until(path.exists, str(path), timeout)
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def project(folder: Path, size: int) -> tuple[Path, Path]:
    recipes, artifacts = folder / "recipes", folder / "artifacts"
    recipes.mkdir(parents=True)
    shutil.copy(REPO / "recipes" / f"{COMPONENT}-1.0.0.yaml", recipes)
    pack(REPO, artifacts)
    python = f"{{{COMPONENT}:work:path}}/python -u {{artifacts:path}}"
    dependencies = {COMPONENT: {"VersionRequirement": "^1.0.0"}}
    peers = {
        CLIENT: ("footprint_client.py", f"{size}", "aws.greengrass#PublishToTopic"),
        SINK: ("footprint_sink.py", TOPIC, "aws.greengrass#SubscribeToTopic"),
    }
    for name, (script, argument, operation) in peers.items():
        (artifacts / name / "1.0.0").mkdir(parents=True)
        shutil.copy(BENCH / script, artifacts / name / "1.0.0" / script)
        lifecycle = {
            "Setenv": {"PYTHONPATH": f"{{{COMPONENT}:artifacts:decompressedPath}}/{COMPONENT}/component"},
            "Run": f"exec {python}/{script} {argument}",
        }
        document = recipe(name, lifecycle, {"bench:1": {"operations": [operation], "resources": [TOPIC]}}, dependencies, (script,))
        (recipes / f"{name}.yaml").write_text(yaml.safe_dump(document))
    return recipes, artifacts


class Footprint:
    """The nucleus, its three components and the S3 baselines, and one method per kind of batch."""

    def __init__(self, folder: Path, endpoint: str, moto_pid: int, args: argparse.Namespace) -> None:
        self.folder, self.endpoint, self.args = folder, endpoint, args
        self.recipes, self.artifacts = project(folder, args.size)
        environment = {**os.environ, **CREDENTIALS, "AWS_ENDPOINT_URL_S3": endpoint}
        environment["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environment.get("PATH", "")])
        self.answers = Answers()
        self.nucleus = LocalNucleus(folder / "root", environment=environment, iot_core=self.answers)
        self.crt_http = CrtHttpPuts(endpoint, args.size)
        self.crt_s3 = CrtS3ClientPuts(endpoint, args.size)
        self.moto_pid = moto_pid
        self.pids: dict[str, int] = {}
        self.parked = False
        self.publishing = {"PublishMetrics": True, "LocalStatusAndPrediction": True}  # v1's messages, the default
        self.request_limit = str(SETTINGS["RequestLimit"])
        self.batches = self.sink_batches = 0

    def work(self, name: str) -> Path:
        return self.nucleus.root / "work" / name

    def component_log(self) -> str:
        path = self.nucleus.logs_dir / f"{COMPONENT}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def subscribers(self, topic: str) -> list[str]:
        """Who the nucleus delivers `topic` to now (read from the emulator's subscription table)."""
        return sorted(subscription.component for subscription in self.nucleus.pubsub._exact.get(topic, ()))

    # -- deployments --------------------------------------------------------------------------------------

    async def deploy(self, configuration: dict[str, Any] | None = None, add: dict[str, str] | None = None) -> None:
        first = bool(add) and COMPONENT in (add or {})
        request = DeploymentRequest(
            self.recipes if first else None,
            self.artifacts if first else None,
            add or {},
            configuration={COMPONENT: {"MERGE": configuration}} if configuration else {},
        )
        record = self.nucleus.deployments.submit(request)
        await record.done.wait()
        if record.status != "SUCCEEDED":
            raise RuntimeError(f"deployment failed: {record.details}")

    async def configure(self, changes: dict[str, Any]) -> None:
        """A configuration deployment, and a wait (10 s at most) until the component logs that it applied it."""
        applied = self.component_log().count(APPLIED)
        await self.deploy(changes)
        try:
            await wait_until(lambda: self.component_log().count(APPLIED) > applied, "", 10)
        except TimeoutError:
            print(f"note: the component logged no {APPLIED!r} within 10 s of deploying {changes}", file=sys.stderr)

    async def park(self, parked: bool) -> None:
        """The component listens on the parked topic (parked) or on the request topic."""
        if parked == self.parked:
            return
        await self.configure({"FeedbackRequestTopic": PARKED_TOPIC if parked else TOPIC})
        here, away = (PARKED_TOPIC, TOPIC) if parked else (TOPIC, PARKED_TOPIC)
        await wait_until(
            lambda: COMPONENT in self.subscribers(here) and COMPONENT not in self.subscribers(away), f"the component to listen on {here}"
        )
        self.parked = parked

    async def start(self) -> dict[str, float]:
        """The component alone, then its idle memory, then the client and the subscriber."""
        await self.nucleus.start()
        await self.deploy(SETTINGS, {COMPONENT: "1.0.0"})
        self.pids["component"] = self.nucleus.components[COMPONENT].runner.pids()[0]
        await asyncio.sleep(SETTLE_SECONDS)
        idle = memory_mib(self.pids["component"])
        await self.deploy(add={CLIENT: "1.0.0", SINK: "1.0.0"})
        self.pids["client"] = self.nucleus.components[CLIENT].runner.pids()[0]
        self.pids["subscriber"] = self.nucleus.components[SINK].runner.pids()[0]
        for name, expected in (("component", "ml_feedback"), ("client", "footprint_client"), ("subscriber", "footprint_sink")):
            pid = self.pids[name]
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            if expected not in command:
                raise RuntimeError(f"pid {pid} of the {name} runs {command!r}, not the {name} itself")
        return idle

    async def stop(self) -> None:
        for name in (CLIENT, SINK):
            if self.work(name).exists():
                (self.work(name) / "stop").touch()
        await self.nucleus.stop()

    # -- batches ------------------------------------------------------------------------------------------

    def go(self, config_id: str, count: int, seconds: float = 0.0) -> Path:
        """Tells the client to send a batch; returns the file it writes when it has sent the last request."""
        batch, self.batches = self.batches, self.batches + 1
        write_json(self.work(CLIENT) / f"go-{batch}.json", {"config": config_id, "count": count, "seconds": seconds})
        return self.work(CLIENT) / f"round-{batch}.json"

    def meter(self, *names: str) -> CpuMeter:
        """CPU of the named processes (component, client, subscriber, S3 server) and of this one."""
        known = {**self.pids, "S3 server": self.moto_pid}
        return CpuMeter({**{name: known[name] for name in names}, "bench process": os.getpid()})

    async def publish(self, metrics: bool = True, local: bool = True) -> None:
        """The component's `PublishMetrics` and `LocalStatusAndPrediction` (both true: v1's messages, the default)."""
        wanted = {"PublishMetrics": metrics, "LocalStatusAndPrediction": local}
        if wanted != self.publishing:
            await self.configure(wanted)
            self.publishing = wanted

    async def quiet_drop_batch(self, count: int, meter: CpuMeter | None = None, *, local: bool = True) -> float:
        """The drop path with `PublishMetrics: false`: two publishes per request (the status) instead of four; one with
        `LocalStatusAndPrediction: false` too. The other paths run with the defaults again afterwards."""
        try:
            return await self.drop_batch(count, meter, metrics=False, local=local)
        finally:
            await self.publish()

    async def drop_batch(self, count: int, meter: CpuMeter | None = None, *, metrics: bool = True, local: bool = True) -> float:
        """Requests/s until the last status of COUNT dropped samples reached IoT Core."""
        await self.publish(metrics, local)
        await self.park(False)
        self.answers.reset()
        if meter:
            meter.begin()
        client = await read_json(self.go(DROP, count))
        await wait_until(lambda: self.answers.statuses >= count, f"{count} statuses")
        if meter:
            meter.end(count)
        if dict(self.answers.kinds) != {messages.SAMPLE_DROPPED: count}:
            raise RuntimeError(f"drop path: unexpected statuses {dict(self.answers.kinds)}")
        return count / (self.answers.last_status - client["started"])

    async def ceiling_batch(self, count: int, meter: CpuMeter | None = None) -> float:
        """Messages/s until the last of COUNT requests reached the trivial subscriber, the only one on the topic."""
        await self.park(True)
        batch, self.sink_batches = self.sink_batches, self.sink_batches + 1
        write_json(self.work(SINK) / f"on-{batch}.json", {"count": count})
        await read_json(self.work(SINK) / f"subscribed-{batch}.json")
        await wait_until(lambda: self.subscribers(TOPIC) == [SINK], f"the subscriber alone on {TOPIC}")
        if meter:
            meter.begin()
        client = await read_json(self.go(DROP, count))
        sink = await read_json(self.work(SINK) / f"sink-{batch}.json")
        if meter:
            meter.end(count)
        if sink["received"] != count:
            raise RuntimeError(f"the subscriber received {sink['received']} of {count} messages")
        await wait_until(lambda: SINK not in self.subscribers(TOPIC), "the subscriber to unsubscribe")
        return count / (sink["finished"] - client["started"])

    async def upload_batch(self, count: int, meter: CpuMeter | None = None) -> float:
        """Requests/s until the prediction message of the last of COUNT uploaded samples reached IoT Core."""
        await self.park(False)
        self.answers.reset()
        if meter:
            meter.begin()
        client = await read_json(self.go(UPLOAD, count))
        answers = self.answers
        await wait_until(
            lambda: answers.statuses >= count and answers.predictions >= answers.kinds[messages.SUCCESS],
            f"{count} statuses and predictions",
        )
        if meter:
            meter.end(count)
        if dict(answers.kinds) != {messages.SUCCESS: count}:
            raise RuntimeError(f"upload path: unexpected statuses {dict(answers.kinds)}")
        return count / (answers.last_prediction - client["started"])

    async def direct_batch(self, puts: Callable[[int], float], count: int, meter: CpuMeter | None) -> float:
        """Objects/s of `count` direct PUTs from this process (in a thread: the emulator's loop stays free)."""
        if meter:
            meter.begin()
        rate = await asyncio.to_thread(puts, count)
        if meter:
            meter.end(count)
        return rate

    async def boto3_batch(self, count: int, meter: CpuMeter | None = None) -> float:
        return await self.direct_batch(lambda n: direct_puts(self.endpoint, n, self.args.size), count, meter)

    async def crt_http_batch(self, count: int, meter: CpuMeter | None = None) -> float:
        return await self.direct_batch(self.crt_http.puts, count, meter)

    async def crt_s3_batch(self, count: int, meter: CpuMeter | None = None) -> float:
        return await self.direct_batch(self.crt_s3.puts, count, meter)

    # -- the backlog --------------------------------------------------------------------------------------

    async def backlog(self, config_id: str, count: int, seconds: float, request_limit: str) -> dict[str, Any]:
        """SIGSTOP, COUNT requests for CONFIG_ID over about SECONDS, SIGCONT, until every one has a status; memory."""
        await self.park(False)
        if request_limit != self.request_limit:
            await self.configure({"RequestLimit": request_limit})
            self.request_limit = request_limit
        pid = self.pids["component"]
        before = memory_mib(pid)
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS, so the peak read afterwards is the backlog's
        self.answers.reset()
        os.kill(pid, signal.SIGSTOP)
        try:
            await wait_until(lambda: process_state(pid) == "T", "the component to stop", 10)
            stopped = time.time()
            client = await read_json(self.go(config_id, count, seconds))
            answered_while_stopped = self.answers.statuses
        finally:
            os.kill(pid, signal.SIGCONT)
        resumed = time.time()
        sampled_peak = 0.0
        while self.answers.statuses < count:
            sampled_peak = max(sampled_peak, memory_mib(pid)["VmRSS"])
            if time.time() - resumed > WAIT_SECONDS:
                raise TimeoutError(f"after {WAIT_SECONDS:.0f} s, {self.answers.statuses} of {count} backlog requests have a status")
            await asyncio.sleep(SAMPLE_SECONDS)
        drained = memory_mib(pid)
        await asyncio.sleep(SETTLE_SECONDS)
        return {
            "before": before,
            "drained": drained,
            "settled": memory_mib(pid),
            "sampled_peak": max(sampled_peak, drained["VmRSS"]),
            "sent_seconds": client["finished"] - client["started"],
            "stopped_seconds": resumed - stopped,
            "drain_seconds": self.answers.last_status - resumed,
            "answered_while_stopped": answered_while_stopped,
            "kinds": dict(self.answers.kinds),
            "statuses": self.answers.statuses,
        }


Batch = Callable[[int, CpuMeter | None], Awaitable[float]]


async def measure(folder: Path, endpoint: str, moto_pid: int, args: argparse.Namespace) -> dict[str, Any]:
    code = code_state()
    bench = Footprint(folder, endpoint, moto_pid, args)
    try:
        idle = await bench.start()
        paths: dict[str, tuple[Batch, CpuMeter]] = {
            "upload: component": (bench.upload_batch, bench.meter("component", "S3 server", "client")),
            "upload: boto3": (bench.boto3_batch, bench.meter("S3 server")),
            "upload: awscrt.http": (bench.crt_http_batch, bench.meter("S3 server")),
            "upload: awscrt S3Client": (bench.crt_s3_batch, bench.meter("S3 server")),
            "drop: component": (bench.drop_batch, bench.meter("component", "client")),
            "drop: PublishMetrics false": (bench.quiet_drop_batch, bench.meter("component", "client")),
            "drop: IoT Core status only": (functools.partial(bench.quiet_drop_batch, local=False), bench.meter("component", "client")),
            "drop: IPC ceiling": (bench.ceiling_batch, bench.meter("subscriber", "client")),
        }
        for run, _meter in paths.values():
            await run(args.warmup, None)
        rates: dict[str, list[float]] = {name: [] for name in paths}
        others = OthersMeter([*bench.pids.values(), moto_pid, os.getpid()])
        for round_number in range(args.rounds):
            order = list(paths) if round_number % 2 == 0 else list(reversed(paths))
            for name in order:
                run, meter = paths[name]
                rates[name].append(await run(args.count, meter))
        disturbance = others.end()
        backlog = await bench.backlog(args.backlog_config, args.backlog, args.backlog_seconds, args.backlog_request_limit)
        same_pid = bench.nucleus.components[COMPONENT].runner.pids() == [bench.pids["component"]]
    finally:
        await bench.stop()
    if not same_pid:
        raise RuntimeError("the component restarted during the run: its figures are not one process's")
    return {
        "code": code,
        "others": disturbance,
        "idle": idle,
        "rates": rates,
        "cpu": {name: meter.per_request_ms() for name, (_run, meter) in paths.items()},
        "backlog": backlog,
    }


def code_state() -> str:
    """Which component code ran: the commit, and whether component/ has uncommitted changes (it may be edited meanwhile)."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "component"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "code: unknown (no git)"
    changed = len(dirty.stdout.splitlines())
    return f"code: {head.stdout.strip() or 'unknown'}" + (f" + {changed} uncommitted file(s) in component/" if changed else "")


def median_ratio(values: list[float], baseline: list[float]) -> float:
    return statistics.median(v / b for v, b in zip(values, baseline, strict=True))


def cpu_line(label: str, processes: dict[str, float]) -> str:
    shares = ", ".join(f"{name} {ms:.2f}" for name, ms in processes.items())
    return f"   CPU ms per request, {label}: {shares}; total {sum(processes.values()):.2f}"


def report(result: dict[str, Any], args: argparse.Namespace, wall: float) -> None:
    rates, cpu, idle, backlog = result["rates"], result["cpu"], result["idle"], result["backlog"]
    drop, ceiling = rates["drop: component"], rates["drop: IPC ceiling"]
    component, boto3 = rates["upload: component"], rates["upload: boto3"]
    crt_http, crt_s3 = rates["upload: awscrt.http"], rates["upload: awscrt S3Client"]
    print(
        f"{args.count} requests of {args.size} bytes per batch, {args.rounds} rounds (odd rounds in reverse order), "
        f"after {args.warmup} of each path; moto S3 in its own process; {os.cpu_count()} cores; {result['code']}"
    )
    for number in range(args.rounds):
        print(
            f"round {number + 1}: drop path {drop[number]:7.1f} req/s | IPC ceiling {ceiling[number]:7.1f} msg/s | "
            f"upload: component {component[number]:6.1f} req/s, boto3 {boto3[number]:6.1f} obj/s, "
            f"awscrt.http {crt_http[number]:6.1f} obj/s, awscrt S3Client {crt_s3[number]:6.1f} obj/s"
        )
    print("1. drop path (ConfigId Drop: RANDOM_SAMPLING rate 0, every sample dropped; RequestLimit 999)")
    print(f"   component: median {statistics.median(drop):.1f} req/s (until the last sample_dropped_by_strategy status reached IoT Core)")
    print(f"   IPC ceiling (same client and publish calls, trivial awsiotsdk subscriber): median {statistics.median(ceiling):.1f} msg/s")
    print(f"   median ratio drop path / IPC ceiling: {median_ratio(drop, ceiling):.3f}")
    print(f"   component CPU ms per request on the drop path: {cpu['drop: component']['component']:.3f}")
    print(cpu_line("drop path", cpu["drop: component"]))
    print(cpu_line("IPC ceiling", cpu["drop: IPC ceiling"]))
    quiet = rates["drop: PublishMetrics false"]
    print(
        f"   with PublishMetrics false (no SampleSize / SampleNotUsed metric: 2 publishes per request instead of 4): "
        f"median {statistics.median(quiet):.1f} req/s, ratio to the IPC ceiling {median_ratio(quiet, ceiling):.3f}, "
        f"component CPU {cpu['drop: PublishMetrics false']['component']:.3f} ms per request"
    )
    alone = rates["drop: IoT Core status only"]
    print(
        f"   with PublishMetrics and LocalStatusAndPrediction false (the status to IoT Core only: 1 publish per request): "
        f"median {statistics.median(alone):.1f} req/s, ratio to the IPC ceiling {median_ratio(alone, ceiling):.3f}, "
        f"component CPU {cpu['drop: IoT Core status only']['component']:.3f} ms per request"
    )
    print("2. upload path (ConfigId Bench, every sample uploaded; spool on, the default; 4 upload workers)")
    print(f"   component: median {statistics.median(component):.1f} req/s (until the last prediction message reached IoT Core)")
    print(f"   direct boto3 put_object, {WORKERS} threads: median {statistics.median(boto3):.1f} obj/s")
    print(
        f"   direct awscrt.http, {WORKERS} threads (signed and sent as the component's awscrt uploader does): median {statistics.median(crt_http):.1f} obj/s"
    )
    print(f"   direct awscrt S3Client, {WORKERS} in flight (all in C, UNSIGNED-PAYLOAD): median {statistics.median(crt_s3):.1f} obj/s")
    print(f"   median ratio component / boto3: {median_ratio(component, boto3):.3f}")
    print(
        f"   median ratio component / awscrt.http: {median_ratio(component, crt_http):.3f}; component / awscrt S3Client: {median_ratio(component, crt_s3):.3f}"
    )
    print(f"   component CPU ms per uploaded request: {cpu['upload: component']['component']:.3f}")
    for name in ("upload: component", "upload: boto3", "upload: awscrt.http", "upload: awscrt S3Client"):
        print(cpu_line(name.split(": ")[1], cpu[name]))
    print(
        f"3. idle component ({SETTLE_SECONDS:.0f} s after RUNNING, before any request, no inference service): "
        f"VmRSS {idle['VmRSS']:.1f} MiB (VmHWM {idle['VmHWM']:.1f} MiB)"
    )
    before, drained, settled = backlog["before"], backlog["drained"], backlog["settled"]
    limit = args.backlog_request_limit or '"" (the default, 50)'
    path = "drop-path (ConfigId Drop)" if args.backlog_config == DROP else "upload-path (ConfigId Bench)"
    print(
        f"4. backlog: {args.backlog} {path} requests sent in {backlog['sent_seconds']:.2f} s while the component was stopped "
        f"({backlog['stopped_seconds']:.2f} s; {backlog['answered_while_stopped']} answered meanwhile); RequestLimit {limit}"
    )
    print(f"   before: VmRSS {before['VmRSS']:.1f} MiB (VmHWM so far {before['VmHWM']:.1f} MiB, reset to VmRSS before the backlog)")
    print(
        f"   after SIGCONT all {backlog['statuses']} answered in {backlog['drain_seconds']:.2f} s: VmHWM {drained['VmHWM']:.1f} MiB "
        f"= {drained['VmHWM'] / idle['VmRSS']:.2f} x idle VmRSS; VmRSS {drained['VmRSS']:.1f} MiB = {drained['VmRSS'] / idle['VmRSS']:.2f} x idle; "
        f"{SETTLE_SECONDS:.0f} s later VmRSS {settled['VmRSS']:.1f} MiB; sampled peak VmRSS {backlog['sampled_peak']:.1f} MiB"
    )
    kinds = ", ".join(f"{kind} {number}" for kind, number in sorted(backlog["kinds"].items(), key=lambda item: -item[1]))
    print(f"   statuses: {kinds}")
    others = result["others"]
    print(
        f"during the rounds ({others['seconds']:.0f} s): other processes used {others['cpu']:.1f} CPU-s "
        f"({others['cpu'] / others['seconds']:.0%} of one core; more than a few % disturbs the figures); "
        f"steal time {others['steal']:.1f} CPU-s (the hypervisor's: its other guests, and on some, vCPU wake-ups)"
    )
    print(f"whole run: {wall:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=600, help="requests (or objects) per measured batch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=10 * 1024, help="ModelInput and object bytes")
    parser.add_argument("--warmup", type=int, default=300, help="requests (or objects) of each path before the rounds")
    parser.add_argument("--backlog", type=int, default=3000, help="requests sent while the component is stopped")
    parser.add_argument("--backlog-seconds", type=float, default=3.0, help="over how long the client spreads them (at least)")
    parser.add_argument("--backlog-config", choices=(DROP, UPLOAD), default=DROP, help="the backlog's requests: dropped or uploaded")
    parser.add_argument("--backlog-request-limit", default="", help='RequestLimit during the backlog ("": the default, 50)')
    args = parser.parse_args()
    started = time.monotonic()
    os.environ.update(CREDENTIALS)
    moto, endpoint = start_moto()
    try:
        with tempfile.TemporaryDirectory(prefix="ggfp") as folder:
            result = asyncio.run(measure(Path(folder), endpoint, moto.pid, args))
    finally:
        moto.terminate()
        moto.wait(10)
    report(result, args, time.monotonic() - started)


if __name__ == "__main__":
    main()
