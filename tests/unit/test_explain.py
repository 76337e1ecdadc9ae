"""What `local run` / `local deploy` add to a failed deployment's cause, read from the component's log."""

from __future__ import annotations

from pathlib import Path

from greengrass_local.deployment.logs import format_line
from greengrass_local.tools.explain import component_reasons, failure_lines

CONTEXT = {"scriptName": "services.test.App.lifecycle.Run", "serviceName": "test.App", "currentState": "RUNNING"}


def _log(path: Path, *lines: tuple[str, str, str]) -> Path:
    path.write_text("".join(format_line(level, "Copier", "test.App", event, text, CONTEXT) + "\n" for level, event, text in lines))
    return path


def test_error_lines_win_over_stderr_and_repeats_count_once(tmp_path):
    log = _log(
        tmp_path / "test.App.log",
        ("INFO", "stdout", "INFO my.app: starting"),
        ("WARN", "stderr", "a warning on stderr"),
        ("INFO", "stdout", "ERROR my.app: bad bucket. {really}"),
        ("INFO", "stdout", "ERROR my.app: bad region"),
        ("INFO", "stdout", "ERROR my.app: bad bucket. {really}"),
    )
    assert component_reasons(log) == ["bad region", "bad bucket. {really}"]


def test_exceptions_on_stderr_then_any_stderr_then_nothing(tmp_path):
    traceback = _log(
        tmp_path / "a.log",
        ("WARN", "stderr", "Traceback (most recent call last):"),
        ("WARN", "stderr", '  File "main.py", line 1, in <module>'),
        ("WARN", "stderr", "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)"),
    )
    assert component_reasons(traceback) == ["json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)"]
    plain = _log(tmp_path / "b.log", ("INFO", "stdout", "hello"), ("WARN", "stderr", "no model"))
    assert component_reasons(plain) == ["no model"]
    assert component_reasons(_log(tmp_path / "c.log", ("INFO", "stdout", "hello"))) == []
    assert component_reasons(tmp_path / "missing.log") == []


def test_only_the_last_three_reasons(tmp_path):
    log = _log(tmp_path / "test.App.log", *[("ERROR", "stdout", f"problem {n}") for n in range(5)])
    assert component_reasons(log) == ["problem 2", "problem 3", "problem 4"]


def test_causes_that_say_it_all_get_nothing_added(tmp_path):
    assert failure_lines("Components reported that their to-be-deployed configuration is invalid", tmp_path, lambda name: ["1.0.0"]) == []
    assert failure_lines("Recipe directory /x does not exist", tmp_path, lambda name: ["1.0.0"]) == []
