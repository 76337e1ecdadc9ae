"""Configuration over IPC and its validation during deployments."""

from __future__ import annotations

from greengrass_local.deployment.lifecycle import State

READER = """
import datetime
from ipc_probe import client, outcome, save

c = client()
outcome("whole", lambda: c.get_configuration())
outcome("leaf", lambda: c.get_configuration(key_path=["greeting"]))
outcome("any_case", lambda: c.get_configuration(key_path=["GREETING"]))
outcome("nested", lambda: c.get_configuration(key_path=["limits"]))
outcome("missing", lambda: c.get_configuration(key_path=["nope"]))
outcome("other", lambda: c.get_configuration(component_name="test.Other", key_path=["color"]))
outcome("unknown_component", lambda: c.get_configuration(component_name="test.Nobody"))
outcome("update", lambda: c.update_configuration(key_path=["limits"], timestamp=datetime.datetime.now(), value_to_merge={"max": 7, "new": [1, 2]}))
outcome("after_update", lambda: c.get_configuration(key_path=["limits"]))
outcome("stale", lambda: c.update_configuration(key_path=["limits"], timestamp=datetime.datetime.now() - datetime.timedelta(hours=1), value_to_merge={"max": 1}))
outcome("no_timestamp", lambda: c.update_configuration(key_path=["limits"], value_to_merge={"max": 1}))
outcome("access_control", lambda: c.update_configuration(timestamp=datetime.datetime.now(), value_to_merge={"accessControl": {}}))
outcome("leaf_becomes_container", lambda: c.update_configuration(key_path=["greeting"], timestamp=datetime.datetime.now(), value_to_merge={"en": "hi"}))
outcome("after_leaf", lambda: c.get_configuration(key_path=["greeting"]))
save()
"""


def test_get_and_update_configuration(nucleus, project):
    project.component("test.Other", configuration={"color": "blue"})
    project.component(
        "test.Reader",
        configuration={"greeting": "hello", "limits": {"max": 5, "min": 1}, "_hidden": "x"},
        dependencies={"test.Other": {}},
        script=READER,
    )
    assert nucleus.deploy(project, merge={"test.Reader": "1.0.0"}).status == "SUCCEEDED"
    r = nucleus.results("test.Reader")
    assert r["whole"] == ["ok", {"componentName": "test.Reader", "value": {"greeting": "hello", "limits": {"max": 5, "min": 1}}}]
    assert r["leaf"] == ["ok", {"componentName": "test.Reader", "value": {"greeting": "hello"}}]
    assert r["any_case"] == r["leaf"]
    assert r["nested"] == ["ok", {"componentName": "test.Reader", "value": {"max": 5, "min": 1}}]
    assert r["missing"] == ["ResourceNotFoundError", "Key not found"]
    assert r["other"] == ["ok", {"componentName": "test.Other", "value": {"color": "blue"}}]
    assert r["unknown_component"] == ["ResourceNotFoundError", "Key not found"]
    assert r["update"] == ["ok", {}]
    # Merged, not replaced; numbers from IPC come back as doubles, as Gson gives them.
    assert r["after_update"] == ["ok", {"componentName": "test.Reader", "value": {"max": 7.0, "min": 1, "new": [1.0, 2.0]}}]
    assert r["stale"] == ["FailedUpdateConditionCheckError", "Proposed timestamp is older than the config's latest modified timestamp"]
    assert r["no_timestamp"] == ["InvalidArgumentsError", "Timestamp is required"]
    assert r["access_control"] == ["InvalidArgumentsError", "Config update is not allowed for following fields [accessControl]"]
    assert r["leaf_becomes_container"] == ["ok", {}]
    assert r["after_leaf"] == ["ok", {"componentName": "test.Reader", "value": {"en": "hi"}}]


WATCHER = """
import threading
from ipc_probe import client, outcome, save

c = client()
events, lock = [], threading.Lock()
def keep(event):
    with lock:
        events.append(event.configuration_update_event.key_path)
        save(events=events)
outcome("own", lambda: c.subscribe_to_configuration_update(key_path=["limits"], on_stream_event=keep))
outcome("missing", lambda: c.subscribe_to_configuration_update(key_path=["nope"], on_stream_event=keep))
c.update_state(state="RUNNING")
save(events=events)
threading.Event().wait()
"""


