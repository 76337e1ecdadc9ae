"""`mlfeedback local run` and `mlfeedback local deploy` as a user runs them: separate processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from greengrass_local.deployment.lifecycle import DEFAULT_TIMEOUTS, State
from greengrass_local.deployment.runner import KILL_GRACE_SECONDS
from support.cli import local_args, mlfeedback, run_cli
from support.harness import Project, component_environment


class LocalRun:
    """`mlfeedback local run` in the background, read line by line."""

    def __init__(self, root: Path, project: Project, merge: str, *extra: str) -> None:
        self.root = root
        command = mlfeedback(*local_args("run", root, project.recipes, project.artifacts, "--merge", merge, *extra))
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=component_environment())
        self.lines: list[str] = []

    def wait_for_line(self, text: str, timeout: float = 30) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                break
            self.lines.append(line)
            if text in line:
                return line
        raise AssertionError(
            f"{text!r} never printed; got {self.lines} / {self.process.stderr.read() if self.process.poll() is not None else ''}"
        )

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


@pytest.fixture
def local_run(short_tmp) -> Iterator[list[LocalRun]]:
    started: list[LocalRun] = []
    yield started
    for run in started:  # SIGTERM first: a SIGKILLed emulator would leave its components running
        if run.process.poll() is None:
            run.process.send_signal(signal.SIGTERM)
            try:
                run.process.wait(30)
            except subprocess.TimeoutExpired:
                run.process.kill()
                run.process.wait(10)


def test_until_finished_exits_with_the_outcome_of_the_components_run(short_tmp, project):
    project.component("test.Job", lifecycle={"Run": "echo working"})
    project.component("test.Fail", lifecycle={"Run": "echo failing >&2; exit 3"})
    ok = run_cli(
        *local_args("run", short_tmp / "a", project.recipes, project.artifacts, "--merge", "test.Job=1.0.0", "--until-finished", "test.Job")
    )
    assert ok.returncode == 0, ok.stderr
    assert "SUCCEEDED" in ok.stdout
    assert "stdout. working." in (short_tmp / "a" / "logs" / "test.Job.log").read_text()

    failed = run_cli(
        *local_args(
            "run", short_tmp / "b", project.recipes, project.artifacts, "--merge", "test.Fail=1.0.0", "--until-finished", "test.Fail"
        )
    )
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1].startswith("mlfeedback: test.Fail did not finish successfully")
    assert "stderr. failing." in (short_tmp / "b" / "logs" / "test.Fail.log").read_text()


def test_sigterm_shuts_every_component_down_then_exits(short_tmp, project, local_run):
    project.component("test.Daemon", lifecycle={"Run": "echo $$ > pid; exec sleep 600", "Shutdown": "echo clean > shutdown-ran"})
    run = LocalRun(short_tmp / "root", project, "test.Daemon=1.0.0")
    local_run.append(run)
    run.wait_for_line("SUCCEEDED")
    work = short_tmp / "root" / "work" / "test.Daemon"
    pid = int((work / "pid").read_text())
    assert run.stop() == 0
    assert (work / "shutdown-ran").read_text() == "clean\n"
    assert not Path(f"/proc/{pid}").exists()
    assert "Shutdown completed." in (short_tmp / "root" / "logs" / "greengrass.log").read_text()


WATCHER = """
import threading
from ipc_probe import client, save

c = client()
def changed(event):
    save(config=c.get_configuration().value)
