"""AWS-provided stand-ins as root components with a configuration, and shadows that outlive a restart.

What component READMEs tell users to do (`--merge aws.greengrass.ShadowManager=2.3.9 --update-config
'{"aws.greengrass.ShadowManager": {"MERGE": {...}}}'`), checked with the official client from component
processes, `mlfeedback local component details`, and `mlfeedback local run` as a user runs it.
"""

from __future__ import annotations

import json

import pytest

from greengrass_local.services.shadows import SHADOWS_FILE
from support.cli import local_args, run_cli
from support.harness import NucleusThread, Project

SHADOW_MANAGER = "aws.greengrass.ShadowManager"
SYNCHRONIZE = {"coreThing": {"classic": True, "namedShadows": ["config"]}, "direction": "betweenDeviceAndCloud"}
RATE_LIMITS = {"maxOutboundSyncUpdatesPerSecond": 50, "maxTotalLocalRequestsRate": 100, "maxLocalRequestsPerSecondPerThing": 10}
NOT_ACTED_ON = "(there is no cloud shadow service to synchronize with, and local requests are not rate-limited)"
TOO_LARGE = "The payload exceeds the maximum size allowed"


def shadow_access(name: str, things: list[str]) -> dict:
    resources = [resource for thing in things for resource in (f"$aws/things/{thing}/shadow", f"$aws/things/{thing}/shadow/name/*", thing)]
    operations = ["GetThingShadow", "UpdateThingShadow", "DeleteThingShadow", "ListNamedShadowsForThing"]
    return {SHADOW_MANAGER: {f"{name}:shadows": {"operations": [f"aws.greengrass#{op}" for op in operations], "resources": resources}}}


CONFIG_READER = """
import json
from ipc_probe import client, outcome, save
c = client()
outcome("whole", lambda: c.get_configuration(component_name="aws.greengrass.ShadowManager").value)
outcome("limit", lambda: c.get_configuration(component_name="aws.greengrass.ShadowManager",
                                             key_path=["shadowDocumentSizeLimitBytes"]).value)
outcome("sync", lambda: c.get_configuration(component_name="aws.greengrass.ShadowManager", key_path=["synchronize"]).value)
update = lambda size: c.update_thing_shadow(thing_name="dev1", payload=json.dumps(
    {"state": {"reported": {"blob": "x" * size}}}).encode())
outcome("under_configured_limit", lambda: json.loads(update(9000).payload)["version"])
outcome("over_configured_limit", lambda: update(17000))
save()
"""


