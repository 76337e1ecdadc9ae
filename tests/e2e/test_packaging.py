"""`mlfeedback pack`, then `mlfeedback local run` from the packed artifact, twice on one root."""

from __future__ import annotations

import json
import subprocess
import zipfile

from support.cli import local_args, mlfeedback, run_cli
from support.feedback import COMPONENT, REPO
from support.harness import component_environment


def run_until_running_then_stop(root, artifacts) -> str:
    command = mlfeedback(*local_args("run", root, REPO / "recipes", artifacts, "--merge", f"{COMPONENT}=1.0.0"))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=component_environment())
    try:
        output = ""
        while "SUCCEEDED" not in output and "FAILED" not in output:
            line = process.stdout.readline()
            if not line:
                break
            output += line
        process.terminate()
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    assert ": SUCCEEDED" in output, output + process.stderr.read()
    assert process.returncode == 0
    return (root / "logs" / f"{COMPONENT}.log").read_text()


def test_pack_then_local_run_installs_once_and_reuses_the_environment(short_tmp):
    artifacts = short_tmp / "artifacts"
    packed = run_cli("pack", "--project", str(REPO), "--artifact-dir", str(artifacts))
    assert packed.returncode == 0, packed.stderr
    archive = artifacts / COMPONENT / "1.0.0" / f"{COMPONENT}.zip"
    assert packed.stdout.strip() == str(archive)
    with zipfile.ZipFile(archive) as bundle:
        assert "component/ml_feedback/__main__.py" in bundle.namelist()

    root = short_tmp / "root"
    first = run_until_running_then_stop(root, artifacts)
    assert "it has every runtime dependency" in first
    state = json.loads((root / "work" / COMPONENT / "environment.json").read_text())
    assert (root / "work" / COMPONENT / "python").read_text() == f'#!/bin/sh\nexec "{state["python"]}" "$@"\n'

    second = run_until_running_then_stop(root, artifacts)[len(first) :]
    assert f"environment up to date: {state['python']}" in second
    assert "it has every runtime dependency" not in second
