"""`mlfeedback local run` and `mlfeedback local deploy` as a user runs them: separate processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from greengrass_local.lifecycle import State
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
    for run in started:
        if run.process.poll() is None:
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
