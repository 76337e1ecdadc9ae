"""aws.greengrass.Nucleus as a component: its configuration, `interpolateComponentConfiguration`,
the `{iot:thingName}` variable and ROOT/config/effectiveConfig.yaml, with real component processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from greengrass_local.services.nucleus_config import NUCLEUS, NUCLEUS_VERSION
from support.harness import NucleusThread

THING = "gg-test-thing-7"
REGION = "eu-west-1"


@pytest.fixture
def device(short_tmp: Path) -> Iterator[NucleusThread]:
    """A local nucleus started as `--thing-name gg-test-thing-7 --region eu-west-1` would start it."""
    with NucleusThread(short_tmp / "root", thing_name=THING, region=REGION) as running:
        yield running


def nucleus_configuration(device: NucleusThread) -> dict:
    return device.run(lambda: device.nucleus.config.get(NUCLEUS))


READER = """
import os
from ipc_probe import client, outcome, save

c = client()
outcome("whole", lambda: c.get_configuration(component_name="aws.greengrass.Nucleus"))
outcome("region", lambda: c.get_configuration(component_name="aws.greengrass.Nucleus", key_path=["awsRegion"]))
outcome("interpolate", lambda: c.get_configuration(component_name="aws.greengrass.Nucleus", key_path=["interpolateComponentConfiguration"]))
outcome("thing_name", lambda: c.get_configuration(component_name="aws.greengrass.Nucleus", key_path=["thingName"]))
save(env={k: os.environ.get(k) for k in ("AWS_IOT_THING_NAME", "AWS_REGION", "AWS_DEFAULT_REGION", "GGC_VERSION")})
"""


def test_components_read_the_nucleus_configuration(device, project):
    project.component("test.NucleusReader", script=READER)
    assert device.deploy(project, merge={"test.NucleusReader": "1.0.0"}).status == "SUCCEEDED"
    r = device.results("test.NucleusReader")
    assert r["region"] == ["ok", {"componentName": NUCLEUS, "value": {"awsRegion": REGION}}]
    assert r["interpolate"] == ["ok", {"componentName": NUCLEUS, "value": {"interpolateComponentConfiguration": False}}]
    whole = r["whole"][1]["value"]
    assert {k: whole[k] for k in ("iotDataEndpoint", "iotCredEndpoint", "iotRoleAlias", "greengrassDataPlanePort", "envStage")} == {
        "iotDataEndpoint": "",
        "iotCredEndpoint": "",
        "iotRoleAlias": "",
        "greengrassDataPlanePort": 8443,
        "envStage": "prod",
    }
    assert {"mqtt", "networkProxy", "runWithDefault", "platformOverride", "componentStoreMaxSizeBytes"} <= set(whole)
    # The thing name is device identity (`system.thingName`), not Nucleus configuration: a device answers the same.
    assert r["thing_name"] == ["ResourceNotFoundError", "Key not found"]
    assert r["env"] == {"AWS_IOT_THING_NAME": THING, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "GGC_VERSION": NUCLEUS_VERSION}


THING_IN_LIFECYCLE = """
import os, sys
from ipc_probe import save
save(argument=sys.argv[1], setenv=os.environ.get("THING"), unknown=sys.argv[2])
"""


def test_iot_thing_name_is_filled_into_the_lifecycle(device, project):
    project.component(
        "test.ThingName",
        script=THING_IN_LIFECYCLE,
        lifecycle={"Setenv": {"THING": "{iot:thingName}"}, "Run": 'python3 -u {artifacts:path}/main.py "{iot:thingName}" "{iot:nothing}"'},
    )
    assert device.deploy(project, merge={"test.ThingName": "1.0.0"}).status == "SUCCEEDED"
    # Only thingName exists in the iot namespace; anything else stays as written, as on a device.
    assert device.results("test.ThingName") == {"argument": THING, "setenv": THING, "unknown": "{iot:nothing}"}


WATCHER = """
import threading
from ipc_probe import client, outcome, save

c = client()
events, lock = [], threading.Lock()
def keep(event):
    with lock:
        events.append(event.configuration_update_event.key_path)
        save(events=events)