c.subscribe_to_configuration_update(on_stream_event=changed)
c.update_state(state="RUNNING")
save(config=c.get_configuration().value)
threading.Event().wait()
"""


def test_local_deploy_adds_reconfigures_and_removes_components(short_tmp, project, local_run):
    project.component(
        "test.Base",
        lifecycle={"Startup": "python3 -u {artifacts:path}/main.py"},
        configuration={"level": "info", "keep": {"a": 1}},
        script=WATCHER,
    )
    project.component("test.Extra", lifecycle={"Run": "exec sleep 600"})
    root = short_tmp / "root"
    run = LocalRun(root, project, "test.Base=1.0.0")
    local_run.append(run)
    run.wait_for_line("SUCCEEDED")
    results = root / "work" / "test.Base" / "results.json"

    added = run_cli(*local_args("deploy", root, project.recipes, project.artifacts, "--merge", "test.Extra=1.0.0"))
    assert added.returncode == 0, added.stderr
    assert added.stdout.splitlines()[-1].endswith(": SUCCEEDED")

    update = json.dumps({"test.Base": {"MERGE": {"level": "debug", "keep": {"b": 2}}}})
    merged = run_cli("local", "deploy", "--root", str(root), "--merge", "test.Base=1.0.0", "--update-config", update)
    assert merged.returncode == 0, merged.stderr
    _wait(lambda: json.loads(results.read_text())["config"].get("level") == "debug")
    assert json.loads(results.read_text())["config"] == {"level": "debug", "keep": {"a": 1, "b": 2.0}}

    reset_file = short_tmp / "reset.json"
    reset_file.write_text(json.dumps({"test.Base": {"RESET": ["/keep"]}}))
    reset = run_cli("local", "deploy", "--root", str(root), "--update-config", str(reset_file))
    assert reset.returncode == 0, reset.stderr
    _wait(lambda: json.loads(results.read_text())["config"].get("keep") == {"a": 1})
    assert json.loads(results.read_text())["config"] == {"level": "debug", "keep": {"a": 1}}

    removed = run_cli("local", "deploy", "--root", str(root), "--remove", "test.Extra")
    assert removed.returncode == 0, removed.stderr

    listed = _list_deployments(root)
    assert [d["status"] for d in listed] == ["SUCCEEDED"] * 5
    assert all("deploymentStatusDetails" not in d for d in listed)
    assert run.stop() == 0
    assert (
        "service-set-state. {serviceName=test.Extra, currentState=STOPPING, newState=FINISHED}"
        in (root / "logs" / "greengrass.log").read_text()
    )


def test_local_deploy_reports_a_failed_deployment(short_tmp, project, local_run):
    project.component("test.Base", lifecycle={"Run": "exec sleep 600"})
    root = short_tmp / "root"
    run = LocalRun(root, project, "test.Base=1.0.0")
    local_run.append(run)
    run.wait_for_line("SUCCEEDED")
    missing = run_cli("local", "deploy", "--root", str(root), "--merge", "test.Nowhere=1.0.0")
    assert missing.returncode == 2
    assert missing.stderr.startswith(
        "mlfeedback: deployment failed: Device is configured to run offline and no local component version satisfies"
    )


def test_local_deploy_without_a_running_nucleus_says_so(short_tmp):
    result = run_cli("local", "deploy", "--root", str(short_tmp / "nothing"), "--merge", "a=1.0.0")
    assert result.returncode == 2
    assert result.stderr.startswith("mlfeedback: no local nucleus is running on")


def _list_deployments(root: Path) -> list[dict[str, object]]:
    from awsiot.greengrasscoreipc import connect
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

    info = json.loads((root / "cli_ipc_info" / "shared_config").read_text())
    client = GreengrassCoreIPCClientV2(client=connect(ipc_socket=info["socket_path"], authtoken=info["cli_auth_token"]))
    try:
        return [d._to_payload() for d in client.list_local_deployments().local_deployments]
    finally:
        client.close()


def _wait(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (OSError, ValueError, KeyError):
            pass
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


DEPLOYER = """
import time
from ipc_probe import client, outcome, save

c = client()
created = outcome("create", lambda: c.create_local_deployment(root_component_versions_to_add={"test.Added": "1.0.0"}))
status = None
for _ in range(300):
    status = c.get_local_deployment_status(deployment_id=created.deployment_id).deployment
    if status.status in ("SUCCEEDED", "FAILED"):
        break
    time.sleep(0.05)
