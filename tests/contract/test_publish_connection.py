"""The component's publishing connection (ipc_publish): what it sends is what the official client reads back.

The component publishes without the official client's model objects; these tests
publish through the component's IpcBus to the local nucleus and receive with the
official client, so the two definitions of the wire shapes cannot drift apart.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from ml_feedback.ipc import IpcBus
from ml_feedback.ipc_publish import PublishError


@pytest.fixture
def bus(nucleus, project, monkeypatch):
    project.component(
        "test.Publisher",
        pubsub={"SubscribeToTopic": ["allowed/topic"], "PublishToTopic": ["allowed/topic"]},
        mqttproxy={"SubscribeToIoTCore": ["fleet/#"], "PublishToIoTCore": ["fleet/#"]},
    )
    assert nucleus.deploy(project, merge={"test.Publisher": "1.0.0"}).status == "SUCCEEDED"
    monkeypatch.setenv("AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT", nucleus.nucleus.socket_path)
    monkeypatch.setenv("SVCUID", nucleus.token("test.Publisher"))
    component_bus = IpcBus()
    yield component_bus
    component_bus.close()


@pytest.fixture
def official():
    from awsiot.greengrasscoreipc import connect
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

    client = GreengrassCoreIPCClientV2(client=connect(), executor=None)
    yield client
    client.close()


class Received:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.arrived = threading.Event()

    def __call__(self, event: Any) -> None:
        self.events.append(event)
        self.arrived.set()


def test_a_local_publish_arrives_as_the_json_message_it_was(bus, official):
    received = Received()
    official.subscribe_to_topic(topic="allowed/topic", on_stream_event=received)
    message = {"response": {"status": "sample_dropped_by_strategy"}, "id": "r-1", "nested": [1, 2.5, None, "é"]}
    assert bus.publish_local("allowed/topic", message).result(10) is None
    assert received.arrived.wait(10)
    [event] = received.events
    assert event.json_message.message == message
    assert event.binary_message is None
    assert event.json_message.context.topic == "allowed/topic"


def test_an_iot_core_publish_arrives_with_its_json_payload_at_qos_1(bus, official):
    from awsiot.greengrasscoreipc.model import QOS

    received = Received()
    official.subscribe_to_iot_core(topic_name="fleet/#", qos=QOS.AT_LEAST_ONCE, on_stream_event=received)
    message = {"source-ref": "s3://b/k.png", "model-prediction": [0.5, 0.5]}
    assert bus.publish_iot_core("fleet/dev1/prediction", message).result(10) is None
    assert received.arrived.wait(10)
    [event] = received.events
    assert event.message.topic_name == "fleet/dev1/prediction"
    assert json.loads(event.message.payload) == message


def test_a_refused_publish_fails_its_future_with_the_nucleus_error_and_a_log_line(bus, caplog):
    with caplog.at_level("WARNING", logger="ml_feedback.ipc"):
        failed = bus.publish_local("not/allowed", {"n": 1})
        error = failed.exception(10)
    assert isinstance(error, PublishError)
    assert error.kind == "UnauthorizedError"
    assert f"publishing to not/allowed failed: {error.message}" in caplog.messages
    assert bus.publish_local("allowed/topic", {"n": 2}).result(10) is None, "the connection keeps serving"


def test_a_publish_after_the_connection_ended_fails_its_future_and_raises_nothing(bus):
    bus.close()
    assert bus.disconnected.is_set()
    error = bus.publish_local("allowed/topic", {"n": 3}).exception(5)
    assert isinstance(error, PublishError)
    assert (error.kind, error.message) == ("ConnectionClosedError", "the IPC connection to the nucleus is closed")


def test_a_subscription_hands_over_json_as_a_dict_and_binary_as_bytes_in_order(bus, official):
    from awsiot.greengrasscoreipc.model import BinaryMessage, JsonMessage, PublishMessage

    received = Received()
    subscription = bus.subscribe("allowed/topic", received)
    official.publish_to_topic(topic="allowed/topic", publish_message=PublishMessage(json_message=JsonMessage(message={"n": 1})))
    official.publish_to_topic(topic="allowed/topic", publish_message=PublishMessage(binary_message=BinaryMessage(message=b"\x00\xffraw")))
    deadline = time.monotonic() + 10
    while len(received.events) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert received.events == [{"n": 1.0}, b"\x00\xffraw"]
    subscription.close()
    time.sleep(0.2)  # the end of the stream and the next publish travel on different connections
    official.publish_to_topic(topic="allowed/topic", publish_message=PublishMessage(json_message=JsonMessage(message={"n": 2})))
    time.sleep(0.5)
    assert received.events == [{"n": 1.0}, b"\x00\xffraw"], "nothing after the subscription closed"


def test_a_subscription_the_policy_does_not_allow_raises_the_nucleus_error(bus):
    with pytest.raises(PublishError) as refused:
        bus.subscribe("not/allowed", Received())
    assert refused.value.kind == "UnauthorizedError"
    assert refused.value.message == (
        "Principal test.Publisher is not authorized to perform aws.greengrass.ipc.pubsub:aws.greengrass#SubscribeToTopic "
        "on resource not/allowed"
    )
