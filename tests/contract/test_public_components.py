"""Stand-ins for public Greengrass v2 Python components that were run unmodified under `local run`.

Each public component was fetched, built as its own tooling builds it, and run with
`mlfeedback local run` outside this repository (see the README). The components here are
written for this project, not copied: each makes the same IPC calls as its public
counterpart (same client, same operations, same message kinds), under the same recipe
settings (accessControl policies of the same shape, the same lifecycle steps and recipe
variables, a ZIP artifact unarchived under `{artifacts:decompressedPath}`). A recorder
component, written with ipc_probe, observes what the public component's peers would.

- aws-samples/aws-iot-greengrass-accelerators, v2/etl_simple: ggAccel.etl_simple.extract,
  .transform, .load (local pub/sub chain, then PublishToIoTCore);
- aws-samples/aws-iot-greengrass-accelerators, v2/os_cmd: ggAccel.os_command
  (SubscribeToIoTCore for requests, PublishToIoTCore for replies);
- awslabs/aws-greengrass-labs-iot-pubsub-sdk-for-python, its component template
  (two IPC connections per protocol, local and IoT Core ingress/egress topics).
"""

from __future__ import annotations

import io
import json
import textwrap
import zipfile
from typing import Any

from support.harness import Project

FRAMES = ["7E8-03410D00", "7E8-0341043E", "7E8-03410570", "7E8-04410C0B", "7E8-03411127", "7E8-0341112A"]
THING = "local-greengrass-core"  # the harness nucleus's thing name, {iot:thingName}

# The accelerators' recipes run their scripts with `export PYTHONPATH=.` after an Install
# step that pip-installs into the work folder; the stand-in Install writes a module there.
INSTALL_INTO_WORK = "python3 -c \"open('installed_here.py', 'w').write('OK = True')\""

RECORDER = """
import json
import threading
from ipc_probe import client, outcome, save, wait_until
from awsiot.greengrasscoreipc.model import QOS, BinaryMessage, PublishMessage

c = client()
got = []
def local(event):
    message = event.binary_message or event.json_message
    payload = message.message.decode() if event.binary_message else json.dumps(message.message)
    got.append(["local", message.context.topic, payload])
def iot(event):
    got.append(["iot", event.message.topic_name, event.message.payload.decode()])
{body}
save(received=got)
threading.Event().wait()
"""


def recorder(project: Project, body: str, *, dependencies: dict[str, dict[str, str]] | None = None) -> None:
    project.component(
        "test.Recorder",
        lifecycle={"Run": "python3 -u {artifacts:path}/main.py"},
        dependencies=dependencies,
        configuration={
            "accessControl": {
                "aws.greengrass.ipc.pubsub": {
                    "test.Recorder:pubsub:1": {"operations": ["*"], "resources": ["*"]},
                },
                "aws.greengrass.ipc.mqttproxy": {
                    "test.Recorder:mqttproxy:1": {"operations": ["*"], "resources": ["*"]},
                },
            }
        },
        script=RECORDER.format(body=textwrap.dedent(body)),
    )


def zipped_component(
    project: Project,
    name: str,
    *,
    files: dict[str, str],
    zip_name: str,
    configuration: dict[str, Any],
    lifecycle: dict[str, Any],
) -> None:
    """A component whose artifact is one ZIP, unarchived, as CDK's and GDK's builds publish it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for file_name, text in files.items():
            bundle.writestr(file_name, textwrap.dedent(text))
    folder = project.artifacts / name / "1.0.0"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / zip_name).write_bytes(buffer.getvalue())
    project.component(
        name,
        configuration=configuration,
        lifecycle=lifecycle,
        extra_artifacts=[{"URI": f"s3://local-bucket/{name}/1.0.0/{zip_name}", "Unarchive": "ZIP"}],
    )


def received(nucleus: Any, kind: str, topic: str, count: int, timeout: float = 60) -> list[str]:
    results = nucleus.results(
        "test.Recorder",
        timeout=timeout,
        until=lambda r: sum(1 for k, t, _ in r.get("received", []) if k == kind and t == topic) >= count,
    )
    return [payload for k, t, payload in results["received"] if k == kind and t == topic]


# --- aws-iot-greengrass-accelerators v2/etl_simple -------------------------------------

EXTRACT = """
import argparse, os, time
import awsiot.greengrasscoreipc
from awsiot.greengrasscoreipc.model import BinaryMessage, PublishMessage, PublishToTopicRequest
import installed_here  # the Install step's output, found through PYTHONPATH=.

