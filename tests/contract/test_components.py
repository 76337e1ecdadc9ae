"""Component management over IPC with the official client, from component processes.

GetComponentDetails, RestartComponent, StopComponent, ListComponents and
CancelLocalDeployment as greengrass-cli's server answers them
(CLIEventStreamAgent.java); PauseComponent / ResumeComponent and
PutComponentMetric as the nucleus does (LifecycleIPCEventStreamAgent.java,
ComponentMetricIPCEventStreamAgent.java); SubscribeToIoTCoreConnectionStatus
(MqttProxyIPCAgent.java).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from greengrass_local.deployment.lifecycle import State
from support.harness import NucleusThread


def cli_policy(name: str, grants: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "aws.greengrass.Cli": {
            f"{name}:cli:{i}": {"operations": [f"aws.greengrass#{op}"], "resources": r} for i, (op, r) in enumerate(grants.items())
        }
    }


def policy(service: str, name: str, operations: list[str], resources: list[str]) -> dict[str, Any]:
    return {service: {f"{name}:policy": {"operations": [f"aws.greengrass#{op}" for op in operations], "resources": resources}}}


def starts(nucleus: NucleusThread, name: str) -> int:
    path = nucleus.root / "work" / name / "starts"
    return len(path.read_text().splitlines()) if path.exists() else 0


MANAGER = """
import os
from ipc_probe import client, outcome, save, wait_until

c = client()
target = "test.Target"
starts = os.path.join("..", target, "starts")

def state():
    return c.get_component_details(component_name=target).component_details.state

def started():
    return len(open(starts).read().splitlines()) if os.path.exists(starts) else 0

wait_until(lambda: started() == 1)
outcome("details", lambda: c.get_component_details(component_name=target))
outcome("nucleus", lambda: c.get_component_details(component_name="aws.greengrass.Nucleus"))
outcome("empty", lambda: c.get_component_details(component_name=""))
outcome("missing", lambda: c.get_component_details(component_name="test.Missing"))
outcome("list", lambda: [d.component_name for d in c.list_components().components])
outcome("restart_denied", lambda: c.restart_component(component_name="test.Manager"))
outcome("stop_missing", lambda: c.stop_component(component_name="test.Missing"))
outcome("restart_nucleus", lambda: c.restart_component(component_name="aws.greengrass.Nucleus"))
outcome("stop_nucleus", lambda: c.stop_component(component_name="aws.greengrass.Nucleus"))

