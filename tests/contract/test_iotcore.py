"""PublishToIoTCore / SubscribeToIoTCore: the embedded loopback and a real MQTT broker."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from greengrass_local.services.iotcore import Loopback
from support.harness import NucleusThread
from support.mqtt import Mosquitto, PlainMqttClient

CLOUD_CLIENT = """
import threading
from ipc_probe import client, outcome, save, wait_until
from awsiot.greengrasscoreipc.model import QOS

c = client()
got = []
def keep(event):
    got.append([event.message.topic_name, event.message.payload.decode()])
outcome("subscribe", lambda: c.subscribe_to_iot_core(topic_name="fleet/+/commands", qos=QOS.AT_LEAST_ONCE, on_stream_event=keep))
outcome("subscribe_denied", lambda: c.subscribe_to_iot_core(topic_name="other/#", qos=QOS.AT_MOST_ONCE, on_stream_event=keep))
outcome("publish", lambda: c.publish_to_iot_core(topic_name="fleet/dev1/telemetry", qos=QOS.AT_LEAST_ONCE, payload=b'{"t": 21}'))
outcome("publish_denied", lambda: c.publish_to_iot_core(topic_name="other/x", qos=QOS.AT_LEAST_ONCE, payload=b"x"))
outcome("no_qos", lambda: c.publish_to_iot_core(topic_name="fleet/dev1/telemetry", payload=b"x"))
outcome("too_big", lambda: c.publish_to_iot_core(topic_name="fleet/dev1/telemetry", qos=QOS.AT_MOST_ONCE, payload=b"x" * 131073))
outcome("too_deep", lambda: c.publish_to_iot_core(topic_name="fleet/a/b/c/d/e/f/g/h", qos=QOS.AT_MOST_ONCE, payload=b"x"))
c.update_state(state="RUNNING")
save(received=got)
wait_until(lambda: len(got) >= {expected}, 20)
save(received=got)
threading.Event().wait()
"""

POLICIES = {
    "SubscribeToIoTCore": ["fleet/#"],
    "PublishToIoTCore": ["fleet/+/telemetry", "fleet/*"],
}


def test_loopback_delivers_iot_core_publishes_to_matching_subscribers(nucleus, project):
    project.component(
        "test.Cloud",
        lifecycle={"Startup": "python3 -u {artifacts:path}/main.py"},
        mqttproxy=POLICIES,
        script=CLOUD_CLIENT.replace("{expected}", "1"),
    )
    project.component(
        "test.Commander",
        dependencies={"test.Cloud": {}},
        mqttproxy={"PublishToIoTCore": ["fleet/#"]},
        script="""
        from ipc_probe import client, outcome, save
        from awsiot.greengrasscoreipc.model import QOS
        c = client()
        outcome("command", lambda: c.publish_to_iot_core(topic_name="fleet/dev1/commands", qos=QOS.AT_LEAST_ONCE, payload=b"reboot"))
        save()
    """,
    )
    assert nucleus.deploy(project, merge={"test.Commander": "1.0.0"}).status == "SUCCEEDED"
    r = nucleus.results("test.Cloud", until=lambda r: len(r["received"]) >= 1)
    assert r["subscribe"] == ["ok", {}]
    assert r["subscribe_denied"] == ["UnauthorizedError", "Not Authorized"]
    assert r["publish"] == ["ok", {}]
    assert r["publish_denied"] == ["UnauthorizedError", "Not Authorized"]
    assert r["no_qos"] == ["InvalidArgumentsError", "QoS is required"]
    assert r["too_big"] == [
        "ServiceError",
        "Publish to topic fleet/dev1/telemetry failed: The publishing message size 131073 bytes exceeds the configured limit of 131072 bytes",
    ]
    assert r["too_deep"][0] == "ServiceError"
    assert r["too_deep"][1].endswith("The request topic must have no more than 7 forward slashes (/)")
    assert r["received"] == [["fleet/dev1/commands", "reboot"]]


@pytest.fixture
def broker(short_tmp) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(short_tmp)
    yield mosquitto
    mosquitto.stop()


@pytest.mark.broker
def test_bridge_carries_iot_core_traffic_both_ways_through_a_real_broker(short_tmp, project, broker):
    cloud = PlainMqttClient(broker.port)
    cloud.subscribe("fleet/+/telemetry")
    project.component(
        "test.Cloud",
        lifecycle={"Startup": "python3 -u {artifacts:path}/main.py"},
        mqttproxy=POLICIES,
        script=CLOUD_CLIENT.replace("{expected}", "2"),
    )
    with NucleusThread(short_tmp / "root", mqtt_broker=("127.0.0.1", broker.port)) as nucleus:
        assert nucleus.deploy(project, merge={"test.Cloud": "1.0.0"}).status == "SUCCEEDED"
        assert nucleus.results("test.Cloud")["publish"] == ["ok", {}]
        # Component -> IoT Core -> a plain MQTT subscriber.
        assert cloud.wait_for(1) == [("fleet/dev1/telemetry", json.dumps({"t": 21}).encode())]
        # A plain MQTT publisher -> IoT Core -> the component's SubscribeToIoTCore stream.
        cloud.publish("fleet/dev7/commands", b"calibrate")
        cloud.publish("fleet/dev8/commands", b"update")
        received = nucleus.results("test.Cloud", until=lambda r: len(r["received"]) >= 2)["received"]
    cloud.close()
    assert received == [["fleet/dev7/commands", "calibrate"], ["fleet/dev8/commands", "update"]]


@pytest.mark.broker
def test_an_unreachable_broker_is_reported_at_start(short_tmp):
    from support.mqtt import free_port

    thread = NucleusThread(short_tmp / "root", mqtt_broker=("127.0.0.1", free_port()))
    with pytest.raises(ConnectionError, match=r"cannot reach the MQTT broker at 127\.0\.0\.1"):
        thread.__enter__()
    thread.__exit__(None, None, None)


class RecordingIoTCore(Loopback):
    """An in-process stand-in for the cloud side of IoT Core, as a benchmark or a test may give the nucleus."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[tuple[str, bytes, int]] = []

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool, properties: dict[str, object]) -> None:
        self.published.append((topic, payload, qos))
        super().publish(topic, payload, qos, retain, properties)


def test_an_iot_core_transport_given_to_the_nucleus_gets_the_publishes(short_tmp, project):
    cloud = RecordingIoTCore()
    project.component(
        "test.Cloud",
        lifecycle={"Startup": "python3 -u {artifacts:path}/main.py"},
        mqttproxy=POLICIES,
        script=CLOUD_CLIENT.replace("{expected}", "0"),
    )
    with NucleusThread(short_tmp / "root", iot_core=cloud) as nucleus:
        assert nucleus.deploy(project, merge={"test.Cloud": "1.0.0"}).status == "SUCCEEDED"
        assert nucleus.results("test.Cloud")["publish"] == ["ok", {}]
        assert nucleus.run(lambda: list(cloud.published)) == [("fleet/dev1/telemetry", b'{"t": 21}', 1)]


def test_a_broker_and_an_iot_core_transport_cannot_both_be_given(short_tmp):
    from greengrass_local.nucleus import LocalNucleus

    with pytest.raises(ValueError, match="an MQTT broker or an IoT Core transport, not both"):
        LocalNucleus(short_tmp / "root", mqtt_broker=("127.0.0.1", 1883), iot_core=RecordingIoTCore())