parser = argparse.ArgumentParser()
parser.add_argument("--publish-topic", required=True)
args = parser.parse_args()
ipc = awsiot.greengrasscoreipc.connect()
frames = open(os.path.join(os.environ["FILE_PATH"], "frames.txt")).read().split()
while True:
    for frame in frames:
        request = PublishToTopicRequest(topic=args.publish_topic,
            publish_message=PublishMessage(binary_message=BinaryMessage(message=frame.encode())))
        operation = ipc.new_publish_to_topic()
        operation.activate(request)  # fire and forget, as the accelerator does
        time.sleep(0.05)
"""

TRANSFORM = """
import argparse, json, time
import awsiot.greengrasscoreipc
import awsiot.greengrasscoreipc.client as client
from awsiot.greengrasscoreipc.model import (BinaryMessage, PublishMessage, PublishToTopicRequest,
    SubscribeToTopicRequest)

parser = argparse.ArgumentParser()
parser.add_argument("--request-topic", required=True)
parser.add_argument("--result-topic", required=True)
args = parser.parse_args()
ipc = awsiot.greengrasscoreipc.connect()

class Handler(client.SubscribeToTopicStreamHandler):
    def on_stream_event(self, event):
        frame = event.binary_message.message.decode()
        document = json.dumps({"frame": frame, "length": len(frame)})
        operation = ipc.new_publish_to_topic()
        operation.activate(PublishToTopicRequest(topic=args.result_topic,
            publish_message=PublishMessage(binary_message=BinaryMessage(message=document.encode()))))
    def on_stream_error(self, error):
        return True

operation = ipc.new_subscribe_to_topic(Handler())
operation.activate(SubscribeToTopicRequest(topic=args.request_topic)).result(10)
while True:
    time.sleep(1)
"""

LOAD = """
import argparse, time
import awsiot.greengrasscoreipc
import awsiot.greengrasscoreipc.client as client
from awsiot.greengrasscoreipc.model import QOS, PublishToIoTCoreRequest, SubscribeToTopicRequest

parser = argparse.ArgumentParser()
parser.add_argument("--request-topic", required=True)
parser.add_argument("--publish-topic", required=True)
args = parser.parse_args()
ipc = awsiot.greengrasscoreipc.connect()
seen = 0

class Handler(client.SubscribeToTopicStreamHandler):
    def on_stream_event(self, event):
        global seen
        seen += 1
        if seen % 3 == 0:  # forwards one message in a few to the cloud
            operation = ipc.new_publish_to_iot_core()
            operation.activate(PublishToIoTCoreRequest(topic_name=args.publish_topic,
                qos=QOS.AT_LEAST_ONCE, payload=event.binary_message.message))
    def on_stream_error(self, error):
        return True

operation = ipc.new_subscribe_to_topic(Handler())
operation.activate(SubscribeToTopicRequest(topic=args.request_topic)).result(10)
while True:
    time.sleep(1)