def test_shadow_manager_deploys_as_a_root_component_with_its_configuration(short_tmp, project):
    project.component(
        "test.ConfigReader",
        script=CONFIG_READER,
        configuration={"accessControl": shadow_access("test.ConfigReader", ["dev1"])},
        dependencies={SHADOW_MANAGER: {"VersionRequirement": "^2.3.0"}},
    )
    merge = {"synchronize": SYNCHRONIZE, "rateLimits": RATE_LIMITS, "shadowDocumentSizeLimitBytes": 16384}
    root = short_tmp / "root"
    with NucleusThread(root) as nucleus:
        record = nucleus.deploy(
            project, merge={SHADOW_MANAGER: "2.3.9", "test.ConfigReader": "1.0.0"}, configuration={SHADOW_MANAGER: {"MERGE": merge}}
        )
        assert record.status == "SUCCEEDED", record.failure_cause
        r = nucleus.results("test.ConfigReader")
        details = run_cli("local", "component", "details", "-n", SHADOW_MANAGER, "--root", str(root))
        listed = run_cli("local", "component", "list", "--root", str(root))
        # The same configuration again: nothing new to say. Then RESET of synchronize: said once more.
        assert nucleus.deploy(configuration={SHADOW_MANAGER: {"MERGE": {"rateLimits": RATE_LIMITS}}}).status == "SUCCEEDED"
        assert nucleus.deploy(configuration={SHADOW_MANAGER: {"RESET": ["/synchronize"]}}).status == "SUCCEEDED"
        after_reset = run_cli("local", "component", "details", "-n", SHADOW_MANAGER, "--root", str(root))
        effective = (root / "config" / "effectiveConfig.yaml").read_text()
        logged = (root / "logs" / "greengrass.log").read_text()

    # Numbers in a deployment's configuration come back as doubles, as the nucleus's Gson makes them.
    expected = {
        "rateLimits": {key: float(value) for key, value in RATE_LIMITS.items()},
        "shadowDocumentSizeLimitBytes": 16384.0,
        "synchronize": SYNCHRONIZE,
    }
    assert r["whole"] == ["ok", expected]
    assert r["limit"] == ["ok", {"shadowDocumentSizeLimitBytes": 16384.0}]
    assert r["sync"] == ["ok", SYNCHRONIZE]  # a container comes back as itself, a leaf as {key: value}
    assert r["under_configured_limit"] == ["ok", 1]  # over the default 8 KiB, under the configured 16 KiB
    assert r["over_configured_limit"] == ["InvalidArgumentsError", TOO_LARGE]

    assert details.returncode == 0, details.stderr
    lines = details.stdout.splitlines()
    assert lines[:3] == [f"Component Name: {SHADOW_MANAGER}", "    Version: 2.3.9", "    State: RUNNING"]
    assert lines[3].startswith("    Configuration: ") and json.loads(lines[3].split(": ", 1)[1]) == expected
    assert f"Component Name: {SHADOW_MANAGER}" in listed.stdout.splitlines()
    without_sync = {key: value for key, value in expected.items() if key != "synchronize"}
    assert json.loads(after_reset.stdout.splitlines()[3].split(": ", 1)[1]) == without_sync

    assert f"{SHADOW_MANAGER} is a local stand-in; it plays 2.3.9 as a root component" in logged
    assert f"{SHADOW_MANAGER} is a local stand-in; it plays 2.3.9 for test.ConfigReader (requires ^2.3.0)" in logged
    first = f"{SHADOW_MANAGER} stand-in stores but does not act on: rateLimits, synchronize {NOT_ACTED_ON}"
    assert logged.count(first) == 1
    assert logged.count(f"{SHADOW_MANAGER} stand-in stores but does not act on: rateLimits {NOT_ACTED_ON}") == 1
    acted = f"{SHADOW_MANAGER} stand-in acts on: shadowDocumentSizeLimitBytes (shadow updates may hold 16384 bytes of desired and reported state)"
    assert logged.count(acted) == 1
    assert "updatedShadowStateSize=17011, maxShadowStateSize=16384" in logged
    assert f'  {SHADOW_MANAGER}:\n    componentType: "PLUGIN"\n' in effective


def test_the_stand_ins_are_not_restarted_stopped_or_paused(nucleus, project):
    project.component("test.Idle", lifecycle={"Run": "sleep 60"})
    assert nucleus.deploy(project, merge={SHADOW_MANAGER: "2.3.9", "test.Idle": "1.0.0"}).status == "SUCCEEDED"
    project.component(
        "test.Controller",
        script="""
        from ipc_probe import client, outcome, save
        c = client()
        outcome("restart", lambda: c.restart_component(component_name="aws.greengrass.ShadowManager"))
        outcome("stop", lambda: c.stop_component(component_name="aws.greengrass.ShadowManager"))
        outcome("pause", lambda: c.pause_component(component_name="aws.greengrass.ShadowManager"))
        outcome("details", lambda: c.get_component_details(component_name="aws.greengrass.ShadowManager").component_details)
        save()
        """,
        configuration={
            "accessControl": {
                "aws.greengrass.Cli": {
                    "test.Controller:cli": {
                        "operations": [
                            "aws.greengrass#RestartComponent",
                            "aws.greengrass#StopComponent",
                            "aws.greengrass#GetComponentDetails",
                        ],
                        "resources": ["*"],
                    }
                },
                "aws.greengrass.ipc.lifecycle": {
                    "test.Controller:lifecycle": {"operations": ["aws.greengrass#PauseComponent"], "resources": ["*"]}
                },
            }
        },
    )
    assert nucleus.deploy(project, merge={"test.Controller": "1.0.0"}).status == "SUCCEEDED"
    r = nucleus.results("test.Controller")
    assert r["restart"] == [
        "ok",
        {"restartStatus": "FAILED", "message": f"The local nucleus does not restart its built-in {SHADOW_MANAGER}"},
    ]
    assert r["stop"] == ["ok", {"stopStatus": "FAILED", "message": f"The local nucleus does not stop its built-in {SHADOW_MANAGER}"}]
    assert r["pause"] == ["InvalidArgumentsError", "Only generic components can be paused."]
    assert r["details"] == ["ok", {"componentName": SHADOW_MANAGER, "version": "2.3.9", "state": "RUNNING", "configuration": {}}]


