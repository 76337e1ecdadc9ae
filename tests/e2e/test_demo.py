"""`mlfeedback demo`, the README's main command, as a user runs it."""

from __future__ import annotations

from support.cli import run_cli


def test_the_demo_runs_the_whole_loop_and_reports_it():
    result = run_cli("demo", timeout=180)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "community.greengrass.MLFeedback 1.0.0: RUNNING" in out
    assert "messages: 40 on feedback/message/status" in out
    assert "MissingBucket    every sample                    2        0       0      2" in out
    assert "NoSuchBucket: [RequestId: " in out
    assert "ConfigId 'UnknownConfig' is not in the FeedbackConfigurationMap" in out
    assert '"source-ref": "s3://demo-' in out