"""


def etl_stage(project: Project, stage: str, script: str, topics: dict[str, str], arguments: str, access: dict[str, Any]) -> None:
    name = f"test.etl_simple.{stage}"
    lifecycle: dict[str, Any] = {
        "Install": INSTALL_INTO_WORK + "\n",
        "Run": f"export PYTHONPATH=.\npython3 -u {{artifacts:decompressedPath}}/{name}/{stage}.py {arguments}\n",
    }
    if stage == "extract":
        lifecycle = {"Setenv": {"FILE_PATH": f"{{artifacts:decompressedPath}}/{name}"}, **lifecycle}
    files = {f"{stage}.py": script}
    if stage == "extract":
        files["frames.txt"] = " ".join(FRAMES) + "\n"
    zipped_component(
        project,
        name,
        files=files,
        zip_name=f"{name}.zip",
        configuration={**topics, "accessControl": {key.replace("NAME", name): value for key, value in access.items()}},
        lifecycle=lifecycle,
    )


def test_etl_simple_chain_extract_transform_load_reaches_iot_core(nucleus, project):
    pubsub, mqttproxy = "aws.greengrass.ipc.pubsub", "aws.greengrass.ipc.mqttproxy"
    etl_stage(
        project,
        "extract",
        EXTRACT,
        {"topic_extr_pub": "etl_simple/extract"},
        "--publish-topic '{iot:thingName}/{configuration:/topic_extr_pub}'",
        {pubsub: {"NAME:pubsub:1": {"operations": ["aws.greengrass#PublishToTopic"], "resources": ["*"]}}},
    )
    etl_stage(
        project,
        "transform",
        TRANSFORM,
        {"topic_trans_sub": "etl_simple/extract", "topic_trans_pub": "etl_simple/transform"},
        "--request-topic '{iot:thingName}/{configuration:/topic_trans_sub}' "
        "--result-topic '{iot:thingName}/{configuration:/topic_trans_pub}'",
        {
            pubsub: {
                "NAME:pubsub:1": {
                    "operations": ["aws.greengrass#PublishToTopic", "aws.greengrass#SubscribeToTopic"],
                    "resources": ["*"],
                }
            }
        },
    )
    etl_stage(
        project,
        "load",
        LOAD,
        {"topic_load_sub": "etl_simple/transform", "topic_load_pub": "etl_simple/load"},
        "--request-topic '{iot:thingName}/{configuration:/topic_load_sub}' "
        "--publish-topic '{iot:thingName}/{configuration:/topic_load_pub}'",
        {
            pubsub: {"NAME:pubsub:1": {"operations": ["aws.greengrass#SubscribeToTopic"], "resources": ["*"]}},
            mqttproxy: {"NAME:pubsub:mqttproxy:1": {"operations": ["aws.greengrass#PublishToIoTCore"], "resources": ["*"]}},
        },
    )
    recorder(
        project,
        f"""
        outcome("extract", lambda: c.subscribe_to_topic(topic="{THING}/etl_simple/extract", on_stream_event=local))
        outcome("transform", lambda: c.subscribe_to_topic(topic="{THING}/etl_simple/transform", on_stream_event=local))
        outcome("load", lambda: c.subscribe_to_iot_core(topic_name="{THING}/etl_simple/load", qos=QOS.AT_MOST_ONCE,
                on_stream_event=iot))
        wait_until(lambda: sum(1 for m in got if m[0] == "iot") >= 4, 60)
        """,
    )
    merge = {f"test.etl_simple.{s}": "1.0.0" for s in ("extract", "transform", "load")} | {"test.Recorder": "1.0.0"}
    record = nucleus.deploy(project, merge=merge)
    assert record.status == "SUCCEEDED", record.details

    loaded = received(nucleus, "iot", f"{THING}/etl_simple/load", 4)
    documents = [json.loads(payload) for payload in loaded]
    assert all(d["frame"].startswith("7E8-") and d["length"] == len(d["frame"]) for d in documents)
    extracted = received(nucleus, "local", f"{THING}/etl_simple/extract", 12)
    assert set(extracted) <= set(FRAMES)
    transformed = received(nucleus, "local", f"{THING}/etl_simple/transform", 12)
    assert {json.loads(t)["frame"] for t in transformed} <= set(extracted) | {d["frame"] for d in documents}
    for stage in ("extract", "transform", "load"):
        assert (nucleus.root / "work" / f"test.etl_simple.{stage}" / "installed_here.py").exists()


# --- aws-iot-greengrass-accelerators v2/os_cmd ------------------------------------------

OS_COMMAND = """
import argparse, json, signal, subprocess, sys, time
import awsiot.greengrasscoreipc
import awsiot.greengrasscoreipc.client as client
from awsiot.greengrasscoreipc.model import QOS, PublishToIoTCoreRequest, SubscribeToIoTCoreRequest

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
parser = argparse.ArgumentParser()
parser.add_argument("--request-topic", required=True)
parser.add_argument("--response-topic", required=True)
args = parser.parse_args()
ipc = awsiot.greengrasscoreipc.connect()

def reply(document):
    operation = ipc.new_publish_to_iot_core()  # a fresh operation per reply, QoS 0
    operation.activate(PublishToIoTCoreRequest(topic_name=args.response_topic, qos=QOS.AT_MOST_ONCE,
        payload=json.dumps(document).encode()))

class Handler(client.SubscribeToIoTCoreStreamHandler):
    def on_stream_event(self, event):
        try:
            request = json.loads(event.message.payload.decode())
        except ValueError:
            reply({"error": "not JSON", "code": 255})
            return
        done = subprocess.run(request["cmd"], shell=True, capture_output=True, text=True, timeout=10)
        reply({"id": request["id"], "code": done.returncode, "out": done.stdout})
    def on_stream_error(self, error):
        return True

operation = ipc.new_subscribe_to_iot_core(Handler())
operation.activate(SubscribeToIoTCoreRequest(topic_name=args.request_topic, qos=QOS.AT_MOST_ONCE)).result(10)
while True:
    time.sleep(1)