outcome("status", lambda: status)
outcome("bad_id", lambda: c.get_local_deployment_status(deployment_id="not-a-uuid"))
outcome("unknown_id", lambda: c.get_local_deployment_status(deployment_id="00000000-0000-0000-0000-000000000000"))
outcome("list", lambda: len(c.list_local_deployments().local_deployments))
save()
"""


def test_a_component_with_a_cli_policy_deploys_through_ipc(nucleus, project):
    project.component("test.Added", lifecycle={"Run": "echo added"})
    project.component(
        "test.NoPolicy",
        script="""
        from ipc_probe import client, outcome, save
        outcome("create", lambda: client().create_local_deployment(root_component_versions_to_add={"test.Added": "1.0.0"}))
        save()
    """,
    )
    path = project.component("test.Deployer", script=DEPLOYER)
    cli_policy = (
        "    accessControl:\n      aws.greengrass.Cli:\n        test.Deployer:cli:1:\n          operations:\n"
        "          - aws.greengrass#CreateLocalDeployment\n          - aws.greengrass#GetLocalDeploymentStatus\n"
        "          - aws.greengrass#ListLocalDeployments\n          resources:\n          - '*'\n"
    )
    path.write_text(path.read_text().replace("  DefaultConfiguration: {}\n", "  DefaultConfiguration:\n" + cli_policy))
    assert nucleus.deploy(project, merge={"test.Deployer": "1.0.0", "test.NoPolicy": "1.0.0"}).status == "SUCCEEDED"

    r = nucleus.results("test.Deployer")
    assert r["create"][0] == "ok"
    status = r["status"][1]
    assert status["status"] == "SUCCEEDED"
    assert status["deploymentStatusDetails"] == {"detailedDeploymentStatus": "SUCCESSFUL"}
    assert status["deploymentId"] == r["create"][1]["deploymentId"]
    assert len(status["createdOn"].split()) == 3 and status["createdOn"].endswith(" UTC")  # dd-MM-uuuu HH:mm:ss z
    assert r["bad_id"] == ["InvalidArgumentsError", "Invalid deploymentId format received. DeploymentId is a UUID"]
    assert r["unknown_id"] == ["ResourceNotFoundError", "Cannot find deployment"]
    assert r["list"] == ["ok", 2]
    assert nucleus.wait_for_state("test.Added", State.FINISHED) is State.FINISHED
    assert nucleus.results("test.NoPolicy")["create"] == [
        "UnauthorizedError",
        "Principal test.NoPolicy is not authorized to perform aws.greengrass.Cli:aws.greengrass#CreateLocalDeployment on resource *",
    ]


@pytest.mark.broker
def test_local_run_with_mqtt_broker_bridges_iot_core(short_tmp, local_run):
    from support.mqtt import Mosquitto, PlainMqttClient

    broker = Mosquitto(short_tmp)
    try:
        cloud = PlainMqttClient(broker.port)
        cloud.subscribe("hello/#")
        examples = Path(__file__).resolve().parents[2] / "examples" / "hello-ipc"
        result = run_cli(
            *local_args("run", short_tmp / "root", examples / "recipes", examples / "artifacts"),
            "--merge", "com.example.HelloPublisher=1.0.0", "--mqtt-broker", broker.address, "--until-finished", "com.example.HelloPublisher",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert cloud.wait_for(1) == [("hello/cloud", b'{"greeting": "hello cloud"}')]
        cloud.close()
    finally:
        broker.stop()


def test_an_update_config_that_does_nothing_is_warned_about_with_what_was_meant(short_tmp, project, local_run):
    """greengrass-cli and the nucleus pass over these without a word; the user then believes the setting applied."""
    project.component("test.Job", lifecycle={"Run": "echo working"}, configuration={"level": "info"})
    typo = json.dumps({"test.Job": {"MERG": {"level": "debug"}}, "test.Jbo": {"MERGE": {"level": "debug"}}})
    ran = run_cli(
        *local_args(
            "run",
            short_tmp / "a",
            project.recipes,
            project.artifacts,
            "--merge",
            "test.Job=1.0.0",
            "--update-config",
            typo,
            "--until-finished",
            "test.Job",
        )
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr.splitlines() == [
        "mlfeedback: warning: --update-config for test.Job: MERG is not MERGE or RESET and does nothing; did you mean MERGE?",
        "mlfeedback: warning: --update-config names test.Jbo, which is not in the deployment; did you mean test.Job?",
    ]

    project.component("test.Base", lifecycle={"Run": "exec sleep 600"})
    root = short_tmp / "root"
    run = LocalRun(root, project, "test.Base=1.0.0")
    local_run.append(run)
    run.wait_for_line("SUCCEEDED")
    deployed = run_cli("local", "deploy", "--root", str(root), "--update-config", json.dumps({"test.Base": {"RESTE": ["/level"]}}))
    assert deployed.returncode == 0, deployed.stderr
    assert deployed.stderr.splitlines() == [
        "mlfeedback: warning: --update-config for test.Base: RESTE is not MERGE or RESET and does nothing; did you mean RESET?"
    ]


def test_config_check_answers_offline_as_a_deployment_would(short_tmp):
    repo = Path(__file__).resolve().parents[2]
    example = run_cli("config", "check", str(repo / "examples" / "feedback-client" / "v1-connector-parameters.json"))
    assert example.returncode == 0, example.stderr
    assert example.stdout.startswith("valid: ") and example.stderr == ""

    document = short_tmp / "typo.json"
    document.write_text(json.dumps({"community.greengrass.MLFeedback": {"MERG": {}, "MERGE": {"RequestLimt": "5", "UploadWorkers": 0}}}))
    typo = run_cli("config", "check", str(document))
    assert typo.returncode == 1
    assert typo.stderr.splitlines() == [
        "mlfeedback: warning: --update-config for community.greengrass.MLFeedback: MERG is not MERGE or RESET and does nothing; did you mean MERGE?",
        "mlfeedback: invalid configuration: RequestLimt: unknown key; did you mean RequestLimit?",
        "mlfeedback: invalid configuration: UploadWorkers: must be a whole number from 1 to 64, got 0",
    ]
    plain = run_cli("config", "check", '{"RequestLimit": "5"}')
    assert (plain.returncode, plain.stdout.strip()) == (0, "valid: 0 feedback configuration(s), RequestLimit 5, 0 inference service(s)")


def test_a_broken_component_fails_the_deployment_with_its_own_error_and_its_log(short_tmp, project):
    """Before, the message was only "in broken state after deployment" and the reason sat in a log it did not name."""
    project.component(
        "test.Broken",
        lifecycle={"Run": "echo 'INFO my.app: starting'; echo 'ERROR my.app: bucket Not_A_Bucket is not a bucket name'; exit 1"},
    )
    project.component("test.Crash", script="raise ValueError('model file /opt/model.bin is missing')")
    root = short_tmp / "a"
    broken = run_cli(*local_args("run", root, project.recipes, project.artifacts, "--merge", "test.Broken=1.0.0"))
    assert broken.returncode == 1
    assert broken.stderr.splitlines() == [
        "mlfeedback: deployment failed: Service test.Broken in broken state after deployment",
        "mlfeedback: test.Broken: bucket Not_A_Bucket is not a bucket name",
        f"mlfeedback: test.Broken's log: {root.resolve() / 'logs' / 'test.Broken.log'}",
    ]
    assert broken.stdout.splitlines()[-1].endswith(": FAILED")

    crash = run_cli(*local_args("run", short_tmp / "b", project.recipes, project.artifacts, "--merge", "test.Crash=1.0.0"))
    assert crash.returncode == 1
    assert crash.stderr.splitlines()[1:] == [
        "mlfeedback: test.Crash: ValueError: model file /opt/model.bin is missing",
        f"mlfeedback: test.Crash's log: {(short_tmp / 'b').resolve() / 'logs' / 'test.Crash.log'}",
    ]


def test_a_version_that_is_not_there_lists_the_versions_that_are(short_tmp, project, local_run):
    project.component("test.Base", lifecycle={"Run": "exec sleep 600"})
    root = short_tmp / "root"
    run = LocalRun(root, project, "test.Base=1.0.0")
    local_run.append(run)
    run.wait_for_line("SUCCEEDED")
    missing = run_cli("local", "deploy", "--root", str(root), "--merge", "test.Base=1.0.1")
    assert missing.returncode == 2
    nucleus_cause = (  # the nucleus's own text, word for word (IPC clients read it); the next line says what to do
        "mlfeedback: deployment failed: Device is configured to run offline and no local component version satisfies the "
        "requirements. Check whether the version constraints conflict and that the component exists in your AWS account with a "
        "version that satisfies all constraints. Component {} version constraints: LOCAL_DEPLOYMENT requires =1.0.{}."
    )
    assert missing.stderr.splitlines() == [
        nucleus_cause.format("test.Base", 1),
        "mlfeedback: test.Base: no stored version satisfies LOCAL_DEPLOYMENT requires =1.0.1; this device has 1.0.0. "
        "Deploy one of them (--merge test.Base=1.0.0) or add the recipe of the version you want with --recipe-dir",
    ]
    nowhere = run_cli("local", "deploy", "--root", str(root), "--merge", "test.Nowhere=1.0.0")
    assert nowhere.returncode == 2
    assert nowhere.stderr.splitlines() == [
        nucleus_cause.format("test.Nowhere", 0),
        "mlfeedback: test.Nowhere: no recipe of it on this device; add one with --recipe-dir (a folder holding its recipe file)",
    ]


def test_local_run_reports_every_deployment_including_later_ones(short_tmp, project, local_run):
    """Before, later deployments (greengrass-cli's or a component's) showed only in greengrass.log."""
    project.component("test.Base", lifecycle={"Run": "exec sleep 600"})
    project.component("test.Broken", lifecycle={"Run": "exit 1"})
    root = short_tmp / "root"
    run = LocalRun(root, project, "test.Base=1.0.0")
    local_run.append(run)
    first = run.wait_for_line("SUCCEEDED")
    broken = run_cli("local", "deploy", "--root", str(root), "--merge", "test.Broken=1.0.0")
    assert broken.returncode == 2
    deployment_id = broken.stdout.splitlines()[0].rsplit(" ", 1)[1]
    assert run.wait_for_line(deployment_id) == f"{deployment_id}: FAILED\n"
    again = run_cli("local", "deploy", "--root", str(root), "--remove", "test.Broken")
    assert again.returncode == 0, again.stderr
    removal_id = again.stdout.splitlines()[0].rsplit(" ", 1)[1]
    assert run.wait_for_line(removal_id) == f"{removal_id}: SUCCEEDED\n"
    assert first != f"{removal_id}: SUCCEEDED\n"
    assert run.stop() == 0
    assert run.process.stderr is not None
    assert run.process.stderr.read().splitlines()[:2] == [
        "mlfeedback: deployment failed: Service test.Broken in broken state after deployment",
        "mlfeedback: test.Broken logged no error before it broke",
    ]


def test_until_finished_with_a_name_not_deployed_ends_at_once_with_the_closest_name(short_tmp, project):
    """Before, a typo here waited forever."""
    project.component("test.Job", lifecycle={"Run": "exec sleep 600"})
    typo = run_cli(
        *local_args(
            "run", short_tmp / "a", project.recipes, project.artifacts, "--merge", "test.Job=1.0.0", "--until-finished", "test.Jbo"
        ),
        timeout=60,
    )
    assert typo.returncode == 2
    assert typo.stderr.splitlines() == [
        "mlfeedback: --until-finished test.Jbo: the deployment has no such component; did you mean test.Job?"
    ]


def test_local_deploy_to_a_nucleus_that_stopped_says_to_start_one(short_tmp, project, local_run):
    """Before: `cannot connect ...: 44 (AWS_ERROR_FILE_INVALID_PATH): Invalid file path.`"""
    project.component("test.Base", lifecycle={"Run": "exec sleep 600"})
    root = short_tmp / "root"
    run = LocalRun(root, project, "test.Base=1.0.0")
    local_run.append(run)
    run.wait_for_line("SUCCEEDED")
    assert run.stop() == 0
    stale = run_cli("local", "deploy", "--root", str(root), "--merge", "test.Base=1.0.0")
    assert stale.returncode == 2
    assert stale.stderr.splitlines() == [
        f"mlfeedback: no local nucleus is running on {root}: the one that left {root.resolve() / 'ipc.socket'} has stopped; "
        f"start one with `mlfeedback local run --root {root} ...`"
    ]


def test_local_deploy_warns_about_a_component_not_in_the_deployment(short_tmp, project, local_run):
    project.component("test.Base", lifecycle={"Run": "exec sleep 600"}, configuration={"level": "info"})
    root = short_tmp / "root"
    run = LocalRun(root, project, "test.Base=1.0.0")
    local_run.append(run)
    run.wait_for_line("SUCCEEDED")
    typo = run_cli("local", "deploy", "--root", str(root), "--update-config", json.dumps({"test.Bsae": {"MERGE": {"level": "debug"}}}))
    assert typo.returncode == 0, typo.stderr
    assert typo.stderr.splitlines() == [
        "mlfeedback: warning: --update-config names test.Bsae, which is not in the deployment; did you mean test.Base?"
    ]
    components = _list_components(root)
    assert components == [{"componentName": "test.Base", "version": "1.0.0", "state": "RUNNING", "configuration": {"level": "info"}}]


def _list_components(root: Path) -> list[dict[str, object]]:
    from awsiot.greengrasscoreipc import connect
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

    info = json.loads((root / "cli_ipc_info" / "shared_config").read_text())
    client = GreengrassCoreIPCClientV2(client=connect(ipc_socket=info["socket_path"], authtoken=info["cli_auth_token"]))
    try:
        return [c._to_payload() for c in client.list_components().components]
    finally:
        client.close()


def test_local_deploy_until_finished_waits_for_the_run_to_end(short_tmp, project, local_run):
    project.component("test.Base", lifecycle={"Run": "exec sleep 600"})
    project.component("test.Job", lifecycle={"Run": "sleep 1; echo done"})
    project.component("test.Fail", lifecycle={"Run": "sleep 3; exit 3"})
    root = short_tmp / "root"
    run = LocalRun(root, project, "test.Base=1.0.0")
    local_run.append(run)
    run.wait_for_line("SUCCEEDED")
    job = run_cli("local", "deploy", "--root", str(root), "--merge", "test.Job=1.0.0", "--until-finished", "test.Job")
    assert job.returncode == 0, job.stderr
    assert "stdout. done." in (root / "logs" / "test.Job.log").read_text()
    failed = run_cli("local", "deploy", "--root", str(root), "--merge", "test.Fail=1.0.0", "--until-finished", "test.Fail")
    assert failed.returncode == 1
    assert failed.stderr.splitlines() == [f"mlfeedback: test.Fail did not finish successfully (see {root / 'logs' / 'test.Fail.log'})"]
    typo = run_cli("local", "deploy", "--root", str(root), "--remove", "test.Fail", "--until-finished", "test.Jbo")
    assert typo.returncode == 2
    assert typo.stderr.splitlines() == [
        "mlfeedback: --until-finished test.Jbo: the deployment has no such component; did you mean test.Job?"
    ]


def test_local_deploy_to_a_nucleus_killed_with_sigkill_says_to_start_one(short_tmp, project, local_run):
    """A SIGKILLed emulator leaves its socket file behind: connecting is refused rather than the file missing."""
    project.component("test.Base", lifecycle={"Run": "echo $$ > pid; exec sleep 600"})
    root = short_tmp / "root"
    run = LocalRun(root, project, "test.Base=1.0.0")
    local_run.append(run)
    run.wait_for_line("SUCCEEDED")
    orphan = int((root / "work" / "test.Base" / "pid").read_text())
    try:
        run.process.kill()
        run.process.wait(10)
        assert (root / "ipc.socket").exists()
        stale = run_cli("local", "deploy", "--root", str(root), "--merge", "test.Base=1.0.0")
        assert stale.returncode == 2
        assert stale.stderr.splitlines() == [
            f"mlfeedback: no local nucleus is running on {root}: the one that left {root.resolve() / 'ipc.socket'} has stopped; "
            f"start one with `mlfeedback local run --root {root} ...`"
        ]
    finally:
        os.killpg(orphan, signal.SIGKILL)


def test_a_second_local_run_on_a_root_in_use_is_refused_and_the_first_keeps_serving(short_tmp, project, local_run):
    """Before, the second quietly took the first's socket and token, and both ran the same components' work folders."""
    project.component("test.Base", lifecycle={"Run": "exec sleep 600"})
    root = short_tmp / "root"
    run = LocalRun(root, project, "test.Base=1.0.0")
    local_run.append(run)
    run.wait_for_line("SUCCEEDED")
    second = run_cli(*local_args("run", root, project.recipes, project.artifacts, "--merge", "test.Base=1.0.0"), timeout=60)
    assert second.returncode == 2
    assert second.stderr.splitlines() == [
        f"mlfeedback: another local nucleus is running on {root.resolve()} ({root.resolve() / 'ipc.socket'} answers); stop it first "
        "(Ctrl-C in its terminal) or give this one another --root"
    ]
    assert _list_components(root)[0]["state"] == "RUNNING"


def test_config_check_names_a_misspelt_component(short_tmp):
    typo = run_cli("config", "check", json.dumps({"community.greengrass.MLFeedbak": {"MERGE": {"RequestLimit": "5"}}}))
    assert typo.returncode == 2
    assert typo.stderr.splitlines() == [
        "mlfeedback: warning: --update-config names community.greengrass.MLFeedbak, which is not in the deployment; "
        "did you mean community.greengrass.MLFeedback?",
        "mlfeedback: nothing to check: the document configures no community.greengrass.MLFeedback",
    ]


IPC_DEPLOYER = """
import time
from ipc_probe import client, outcome, save