def test_configuration_updates_are_announced_per_changed_key(nucleus, project):
    project.component(
        "test.Watcher",
        lifecycle={"Startup": "python3 -u {artifacts:path}/main.py"},
        configuration={"limits": {"max": 5, "min": 1}, "name": "w"},
        script=WATCHER,
    )
    assert nucleus.deploy(project, merge={"test.Watcher": "1.0.0"}).status == "SUCCEEDED"
    first = nucleus.results("test.Watcher")
    assert first["own"] == ["ok", {}]
    assert first["missing"] == ["ResourceNotFoundError", "Key not found"]
    assert first["events"] == []

    update = {"test.Watcher": {"MERGE": {"limits": {"max": 9, "extra": True}, "name": "renamed"}}}
    record = nucleus.deploy(merge={"test.Watcher": "1.0.0"}, configuration=update)
    assert record.status == "SUCCEEDED"
    events = nucleus.results("test.Watcher", until=lambda r: len(r["events"]) >= 2)["events"]
    # Only changes under the watched key; paths are relative to the configuration root.
    assert sorted(events) == [["limits", "extra"], ["limits", "max"]]
    assert nucleus.state("test.Watcher") is State.RUNNING


VALIDATOR = """
import threading
from ipc_probe import client, save
from awsiot.greengrasscoreipc.model import ConfigurationValidityReport, ConfigurationValidityStatus

c = client()
seen = []
def validate(event):
    proposed = event.validate_configuration_update_event
    seen.append(proposed.configuration)
    port = proposed.configuration.get("port", 0)
    if 0 < port < 65536:
        report = ConfigurationValidityReport(status=ConfigurationValidityStatus.ACCEPTED, deployment_id=proposed.deployment_id)
    else:
        report = ConfigurationValidityReport(
            status=ConfigurationValidityStatus.REJECTED, deployment_id=proposed.deployment_id, message=f"port {port} is out of range")
    c.send_configuration_validity_report(configuration_validity_report=report)
    save(seen=seen)
c.subscribe_to_validate_configuration_updates(on_stream_event=validate)
c.update_state(state="RUNNING")
save(seen=seen, pid=__import__("os").getpid())
threading.Event().wait()
"""


def test_a_component_can_reject_a_deployment_of_its_configuration(nucleus, project):
    project.component(
        "test.Validator", lifecycle={"Startup": "python3 -u {artifacts:path}/main.py"}, configuration={"port": 8080}, script=VALIDATOR
    )
    assert nucleus.deploy(project, merge={"test.Validator": "1.0.0"}).status == "SUCCEEDED"
    pid = nucleus.results("test.Validator")["pid"]

    rejected = nucleus.deploy(merge={"test.Validator": "1.0.0"}, configuration={"test.Validator": {"MERGE": {"port": 70000}}})
    assert rejected.status == "FAILED"
    assert rejected.details["detailedDeploymentStatus"] == "FAILED_NO_STATE_CHANGE"
    assert rejected.details["deploymentFailureCause"] == (
        "Components reported that their to-be-deployed configuration is invalid { name = test.Validator, message = port 70000.0 is out of range }"
    )
    assert nucleus.run(lambda: nucleus.nucleus.config.get("test.Validator"))["port"] == 8080

    accepted = nucleus.deploy(merge={"test.Validator": "1.0.0"}, configuration={"test.Validator": {"MERGE": {"port": 9000}}})
    assert accepted.status == "SUCCEEDED", accepted.details
    assert nucleus.run(lambda: nucleus.nucleus.config.get("test.Validator"))["port"] == 9000.0
    results = nucleus.results("test.Validator", until=lambda r: len(r["seen"]) == 2)
    assert results["seen"][1]["port"] == 9000.0
    assert results["pid"] == pid, "a configuration change must not restart the component"