"""


def test_os_command_answers_iot_core_requests_on_its_response_topic(nucleus, project):
    name = "test.os_command"
    zipped_component(
        project,
        name,
        files={"app.py": OS_COMMAND},
        zip_name=f"{name}.zip",
        configuration={
            "request_topic": "os_command/request",
            "response_topic": "os_command/response",
            "accessControl": {
                "aws.greengrass.ipc.mqttproxy": {
                    f"{name}:mqttproxy:1": {
                        "operations": ["aws.greengrass#SubscribeToIoTCore", "aws.greengrass#PublishToIoTCore"],
                        "resources": ["*"],
                    }
                }
            },
        },
        lifecycle={
            "Install": INSTALL_INTO_WORK,
            "Run": {
                "Script": 'echo "Starting command processor"\nexport PYTHONPATH=.\n'
                f"python3 -u {{artifacts:decompressedPath}}/{name}/app.py "
                "--request-topic {iot:thingName}/{configuration:/request_topic} "
                "--response-topic {iot:thingName}/{configuration:/response_topic}"
            },
        },
    )
    # A cloud-side client: retries its request until the component, started before it but
    # perhaps not yet subscribed, answers.
    recorder(
        project,
        f"""
        outcome("responses", lambda: c.subscribe_to_iot_core(topic_name="{THING}/os_command/response",
                qos=QOS.AT_MOST_ONCE, on_stream_event=iot))
        def ask(payload):
            c.publish_to_iot_core(topic_name="{THING}/os_command/request", qos=QOS.AT_MOST_ONCE, payload=payload)
        while not wait_until(lambda: any('"id": "T1"' in m[2] for m in got), 1):
            ask(b'{{"id": "T1", "cmd": "echo hello; exit 3"}}')
        ask(b"not json")
        wait_until(lambda: len(got) >= 2, 20)
        """,
        dependencies={name: {"VersionRequirement": "^1.0.0"}},
    )
    record = nucleus.deploy(project, merge={name: "1.0.0", "test.Recorder": "1.0.0"})
    assert record.status == "SUCCEEDED", record.details

    replies = [json.loads(r) for r in received(nucleus, "iot", f"{THING}/os_command/response", 2)]
    assert {"id": "T1", "code": 3, "out": "hello\n"} in replies
    assert {"error": "not JSON", "code": 255} in replies
    assert "Starting command processor" in nucleus.log(name)


# --- aws-greengrass-labs-iot-pubsub-sdk-for-python, component template -----------------

PUBSUB_TEMPLATE = """
import json, os, sys, time
from concurrent.futures import ThreadPoolExecutor
import awsiot.greengrasscoreipc
import awsiot.greengrasscoreipc.client as client
from awsiot.greengrasscoreipc.model import (QOS, BinaryMessage, PublishMessage, PublishToIoTCoreRequest,
    PublishToTopicRequest, SubscribeToIoTCoreRequest, SubscribeToTopicRequest)

config = json.loads(sys.argv[1])  # the whole configuration object, interpolated as JSON
base = config["base-pubsub-topic"]
thing = os.environ["AWS_IOT_THING_NAME"]
ingress, egress = f"{base}/{thing}/ingress", f"{base}/{thing}/egress"
# One connection to subscribe and one to publish, for each protocol.
executor = ThreadPoolExecutor()  # handlers run off the client's callback thread
local_sub, local_pub = awsiot.greengrasscoreipc.connect(), awsiot.greengrasscoreipc.connect()
iot_sub, iot_pub = awsiot.greengrasscoreipc.connect(), awsiot.greengrasscoreipc.connect()

def envelope(route, message):
    return {"version": "stand-in", "route": route, "message": message}

def publish(protocol, document):
    data = json.dumps(document).encode()
    if protocol in ("ipc", "ipc_mqtt"):
        local_pub.new_publish_to_topic().activate(PublishToTopicRequest(topic=egress,
            publish_message=PublishMessage(binary_message=BinaryMessage(message=data)))).result(10)
    if protocol in ("mqtt", "ipc_mqtt"):
        iot_pub.new_publish_to_iot_core().activate(PublishToIoTCoreRequest(topic_name=egress,
            qos=QOS.AT_LEAST_ONCE, payload=data)).result(10)

def route(protocol, topic, payload):
    try:
        request = json.loads(payload)
        answer = envelope(request["route"] + "_response", {"topic": topic, "ok": True})
    except (ValueError, KeyError):
        answer = envelope("error", {"topic": topic, "payload": payload})
    publish(protocol, answer)

class Local(client.SubscribeToTopicStreamHandler):
    def __init__(self, topic):
        super().__init__()
        self.topic = topic
    def on_stream_event(self, event):
        executor.submit(route, "ipc", self.topic, event.binary_message.message.decode())

class Iot(client.SubscribeToIoTCoreStreamHandler):
    def on_stream_event(self, event):
        executor.submit(route, "mqtt", event.message.topic_name, event.message.payload.decode())