outcome("subscribe", lambda: c.subscribe_to_configuration_update(component_name="aws.greengrass.Nucleus", on_stream_event=keep))
c.update_state(state="RUNNING")
save(events=events)
threading.Event().wait()
"""


def test_a_deployment_configures_the_nucleus_as_a_root_component(device, project, short_tmp):
    project.component("test.NucleusWatcher", lifecycle={"Startup": "python3 -u {artifacts:path}/main.py"}, script=WATCHER)
    turn_on = {NUCLEUS: {"MERGE": {"interpolateComponentConfiguration": True, "iotDataEndpoint": "abc-ats.iot.eu-west-1.amazonaws.com"}}}

    # Not a root component of the deployment: its --update-config goes nowhere (a device ignores it too), but the log says so.
    assert device.deploy(project, merge={"test.NucleusWatcher": "1.0.0"}, configuration=turn_on).status == "SUCCEEDED"
    assert device.results("test.NucleusWatcher")["subscribe"] == ["ok", {}]
    assert nucleus_configuration(device)["interpolateComponentConfiguration"] is False
    log = (short_tmp / "root" / "logs" / "greengrass.log").read_text()
    assert f"Configuration update for {NUCLEUS} ignored" in log
    assert f"Add {NUCLEUS}={NUCLEUS_VERSION} to the deployment's components (--merge)" in log

    # --merge aws.greengrass.Nucleus=<the running version> --update-config ...: MERGE on the Nucleus's configuration.
    assert device.deploy(merge={NUCLEUS: NUCLEUS_VERSION}, configuration=turn_on).status == "SUCCEEDED"
    events = device.results("test.NucleusWatcher", until=lambda r: len(r["events"]) >= 2)["events"]
    assert sorted(events) == [["interpolateComponentConfiguration"], ["iotDataEndpoint"]]
    observer = device.client("test.Observer")
    try:
        value = observer.get_configuration(component_name=NUCLEUS).value
        assert value["interpolateComponentConfiguration"] is True
        assert value["iotDataEndpoint"] == "abc-ats.iot.eu-west-1.amazonaws.com"
        assert value["awsRegion"] == REGION  # the rest is kept

        # The nucleus is now a root of the local deployments: RESET needs no --merge; back to the device's default.
        reset = {NUCLEUS: {"RESET": ["/interpolateComponentConfiguration", "/iotDataEndpoint"]}}
        assert device.deploy(configuration=reset).status == "SUCCEEDED"
        value = observer.get_configuration(component_name=NUCLEUS).value
        assert value["interpolateComponentConfiguration"] is False
        assert value["iotDataEndpoint"] == ""
    finally:
        observer.close()

    # Another nucleus version cannot be deployed: the emulator is the nucleus.
    record = device.deploy(merge={NUCLEUS: "2.13.0"})
    assert record.status == "FAILED"
    assert f"The local nucleus is {NUCLEUS} {NUCLEUS_VERSION} and cannot be replaced by another version" in record.failure_cause
    assert nucleus_configuration(device)["awsRegion"] == REGION


PUBLISHER = """
import os, sys
from ipc_probe import client, outcome, save
from awsiot.greengrasscoreipc.model import JsonMessage, PublishMessage

