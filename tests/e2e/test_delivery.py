"""Durable delivery (SPEC §9) under real faults: S3 in its own process stopped, hung and restarted; the component killed.

Every test counts what was sent, answered and stored: each request ends with
exactly one final status, and each uploaded request with exactly one object.
"""

from __future__ import annotations

import collections
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ml_feedback import messages
from ml_feedback.outbox.spool import peek
from support.feedback import COMPONENT, OBSERVER, Observer, add_component, add_observer, configuration_update
from support.harness import NucleusThread, Project, component_environment
from support.s3_process import CREDENTIALS, HungListener, S3Process

BUCKET = "delivery-samples"
SAMPLE = os.urandom(10 * 1024)


class Device:
    """One device: the local nucleus with the component on a root that survives restarts, and an S3 that can fail."""

    def __init__(self, base: Path, settings: dict[str, Any]) -> None:
        self.base = base
        self.root = base / "root"
        self.s3 = S3Process(base)
        self.settings = {
            "FeedbackConfigurationMap": {"All": {"s3-bucket-name": BUCKET, "content-type": "application/octet-stream", "file-ext": "bin"}},
            "S3EndpointUrl": self.s3.endpoint,
            "MaxRetryIntervalSeconds": 5,
            **settings,
        }
        self.project = Project(base / "project")
        add_component(self.project)
        add_observer(self.project)
        self.nucleus: NucleusThread | None = None
        self.observer: Observer | None = None

    def boot(self) -> Device:
        self.nucleus = NucleusThread(self.root, environment=component_environment(CREDENTIALS)).__enter__()
        # The observer listens before the component starts: a restarted component answers what it finds in its spool at once.
        assert self.nucleus.deploy(self.project, merge={OBSERVER: "1.0.0"}).status == "SUCCEEDED"
        self.observer = Observer(self.nucleus)
        record = self.nucleus.deploy(
            self.project, merge={COMPONENT: "1.0.0"}, configuration=configuration_update(self.settings), timeout=120
        )
        assert record.status == "SUCCEEDED", record.details
        return self

    def shutdown(self) -> None:
        if self.observer is not None:
            self.observer.close()
            self.observer = None
        if self.nucleus is not None:
            self.nucleus.__exit__(None, None, None)
            self.nucleus = None

    # -- the component ---------------------------------------------------------------------

    def pid(self) -> int:
        assert self.nucleus is not None
        nucleus = self.nucleus.nucleus
        pids = self.nucleus.run(lambda: nucleus.components[COMPONENT].runner.pids())
        return pids[0]

    def kill_component(self) -> None:
        """kill -9, then wait until the nucleus has it RUNNING again."""
        from greengrass_local.deployment.lifecycle import State

        assert self.nucleus is not None
        old = self.pid()
        os.kill(old, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.pid() != old and self.nucleus.state(COMPONENT) is State.RUNNING:
                    return
            except IndexError:
                pass
            assert time.monotonic() < deadline, "the nucleus did not restart the component"
            time.sleep(0.05)

    @property
    def spool(self) -> Path:
        return self.root / "work" / COMPONENT / "spool"

    def wait_spool_empty(self, timeout: float = 10) -> None:
        """A sample leaves the spool once the nucleus acknowledged its answer, a moment after the answer is seen."""
        assert self.observer is not None
        self.observer.wait(lambda: peek(self.spool) == [], timeout, "an empty spool")

    def log(self) -> str:
        path = self.root / "logs" / f"{COMPONENT}.log"
        return path.read_text() if path.exists() else ""

    # -- traffic ------------------------------------------------------------------------------

    def send(self, count: int, spread_over: float = 0.0, prefix: str = "req") -> list[str]:
        assert self.observer is not None
        ids = []
        for n in range(count):
            ids.append(self.observer.send("All", SAMPLE, [0.5, 0.5], request_id=f"{prefix}-{n}-{uuid.uuid4()}"))
            if spread_over:
                time.sleep(spread_over / count)
        return ids

    def statuses(self, ids: list[str]) -> collections.Counter[str]:
        assert self.observer is not None
        wanted = set(ids)
        with self.observer._lock:
            return collections.Counter(s["id"] for s in self.observer.statuses if s["id"] in wanted)

    def answered(self, ids: list[str], timeout: float, what: str = "final statuses") -> list[dict[str, Any]]:
        """Wait until every request has a status; returns them (one per request, in request order)."""
        assert self.observer is not None
        self.observer.wait(lambda: len(self.statuses(ids)) == len(ids), timeout, f"{what} for {len(ids)} requests")
        by_id = {s["id"]: s for s in self.observer.statuses}
        return [by_id[request_id] for request_id in ids]

    def metric_count(self, name: str) -> int:
        assert self.observer is not None
        return self.observer.metric_names().count(name)

    def gauges(self, name: str) -> list[float]:
        assert self.observer is not None
        with self.observer._lock:
            return [m["request"]["metricData"]["value"] for m in self.observer.metrics if m["request"]["metricData"]["metricName"] == name]


@pytest.fixture
def device_factory() -> Iterator[Any]:
    devices: list[Device] = []
    with tempfile.TemporaryDirectory(prefix="ggd") as folder:

        def make(**settings: Any) -> Device:
            device = Device(Path(folder) / f"d{len(devices)}", settings)
            devices.append(device)
            return device

        yield make
        for device in devices:
            device.shutdown()
            device.s3.stop()


def assert_exactly_once_and_stored(device: Device, ids: list[str], statuses: list[dict[str, Any]]) -> None:
    counts = device.statuses(ids)
    assert [request_id for request_id, n in counts.items() if n != 1] == [], "a request answered more than once"
    failures = [s["response"] for s in statuses if s["response"]["status"] != "success"]
    assert failures == [], f"{len(failures)} of {len(ids)} not uploaded"
    keys = device.s3.keys(BUCKET)
    reported = sorted(s["response"]["s3_response"]["key"] for s in statuses)
    assert sorted(keys) == reported, "every object has its success status, and no request has two objects"


def test_a_60_s_outage_with_300_requests_loses_nothing(device_factory):
    device = device_factory(MaxRetryIntervalSeconds=5).boot()
    # S3 is down from the start: nothing listens on its port yet.
    ids = device.send(300, spread_over=55)
    time.sleep(max(0.0, 60 - 55))
    assert device.statuses(ids) == collections.Counter(), "no answer while S3 is down"
    assert len(peek(device.spool)) == 300
    queued_gauges = list(device.gauges(messages.SPOOL_SAMPLES))
    device.s3.start(buckets=(BUCKET,))
    returned = time.monotonic()
    statuses = device.answered(ids, timeout=30)
    drained = time.monotonic() - returned
    assert drained < 30
    assert_exactly_once_and_stored(device, ids, statuses)
    assert device.metric_count(messages.SAMPLE_QUEUED) == 300
    assert device.metric_count(messages.SAMPLE_UPLOAD_SUCCESS) == 300
    assert queued_gauges and max(queued_gauges) > 0, "SpoolSamples reported while samples waited"
    device.observer.wait(lambda: device.gauges(messages.SPOOL_SAMPLES)[-1:] == [0], 10, "SpoolSamples 0 once the spool is empty")
    log = device.log()
    assert log.count("S3 unreachable: ") == 1
    assert log.count("S3 reachable again after ") == 1
    device.wait_spool_empty()


def test_kill_9_with_100_samples_waiting_then_s3_returns(device_factory):
    device = device_factory().boot()
    ids = device.send(100)
    device.observer.wait(lambda: device.metric_count(messages.SAMPLE_QUEUED) == 100, 20, "100 samples waiting")
    device.kill_component()
    assert len(peek(device.spool)) == 100
    device.s3.start(buckets=(BUCKET,))
    statuses = device.answered(ids, timeout=30)
    assert_exactly_once_and_stored(device, ids, statuses)


def _answered_or_spooled(device: Device, ids: list[str]) -> bool:
    answered = set(device.statuses(ids))
    spooled = {record.request_id for record in peek(device.spool)}
    return answered | spooled == set(ids) and not answered & spooled


def test_kill_9_while_uploads_are_in_flight(device_factory):
    """S3 hangs with PUTs in flight, the component is killed; the hung PUTs are stored later, unreported: the restart reports them."""
    device = device_factory(RequestLimit=999).boot()  # a burst of 200 next to running uploads: none refused for CPU
    device.s3.start(buckets=(BUCKET,))
    ids = device.send(200)
    device.observer.wait(lambda: len(device.statuses(ids)) >= 20, 20, "the first uploads")
    device.s3.pause()
    # Every request is either answered or on disk before the kill, and none is both. A sample leaves the spool a moment
    # after the nucleus acknowledges its status, and a kill in that moment sends the status again (the README's
    # at-least-once case, bench/kill_during_drain.py); this test is about the PUTs that hang.
    device.observer.wait(lambda: _answered_or_spooled(device, ids), 20, "every request spooled or answered, none both")
    answered_before = len(device.statuses(ids))
    device.kill_component()
    device.s3.resume()
    statuses = device.answered(ids, timeout=60)
    assert answered_before < 200
    assert_exactly_once_and_stored(device, ids, statuses)


def test_s3_hung_for_60_s_with_200_requests(device_factory):
    device = device_factory(MaxRetryIntervalSeconds=5).boot()
    hung = HungListener(device.s3.port)
    try:
        ids = device.send(200, spread_over=10)
        time.sleep(50)
        assert hung.accepted >= 1, "the component did try the hung endpoint"
        assert device.statuses(ids) == collections.Counter(), "no Queue.Full (nor any answer) while the spool has room"
        assert device.metric_count("ErrorRequestThrottled") == 0
    finally:
        hung.close()
    device.s3.start(buckets=(BUCKET,))
    statuses = device.answered(ids, timeout=60)
    assert_exactly_once_and_stored(device, ids, statuses)


def sample_disk_bytes() -> int:
    """What one test sample takes in the spool (its header holds the ids, metadata and prediction)."""
    from ml_feedback.outbox.spool import SampleRecord, Spool

    record = SampleRecord(
        str(uuid.uuid4()),
        f"full-00-{uuid.uuid4()}",
        "All",
        BUCKET,
        f"{uuid.uuid4()}.bin",
        "application/octet-stream",
        {"publish-ts": "2026-12-01 00:00:00.000000"},
        [0.5, 0.5],
        time.time(),
        len(SAMPLE),
    )
    return Spool.disk_bytes_of(record)


@pytest.mark.parametrize("policy", ["RejectNewest", "DropOldest"])
def test_a_full_spool_gives_way_by_its_policy(device_factory, policy):
    room = 10
    device = device_factory(SpoolMaxBytes=room * sample_disk_bytes() + 100, SpoolFullPolicy=policy).boot()
    ids: list[str] = []
    for n in range(15):  # one by one, so arrival order is request order
        [request_id] = device.send(1, prefix=f"full-{n:02d}")
        ids.append(request_id)
        device.observer.wait(
            lambda newest=request_id: newest in device.statuses([newest]) or newest in {r.request_id for r in peek(device.spool)},
            10,
            f"{request_id} spooled or answered",
        )
    device.observer.wait(lambda: len(device.statuses(ids)) >= 5, 10, "5 SpoolFull statuses")
    time.sleep(0.5)
    full = [request_id for request_id in ids if request_id in device.statuses(ids)]
    expected = ids[room:] if policy == "RejectNewest" else ids[: len(ids) - room]
    assert full == expected
    for request_id in full:
        response = device.observer.status(request_id)["response"]
        assert (response["status"], response["error"]) == ("fail", "SpoolFull")
        assert response["error_message"].startswith(f"[RequestId: {request_id}] Failed to upload model input data due to exception.")
        assert f"SpoolFullPolicy {policy}" in response["error_message"]
    device.s3.start(buckets=(BUCKET,))
    statuses = device.answered(ids, timeout=30)
    assert sum(1 for s in statuses if s["response"]["status"] == "success") == room
    assert len(device.s3.keys(BUCKET)) == room
    assert sum(device.statuses(ids).values()) == len(ids), "statuses = requests"


def _spool_bytes(device: Device) -> int:
    return sum(path.stat().st_size for path in device.spool.iterdir() if path.is_file())


def test_samples_past_their_time_to_live_expire(device_factory):
    device = device_factory(SampleTimeToLiveSeconds=5).boot()
    ids = device.send(20)
    statuses = device.answered(ids, timeout=15, what="Expired statuses")
    for request_id, status in zip(ids, statuses, strict=True):
        assert status["response"]["error"] == "Expired"
        assert "longer than SampleTimeToLiveSeconds (5)" in status["response"]["error_message"]
        assert status["response"]["error_message"].startswith(f"[RequestId: {request_id}] ")
    device.wait_spool_empty()
    # The segment is emptied before its journal (a crash in between must not bring answered samples back): wait for both.
    device.observer.wait(lambda: _spool_bytes(device) == 0, 10, "a spool folder at 0 bytes")
    assert _spool_bytes(device) == 0
    device.s3.start(buckets=(BUCKET,))
    time.sleep(2)
    assert device.s3.keys(BUCKET) == []
    assert sum(device.statuses(ids).values()) == 20


def test_a_corrupt_entry_is_moved_aside_and_the_others_upload(device_factory):
    device = device_factory().boot()
    ids = device.send(10)
    device.observer.wait(lambda: device.metric_count(messages.SAMPLE_QUEUED) == 10, 20, "10 samples waiting")
    device.shutdown()  # the device powers down with 10 samples waiting
    [segment] = list(device.spool.glob("*.seg"))
    data = bytearray(segment.read_bytes())
    by_position = sorted(ids, key=lambda request_id: data.index(request_id.encode()))  # intake threads may reorder
    flipped, torn = by_position[2], by_position[-1]
    data[data.index(b"MLFS", data.index(flipped.encode())) - 100] ^= 0xFF  # a bit flips in a sample's bytes: its checksum fails
    segment.write_bytes(bytes(data[:-100]))  # and the last sample is torn
    device.boot()
    device.s3.start(buckets=(BUCKET,))
    statuses = device.answered(ids, timeout=30)
    outcome = {s["id"]: s["response"]["status"] for s in statuses}
    assert outcome == {request_id: "fail" if request_id in (flipped, torn) else "success" for request_id in ids}
    for damaged in (device.observer.status(flipped), device.observer.status(torn)):
        assert damaged["response"]["error"] == "SpoolWriteError"
        assert "found damaged on disk at start" in damaged["response"]["error_message"]
    assert len(list((device.spool / "corrupt").iterdir())) == 2
    assert device.log().count("spool: a torn or corrupt entry") == 2
    assert len(device.s3.keys(BUCKET)) == 8


def test_sigterm_with_samples_waiting_exits_in_5_s_and_they_upload_after_restart(device_factory):
    device = device_factory().boot()
    ids = device.send(20)
    device.observer.wait(lambda: device.metric_count(messages.SAMPLE_QUEUED) == 20, 20, "20 samples waiting")
    old = device.pid()
    assert device.nucleus is not None
    nucleus = device.nucleus.nucleus
    asked = time.monotonic()
    device.nucleus.run(lambda: nucleus.components[COMPONENT].runner.request_restart())  # SIGTERM, as the nucleus sends it
    while _alive(old):
        assert time.monotonic() - asked < 5, "the component did not exit within 5 s of SIGTERM"
        time.sleep(0.02)
    assert "stopping with 20 samples waiting in the spool" in device.log()
    device.s3.start(buckets=(BUCKET,))
    statuses = device.answered(ids, timeout=30)
    assert_exactly_once_and_stored(device, ids, statuses)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_40_mib_model_input_path_resumes_part_wise_after_a_restart(device_factory):
    inputs = Path(tempfile.mkdtemp(prefix="ggi"))
    device = device_factory(ModelInputDirectories=[str(inputs)]).boot()
    device.s3.start(buckets=(BUCKET,))
    original = os.urandom(40 * 1024 * 1024)
    path = inputs / "frame.raw"
    path.write_bytes(original)
    request_id = f"large-{uuid.uuid4()}"
    assert device.observer is not None
    device.observer.send_raw({"ConfigId": "All", "ModelInputPath": str(path), "ModelPrediction": [0.5, 0.5], "RequestId": request_id})

    def parts_stored() -> list[int]:
        return [_part_number(r.path) for r in device.s3.requests() if "partNumber=" in r.path and r.status == 200]

    device.observer.wait(lambda: len(parts_stored()) >= 2, 60, "two parts stored")
    device.s3.pause()  # the next part hangs in flight; the confirmed ones are in the component's journal
    time.sleep(1)
    before = parts_stored()
    device.kill_component()
    device.s3.resume()
    path.write_bytes(os.urandom(len(original)))  # the sender reuses its file: the sample keeps the bytes it had
    [status] = device.answered([request_id], timeout=60)
    assert status["response"]["status"] == "success"
    key = status["response"]["s3_response"]["key"]
    assert device.s3.client().get_object(Bucket=BUCKET, Key=key)["Body"].read() == original
    sent = collections.Counter(parts_stored())
    assert sorted(sent) == [1, 2, 3, 4, 5]
    assert all(sent[number] == 1 for number in before), f"parts stored before the kill were sent again: {sent}"
    assert device.statuses([request_id]) == {request_id: 1}


def _part_number(path: str) -> int:
    return int(path.split("partNumber=")[1].split("&")[0])


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_is_refused_with_a_status_and_little_log(device_factory, depth):
    """As a BinaryMessage (a JsonMessage this deep cannot pass the nucleus: its own JSON parser stops near 1,000 levels)."""
    device = device_factory(RequestLimit=999).boot()  # as fast as they come: none refused for the limit
    device.s3.start(buckets=(BUCKET,))
    assert device.observer is not None
    count = 1_000 if depth == 1_000 else 50
    before = len(device.log())
    start = len(device.observer.statuses)
    nested = b'{"ConfigId": "All", "ModelInput": "eA==", "ModelPrediction": ' + b"[" * depth + b"]" * depth + b"}"
    for _ in range(count):
        device.observer.send_raw(nested)
    device.observer.wait(lambda: len(device.observer.statuses) - start >= count, 60, f"{count} statuses")
    statuses = device.observer.statuses[start:]
    assert {(s["response"]["status"], s["response"]["error"]) for s in statuses} == {("fail", "InvalidRequest")}
    assert all("the message nests deeper than 64 levels" in s["response"]["error_message"] for s in statuses)
    time.sleep(0.5)
    grown = len(device.log()) - before
    assert grown < count * 1024, f"{grown} bytes of log for {count} bad requests"
    ids = device.send(1)  # and it keeps serving
    assert device.answered(ids, timeout=20)[0]["response"]["status"] == "success"


def test_a_json_message_nested_too_deeply_is_refused(device_factory):
    """100 levels: refused by the component's check, RequestId kept. 995: too deep for the IPC client's JSON parser
    in the component (Python's parser stops near 1,000), which hands over the raw bytes; refused with a new id, as
    malformed JSON is (the issue's "no status, no log" case)."""
    device = device_factory().boot()
    assert device.observer is not None
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(5_000)  # the sender's own encoder
    try:
        shallow = f"deep-{uuid.uuid4()}"
        device.observer.send_raw({"ConfigId": "All", "ModelInput": "eA==", "ModelPrediction": _nested_list(100), "RequestId": shallow})
        start = len(device.observer.statuses)
        device.observer.send_raw({"ConfigId": "All", "ModelInput": "eA==", "ModelPrediction": _nested_list(995), "RequestId": "lost"})
    finally:
        sys.setrecursionlimit(limit)
    response = device.observer.status(shallow)["response"]
    assert (response["status"], response["error"]) == ("fail", "InvalidRequest")
    assert response["error_message"] == f"[RequestId: {shallow}] Invalid feedback request: the message nests deeper than 64 levels"
    deep = device.observer.wait(lambda: next((s for s in device.observer.statuses[start:] if s["id"] != shallow), None))
    assert (
        deep["response"]["error_message"] == f"[RequestId: {deep['id']}] Invalid feedback request: the message nests deeper than 64 levels"
    )
    assert uuid.UUID(deep["id"])
    assert "could not be decoded by the IPC client" in device.log()


def _nested_list(depth: int) -> list[Any]:
    outer: list[Any] = []
    inner = outer
    for _ in range(depth - 1):
        inner.append([])
        inner = inner[0]
    return outer


def test_spool_max_bytes_0_keeps_v1_behaviour(device_factory):
    device = device_factory(SpoolMaxBytes=0).boot()
    [request_id] = device.send(1)
    [status] = device.answered([request_id], timeout=20)
    assert status["response"]["status"] == "fail"
    assert status["response"]["error"] == "EndpointConnectionError"
    assert status["response"]["error_message"].startswith(f"[RequestId: {request_id}] Failed to upload model input data due to exception.")
    assert list(device.spool.glob("*.seg")) == []


OPENSSL = ("libssl.so", "libcrypto.so", "/_ssl.", "/_hashlib.")


def _openssl_mapped(pid: int) -> list[str]:
    """The OpenSSL libraries in the process: botocore brings them (urllib3 imports ssl), and so does hashlib."""
    lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return sorted({line.split()[-1] for line in lines if any(name in line for name in OPENSSL)})


def test_samples_upload_through_awscrt_without_loading_botocore_or_openssl(device_factory):
    """The outbox's S3 client is awscrt's, with its own TLS and hashes: boto3 and OpenSSL cost a device about 40 MiB."""
    device = device_factory().boot()
    device.s3.start(buckets=(BUCKET,))
    pid = device.pid()
    assert _openssl_mapped(pid) == [], "idle"
    ids = device.send(5)
    statuses = device.answered(ids, timeout=30)
    assert_exactly_once_and_stored(device, ids, statuses)
    assert _openssl_mapped(pid) == [], "after five uploads"


def _memory_kib(pid: int) -> dict[str, int]:
    fields = (line.split(":") for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {name: int(value.split()[0]) for name, value in fields if name in ("VmRSS", "VmHWM")}


def test_a_backlog_behind_a_stalled_component_stays_bounded_in_memory_and_loses_nothing(device_factory):
    """3,000 requests that pile up while the component is stopped: every one answered once, and its peak RSS under 2 x idle.

    Before publishes were bounded, this backlog took the component from 57 to 139 MiB (2.4 x idle).
    """
    dropping = {
        "s3-bucket-name": BUCKET,
        "content-type": "application/octet-stream",
        "sampling-strategy": {"strategy-name": "RANDOM_SAMPLING", "rate": 0},
    }
    device = device_factory(FeedbackConfigurationMap={"Drop": dropping}).boot()
    assert device.observer is not None
    pid = device.pid()
    idle = _memory_kib(pid)["VmRSS"]
    warm = [device.observer.send("Drop", SAMPLE, [0.5, 0.5]) for _ in range(50)]
    device.answered(warm, timeout=30)
    os.kill(pid, signal.SIGSTOP)
    try:
        ids = [device.observer.send("Drop", SAMPLE, [0.5, 0.5], request_id=f"backlog-{n}") for n in range(3000)]
    finally:
        os.kill(pid, signal.SIGCONT)
    statuses = device.answered(ids, timeout=120)
    assert collections.Counter(s["response"]["status"] for s in statuses) == {messages.SAMPLE_DROPPED: 3000}
    assert [request_id for request_id, n in device.statuses(ids).items() if n != 1] == []
    peak = _memory_kib(pid)["VmHWM"]
    assert peak <= 2 * idle, f"peak RSS {peak} KiB with the backlog, idle {idle} KiB"
    assert device.pid() == pid, "the same process served the backlog"