c = client()
for _ in range(600):  # until the deployment that started this one has finished
    if [d.status for d in c.list_local_deployments().local_deployments] == ["SUCCEEDED"]:
        break
    time.sleep(0.05)
outcome("create", lambda: c.create_local_deployment(root_component_versions_to_add={add}))
save()
"""
IPC_DEPLOYER_POLICY = (
    "    accessControl:\n      aws.greengrass.Cli:\n        test.Deployer:cli:1:\n          operations:\n"
    "          - aws.greengrass#CreateLocalDeployment\n          - aws.greengrass#ListLocalDeployments\n"
    "          resources:\n          - '*'\n"
)
# The longest `local run` may take to stop its components: the Shutdown step's default timeout, then the
# grace before SIGKILL, plus slack for a loaded machine. Before the fix it did not stop at all.
STOP_BOUND_SECONDS = DEFAULT_TIMEOUTS["shutdown"] + KILL_GRACE_SECONDS + 10


def _ipc_deployer_project(project: Project, added: dict[str, dict[str, str]]) -> list[str]:
    """test.Deployer deploys `added` (name -> lifecycle) over IPC once the first deployment finished, then exits.

    test.Keeper runs beside it. Every component writes its pid into its work folder; returns their names.
    """
    project.component("test.Keeper", lifecycle={"Run": "echo $$ > pid; exec sleep 600"})
    for name, lifecycle in added.items():
        project.component(name, lifecycle=lifecycle)
    script = IPC_DEPLOYER.format(add=repr(dict.fromkeys(added, "1.0.0")))
    path = project.component("test.Deployer", script=script, lifecycle={"Run": "echo $$ > pid; exec python3 -u {artifacts:path}/main.py"})
    path.write_text(path.read_text().replace("  DefaultConfiguration: {}\n", "  DefaultConfiguration:\n" + IPC_DEPLOYER_POLICY))
    return ["test.Keeper", "test.Deployer", *added]


def _alive_pids(root: Path, names: list[str]) -> dict[str, int]:
    """The component processes (by the pid each wrote into its work folder) that still exist."""
    alive = {}
    for name in names:
        pid_file = root / "work" / name / "pid"
        if pid_file.exists() and pid_file.read_text().strip():
            pid = int(pid_file.read_text())
            if Path(f"/proc/{pid}").exists():
                alive[name] = pid
    return alive


def _kill_everything(run: LocalRun, names: list[str]) -> None:
    """What a failing test would leave behind: the emulator first (so it starts nothing more), then each component."""
    if run.process.poll() is None:
        run.process.kill()
        run.process.wait(10)
    for pid in _alive_pids(run.root, names).values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def _exit_code(run: LocalRun, timeout: float, failure: str) -> int:
    try:
        return run.process.wait(timeout)
    except subprocess.TimeoutExpired:
        log = (run.root / "logs" / "greengrass.log").read_text()
        raise AssertionError(f"{failure} in {timeout:.0f} s; greengrass.log:\n{log}") from None


def test_until_finished_ends_a_run_whose_component_deployed_over_ipc_and_exited(short_tmp, project, local_run):
    """Before, the component's exit stopped the nucleus mid-deployment and the stop never ended: no exit, processes left."""
    names = _ipc_deployer_project(project, {"test.Added": {"Run": "echo $$ > pid; exec sleep 600"}})
    root = short_tmp / "root"
    run = LocalRun(root, project, "test.Deployer=1.0.0", "--merge", "test.Keeper=1.0.0", "--until-finished", "test.Deployer")
    local_run.append(run)
    try:
        code = _exit_code(run, 60 + STOP_BOUND_SECONDS, "--until-finished did not end the run")
        assert code == 0, run.process.stderr.read() if run.process.stderr else ""
        assert json.loads((root / "work" / "test.Deployer" / "results.json").read_text())["create"][0] == "ok"
        assert _alive_pids(root, names) == {}
        assert "Shutdown completed." in (root / "logs" / "greengrass.log").read_text()
    finally:
        _kill_everything(run, names)