def test_an_invalid_document_size_limit_fails_the_deployment_with_the_components_text(nucleus, project):
    record = nucleus.deploy(
        merge={SHADOW_MANAGER: "2.3.9"}, configuration={SHADOW_MANAGER: {"MERGE": {"shadowDocumentSizeLimitBytes": 40000}}}
    )
    assert record.status == "FAILED"
    assert record.failure_cause == (
        f"Configuration update for {SHADOW_MANAGER} is not valid: "
        "Maximum shadow size provided 40000 is either less than 0 or exceeds default maximum shadow size of 30720"
    )
    assert record.details["detailedDeploymentStatus"] == "FAILED_NO_STATE_CHANGE"
    assert nucleus.run(lambda: SHADOW_MANAGER in nucleus.nucleus.components) is False


def test_a_dependent_must_accept_the_version_the_root_pins(nucleus, project):
    project.component("test.OldShadows", lifecycle={"Run": "sleep 60"}, dependencies={SHADOW_MANAGER: {"VersionRequirement": "<2.3.0"}})
    record = nucleus.deploy(project, merge={SHADOW_MANAGER: "2.3.9", "test.OldShadows": "1.0.0"})
    assert record.status == "FAILED"
    assert record.failure_cause == (
        f"{SHADOW_MANAGER} is a local stand-in deployed at 2.3.9, the version its root component pins, and not every dependent "
        f"accepts that version. Pin one they all accept. Version constraints on {SHADOW_MANAGER}: LOCAL_DEPLOYMENT requires =2.3.9, "
        "test.OldShadows requires <2.3.0."
    )


@pytest.mark.parametrize(
    ("name", "version", "configuration", "read_back", "ignored"),
    [
        (
            "aws.greengrass.SecretManager",
            "2.1.8",
            {"cloudSecrets": [{"arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"}]},
            {"cloudSecrets": [{"arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"}]},
            "cloudSecrets (secrets come from `local run --secrets FILE`, not from AWS Secrets Manager)",
        ),
        (
            "aws.greengrass.Cloudwatch",
            "3.1.0",
            {"PublishInterval": 10, "PublishRegion": "eu-west-1"},
            {"PublishInterval": 10.0, "PublishRegion": "eu-west-1"},
            "PublishInterval, PublishRegion (metrics are logged to greengrass.log, not sent to CloudWatch)",
        ),
        (
            "aws.greengrass.LogManager",
            "2.3.7",
            {"logsUploaderConfiguration": {"systemLogsConfiguration": {"uploadToCloudWatch": "true"}}},
            {"logsUploaderConfiguration": {"systemLogsConfiguration": {"uploadToCloudWatch": "true"}}},
            "logsUploaderConfiguration (no logs are uploaded: they stay in ROOT/logs)",
        ),
        (
            "aws.greengrass.DiskSpooler",
            "1.0.4",
            {"maxSizeInBytes": 1048576},
            {"maxSizeInBytes": 1048576.0},
            "maxSizeInBytes (MQTT messages are not spooled: IoT Core is the local loopback or broker)",
        ),
    ],
)
def test_every_stand_in_takes_a_configuration_as_a_root_component(nucleus, project, name, version, configuration, read_back, ignored):
    project.component(
        "test.Reader",
        script=f"""
        from ipc_probe import client, outcome, save
        outcome("configuration", lambda: client().get_configuration(component_name="{name}").value)
        save()
        """,
    )
    record = nucleus.deploy(project, merge={name: version, "test.Reader": "1.0.0"}, configuration={name: {"MERGE": configuration}})
    assert record.status == "SUCCEEDED", record.failure_cause
    assert nucleus.results("test.Reader")["configuration"] == ["ok", read_back]
    logged = (nucleus.root / "logs" / "greengrass.log").read_text()
    assert f"{name} is a local stand-in; it plays {version} as a root component" in logged
    assert f"{name} stand-in stores but does not act on: {ignored}" in logged
    assert nucleus.deploy(remove=(name,)).status == "SUCCEEDED"
    assert nucleus.run(lambda: nucleus.nucleus.config.has(name)) is False


