"""Stand-ins for AWS-provided components, with the official client from component processes.

SecretManager (GetSecretValue as SecretManagerIPCAgent.java answers it),
ShadowManager (the shadow operations with AWS IoT document semantics, and the
shadow topics on the IoT Core side), Cloudwatch (logs the metrics it would
send), DiskSpooler / LogManager (accepted, no effect) and `docker:` artifacts.
"""

from __future__ import annotations

import base64
import json

from greengrass_local.services.iotcore import Loopback
from support.harness import NucleusThread

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-password-AbCdEf"
SECRETS = {
    ARN: {"SecretString": "hunter2", "VersionId": "v-1", "VersionStages": ["AWSCURRENT", "prod"]},
    "api-key": {"SecretBinary": base64.b64encode(b"\x00\x01key").decode()},
}


def access(service: str, name: str, operations: list[str], resources: list[str]) -> dict:
    return {service: {f"{name}:policy": {"operations": [f"aws.greengrass#{op}" for op in operations], "resources": resources}}}


SECRET_READER = """
from ipc_probe import client, outcome, save
c = client()
outcome("by_arn", lambda: c.get_secret_value(secret_id="%s"))
outcome("by_name", lambda: c.get_secret_value(secret_id="db-password"))
outcome("by_stage", lambda: c.get_secret_value(secret_id="%s", version_stage="prod"))
outcome("by_version", lambda: c.get_secret_value(secret_id="%s", version_id="v-1"))
outcome("bad_version", lambda: c.get_secret_value(secret_id="%s", version_id="v-9"))
outcome("both", lambda: c.get_secret_value(secret_id="%s", version_id="v-1", version_stage="prod"))
outcome("unknown", lambda: c.get_secret_value(secret_id="nope"))
outcome("empty", lambda: c.get_secret_value(secret_id=""))
outcome("binary", lambda: c.get_secret_value(secret_id="api-key").secret_value.secret_binary.hex())
outcome("denied", lambda: c.get_secret_value(secret_id="api-key-other"))
save()
""".replace("%s", ARN)


def test_a_component_depending_on_secret_manager_deploys_and_reads_secrets(short_tmp, project):
    policy = access(
        "aws.greengrass.SecretManager", "test.Secrets", ["GetSecretValue"], [ARN, "arn:aws:secretsmanager:*:*:secret:api-key-*"]
    )
    project.component(
        "test.Secrets",
        script=SECRET_READER,
        configuration={"accessControl": policy},
        dependencies={"aws.greengrass.SecretManager": {"VersionRequirement": "^2.1.0", "DependencyType": "HARD"}},
    )
    project.component(
        "test.NoSecrets",
        script="""
        from ipc_probe import client, outcome, save
        outcome("denied", lambda: client().get_secret_value(secret_id="db-password"))
        save()
        """,
    )
    with NucleusThread(short_tmp / "root", secrets=SECRETS) as nucleus:
        assert nucleus.deploy(project, merge={"test.Secrets": "1.0.0", "test.NoSecrets": "1.0.0"}).status == "SUCCEEDED"
        r = nucleus.results("test.Secrets")
        denied = nucleus.results("test.NoSecrets")
        logged = (nucleus.root / "logs" / "greengrass.log").read_text()
    expected = {"secretId": ARN, "versionId": "v-1", "versionStage": ["AWSCURRENT", "prod"], "secretValue": {"secretString": "hunter2"}}
    assert r["by_arn"] == r["by_name"] == r["by_stage"] == r["by_version"] == ["ok", expected]
    assert r["bad_version"] == ["ResourceNotFoundError", f"Version Id v-9 not found for secret {ARN}"]
    assert r["both"] == ["ServiceError", "Both versionId and Stage are set in the request"]
    assert r["unknown"] == ["ResourceNotFoundError", "Secret not configured nope"]
    assert r["empty"] == ["ServiceError", "SecretId absent in the request"]
    assert r["binary"] == ["ok", "00016b6579"]
    assert r["denied"] == ["ResourceNotFoundError", "Secret not configured api-key-other"]
    assert denied["denied"] == [
        "UnauthorizedError",
        f"Principal test.NoSecrets is not authorized to perform aws.greengrass.SecretManager:aws.greengrass#GetSecretValue on resource {ARN}",
    ]
    assert "aws.greengrass.SecretManager is a local stand-in; it plays 2.2.2 for test.Secrets (requires ^2.1.0)" in logged