def test_sigterm_stops_every_component_while_a_deployment_made_over_ipc_is_in_progress(short_tmp, project, local_run):
    """The deployment test.Deployer made is IN_PROGRESS at SIGTERM: test.Starting's Startup never reports RUNNING and
    test.Installing's Install runs for ten minutes. Before, the stop waited out that Install (its timeout is 120 s)."""
    added = {"test.Starting": {"Startup": "echo $$ > pid; exec sleep 600"}, "test.Installing": {"Install": "echo $$ > pid; exec sleep 600"}}
    names = _ipc_deployer_project(project, added)
    root = short_tmp / "root"
    run = LocalRun(root, project, "test.Deployer=1.0.0", "--merge", "test.Keeper=1.0.0")
    local_run.append(run)
    try:
        run.wait_for_line("SUCCEEDED")
        _wait(lambda: json.loads((root / "work" / "test.Deployer" / "results.json").read_text())["create"][0] == "ok", 30)
        _wait(lambda: set(_alive_pids(root, names)) == {"test.Keeper", *added}, 30)  # test.Deployer has exited
        run.process.send_signal(signal.SIGTERM)
        code = _exit_code(run, STOP_BOUND_SECONDS, "SIGTERM did not stop the run")
        assert code == 0
        assert _alive_pids(root, names) == {}
        log = (root / "logs" / "greengrass.log").read_text()
        assert "service-set-state. {serviceName=test.Starting, currentState=STARTING, newState=STOPPING}" in log
        assert "Shutdown completed." in log
    finally:
        _kill_everything(run, names)


