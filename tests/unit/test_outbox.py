"""The outbox with its real spool on disk and a scripted S3 stand-in: answers, retries, policies, multipart resume."""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ml_feedback import messages
from ml_feedback.config import parse_config
from ml_feedback.outbox import Outbox, SampleRecord
from ml_feedback.outbox.spool import Spool, peek
from ml_feedback.uploader import UploadError

DOWN = UploadError("EndpointConnectionError", 'Could not connect to the endpoint URL: "http://s3/b/k"', retryable=True)
NO_BUCKET = UploadError("NoSuchBucket", "An error occurred (NoSuchBucket) when calling the PutObject operation: nope")


class ScriptedS3:
    """Answers each call with the next scripted outcome: an UploadError, or success for None and once the script is done."""

    endpoint_url = "http://127.0.0.1:9"  # where the link check connects: nothing listens there unless a test says so

    def __init__(self, *script: UploadError | None) -> None:
        self.script = list(script)
        self.puts: list[str] = []
        self.parts: list[tuple[str, int]] = []
        self.aborted: list[str] = []
        self.down = threading.Event()
        self._lock = threading.Lock()

    def _next(self) -> None:
        with self._lock:
            if self.down.is_set():
                raise DOWN
            if self.script:
                outcome = self.script.pop(0)
                if outcome is not None:
                    raise outcome

    def put(self, bucket: str, key: str, body: Any, content_type: str, metadata: dict[str, str]) -> dict[str, Any]:
        self._next()
        self.puts.append(key)
        return {"ETag": '"e"'}

    def create_multipart(self, bucket: str, key: str, content_type: str, metadata: dict[str, str]) -> str:
        self._next()
        return f"upload-of-{key}"

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, body: bytes) -> str:
        self._next()
        self.parts.append((upload_id, number))
        return f'"part-{number}"'

    def complete_multipart(self, bucket: str, key: str, upload_id: str, etags: list[str]) -> dict[str, Any]:
        self._next()
        self.puts.append(key)
        return {"ETag": '"e-' + str(len(etags)) + '"'}

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        self.aborted.append(upload_id)


class RecordedAnswers:
    def __init__(self, hold: list[Future[Any]] | None = None) -> None:
        self.events: list[tuple[str, Any]] = []
        self.changed = threading.Condition()
        self.hold = hold

    def _note(self, event: tuple[str, Any]) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def uploaded(self, record: SampleRecord, response: dict[str, Any]) -> list[Future[Any]]:
        self._note(("uploaded", record.request_id))
        return self.handed_over()

    def given_up(self, record: SampleRecord, code: str, error_message: str) -> list[Future[Any]]:
        self._note(("given_up", (record.request_id, code, error_message)))
        return self.handed_over()

    def handed_over(self) -> list[Future[Any]]:
        """The publishes of an answer, as IPC returns them; a test holds them back to see the spool wait for them."""
        future: Future[Any] = Future()
        if self.hold is None:
            future.set_result(None)
        else:
            self.hold.append(future)
        return [future]

    def queued(self, record: SampleRecord) -> None:
        self._note(("queued", record.request_id))

    def gauge(self, samples: int, disk_bytes: int) -> None:
        self._note(("gauge", samples))

    def of(self, kind: str) -> list[Any]:
        with self.changed:
            return [value for event, value in self.events if event == kind]

    def wait(self, kind: str, count: int, timeout: float = 10) -> list[Any]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.of(kind)) >= count, timeout), f"{kind}: {self.events}"
        return self.of(kind)


def config(**settings: Any) -> Any:
    return parse_config({"MaxRetryIntervalSeconds": 1, "UploadWorkers": 2, **settings})


def record(n: int, size: int = 1000) -> SampleRecord:
    return SampleRecord(f"id-{n}", f"req-{n}", "All", "samples", f"id-{n}.bin", "application/octet-stream", {}, [1], 0.0, size)


def flushed(box: Outbox, count: int) -> None:
    """Wait until `count` samples are on disk and waiting (a sample still being flushed cannot be given up)."""
    deadline = time.monotonic() + 5
    while box.waiting()[0] < count:
        assert time.monotonic() < deadline
        time.sleep(0.005)


def outbox(folder: Path, s3: ScriptedS3, answers: RecordedAnswers, draw: Any = random.random, **settings: Any) -> Outbox:
    current = config(**settings)
    box = Outbox(folder, lambda: current, lambda _config: s3, answers, draw=draw)
    box.start()
    return box


def one_sample_waiting(folder: Path, draw: Any = random.random, **settings: Any) -> tuple[ScriptedS3, RecordedAnswers, Outbox]:
    """S3 down, and one sample (req-1) spooled."""
    s3, answers = ScriptedS3(), RecordedAnswers()
    s3.down.set()
    box = outbox(folder, s3, answers, draw=draw, **settings)
    box.accept(record(1), b"x" * 1000)
    return s3, answers, box