c = client()
topic = "my/" + os.environ["AWS_IOT_THING_NAME"] + "/topic"
outcome("publish", lambda: c.publish_to_topic(topic=topic, publish_message=PublishMessage(json_message=JsonMessage(message={"n": 1}))))
outcome("config", lambda: c.get_configuration())
save(argument=sys.argv[1])
"""


@pytest.mark.parametrize("interpolate", [True, False], ids=["interpolation-on", "interpolation-off"])
def test_a_thing_name_policy_authorizes_only_with_interpolation_on(device, project, interpolate):
    """The acceptance case: `{iot:thingName}` in a pubsub policy resource matches when the Nucleus interpolates configuration."""
    project.component(
        "test.ThingPublisher",
        script=PUBLISHER,
        lifecycle={"Run": 'python3 -u {artifacts:path}/main.py "{configuration:/thing}"'},
        pubsub={"PublishToTopic": ["my/{iot:thingName}/topic"]},
        configuration={"thing": "{iot:thingName}", "root": "{kernel:rootPath}", "work": "{work:path}", "ref": "{configuration:/thing}"},
    )
    update = {NUCLEUS: {"MERGE": {"interpolateComponentConfiguration": interpolate}}}
    record = device.deploy(project, merge={NUCLEUS: NUCLEUS_VERSION, "test.ThingPublisher": "1.0.0"}, configuration=update)
    assert record.status == "SUCCEEDED"
    r = device.results("test.ThingPublisher")
    config = r["config"][1]["value"]
    (policy,) = config["accessControl"]["aws.greengrass.ipc.pubsub"].values()
    if interpolate:
        assert r["publish"] == ["ok", {}]
        assert policy["resources"] == [f"my/{THING}/topic"]
        root = str(device.nucleus.root)
        # System variables only: `{configuration:...}` inside configuration stays as written.
        assert {k: config[k] for k in ("thing", "root", "work", "ref")} == {
            "thing": THING,
            "root": root,
            "work": f"{root}/work/test.ThingPublisher",
            "ref": "{configuration:/thing}",
        }
        # The lifecycle is filled after the configuration, so it sees the interpolated value.
        assert r["argument"] == THING
    else:
        assert r["publish"] == [
            "UnauthorizedError",
            f"Principal test.ThingPublisher is not authorized to perform aws.greengrass.ipc.pubsub:aws.greengrass#PublishToTopic "
            f"on resource my/{THING}/topic",
        ]
        assert policy["resources"] == ["my/{iot:thingName}/topic"]
        assert config["thing"] == "{iot:thingName}"
        assert r["argument"] == "{iot:thingName}"


def test_turning_interpolation_on_later_fills_running_configuration(device, project):
    """As on a device: the running configuration is what gets interpolated, so a later deployment that turns it on applies."""
    project.component("test.Later", script="print('done')", configuration={"topic": "things/{iot:thingName}/state"})
    assert device.deploy(project, merge={"test.Later": "1.0.0"}).status == "SUCCEEDED"
    assert device.run(lambda: device.nucleus.config.get("test.Later"))["topic"] == "things/{iot:thingName}/state"
    update = {NUCLEUS: {"MERGE": {"interpolateComponentConfiguration": "true"}}}  # the nucleus coerces "true" too
    assert device.deploy(merge={NUCLEUS: NUCLEUS_VERSION}, configuration=update).status == "SUCCEEDED"
    assert device.run(lambda: device.nucleus.config.get("test.Later"))["topic"] == f"things/{THING}/state"


def test_effective_config_is_written_as_the_nucleus_writes_it(short_tmp, project):
    root = short_tmp / "root"
    path = root / "config" / "effectiveConfig.yaml"
    with NucleusThread(root, thing_name=THING, region=REGION) as device:
        at_start = yaml.safe_load(path.read_text())
        assert set(at_start["services"]) == {NUCLEUS, "main"}

        project.component("test.Other", script="print('other')", configuration={"color": "blue"})
        project.component(
            "test.Main",
            script="print('main')",
            configuration={"greeting": "hello", "limits": {"max": 5}, "_hidden": "x"},
            dependencies={"test.Other": {"VersionRequirement": "^1.0.0", "DependencyType": "SOFT"}},
        )
        update = {NUCLEUS: {"MERGE": {"iotRoleAlias": "MyRoleAlias"}}, "test.Main": {"MERGE": {"limits": {"min": 1}}}}
        record = device.deploy(project, merge={NUCLEUS: NUCLEUS_VERSION, "test.Main": "1.0.0"}, configuration=update)
        assert record.status == "SUCCEEDED"

        text = path.read_text()
        assert text.startswith("---\nsystem:\n")
        assert '  thingName: "gg-test-thing-7"\n' in text  # strings double-quoted, as Jackson writes them
        document = yaml.safe_load(text)
        resolved_root = str(root.resolve())
        assert document["system"] == {
            "certificateFilePath": "",
            "privateKeyPath": "",
            "rootCaPath": "",
            "rootpath": resolved_root,
            "thingName": THING,
        }
        services = document["services"]
        assert list(services) == sorted(services, key=str.lower)
        artifacts = f"{resolved_root}/packages/artifacts/test.Main/1.0.0"
        assert services["test.Main"] == {
            "componentType": "GENERIC",
            "configuration": {"greeting": "hello", "limits": {"max": 5, "min": 1.0}},  # `_` keys are not written
            "dependencies": ["test.Other:SOFT"],
            "lifecycle": {"Run": f"python3 -u {artifacts}/main.py"},
            "version": "1.0.0",
        }
        assert services["test.Other"]["version"] == "1.0.0"
        assert services["test.Other"]["configuration"] == {"color": "blue"}
        nucleus = services[NUCLEUS]
        assert (nucleus["componentType"], nucleus["version"]) == ("NUCLEUS", NUCLEUS_VERSION)
        assert nucleus["configuration"]["iotRoleAlias"] == "MyRoleAlias"
        assert nucleus["configuration"]["awsRegion"] == REGION
        assert nucleus["configuration"]["interpolateComponentConfiguration"] is False
        assert services["main"] == {"dependencies": [NUCLEUS, "test.Main"]}

        # Rewritten after each deployment: a removed component is gone.
        assert device.deploy(remove=("test.Main",)).status == "SUCCEEDED"
        after = yaml.safe_load(path.read_text())["services"]
        assert "test.Main" not in after
        assert "test.Other" not in after
        assert after["main"] == {"dependencies": [NUCLEUS]}
    # And once more at shutdown.
    assert yaml.safe_load(path.read_text())["system"]["thingName"] == THING