outcome("stop", lambda: c.stop_component(component_name=target))
save(stopped=wait_until(lambda: state() == "FINISHED"))
outcome("stop_again", lambda: c.stop_component(component_name=target))
outcome("restart", lambda: c.restart_component(component_name=target))
save(restarted=wait_until(lambda: state() == "RUNNING" and started() == 2))
outcome("restart_running", lambda: c.restart_component(component_name=target))
save(restarted_running=wait_until(lambda: state() == "RUNNING" and started() == 3))
save(done=True)
"""


def test_get_details_restart_and_stop_components_as_greengrass_cli_does(nucleus, project):
    project.component(
        "test.Target",
        lifecycle={"Run": "echo started >> starts; exec sleep 600", "Shutdown": "echo stopped >> stops"},
        configuration={"mode": "fast"},
    )
    grants = {
        "GetComponentDetails": ["*"],
        "ListComponents": ["*"],
        "RestartComponent": ["test.Target", "aws.greengrass.Nucleus"],
        "StopComponent": ["test.Target", "test.Missing", "aws.greengrass.Nucleus"],
    }
    project.component(
        "test.Manager",
        script=MANAGER,
        configuration={"accessControl": cli_policy("test.Manager", grants)},
    )
    project.component(
        "test.NoPolicy",
        script="""
        from ipc_probe import client, outcome, save
        c = client()
        outcome("details", lambda: c.get_component_details(component_name="test.Target"))
        outcome("restart", lambda: c.restart_component(component_name="test.Target"))
        outcome("stop", lambda: c.stop_component(component_name="test.Target"))
        outcome("list", lambda: c.list_components())
        outcome("empty", lambda: c.stop_component(component_name=""))
        save()
        """,
    )
    assert nucleus.deploy(project, merge={"test.Target": "1.0.0", "test.Manager": "1.0.0", "test.NoPolicy": "1.0.0"}).status == "SUCCEEDED"
    r = nucleus.results("test.Manager", timeout=60, until=lambda r: r.get("done"))

    assert r["details"] == [
        "ok",
        {"componentDetails": {"componentName": "test.Target", "version": "1.0.0", "state": "RUNNING", "configuration": {"mode": "fast"}}},
    ]
    nucleus_details = r["nucleus"][1]["componentDetails"]
    assert (nucleus_details["componentName"], nucleus_details["version"], nucleus_details["state"]) == (
        "aws.greengrass.Nucleus",
        "2.14.0",
        "RUNNING",
    )
    assert isinstance(nucleus_details["configuration"], dict)
    assert r["empty"] == ["InvalidArgumentsError", "Component name cannot be empty"]
    assert r["missing"] == ["ResourceNotFoundError", "Component with name test.Missing not found in Greengrass"]
    assert r["list"] == ["ok", ["test.Manager", "test.NoPolicy", "test.Target"]]
    assert r["restart_denied"] == [
        "UnauthorizedError",
        "Principal test.Manager is not authorized to perform aws.greengrass.Cli:aws.greengrass#RestartComponent on resource test.Manager",
    ]
    assert r["stop_missing"] == ["ResourceNotFoundError", "Component with name test.Missing not found in Greengrass"]
    assert r["restart_nucleus"] == [
        "ok",
        {"restartStatus": "FAILED", "message": "The local nucleus does not restart its built-in aws.greengrass.Nucleus"},
    ]
    assert r["stop_nucleus"] == [
        "ok",
        {"stopStatus": "FAILED", "message": "The local nucleus does not stop its built-in aws.greengrass.Nucleus"},
    ]

    # StopComponent: Shutdown ran, FINISHED until RestartComponent; a restart of a running one starts it again.
    assert r["stop"] == ["ok", {"stopStatus": "SUCCEEDED"}]
    assert r["stopped"] is True
    assert r["stop_again"] == ["ok", {"stopStatus": "SUCCEEDED"}]
    assert r["restart"] == ["ok", {"restartStatus": "SUCCEEDED"}]
    assert r["restarted"] is True
    assert r["restart_running"] == ["ok", {"restartStatus": "SUCCEEDED"}]
    assert r["restarted_running"] is True
    assert starts(nucleus, "test.Target") == 3
    assert (nucleus.root / "work" / "test.Target" / "stops").read_text().splitlines() == ["stopped", "stopped"]

    denied = nucleus.results("test.NoPolicy")
    for key, operation in (("details", "GetComponentDetails"), ("restart", "RestartComponent"), ("stop", "StopComponent")):
        assert denied[key] == [
            "UnauthorizedError",
            f"Principal test.NoPolicy is not authorized to perform aws.greengrass.Cli:aws.greengrass#{operation} on resource test.Target",
        ]
    assert denied["list"] == [
        "UnauthorizedError",
        "Principal test.NoPolicy is not authorized to perform aws.greengrass.Cli:aws.greengrass#ListComponents on resource *",
    ]
    assert denied["empty"] == ["InvalidArgumentsError", "Component name cannot be empty"]  # checked before authorization

    # greengrass-cli's own token needs no policy (what `mlfeedback local component ...` uses).
    from awsiot.greengrasscoreipc import connect
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

    info = json.loads(nucleus.run(nucleus.nucleus.cli_token_path).read_text())
    cli = GreengrassCoreIPCClientV2(client=connect(ipc_socket=info["socket_path"], authtoken=info["cli_auth_token"]))
    try:
        assert cli.stop_component(component_name="test.Target").stop_status == "SUCCEEDED"
        assert nucleus.wait_for_state("test.Target", State.FINISHED) is State.FINISHED
        assert cli.get_component_details(component_name="test.Target").component_details.state == "FINISHED"
        assert cli.restart_component(component_name="test.Target").restart_status == "SUCCEEDED"
        assert nucleus.wait_for_state("test.Target", State.RUNNING) is State.RUNNING
    finally:
        cli.close()


PAUSER = """
import os
from ipc_probe import client, outcome, save, wait_until

c = client()
pid_file = os.path.join("..", "test.Sleeper", "pid")
wait_until(lambda: os.path.exists(pid_file) and open(pid_file).read().strip())
pid = open(pid_file).read().strip()

def proc_state():
    return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]

