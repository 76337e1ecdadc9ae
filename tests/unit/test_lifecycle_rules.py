from __future__ import annotations

import pytest

from greengrass_local.deployment.lifecycle import ErrorCounter, State, StepError, parse_step, should_skip


def test_step_forms_and_default_timeouts():
    lifecycle = {"Install": "pip install x", "run": {"Script": "go", "Timeout": 5, "Setenv": {"A": 1}, "skipif": "onpath sh"}}
    install = parse_step(lifecycle, "install")
    assert (install.script, install.timeout) == ("pip install x", 120.0)
    run = parse_step(lifecycle, "run")
    assert (run.script, run.timeout, run.setenv, run.skipif) == ("go", 5.0, {"A": "1"}, "onpath sh")
    assert parse_step(lifecycle, "shutdown") is None
    with pytest.raises(StepError, match="Missing script"):
        parse_step({"Run": {"Timeout": 1}}, "run")


def test_skipif(tmp_path):
    assert should_skip("onpath sh")
    assert not should_skip("onpath definitely-not-a-command-here")
    assert should_skip(f"exists {tmp_path}")
    assert not should_skip(f"!exists {tmp_path}")
    with pytest.raises(StepError, match="Invalid format for skipif"):
        should_skip("whenever")


def test_third_error_in_a_row_from_one_state_breaks_the_component():
    counter = ErrorCounter(reset_seconds=3600)
    assert not counter.record_error(State.RUNNING, 0)
    assert not counter.record_error(State.STARTING, 1)
    assert not counter.record_error(State.RUNNING, 2)
    assert counter.record_error(State.RUNNING, 3)


def test_errors_an_hour_apart_or_after_a_success_start_over():
    counter = ErrorCounter(reset_seconds=3600)
    counter.record_error(State.NEW, 0)
    counter.record_error(State.NEW, 10)
    assert not counter.record_error(State.NEW, 10 + 3600)
    counter.record_success(State.NEW)
    assert not counter.record_error(State.NEW, 7200)
