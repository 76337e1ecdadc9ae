"""Local pub/sub through the emulator, driven by the official client in component processes."""

from __future__ import annotations

from greengrass_local.deployment.lifecycle import State

SUBSCRIBER = """
from ipc_probe import client, outcome, save, wait_until
from awsiot.greengrasscoreipc.model import ReceiveMode

c = client()
got = []
def keep(event):
    message = event.json_message or event.binary_message
    got.append([message.context.topic, message.message if event.json_message else message.message.decode()])
{subscriptions}
c.update_state(state="RUNNING")
wait_until(lambda: any(m[1] == {{"done": True}} for m in got), 20)
save(received=got)
"""

PUBLISHER = """
from ipc_probe import client, outcome, save
from awsiot.greengrasscoreipc.model import BinaryMessage, JsonMessage, PublishMessage

c = client()
def publish(topic, message):
    return lambda: c.publish_to_topic(topic=topic, publish_message=PublishMessage(json_message=JsonMessage(message=message)))
{publishes}
save()
"""


def subscriber(subscriptions: str) -> str:
    return SUBSCRIBER.format(subscriptions=subscriptions)


def publisher(publishes: str) -> str:
    return PUBLISHER.format(publishes=publishes)


STARTUP = {"Startup": "python3 -u {artifacts:path}/main.py"}
AFTER_SUBSCRIBER = {"test.Sub": {"VersionRequirement": "^1.0.0"}}


def test_topics_are_allowed_and_denied_by_each_recipes_access_control(nucleus, project):
    project.component(
        "test.Sub",
        lifecycle=STARTUP,
        pubsub={"SubscribeToTopic": ["sensors/+/temp", "done"]},
        script=subscriber(
            'outcome("plus", lambda: c.subscribe_to_topic(topic="sensors/+/temp", on_stream_event=keep))\n'
            'outcome("hash", lambda: c.subscribe_to_topic(topic="sensors/#", on_stream_event=keep))\n'
            'outcome("done", lambda: c.subscribe_to_topic(topic="done", on_stream_event=keep))\n'
        ),
    )
    project.component(
        "test.Pub",
        dependencies=AFTER_SUBSCRIBER,
        pubsub={"PublishToTopic": ["sensors/*", "done"]},
        script=publisher(
            'outcome("a", publish("sensors/a/temp", {"v": 1}))\n'
            'outcome("b", publish("sensors/b/humidity", {"v": 2}))\n'
            'outcome("denied", publish("actuators/x", {"v": 3}))\n'
            'outcome("wildcard", publish("sensors/+/temp", {"v": 4}))\n'
            'outcome("empty", publish("", {"v": 5}))\n'
            'outcome("done", publish("done", {"done": True}))\n'
        ),
    )
    record = nucleus.deploy(project, merge={"test.Pub": "1.0.0"})
    assert record.status == "SUCCEEDED", record.details

    pub = nucleus.results("test.Pub")
    assert pub["a"] == ["ok", {}]
    assert pub["b"] == ["ok", {}]
    assert pub["denied"] == [
        "UnauthorizedError",
        "Principal test.Pub is not authorized to perform aws.greengrass.ipc.pubsub:aws.greengrass#PublishToTopic on resource actuators/x",
    ]
    assert pub["wildcard"] == ["InvalidArgumentsError", "Publish topic must not contain a wildcard."]
    assert pub["empty"] == ["UnauthorizedError", "Resource cannot be empty"]

    sub = nucleus.results("test.Sub")
    assert sub["plus"] == ["ok", {}]
    assert sub["hash"] == [
        "UnauthorizedError",
        "Principal test.Sub is not authorized to perform aws.greengrass.ipc.pubsub:aws.greengrass#SubscribeToTopic on resource sensors/#",
    ]
    # Only the matching topic arrives, with the published topic as context; numbers come back as doubles (Gson).
    assert sub["received"] == [["sensors/a/temp", {"v": 1.0}], ["done", {"done": True}]]


