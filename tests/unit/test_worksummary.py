"""The work summary (issue 12): one line a minute while the component works, none while it idles, one at the stop."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from ml_feedback import messages
from ml_feedback.app import IpcPublisher
from ml_feedback.config import parse_config
from ml_feedback.worksummary import WorkSummary


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def summary_with(clock: FakeClock, uploaded: int = 0, dropped: int = 0, failed: int = 0) -> WorkSummary:
    work = WorkSummary(clock)
    count(work, uploaded, dropped, failed)
    return work


def count(work: WorkSummary, uploaded: int = 0, dropped: int = 0, failed: int = 0) -> None:
    for status, number in ((messages.SUCCESS, uploaded), (messages.SAMPLE_DROPPED, dropped), (messages.FAIL, failed)):
        for _ in range(number):
            work.count(status)


def test_an_idle_component_logs_nothing_however_long_it_runs():
    clock = FakeClock()
    work = WorkSummary(clock)
    for _ in range(100):
        clock.now += 30
        assert work.due(0) is None
        assert work.due(None) is None


def test_work_is_summed_up_once_a_minute_after_it_starts_with_the_exact_line():
    clock = FakeClock()
    work = summary_with(clock, uploaded=12, dropped=340)
    assert work.due(3) is None  # the window opens at the first check that sees work
    clock.now += 59.5
    assert work.due(3) is None
    clock.now += 0.5
    assert work.due(3) == (
        "work summary: 12 uploaded, 340 dropped by strategy, 0 failed in the last 60 s; 3 waiting in the spool; "
        "since start 12 uploaded, 340 dropped by strategy, 0 failed"
    )
    assert work.due(3) is None, "the same work is not reported twice"


def test_at_most_one_line_a_minute_under_steady_work_and_per_minute_counts_next_to_totals():
    clock = FakeClock()
    work = WorkSummary(clock)
    lines = []
    for _ in range(240):  # 2 minutes of a check every 0.5 s, with a request before each
        count(work, uploaded=1)
        line = work.due(0)
        if line is not None:
            lines.append((clock.now, line))
        clock.now += 0.5
    assert [at for at, _ in lines] == [1060.0]
    assert lines[0][1] == (
        "work summary: 121 uploaded, 0 dropped by strategy, 0 failed in the last 60 s; 0 waiting in the spool; "
        "since start 121 uploaded, 0 dropped by strategy, 0 failed"
    )
    clock.now = 1120.5
    count(work, failed=2)
    assert work.due(0) == (
        "work summary: 119 uploaded, 0 dropped by strategy, 2 failed in the last 60 s; 0 waiting in the spool; "
        "since start 240 uploaded, 0 dropped by strategy, 2 failed"
    )


def test_after_an_idle_hour_the_next_work_is_reported_a_minute_later_for_that_minute_only():
    clock = FakeClock()
    work = summary_with(clock, dropped=1)
    work.due(None)
    clock.now += 60
    assert (
        work.due(None)
        == "work summary: 0 uploaded, 1 dropped by strategy, 0 failed in the last 60 s; since start 0 uploaded, 1 dropped by strategy, 0 failed"
    )
    clock.now += 3600
    assert work.due(None) is None
    count(work, uploaded=2)
    assert work.due(None) is None
    clock.now += 60
    assert (
        work.due(None)
        == "work summary: 2 uploaded, 0 dropped by strategy, 0 failed in the last 60 s; since start 2 uploaded, 1 dropped by strategy, 0 failed"
    )


def test_samples_piling_up_in_the_spool_without_statuses_are_work_too_and_a_steady_spool_is_not():
    clock = FakeClock()
    work = WorkSummary(clock)
    assert work.due(5) is None
    clock.now += 60
    assert work.due(40) == (
        "work summary: 0 uploaded, 0 dropped by strategy, 0 failed in the last 60 s; 40 waiting in the spool; "
        "since start 0 uploaded, 0 dropped by strategy, 0 failed"
    )
    for _ in range(10):
        clock.now += 60
        assert work.due(40) is None, "S3 is still unreachable and nothing arrives: quiet"


def test_the_stop_line_counts_everything_since_the_start_even_right_after_a_line():
    clock = FakeClock()
    work = summary_with(clock, uploaded=3, dropped=5)
    work.due(0)
    clock.now += 60
    assert work.due(0) is not None
    count(work, uploaded=1, failed=2)
    assert work.final(4) == "work summary at stop: 4 uploaded, 5 dropped by strategy, 2 failed since start; 4 waiting in the spool"
    assert WorkSummary(clock).final(None) == "work summary at stop: 0 uploaded, 0 dropped by strategy, 0 failed since start"


def test_every_status_the_component_publishes_is_counted_by_its_kind():
    class Bus:
        def publish_iot_core(self, topic: str, message: dict[str, Any]) -> Future[Any]:
            return Future()

        publish_local = publish_iot_core

    clock = FakeClock()
    work = WorkSummary(clock)
    config = parse_config({"FeedbackConfigurationMap": {"Camera": {"s3-bucket-name": "bucket", "content-type": "text/plain"}}})
    publisher = IpcPublisher(Bus(), lambda: config, work)  # type: ignore[arg-type]
    publisher.status(messages.status_success("a", {}))
    publisher.status(messages.status_dropped("b"))
    publisher.status(messages.status_dropped("c"))
    publisher.status(messages.status_fail("d", messages.QUEUE_FULL, "full"))
    publisher.status(messages.status_fail("e", messages.EXPIRED, "expired"))
    publisher.prediction({"source-ref": "s3://bucket/key"})
    assert work.final(None) == "work summary at stop: 1 uploaded, 2 dropped by strategy, 2 failed since start"