class RecordingIoTCore(Loopback):
    def __init__(self) -> None:
        super().__init__()
        self.published: list[tuple[str, dict]] = []

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool, properties: dict[str, object]) -> None:
        self.published.append((topic, json.loads(payload)))
        super().publish(topic, payload, qos, retain, properties)


SHADOW_CLIENT = """
import json, threading
from ipc_probe import client, outcome, save, wait_until
c = client()
seen = []
def keep(event):
    seen.append([event.binary_message.context.topic, json.loads(event.binary_message.message)])
outcome("subscribe", lambda: c.subscribe_to_topic(topic="$aws/things/dev1/shadow/update/delta", on_stream_event=keep))
doc = lambda value: json.loads(value.payload)
outcome("missing", lambda: c.get_thing_shadow(thing_name="dev1"))
outcome("first", lambda: doc(c.update_thing_shadow(thing_name="dev1", payload=json.dumps(
    {"state": {"desired": {"color": "red", "power": {"on": True}}}, "clientToken": "t-1"}).encode())))
outcome("second", lambda: doc(c.update_thing_shadow(thing_name="dev1", payload=json.dumps(
    {"state": {"reported": {"color": "blue", "power": {"on": True}}}, "version": 1}).encode())))
outcome("conflict", lambda: c.update_thing_shadow(thing_name="dev1", payload=json.dumps(
    {"state": {"reported": {"color": "red"}}, "version": 1}).encode()))
outcome("get", lambda: doc(c.get_thing_shadow(thing_name="dev1")))
outcome("remove", lambda: doc(c.update_thing_shadow(thing_name="dev1", payload=json.dumps(
    {"state": {"desired": {"power": None}}}).encode())))
outcome("get2", lambda: doc(c.get_thing_shadow(thing_name="dev1")))
outcome("empty_payload", lambda: c.update_thing_shadow(thing_name="dev1", payload=b""))
outcome("no_thing", lambda: c.get_thing_shadow(thing_name=""))
outcome("too_big", lambda: c.update_thing_shadow(thing_name="dev1", payload=json.dumps(
    {"state": {"reported": {"blob": "x" * 9000}}}).encode()))
outcome("denied", lambda: c.get_thing_shadow(thing_name="dev2"))
for name in ("a", "b", "c"):
    c.update_thing_shadow(thing_name="dev1", shadow_name=name, payload=b'{"state": {"reported": {"n": 1}}}')
outcome("named", lambda: doc(c.get_thing_shadow(thing_name="dev1", shadow_name="b"))["state"])
outcome("list", lambda: c.list_named_shadows_for_thing(thing_name="dev1").results)
outcome("page", lambda: [c.list_named_shadows_for_thing(thing_name="dev1", page_size=2).results,
                         bool(c.list_named_shadows_for_thing(thing_name="dev1", page_size=2).next_token)])
outcome("bad_page", lambda: c.list_named_shadows_for_thing(thing_name="dev1", page_size=0))
outcome("delete", lambda: doc(c.delete_thing_shadow(thing_name="dev1"))["version"])
outcome("deleted", lambda: c.get_thing_shadow(thing_name="dev1"))
outcome("delete_again", lambda: c.delete_thing_shadow(thing_name="dev1"))
outcome("delete_named", lambda: doc(c.delete_thing_shadow(thing_name="dev1", shadow_name="a"))["version"])
outcome("list_after", lambda: c.list_named_shadows_for_thing(thing_name="dev1").results)
wait_until(lambda: len(seen) >= 1, 5)
save(seen=seen, done=True)
"""