def test_a_sample_that_meets_an_outage_waits_and_is_answered_once_when_s3_is_back(tmp_path, caplog):
    caplog.set_level(logging.INFO, "ml_feedback.outbox")
    s3, answers = ScriptedS3(DOWN, DOWN), RecordedAnswers()
    box = outbox(tmp_path, s3, answers)
    box.accept(record(1), b"x" * 1000)
    assert answers.wait("uploaded", 1, timeout=15) == ["req-1"]
    assert answers.of("queued") == ["req-1"], "SampleQueued once, however many retries"
    assert answers.of("given_up") == []
    assert s3.puts == ["id-1.bin"]
    assert box.stop(2)
    logged = [r.getMessage() for r in caplog.records if r.name == "ml_feedback.outbox"]
    assert sum(m.startswith("S3 unreachable: 1 samples waiting (EndpointConnectionError: ") for m in logged) == 1
    assert sum(m.startswith("S3 reachable again after ") for m in logged) == 1
    assert peek(tmp_path) == []


def test_a_permanent_error_is_answered_at_once_with_v1_s_message(tmp_path):
    s3, answers = ScriptedS3(NO_BUCKET), RecordedAnswers()
    box = outbox(tmp_path, s3, answers)
    box.accept(record(1), b"x" * 1000)
    [(request_id, code, text)] = answers.wait("given_up", 1)
    assert (request_id, code) == ("req-1", "NoSuchBucket")
    assert text == messages.upload_failure_message("req-1", "NoSuchBucket", NO_BUCKET.message)
    assert answers.of("queued") == []
    assert box.stop(2)
    assert peek(tmp_path) == []


@pytest.mark.parametrize(("policy", "given_up"), [("RejectNewest", ["req-3", "req-4"]), ("DropOldest", ["req-0", "req-1"])])
def test_a_full_spool_gives_way_by_its_policy(tmp_path, policy, given_up):
    s3, answers = ScriptedS3(), RecordedAnswers()
    s3.down.set()
    room = 3 * Spool.disk_bytes_of(replace(record(0), created=time.time())) + 10  # the outbox stamps its own time
    box = outbox(tmp_path, s3, answers, SpoolMaxBytes=room, SpoolFullPolicy=policy, UploadWorkers=1)
    box.accept(record(0), b"x" * 1000)
    answers.wait("queued", 1)  # S3 is known to be down: the next ones only wait
    for n in range(1, 5):
        box.accept(record(n), b"x" * 1000)
        flushed(box, min(n + 1, 3))
    full = [(request_id, code) for request_id, code, _ in answers.wait("given_up", 2)]
    assert full == [(request_id, "SpoolFull") for request_id in given_up]
    assert box.waiting()[0] == 3
    assert box.stop(2)


def test_a_sample_bigger_than_the_whole_spool_is_refused_even_by_drop_oldest(tmp_path):
    s3, answers = ScriptedS3(), RecordedAnswers()
    s3.down.set()
    box = outbox(tmp_path, s3, answers, SpoolMaxBytes=5000, SpoolFullPolicy="DropOldest")
    box.accept(record(0), b"x" * 1000)
    answers.wait("queued", 1)
    box.accept(record(1, 6000), b"x" * 6000)
    [(request_id, code, text)] = answers.wait("given_up", 1)
    assert (request_id, code) == ("req-1", "SpoolFull")
    assert "SpoolMaxBytes 5000" in text
    assert box.waiting()[0] == 1, "the older sample was not given up for nothing"
    assert box.stop(2)


def test_a_sample_past_its_time_to_live_expires_with_the_last_error(tmp_path):
    _s3, answers, box = one_sample_waiting(tmp_path, SampleTimeToLiveSeconds=1)
    [(request_id, code, text)] = answers.wait("given_up", 1, timeout=5)
    assert (request_id, code) == ("req-1", "Expired")
    assert "longer than SampleTimeToLiveSeconds (1); last error: EndpointConnectionError: Could not connect" in text
    assert box.stop(2)
    assert peek(tmp_path) == []


def test_a_large_sample_resumes_after_the_last_confirmed_part_in_a_new_process(tmp_path):
    size = 20 * 1024 * 1024  # three parts of 8 MiB
    s3, answers = ScriptedS3(), RecordedAnswers()
    box = outbox(tmp_path, s3, answers, MultipartThresholdBytes=5 * 1024 * 1024)
    s3.script = []
    original_part = s3.upload_part

    def third_part_fails(bucket: str, key: str, upload_id: str, number: int, body: bytes) -> str:
        if number == 3:
            s3.down.set()  # the link drops before part 3 and the component stops
        return original_part(bucket, key, upload_id, number, body)

    s3.upload_part = third_part_fails  # type: ignore[method-assign]
    box.accept(record(1, size), b"y" * size)
    answers.wait("queued", 1)
    assert box.stop(2)
    assert s3.parts == [("upload-of-id-1.bin", 1), ("upload-of-id-1.bin", 2)]

    s3.down.clear()
    s3.upload_part = original_part  # type: ignore[method-assign]
    answers = RecordedAnswers()
    box = outbox(tmp_path, s3, answers, MultipartThresholdBytes=5 * 1024 * 1024)
    assert answers.wait("uploaded", 1) == ["req-1"]
    assert s3.parts[2:] == [("upload-of-id-1.bin", 3)], "parts 1 and 2 are not sent again"
    assert box.stop(2)


