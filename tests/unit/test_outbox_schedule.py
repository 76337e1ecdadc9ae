"""The outbox's decisions (pure): backoff, order, one probe while S3 is unreachable, all at once when it is back, expiry."""

from __future__ import annotations

import pytest

from ml_feedback.outbox.schedule import Backlog, backoff_seconds


@pytest.mark.parametrize(
    ("failures", "draw", "expected"),
    [
        (1, 0.0, 1.0),  # never less than a second
        (1, 0.999, 1.0),
        (2, 0.0, 1.0),
        (2, 1.0, 2.0),
        (3, 0.0, 2.0),
        (3, 0.5, 3.0),
        (4, 1.0, 8.0),
        (10, 0.0, 15.0),  # capped at MaxRetryIntervalSeconds (30), jittered into [15, 30]
        (10, 1.0, 30.0),
        (200, 0.5, 22.5),  # no overflow after a week of failures
    ],
)
def test_backoff_doubles_from_1_s_with_jitter_up_to_the_cap(failures, draw, expected):
    assert backoff_seconds(failures, 30.0, draw) == pytest.approx(expected)


def backlog_of(*ids: str) -> Backlog:
    backlog = Backlog()
    for n, entry_id in enumerate(ids):
        backlog.add(entry_id, 100, created=1000.0 + n)
    return backlog


def test_while_s3_answers_samples_go_oldest_first_each_once():
    backlog = backlog_of("a", "b", "c")
    taken = [backlog.take(0.0), backlog.take(0.0), backlog.take(0.0), backlog.take(0.0)]
    assert [entry.entry_id if entry else None for entry in taken] == ["a", "b", "c", None]
    assert backlog.in_flight == 3
    assert backlog.answered("b") is False
    assert len(backlog) == 2 and backlog.bytes == 200


def test_a_retryable_failure_makes_s3_unreachable_and_only_one_probe_runs_at_the_backoff():
    backlog = backlog_of("a", "b", "c", "d")
    a, b = backlog.take(0.0), backlog.take(0.0)
    assert backlog.failed("a", now=10.0, max_interval=30.0, draw=0.0) is True  # the outage starts
    assert backlog.failed("b", now=10.1, max_interval=30.0, draw=1.0) is False  # already known
    assert backlog.unreachable and backlog.in_flight == 0
    assert backlog.take(10.5) is None, "nothing before the probe time"
    probe_at = backlog.next_due()
    assert probe_at == pytest.approx(10.1 + 2.0)
    probe = backlog.take(probe_at)
    assert probe is not None and probe.entry_id == "a", "the oldest waiting sample probes"
    assert backlog.take(probe_at) is None, "one probe at a time, however many samples wait"
    assert backlog.next_due() is None
    assert a and b


def test_the_first_success_after_failures_makes_every_waiting_sample_due_at_once():
    backlog = backlog_of("a", "b", "c")
    backlog.take(0.0)
    backlog.failed("a", now=0.0, max_interval=30.0, draw=1.0)
    backlog.add("d", 100, created=2000.0)  # arrives during the outage
    probe = backlog.take(backlog.next_due() or 0.0)
    assert probe is not None and probe.entry_id == "a"
    assert backlog.answered("a") is True
    assert not backlog.unreachable
    now = 1.1  # well before any sample's own backoff would end
    assert [backlog.take(now).entry_id for _ in range(3)] == ["b", "c", "d"]


def test_a_permanent_error_ends_the_outage_too_the_link_works():
    backlog = backlog_of("a", "b")
    backlog.take(0.0)
    backlog.failed("a", now=0.0, max_interval=30.0, draw=0.0)
    probe = backlog.take(5.0)
    assert probe is not None
    backlog.answered(probe.entry_id)
    assert not backlog.unreachable
    assert backlog.take(5.0).entry_id == "b"


def test_expiry_takes_the_oldest_idle_samples_past_their_time_to_live():
    backlog = backlog_of("a", "b", "c")  # created 1000, 1001, 1002
    backlog.take(0.0)  # "a" is in flight: it is judged when its attempt ends
    assert backlog.expired(wall_now=1007.5, time_to_live=0) == []
    gone = backlog.expired(wall_now=1006.5, time_to_live=5)
    assert [entry.entry_id for entry in gone] == ["b"]
    assert "b" not in backlog and "a" in backlog and "c" in backlog


def test_an_interrupted_attempt_leaves_the_sample_waiting_first_in_line():
    backlog = backlog_of("a", "b")
    backlog.take(0.0)
    backlog.interrupted("a")
    assert backlog.in_flight == 0
    assert backlog.take(0.0).entry_id == "a"


def test_probe_now_brings_the_probe_forward_only_while_s3_is_unreachable_and_no_probe_runs():
    backlog = backlog_of("a", "b")
    backlog.take(0.0)
    backlog.failed("a", now=0.0, max_interval=30.0, draw=1.0)  # next probe at 1.0
    assert backlog.take(0.5) is None
    backlog.probe_now(0.5)
    probe = backlog.take(0.5)
    assert probe is not None and probe.entry_id == "a"
    backlog.probe_now(0.6)
    assert backlog.take(0.6) is None, "one probe at a time still"