def test_shadow_manager_keeps_shadows_with_the_service_semantics(short_tmp, project):
    shadow_policy = access(
        "aws.greengrass.ShadowManager",
        "test.Shadows",
        ["GetThingShadow", "UpdateThingShadow", "DeleteThingShadow", "ListNamedShadowsForThing"],
        ["$aws/things/dev1/shadow", "$aws/things/dev1/shadow/name/*", "dev1"],
    )
    pubsub_policy = access("aws.greengrass.ipc.pubsub", "test.Shadows", ["SubscribeToTopic"], ["$aws/things/dev1/shadow/*"])
    project.component(
        "test.Shadows",
        script=SHADOW_CLIENT,
        configuration={"accessControl": {**shadow_policy, **pubsub_policy}},
        dependencies={"aws.greengrass.ShadowManager": {"VersionRequirement": ">=2.0.0 <2.3.0"}},
    )
    cloud = RecordingIoTCore()
    with NucleusThread(short_tmp / "root", iot_core=cloud) as nucleus:
        assert nucleus.deploy(project, merge={"test.Shadows": "1.0.0"}).status == "SUCCEEDED"
        r = nucleus.results("test.Shadows", until=lambda r: r.get("done"))
        published = nucleus.run(lambda: list(cloud.published))
        logged = (nucleus.root / "logs" / "greengrass.log").read_text()

    assert "aws.greengrass.ShadowManager is a local stand-in; it plays 2.2.4 for test.Shadows" in logged
    assert r["missing"] == ["ResourceNotFoundError", "No shadow found"]
    first = r["first"][1]
    assert (first["state"], first["version"], first["clientToken"]) == ({"desired": {"color": "red", "power": {"on": True}}}, 1, "t-1")
    assert set(first["metadata"]["desired"]["power"]["on"]) == {"timestamp"}
    assert r["second"][1]["version"] == 2
    assert r["conflict"] == ["ConflictError", "Version conflict"]
    get = r["get"][1]
    assert get["state"] == {
        "desired": {"color": "red", "power": {"on": True}},
        "reported": {"color": "blue", "power": {"on": True}},
        "delta": {"color": "red"},
    }
    assert get["version"] == 2 and "timestamp" in get["metadata"]["reported"]["color"]
    assert r["remove"][1]["version"] == 3
    assert r["get2"][1]["state"]["desired"] == {"color": "red"}
    assert r["empty_payload"] == ["InvalidArgumentsError", "Missing update payload"]
    assert r["no_thing"] == ["InvalidArgumentsError", "ThingName is missing"]
    assert r["too_big"] == ["InvalidArgumentsError", "The payload exceeds the maximum size allowed"]
    assert r["denied"] == [
        "UnauthorizedError",
        "Principal test.Shadows is not authorized to perform aws.greengrass.ShadowManager:aws.greengrass#GetThingShadow "
        "on resource $aws/things/dev2/shadow",
    ]
    assert r["named"] == ["ok", {"reported": {"n": 1}}]
    assert r["list"] == ["ok", ["a", "b", "c"]]
    assert r["page"] == ["ok", [["a", "b"], True]]
    assert r["bad_page"] == ["InvalidArgumentsError", "pageSize argument must be between 1 and 100"]
    assert r["delete"] == ["ok", 3]
    assert r["deleted"] == ["ResourceNotFoundError", "No shadow found"]
    assert r["delete_again"] == ["ResourceNotFoundError", "No shadow found"]
    assert r["delete_named"] == ["ok", 1]
    assert r["list_after"] == ["ok", ["b", "c"]]
    # Local pub/sub, as the component publishes: the delta of the first update.
    assert r["seen"][0] == ["$aws/things/dev1/shadow/update/delta", r["seen"][0][1]]
    assert r["seen"][0][1]["state"] == {"color": "red", "power": {"on": True}}
    # The IoT Core side sees the shadow topics.
    topics = [topic for topic, _ in published]
    for topic in (
        "$aws/things/dev1/shadow/update/accepted",
        "$aws/things/dev1/shadow/update/delta",
        "$aws/things/dev1/shadow/update/documents",
        "$aws/things/dev1/shadow/update/rejected",
        "$aws/things/dev1/shadow/get/accepted",
        "$aws/things/dev1/shadow/delete/accepted",
        "$aws/things/dev1/shadow/name/a/update/accepted",
        "$aws/things/dev1/shadow/name/a/delete/accepted",
    ):
        assert topic in topics, topic
    documents = next(body for topic, body in published if topic.endswith("/update/documents"))
    assert documents["previous"] is None and documents["current"]["version"] == 1 and documents["clientToken"] == "t-1"
    rejected = next(body for topic, body in published if topic.endswith("/update/rejected"))
    assert (rejected["code"], rejected["message"]) == (409, "Version conflict")