outcome("empty", lambda: c.pause_component(component_name=""))
outcome("denied", lambda: c.pause_component(component_name="test.Other"))
outcome("missing", lambda: c.pause_component(component_name="test.Missing"))
outcome("plugin", lambda: c.pause_component(component_name="aws.greengrass.Cli"))
outcome("plugin_resume", lambda: c.resume_component(component_name="aws.greengrass.Cli"))
outcome("not_running", lambda: c.pause_component(component_name="test.Done"))
outcome("resume_not_paused", lambda: c.resume_component(component_name="test.Sleeper"))
outcome("pause", lambda: c.pause_component(component_name="test.Sleeper"))
save(stopped=wait_until(lambda: proc_state() == "T"))
outcome("pause_again", lambda: c.pause_component(component_name="test.Sleeper"))
outcome("details_paused", lambda: c.get_component_details(component_name="test.Sleeper").component_details.state)
outcome("resume", lambda: c.resume_component(component_name="test.Sleeper"))
save(continued=wait_until(lambda: proc_state() in ("S", "R")))
outcome("resume_again", lambda: c.resume_component(component_name="test.Sleeper"))
outcome("pause_to_stay", lambda: c.pause_component(component_name="test.Sleeper"))
save(stopped_again=wait_until(lambda: proc_state() == "T"), done=True)
"""


def test_pause_stops_the_processes_and_resume_continues_them_as_the_nucleus_does(nucleus, project):
    project.component("test.Sleeper", lifecycle={"Run": "echo $$ > pid; exec sleep 600", "Shutdown": "echo clean > shutdown-ran"})
    project.component("test.Done", lifecycle={"Run": "echo done"})
    access = {
        **policy(
            "aws.greengrass.ipc.lifecycle",
            "test.Pauser",
            ["PauseComponent", "ResumeComponent"],
            ["test.Sleeper", "test.Missing", "test.Done", "aws.greengrass.Cli"],
        ),
        **cli_policy("test.Pauser", {"GetComponentDetails": ["*"]}),
    }
    project.component(
        "test.Pauser", script=PAUSER, configuration={"accessControl": access}, dependencies={"test.Sleeper": {}, "test.Done": {}}
    )
    project.component(
        "test.NoPolicy",
        script="""
        from ipc_probe import client, outcome, save
        outcome("pause", lambda: client().pause_component(component_name="test.Sleeper"))
        save()
        """,
    )
    assert nucleus.deploy(project, merge={"test.Pauser": "1.0.0", "test.NoPolicy": "1.0.0"}).status == "SUCCEEDED"
    r = nucleus.results("test.Pauser", timeout=60, until=lambda r: r.get("done"))

    assert r["empty"] == ["InvalidArgumentsError", "Component name is required."]
    assert r["denied"] == [
        "UnauthorizedError",
        "Principal test.Pauser is not authorized to perform aws.greengrass.ipc.lifecycle:aws.greengrass#PauseComponent on resource test.Other",
    ]
    assert r["missing"] == ["ResourceNotFoundError", ""]  # the nucleus sends it without a message
    assert r["plugin"] == ["InvalidArgumentsError", "Only generic components can be paused."]
    assert r["plugin_resume"] == ["InvalidArgumentsError", "Only generic components can be resumed."]
    assert r["not_running"] == ["InvalidArgumentsError", "Component test.Done is not running"]
    assert r["resume_not_paused"] == ["InvalidArgumentsError", "Component test.Sleeper is not paused"]
    assert r["pause"] == ["ok", {}]
    assert r["stopped"] is True
    assert r["pause_again"] == ["ok", {}]
    assert r["details_paused"] == ["ok", "RUNNING"]  # paused is not a lifecycle state
    assert r["resume"] == ["ok", {}]
    assert r["continued"] is True
    assert r["resume_again"] == ["InvalidArgumentsError", "Component test.Sleeper is not paused"]
    assert r["stopped_again"] is True
    assert nucleus.results("test.NoPolicy")["pause"] == [
        "UnauthorizedError",
        "Principal test.NoPolicy is not authorized to perform aws.greengrass.ipc.lifecycle:aws.greengrass#PauseComponent on resource test.Sleeper",
    ]

    # A paused component is resumed before it is shut down: Shutdown runs and SIGTERM ends it at once.
    work = nucleus.root / "work" / "test.Sleeper"
    pid = int((work / "pid").read_text())
    assert nucleus.run(lambda: nucleus.nucleus.components["test.Sleeper"].runner.paused) is True
    began = time.monotonic()
    nucleus.call(nucleus.nucleus.stop_components(["test.Sleeper"]))
    assert time.monotonic() - began < 3  # not the 5 s grace a stopped process would need before SIGKILL
    assert (work / "shutdown-ran").read_text() == "clean\n"
    assert not Path(f"/proc/{pid}").exists()


METRICS = """
from ipc_probe import client, outcome, save
from awsiot.greengrasscoreipc.model import Metric