def test_a_version_the_stand_in_does_not_know_is_played_and_said(nucleus):
    assert nucleus.deploy(merge={SHADOW_MANAGER: "2.4.0"}).status == "SUCCEEDED"
    logged = (nucleus.root / "logs" / "greengrass.log").read_text()
    assert (
        f"{SHADOW_MANAGER} is a local stand-in; it plays 2.4.0 as a root component; 2.4.0 is not among the releases it knows (2.0.0 to 2.3.11)"
        in logged
    )
    assert nucleus.deploy(merge={SHADOW_MANAGER: "latest"}).failure_cause == f"{SHADOW_MANAGER}=latest: not a version (MAJOR.MINOR.PATCH)"


def test_local_run_deploys_a_stand_in_with_its_configuration_as_its_readme_says(short_tmp, project):
    project.component(
        "test.ConfigReader", script=CONFIG_READER, configuration={"accessControl": shadow_access("test.ConfigReader", ["dev1"])}
    )
    update = {SHADOW_MANAGER: {"MERGE": {"synchronize": SYNCHRONIZE, "shadowDocumentSizeLimitBytes": 16384}}}
    root = short_tmp / "root"
    run = run_cli(
        *local_args("run", root, project.recipes, project.artifacts, "--merge", f"{SHADOW_MANAGER}=2.3.9"),
        *("--merge", "test.ConfigReader=1.0.0", "--update-config", json.dumps(update), "--until-finished", "test.ConfigReader"),
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # no "--update-config names ..., which is not in the deployment"
    r = json.loads((root / "work" / "test.ConfigReader" / "results.json").read_text())
    assert r["whole"] == ["ok", {"shadowDocumentSizeLimitBytes": 16384.0, "synchronize": SYNCHRONIZE}]
    assert r["under_configured_limit"] == ["ok", 1]
    assert r["over_configured_limit"] == ["InvalidArgumentsError", TOO_LARGE]


# -- shadows persist under the root ------------------------------------------------------------------

WRITER = """
import json
from ipc_probe import client, outcome, save
c = client()
doc = lambda value: json.loads(value.payload)
outcome("first", lambda: doc(c.update_thing_shadow(thing_name="dev1", payload=json.dumps(
    {"state": {"desired": {"color": "red"}}}).encode()))["version"])
outcome("second", lambda: doc(c.update_thing_shadow(thing_name="dev1", payload=json.dumps(
    {"state": {"reported": {"color": "blue"}}}).encode()))["version"])
outcome("named", lambda: doc(c.update_thing_shadow(thing_name="dev1", shadow_name="config", payload=json.dumps(
    {"state": {"reported": {"rate": 5}}}).encode()))["version"])
outcome("gone", lambda: doc(c.update_thing_shadow(thing_name="dev1", shadow_name="gone", payload=b'{"state": {"reported": {"n": 1}}}'))["version"])
outcome("delete", lambda: doc(c.delete_thing_shadow(thing_name="dev1", shadow_name="gone"))["version"])
save()
"""

READER = """
import json
from ipc_probe import client, outcome, save
c = client()
doc = lambda value: json.loads(value.payload)
outcome("get", lambda: {k: v for k, v in doc(c.get_thing_shadow(thing_name="dev1")).items() if k in ("state", "version")})
outcome("named", lambda: doc(c.get_thing_shadow(thing_name="dev1", shadow_name="config"))["state"])
outcome("list", lambda: c.list_named_shadows_for_thing(thing_name="dev1").results)
outcome("stale", lambda: c.update_thing_shadow(thing_name="dev1", payload=json.dumps(
    {"state": {"reported": {"color": "red"}}, "version": 1}).encode()))
outcome("next", lambda: doc(c.update_thing_shadow(thing_name="dev1", payload=json.dumps(
    {"state": {"reported": {"color": "red"}}, "version": 2}).encode()))["version"])
outcome("gone", lambda: c.get_thing_shadow(thing_name="dev1", shadow_name="gone"))
outcome("gone_again", lambda: doc(c.update_thing_shadow(thing_name="dev1", shadow_name="gone", payload=b'{"state": {"reported": {"n": 2}}}'))["version"])
save()
"""


def _shadow_project(project: Project) -> None:
    for name, script in (("test.ShadowWriter", WRITER), ("test.ShadowReader", READER)):
        project.component(name, script=script, configuration={"accessControl": shadow_access(name, ["dev1"])})


def test_shadows_survive_a_nucleus_restart_on_the_same_root(short_tmp, project):
    _shadow_project(project)
    root = short_tmp / "root"
    with NucleusThread(root) as nucleus:
        assert nucleus.deploy(project, merge={"test.ShadowWriter": "1.0.0"}).status == "SUCCEEDED"
        written = nucleus.results("test.ShadowWriter")
    assert (written["first"], written["second"], written["named"], written["gone"], written["delete"]) == (
        ["ok", 1],
        ["ok", 2],
        ["ok", 1],
        ["ok", 1],
        ["ok", 1],
    )
    stored = json.loads((root / SHADOWS_FILE).read_text())
    assert [(s["thingName"], s["shadowName"], s["version"]) for s in stored["shadows"]] == [
        ("dev1", "", 2),
        ("dev1", "config", 1),
        ("dev1", "gone", 1),
    ]
    assert not [p.name for p in (root / SHADOWS_FILE).parent.iterdir() if p.name != "shadows.json"]  # no temporary left

    with NucleusThread(root) as nucleus:  # a new nucleus, as a second `local run --root ROOT`
        assert nucleus.deploy(project, merge={"test.ShadowReader": "1.0.0"}).status == "SUCCEEDED"
        r = nucleus.results("test.ShadowReader")
        logged = (root / "logs" / "greengrass.log").read_text()
    assert r["get"] == [
        "ok",
        {"state": {"desired": {"color": "red"}, "reported": {"color": "blue"}, "delta": {"color": "red"}}, "version": 2},
    ]
    assert r["named"] == ["ok", {"reported": {"rate": 5}}]
    assert r["list"] == ["ok", ["config"]]
    assert r["stale"] == ["ConflictError", "Version conflict"]
    assert r["next"] == ["ok", 3]
    assert r["gone"] == ["ResourceNotFoundError", "No shadow found"]
    assert r["gone_again"] == ["ok", 2]  # the version outlives a delete, and the restart
    assert f"Loaded 2 shadow(s) from {root / SHADOWS_FILE}" in logged
    assert [s["version"] for s in json.loads((root / SHADOWS_FILE).read_text())["shadows"]] == [3, 1, 2]


def test_a_corrupt_shadows_file_is_moved_aside_and_the_stand_in_starts_empty(short_tmp, project):
    project.component(
        "test.AfterCorruption",
        script="""
        import json
        from ipc_probe import client, outcome, save
        c = client()
        outcome("get", lambda: c.get_thing_shadow(thing_name="dev1"))
        outcome("update", lambda: json.loads(c.update_thing_shadow(thing_name="dev1",
                payload=b'{"state": {"reported": {"ok": true}}}').payload)["version"])
        save()
        """,
        configuration={"accessControl": shadow_access("test.AfterCorruption", ["dev1"])},
    )
    root = short_tmp / "root"
    path = root / SHADOWS_FILE
    path.parent.mkdir(parents=True)
    path.write_text('{"shadows": [{"thingName": "dev1", "shadowName": "", "vers', encoding="utf-8")
    with NucleusThread(root) as nucleus:
        assert nucleus.deploy(project, merge={"test.AfterCorruption": "1.0.0"}).status == "SUCCEEDED"
        r = nucleus.results("test.AfterCorruption")
        logged = (root / "logs" / "greengrass.log").read_text()
    assert r["get"] == ["ResourceNotFoundError", "No shadow found"]
    assert r["update"] == ["ok", 1]
    aside = [p for p in path.parent.iterdir() if p.name.startswith("shadows.json.corrupt-")]
    assert len(aside) == 1
    assert aside[0].read_text() == '{"shadows": [{"thingName": "dev1", "shadowName": "", "vers'
    errors = [line for line in logged.splitlines() if "[ERROR]" in line]
    assert len(errors) == 1
    assert "Shadows file is corrupt; moved it aside and starting with no shadows." in errors[0]
    assert f"file={path}, moved to={aside[0]}, error=" in errors[0]
    assert json.loads(path.read_text())["shadows"][0]["version"] == 1