def test_cloudwatch_logs_metrics_and_spooler_and_log_manager_are_accepted(nucleus, project):
    project.component(
        "test.Metrics",
        script="""
        from ipc_probe import client, outcome, save
        from awsiot.greengrasscoreipc.model import JsonMessage, PublishMessage
        c = client()
        request = {"request": {"namespace": "Greenhouse", "metricData": {"metricName": "temperature", "value": 21.5,
                   "unit": "Count", "dimensions": [{"name": "room", "value": "a"}]}}}
        outcome("put", lambda: c.publish_to_topic(topic="cloudwatch/metric/put", publish_message=PublishMessage(json_message=JsonMessage(message=request))))
        save()
        """,
        pubsub={"PublishToTopic": ["cloudwatch/metric/put"]},
        dependencies={
            "aws.greengrass.Cloudwatch": {"VersionRequirement": "^3.0.0"},
            "aws.greengrass.DiskSpooler": {"VersionRequirement": "1.0.0"},
            "aws.greengrass.LogManager": {"VersionRequirement": "^2.0.0"},
        },
    )
    assert nucleus.deploy(project, merge={"test.Metrics": "1.0.0"}).status == "SUCCEEDED"
    assert nucleus.results("test.Metrics")["put"] == ["ok", {}]
    logged = (nucleus.root / "logs" / "greengrass.log").read_text()
    assert "aws.greengrass.Cloudwatch is a local stand-in; it plays 3.1.0 for test.Metrics (requires ^3.0.0)" in logged
    assert "namespace=Greenhouse, metricName=temperature, value=21.5, unit=Count, dimensions={'room': 'a'}" in logged
    assert (
        "aws.greengrass.DiskSpooler is a local stand-in; it plays 1.0.0 for test.Metrics (requires 1.0.0); accepted, it has no effect"
        in logged
    )
    assert (
        "aws.greengrass.LogManager is a local stand-in; it plays 2.3.9 for test.Metrics (requires ^2.0.0); accepted, it has no effect"
        in logged
    )


def test_a_docker_artifact_fails_the_deployment_with_one_clear_cause(nucleus, project):
    project.component(
        "test.Docker",
        lifecycle={"Run": "docker run hello-world"},
        extra_artifacts=[{"URI": "docker:public.ecr.aws/hello/world:latest"}],
    )
    record = nucleus.deploy(project, merge={"test.Docker": "1.0.0"})
    assert record.status == "FAILED"
    assert record.failure_cause == (
        "Component test.Docker-v1.0.0 has the Docker image artifact docker:public.ecr.aws/hello/world:latest: the local nucleus "
        "does not pull images. Pull it yourself (docker pull) and drop the docker: artifact from the recipe to test locally"
    )