c = client()
outcome("ok", lambda: c.put_component_metric(metrics=[
    Metric(name="requests", unit="COUNT", value=3),
    Metric(name="latency", unit="SECONDS", value=0.25),
    Metric(name="throughput", unit="BYTES_PER_SECOND", value=0),
]))
outcome("none", lambda: c.put_component_metric())
outcome("empty", lambda: c.put_component_metric(metrics=[]))
outcome("long_name", lambda: c.put_component_metric(metrics=[Metric(name="x" * 33, unit="COUNT", value=1)]))
outcome("negative", lambda: c.put_component_metric(metrics=[Metric(name="requests", unit="COUNT", value=-1)]))
outcome("no_unit", lambda: c.put_component_metric(metrics=[Metric(name="requests", value=1)]))
outcome("no_value", lambda: c.put_component_metric(metrics=[Metric(name="requests", unit="COUNT")]))
outcome("odd_unit", lambda: c.put_component_metric(metrics=[Metric(name="requests", unit="furlongs", value=1)]))
outcome("denied", lambda: c.put_component_metric(metrics=[Metric(name="other", unit="COUNT", value=1)]))
save()
"""


def test_put_component_metric_validates_authorizes_and_logs_as_the_nucleus_does(nucleus, project):
    access = policy("aws.greengrass.ipc.componentmetric", "aws.test.Metrics", ["PutComponentMetric"], ["requests", "latency", "throughput"])
    project.component("aws.test.Metrics", script=METRICS, configuration={"accessControl": access})
    project.component(
        "test.Metrics",
        configuration={"accessControl": policy("aws.greengrass.ipc.componentmetric", "test.Metrics", ["PutComponentMetric"], ["*"])},
        script="""
        from ipc_probe import client, outcome, save
        from awsiot.greengrasscoreipc.model import Metric
        outcome("put", lambda: client().put_component_metric(metrics=[Metric(name="requests", unit="COUNT", value=1)]))
        save()
        """,
    )
    assert nucleus.deploy(project, merge={"aws.test.Metrics": "1.0.0", "test.Metrics": "1.0.0"}).status == "SUCCEEDED"
    r = nucleus.results("aws.test.Metrics")
    invalid = ["InvalidArgumentsError", "Invalid argument found in PutComponentMetricRequest"]
    assert r["ok"] == ["ok", {}]
    assert r["none"] == r["empty"] == ["InvalidArgumentsError", "Null or Empty list of metrics found in PutComponentMetricRequest"]
    assert r["long_name"] == r["negative"] == r["no_unit"] == invalid
    assert r["no_value"][0] == "ServiceError"
    assert r["odd_unit"] == ["InvalidArgumentsError", "Invalid telemetry unit: No matching TelemetryUnit type found"]
    assert r["denied"] == [
        "UnauthorizedError",
        "Principal aws.test.Metrics is not authorized to perform aws.greengrass.ipc.componentmetric:aws.greengrass#PutComponentMetric on resource other",
    ]
    # Only components named aws.* may put metrics, whatever their policies say.
    assert nucleus.results("test.Metrics")["put"] == [
        "UnauthorizedError",
        "Principal test.Metrics is not authorized to perform aws.greengrass.ipc.componentmetric:aws.greengrass#PutComponentMetric ",
    ]
    logged = (nucleus.root / "logs" / "greengrass.log").read_text()
    assert "{namespace=aws.test.Metrics, name=requests, unit=Count, value=3.0, aggregation=Sum}" in logged
    assert "{namespace=aws.test.Metrics, name=latency, unit=Seconds, value=0.25, aggregation=Sum}" in logged
    assert "{namespace=aws.test.Metrics, name=throughput, unit=BytesPerSecond, value=0.0, aggregation=Sum}" in logged


CANCELLER = """
import time
from ipc_probe import client, outcome, save, wait_until

c = client()

def status(deployment_id):
    return c.get_local_deployment_status(deployment_id=deployment_id).deployment.status