def test_greengrass_clis_everyday_commands_against_a_running_emulator(short_tmp, project, local_run):
    project.component("test.Base", lifecycle={"Run": "echo serving; exec sleep 600"}, configuration={"level": "info"})
    project.component("test.Broken", lifecycle={"Run": "exit 1"})
    root = short_tmp / "root"
    run = LocalRun(root, project, "test.Base=1.0.0")
    local_run.append(run)
    first_id = run.wait_for_line("SUCCEEDED").split(":")[0]
    cli = lambda *args: run_cli("local", *args, "--root", str(root))  # noqa: E731

    listed = cli("component", "list")
    assert (listed.returncode, listed.stdout) == (
        0,
        'Components currently running in Greengrass:\nComponent Name: test.Base\n    Version: 1.0.0\n    State: RUNNING\n    Configuration: {"level":"info"}\n',
    )
    assert cli("component", "details", "--name", "test.Base").stdout.splitlines()[2] == "    State: RUNNING"
    unknown = cli("component", "details", "-n", "test.Bsae")
    assert (unknown.returncode, unknown.stderr) == (
        2,
        "mlfeedback: ResourceNotFoundError: Component with name test.Bsae not found in Greengrass\n",
    )

    assert cli("component", "stop", "--names", "test.Base").returncode == 0
    _wait(lambda: cli("component", "details", "-n", "test.Base").stdout.splitlines()[2] == "    State: FINISHED")
    assert cli("component", "restart", "-n", "test.Base").returncode == 0
    _wait(lambda: cli("component", "details", "-n", "test.Base").stdout.splitlines()[2] == "    State: RUNNING")

    broken = run_cli("local", "deploy", "--root", str(root), "--merge", "test.Broken=1.0.0")
    broken_id = broken.stdout.splitlines()[0].rsplit(" ", 1)[1]
    deployments = cli("deployment", "list").stdout
    assert [line.split(": ", 1)[1] for line in deployments.splitlines() if line.startswith(("Deployment ID", "Status"))] == [
        first_id,
        "SUCCEEDED",
        broken_id,
        "FAILED",
    ]
    status = cli("deployment", "status", "--deploymentId", broken_id).stdout.splitlines()
    assert status[0] == f"{broken_id}: FAILED" and status[1].startswith("Created on: ")
    assert status[2:] == [
        "Detailed Status: FAILED_ROLLBACK_NOT_REQUESTED",
        "Deployment Error Stack: DEPLOYMENT_FAILURE, COMPONENT_UPDATE_ERROR, COMPONENT_BROKEN",
        "Deployment Error Types: USER_COMPONENT_ERROR",
        "Deployment Failure Cause: Service test.Broken in broken state after deployment",
    ]
    finished = cli("deployment", "cancel", "-i", first_id)
    assert finished.stdout == "Cancellation request is not processed because deployment is already finished\n"

    logs = cli("logs", "test.Base", "--lines", "1")
    assert logs.returncode == 0 and len(logs.stdout.splitlines()) == 1
    assert "stdout. serving." in cli("logs", "test.Base").stdout
    missing = cli("logs", "test.Bas")
    assert (missing.returncode, missing.stderr) == (
        2,
        f"mlfeedback: no log {root / 'logs' / 'test.Bas.log'}; the logs on {root}: greengrass, test.Base, test.Broken\n",
    )