for topic in [ingress] + config["ipc-subscribe-topics"]:
    local_sub.new_subscribe_to_topic(Local(topic)).activate(SubscribeToTopicRequest(topic=topic)).result(10)
publish("ipc", envelope("default_message_handler", {"event": "IPC Client Activated"}))
for topic in [ingress] + config["mqtt-subscribe-topics"]:
    iot_sub.new_subscribe_to_iot_core(Iot()).activate(
        SubscribeToIoTCoreRequest(topic_name=topic, qos=QOS.AT_LEAST_ONCE)).result(10)
publish("mqtt", envelope("default_message_handler", {"event": "MQTT Client Activated"}))
while True:
    publish("ipc_mqtt", envelope("local_time_update", {"local-time": time.strftime("%d-%b-%Y %H:%M:%S")}))
    time.sleep(0.5)
"""


def test_pubsub_sdk_template_publishes_egress_and_answers_ingress_on_both_protocols(nucleus, project):
    name = "test.PubSubSdkTemplate"
    policy: dict[str, Any] = {"policyDescription": "as the template", "resources": ["*"]}
    zipped_component(
        project,
        name,
        files={"main.py": PUBSUB_TEMPLATE},
        zip_name="src.zip",  # GDK's zip build names the archive after the component folder
        configuration={
            "GGV2PubSubSdkConfig": {
                "base-pubsub-topic": name,
                "ipc-subscribe-topics": ["ipc/my-app/broadcast", "ipc/my-app/error"],
                "mqtt-subscribe-topics": ["mqtt/my-app/broadcast", "mqtt/my-app/error"],
            },
            "accessControl": {
                "aws.greengrass.ipc.pubsub": {
                    f"{name}:publish:1": {**policy, "operations": ["aws.greengrass#PublishToTopic"]},
                    f"{name}:subscribe:1": {**policy, "operations": ["aws.greengrass#SubscribeToTopic"]},
                },
                "aws.greengrass.ipc.mqttproxy": {
                    f"{name}:publish:1": {**policy, "operations": ["aws.greengrass#PublishToIoTCore"]},
                    f"{name}:subscribe:1": {**policy, "operations": ["aws.greengrass#SubscribeToIoTCore"]},
                },
            },
        },
        lifecycle={
            "Install": {"Timeout": 300, "Script": INSTALL_INTO_WORK},
            "Run": {
                "Script": "python3 -u {artifacts:decompressedPath}/src/main.py '{configuration:/GGV2PubSubSdkConfig}'",
                "RequiresPrivilege": "false",
            },
        },
    )
    egress, ingress = f"{name}/{THING}/egress", f"{name}/{THING}/ingress"
    recorder(
        project,
        f"""
        outcome("local", lambda: c.subscribe_to_topic(topic="{egress}", on_stream_event=local))
        outcome("iot", lambda: c.subscribe_to_iot_core(topic_name="{egress}", qos=QOS.AT_LEAST_ONCE, on_stream_event=iot))
        answered = lambda route: any(route in m[2] for m in got)
        request = b'{{"route": "get_health_check_request", "message": {{}}}}'
        while not wait_until(lambda: answered("get_health_check_request_response"), 1):
            c.publish_to_iot_core(topic_name="{ingress}", qos=QOS.AT_LEAST_ONCE, payload=request)
        while not wait_until(lambda: answered("get_system_details_request_response"), 1):
            c.publish_to_topic(topic="ipc/my-app/broadcast", publish_message=PublishMessage(
                binary_message=BinaryMessage(message=b'{{"route": "get_system_details_request"}}')))
        wait_until(lambda: sum(1 for m in got if "local_time_update" in m[2]) >= 4, 20)
        """,
    )
    record = nucleus.deploy(project, merge={name: "1.0.0", "test.Recorder": "1.0.0"})
    assert record.status == "SUCCEEDED", record.details

    results = nucleus.results(
        "test.Recorder", timeout=60, until=lambda r: sum(1 for m in r.get("received", []) if "local_time_update" in m[2]) >= 4
    )
    by_protocol: dict[str, list[dict[str, Any]]] = {"local": [], "iot": []}
    for kind, topic, payload in results["received"]:
        assert topic == egress
        by_protocol[kind].append(json.loads(payload))
    assert {"topic": ingress, "ok": True} in [m["message"] for m in by_protocol["iot"] if m["route"].endswith("_response")]
    assert {"topic": "ipc/my-app/broadcast", "ok": True} in [m["message"] for m in by_protocol["local"] if m["route"].endswith("_response")]
    for kind in ("local", "iot"):
        assert any(m["route"] == "local_time_update" for m in by_protocol[kind])