slow = c.create_local_deployment(root_component_versions_to_add={"test.Slow": "1.0.0"}).deployment_id
save(slow_in_progress=wait_until(lambda: status(slow) == "IN_PROGRESS"))
queued = c.create_local_deployment(root_component_versions_to_add={"test.Quick": "1.0.0"}).deployment_id
save(queued_status=status(queued))
outcome("cancel_queued", lambda: c.cancel_local_deployment(deployment_id=queued))
outcome("queued_after", lambda: c.get_local_deployment_status(deployment_id=queued).deployment)
outcome("cancel_in_progress", lambda: c.cancel_local_deployment(deployment_id=slow))
outcome("slow_after", lambda: c.get_local_deployment_status(deployment_id=slow).deployment)
outcome("cancel_finished", lambda: c.cancel_local_deployment(deployment_id=slow))
outcome("bad_id", lambda: c.cancel_local_deployment(deployment_id="not-a-uuid"))
outcome("unknown", lambda: c.cancel_local_deployment(deployment_id="00000000-0000-0000-0000-000000000000"))
save(ids={"slow": slow, "queued": queued}, done=True)
"""


def test_cancel_local_deployment_cancels_a_queued_or_running_deployment_as_greengrass_cli_does(nucleus, project):
    project.component("test.Slow", lifecycle={"Startup": "exec sleep 600"})  # STARTING until its startup timeout
    project.component("test.Quick", lifecycle={"Run": "echo quick > ran"})
    grants = {op: ["*"] for op in ("CreateLocalDeployment", "GetLocalDeploymentStatus", "CancelLocalDeployment")}
    project.component(
        "test.Canceller",
        script=CANCELLER,
        configuration={"accessControl": cli_policy("test.Canceller", grants)},
    )
    project.component(
        "test.NoPolicy",
        script="""
        from ipc_probe import client, outcome, save
        c = client()
        outcome("cancel", lambda: c.cancel_local_deployment(deployment_id="00000000-0000-0000-0000-000000000000"))
        outcome("bad_id", lambda: c.cancel_local_deployment(deployment_id="not-a-uuid"))
        save()
        """,
    )
    assert nucleus.deploy(project, merge={"test.Canceller": "1.0.0", "test.NoPolicy": "1.0.0"}).status == "SUCCEEDED"
    r = nucleus.results("test.Canceller", timeout=60, until=lambda r: r.get("done"))

    assert r["slow_in_progress"] is True
    assert r["queued_status"] == "QUEUED"
    queued, slow = r["ids"]["queued"], r["ids"]["slow"]
    assert r["cancel_queued"] == ["ok", {"message": f"Cancel request submitted. Deployment ID: {queued}"}]
    assert r["queued_after"][1]["status"] == "CANCELED"
    assert r["cancel_in_progress"] == ["ok", {"message": f"Cancel request submitted. Deployment ID: {slow}"}]
    assert r["slow_after"][1]["status"] == "CANCELED"
    assert r["cancel_finished"] == ["ok", {"message": "Cancellation request is not processed because deployment is already finished"}]
    assert r["bad_id"] == ["InvalidArgumentsError", "Invalid deploymentId format received. DeploymentId is a UUID"]
    assert r["unknown"] == [
        "ResourceNotFoundError",
        "Cannot find the deployment id provided 00000000-0000-0000-0000-000000000000",
    ]
    no_policy = nucleus.results("test.NoPolicy")
    assert no_policy["cancel"] == [
        "UnauthorizedError",
        "Principal test.NoPolicy is not authorized to perform aws.greengrass.Cli:aws.greengrass#CancelLocalDeployment on resource *",
    ]
    assert no_policy["bad_id"] == ["InvalidArgumentsError", "Invalid deploymentId format received. DeploymentId is a UUID"]

    # The queued deployment never ran; the cancelled one left what it had applied; later deployments run.
    time.sleep(0.5)
    assert nucleus.state("test.Quick") is None
    assert nucleus.state("test.Slow") is State.STARTING
    assert nucleus.deploy(remove=("test.Slow",)).status == "SUCCEEDED"
    assert nucleus.state("test.Slow") is None


def test_a_deployment_cancelled_while_it_restarts_components_finishes_that_step_and_stays_canceled(nucleus, project):
    """The nucleus lets a merge it has begun complete: "changes may already have been applied"."""
    project.component("test.Old", version="1.0.0", lifecycle={"Run": "exec sleep 600", "Shutdown": "sleep 1.5"})
    project.component("test.Old", version="2.0.0", lifecycle={"Run": "exec sleep 600"})
    project.component("test.Ops", configuration={"accessControl": cli_policy("test.Ops", {"CancelLocalDeployment": ["*"]})})
    assert nucleus.deploy(project, merge={"test.Old": "1.0.0", "test.Ops": "1.0.0"}).status == "SUCCEEDED"

    from greengrass_local.services.deployments import DeploymentRequest

    record = nucleus.run(lambda: nucleus.nucleus.deployments.submit(DeploymentRequest(add={"test.Old": "2.0.0"})))
    assert nucleus.wait_for_state("test.Old", State.STOPPING, timeout=10) is State.STOPPING
    client = nucleus.client("test.Ops")
    try:
        answer = client.cancel_local_deployment(deployment_id=record.deployment_id)
    finally:
        client.close()
    assert answer.message == f"Cancel request submitted. Deployment ID: {record.deployment_id}"
    assert record.status == "CANCELED"
    deadline = time.monotonic() + 15
    while nucleus.run(lambda: nucleus.nucleus.components["test.Old"].version) != "2.0.0" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert nucleus.wait_for_state("test.Old", State.RUNNING) is State.RUNNING
    assert nucleus.run(lambda: nucleus.nucleus.components["test.Old"].version) == "2.0.0"
    assert record.status == "CANCELED"
    assert nucleus.deploy(merge={"test.Old": "1.0.0"}).status == "SUCCEEDED"  # the worker goes on


STATUS_WATCHER = """
import threading
from ipc_probe import client, outcome, save