def test_local_run_serves_the_secrets_file_and_names_what_is_wrong_with_one(short_tmp, project):
    project.component("test.Job", lifecycle={"Run": "echo working"})
    secrets = short_tmp / "secrets.json"
    secrets.write_text(json.dumps({"db-password": {"SecretString": "hunter2", "SecretBinary": "aHVudGVyMg=="}}))
    both = run_cli(
        *local_args("run", short_tmp / "a", project.recipes, project.artifacts, "--merge", "test.Job=1.0.0", "--secrets", str(secrets))
    )
    assert (both.returncode, both.stderr) == (
        2,
        "mlfeedback: --secrets: secret db-password: give exactly one of SecretString and SecretBinary\n",
    )
    secrets.write_text(json.dumps({"db-password": "hunter2"}))
    fine = run_cli(
        *local_args(
            "run",
            short_tmp / "b",
            project.recipes,
            project.artifacts,
            "--merge",
            "test.Job=1.0.0",
            "--secrets",
            str(secrets),
            "--until-finished",
            "test.Job",
        )
    )
    assert fine.returncode == 0, fine.stderr


def test_sigterm_ends_a_recover_step_rather_than_waiting_it_out(short_tmp, project, local_run):
    """A Recover step may run 60 s by default; stopping the emulator must not wait for it."""
    project.component("test.Base", lifecycle={"Run": "exec sleep 600"})
    project.component(
        "test.Flaky",
        lifecycle={
            "Run": "sleep 2; exit 1",
            "Recover": {"Script": "echo $$ > recover-pid; echo recovering; exec sleep 600", "Timeout": 300},
        },
    )
    root = short_tmp / "root"
    run = LocalRun(root, project, "test.Base=1.0.0")
    local_run.append(run)
    run.wait_for_line("SUCCEEDED")
    deployed = subprocess.Popen(
        mlfeedback("local", "deploy", "--root", str(root), "--merge", "test.Flaky=1.0.0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        recover = root / "work" / "test.Flaky" / "recover-pid"
        _wait(lambda: recover.exists() and recover.read_text().strip() != "", 30)
        pid = int(recover.read_text())
        assert run.stop() == 0  # within 30 s, where the Recover step alone would hold it 300 s
        assert not Path(f"/proc/{pid}").exists()
    finally:
        deployed.kill()
        deployed.wait(10)