def test_a_multipart_upload_gone_on_s3_s_side_starts_over(tmp_path):
    size = 9 * 1024 * 1024
    s3, answers = ScriptedS3(), RecordedAnswers()
    s3.script = [None, UploadError("NoSuchUpload", "The specified upload does not exist")]  # part 1 finds the upload gone
    box = outbox(tmp_path, s3, answers, MultipartThresholdBytes=5 * 1024 * 1024)
    box.accept(record(1, size), b"z" * size)
    assert answers.wait("uploaded", 1, timeout=15) == ["req-1"]
    assert box.stop(2)


def test_a_sample_given_up_mid_multipart_has_its_upload_aborted(tmp_path):
    size = 9 * 1024 * 1024
    s3, answers = ScriptedS3(), RecordedAnswers()
    real_part = s3.upload_part

    def part_then_no_bucket(bucket: str, key: str, upload_id: str, number: int, body: bytes) -> str:
        if number == 2:
            raise UploadError("AccessDenied", "Access Denied")
        return real_part(bucket, key, upload_id, number, body)

    s3.upload_part = part_then_no_bucket  # type: ignore[method-assign]
    box = outbox(tmp_path, s3, answers, MultipartThresholdBytes=5 * 1024 * 1024)
    box.accept(record(1, size), b"z" * size)
    [(_, code, _text)] = answers.wait("given_up", 1)
    assert code == "AccessDenied"
    assert s3.aborted == ["upload-of-id-1.bin"]
    assert box.stop(2)


def test_gauges_while_samples_wait_and_once_when_the_wait_is_over(tmp_path):
    s3, answers, box = one_sample_waiting(tmp_path)
    assert answers.wait("gauge", 1) == [1]
    s3.down.clear()
    answers.wait("uploaded", 1, timeout=10)
    assert answers.wait("gauge", 2) == [1, 0]
    time.sleep(1.5)
    assert answers.of("gauge") == [1, 0], "nothing more while the spool stays empty"
    assert box.stop(2)


def test_once_a_tcp_connect_to_s3_gets_through_the_waiting_samples_go_without_waiting_out_the_backoff(tmp_path):
    s3, answers, box = one_sample_waiting(tmp_path, draw=lambda: 1.0, MaxRetryIntervalSeconds=30)  # waits of 1, 2, 4, 8 s ...
    time.sleep(7.5)  # four failed attempts: the next one is due about 8 s from now
    with socket.socket() as endpoint:
        endpoint.bind(("127.0.0.1", 0))
        endpoint.listen()
        s3.endpoint_url = f"http://127.0.0.1:{endpoint.getsockname()[1]}"
        s3.down.clear()
        back = time.monotonic()
        answers.wait("uploaded", 1, timeout=10)
        assert time.monotonic() - back < 3
    assert box.stop(2)


def test_a_sample_leaves_the_spool_only_once_the_nucleus_has_its_answer(tmp_path):
    held: list[Future[Any]] = []
    s3, answers = ScriptedS3(), RecordedAnswers(hold=held)
    box = outbox(tmp_path, s3, answers)
    box.accept(record(1), b"x" * 1000)
    answers.wait("uploaded", 1)
    assert [r.request_id for r in peek(tmp_path)] == ["req-1"], "a crash now sends the answer again after the restart"
    held[0].set_result(None)
    assert peek(tmp_path) == []
    assert box.stop(2)


class _Refused(Exception):
    def __init__(self, lost: bool) -> None:
        super().__init__("lost" if lost else "refused")
        self.lost = lost


@pytest.mark.parametrize(("lost", "left"), [(True, ["req-1"]), (False, [])], ids=["connection gone", "refused by the nucleus"])
def test_an_answer_whose_publish_never_reached_the_nucleus_keeps_its_sample_for_the_next_start(tmp_path, lost, left):
    held: list[Future[Any]] = []
    s3, answers = ScriptedS3(), RecordedAnswers(hold=held)
    box = outbox(tmp_path, s3, answers)
    box.accept(record(1), b"x" * 1000)
    answers.wait("uploaded", 1)
    held[0].set_exception(_Refused(lost))
    assert [r.request_id for r in peek(tmp_path)] == left
    assert box.stop(2)


def test_once_every_waiting_sample_expired_the_gauges_say_0_once_though_s3_is_still_down(tmp_path):
    _s3, answers, box = one_sample_waiting(tmp_path, SampleTimeToLiveSeconds=1)
    answers.wait("given_up", 1, timeout=5)
    answers.wait("gauge", 2)
    time.sleep(1.5)
    assert answers.of("gauge") == [1, 0]
    assert box.stop(2)