def test_receive_mode_decides_whether_a_component_hears_itself(nucleus, project):
    project.component(
        "test.Other",
        dependencies={"test.Self": {}},
        pubsub={"PublishToTopic": ["*"]},
        script=publisher('outcome("x", publish("room/1", {"from": "other"}))\noutcome("done", publish("done", {"done": True}))\n'),
    )
    project.component(
        "test.Self",
        lifecycle=STARTUP,
        pubsub={"SubscribeToTopic": ["*"], "PublishToTopic": ["*"]},
        script=subscriber(
            "from awsiot.greengrasscoreipc.model import PublishMessage, JsonMessage\n"
            "exact, wild, forced = [], [], []\n"
            'c.subscribe_to_topic(topic="room/1", on_stream_event=lambda e: exact.append(e.json_message.message["from"]))\n'
            'c.subscribe_to_topic(topic="room/+", on_stream_event=lambda e: wild.append(e.json_message.message["from"]))\n'
            'c.subscribe_to_topic(topic="room/#", receive_mode=ReceiveMode.RECEIVE_ALL_MESSAGES, '
            'on_stream_event=lambda e: forced.append(e.json_message.message["from"]))\n'
            'c.subscribe_to_topic(topic="done", on_stream_event=keep)\n'
            'c.publish_to_topic(topic="room/1", publish_message=PublishMessage(json_message=JsonMessage(message={"from": "self"})))\n'
        ).replace("save(received=got)", "save(exact=sorted(exact), wild=sorted(wild), forced=sorted(forced))"),
    )
    assert nucleus.deploy(project, merge={"test.Other": "1.0.0"}).status == "SUCCEEDED"
    results = nucleus.results("test.Self")
    assert results["exact"] == ["other", "self"]  # no wildcard: RECEIVE_ALL_MESSAGES by default
    assert results["wild"] == ["other"]  # wildcard: RECEIVE_MESSAGES_FROM_OTHERS by default
    assert results["forced"] == ["other", "self"]


def test_binary_messages_and_fifo_order_per_subscriber(nucleus, project):
    count = 400
    project.component(
        "test.Sub",
        lifecycle=STARTUP,
        pubsub={"SubscribeToTopic": ["stream/#", "done"]},
        script=subscriber(
            "import threading\n"
            "c = client(executor=None)\n"
            'c.subscribe_to_topic(topic="stream/#", on_stream_event=keep)\n'
            'c.subscribe_to_topic(topic="done", on_stream_event=keep)\n'
        ),
    )
    project.component(
        "test.Pub",
        dependencies=AFTER_SUBSCRIBER,
        pubsub={"PublishToTopic": ["stream/*", "done"]},
        script=publisher(
            f"for i in range({count}):\n"
            '    c.publish_to_topic_async(topic=f"stream/{i % 3}", publish_message=PublishMessage(binary_message=BinaryMessage(message=str(i).encode())))\n'
            'c.publish_to_topic(topic="done", publish_message=PublishMessage(json_message=JsonMessage(message={"done": True})))\n'
        ),
    )
    assert nucleus.deploy(project, merge={"test.Pub": "1.0.0"}).status == "SUCCEEDED"
    received = nucleus.results("test.Sub")["received"]
    assert [payload for _, payload in received[:-1]] == [str(i) for i in range(count)]
    assert [topic for topic, _ in received[:3]] == ["stream/0", "stream/1", "stream/2"]


def test_closing_a_stream_or_disconnecting_ends_the_subscription(nucleus, project):
    project.component("test.Observer", pubsub={"SubscribeToTopic": ["*"], "PublishToTopic": ["*"]})
    assert nucleus.deploy(project, merge={"test.Observer": "1.0.0"}).status == "SUCCEEDED"
    assert nucleus.state("test.Observer") is State.FINISHED
    subscribers = lambda: nucleus.run(nucleus.nucleus.pubsub.subscriber_count)  # noqa: E731

    client = nucleus.client("test.Observer")
    _response, operation = client.subscribe_to_topic(topic="a", on_stream_event=lambda e: None)
    client.subscribe_to_topic(topic="b/#", on_stream_event=lambda e: None)
    assert subscribers() == 2
    operation.close().result(5)
    _wait(lambda: subscribers() == 1)
    client.close()
    _wait(lambda: subscribers() == 0)


def _wait(condition, timeout: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)