c = client()
events = []
def keep(event):
    events.append(event.connection_status_event.status)
    save(events=events)
outcome("subscribe", lambda: c.subscribe_to_iot_core_connection_status(on_stream_event=keep))
c.update_state(state="RUNNING")
save(events=events)
threading.Event().wait()
"""


def test_iot_core_connection_status_starts_with_the_current_status_and_follows_changes(nucleus, project):
    project.component("test.Watcher", script=STATUS_WATCHER, lifecycle={"Startup": "python3 -u {artifacts:path}/main.py"})
    assert nucleus.deploy(project, merge={"test.Watcher": "1.0.0"}).status == "SUCCEEDED"
    r = nucleus.results("test.Watcher", until=lambda r: r.get("events"))
    assert r["subscribe"] == ["ok", {}]  # no policy needed
    assert r["events"] == ["CONNECTED"]
    nucleus.run(lambda: nucleus.nucleus.iotcore.connection_changed(False))
    nucleus.run(lambda: nucleus.nucleus.iotcore.connection_changed(True))
    assert nucleus.results("test.Watcher", until=lambda r: len(r["events"]) == 3)["events"] == ["CONNECTED", "DISCONNECTED", "CONNECTED"]


@pytest.mark.broker
def test_iot_core_connection_status_follows_the_mqtt_broker(short_tmp, project):
    from support.mqtt import Mosquitto, find_mosquitto

    broker = Mosquitto(short_tmp)
    restarted: subprocess.Popen[bytes] | None = None
    try:
        project.component("test.Watcher", script=STATUS_WATCHER, lifecycle={"Startup": "python3 -u {artifacts:path}/main.py"})
        with NucleusThread(short_tmp / "root", mqtt_broker=("127.0.0.1", broker.port)) as nucleus:
            assert nucleus.deploy(project, merge={"test.Watcher": "1.0.0"}).status == "SUCCEEDED"
            assert nucleus.results("test.Watcher", until=lambda r: r.get("events"))["events"] == ["CONNECTED"]
            broker.stop()
            assert nucleus.results("test.Watcher", until=lambda r: len(r["events"]) >= 2)["events"] == ["CONNECTED", "DISCONNECTED"]
            mosquitto = find_mosquitto()
            assert mosquitto is not None
            restarted = subprocess.Popen([mosquitto, "-c", str(short_tmp / "mosquitto.conf")], stderr=subprocess.DEVNULL)
            events = nucleus.results("test.Watcher", timeout=60, until=lambda r: len(r["events"]) >= 3)["events"]
            assert events == ["CONNECTED", "DISCONNECTED", "CONNECTED"]
    finally:
        broker.stop()
        if restarted is not None:
            restarted.terminate()
            restarted.wait(10)
