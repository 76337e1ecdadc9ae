"""The component and the SDK keep one Python thread state on awscrt's event-loop thread.

Without it CPython builds and drops a thread state around every IPC callback
(measurable CPU per message), and a thread-local value set in one callback is
gone in the next. That second effect is what these tests observe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from greengrass_machine_learning_sdk import _ipc
from ml_feedback.ipc import IpcBus

MESSAGES = 5


@pytest.fixture
def component_environment(nucleus, project, monkeypatch):
    """This test process stands in for a component: the IPC variables the nucleus gives one."""
    project.component("test.Pinned", pubsub={"SubscribeToTopic": ["pinned"], "PublishToTopic": ["pinned"]})
    assert nucleus.deploy(project, merge={"test.Pinned": "1.0.0"}).status == "SUCCEEDED"
    monkeypatch.setenv("AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT", nucleus.nucleus.socket_path)
    monkeypatch.setenv("SVCUID", nucleus.token("test.Pinned"))
    return nucleus


class ThreadLocalCounter:
    """Counts messages in a thread-local: the count only grows if the callback thread keeps its state."""

    def __init__(self) -> None:
        self._local = threading.local()
        self.counts: list[int] = []
        self.done = threading.Event()

    def __call__(self, _message: object) -> None:
        self._local.seen = getattr(self._local, "seen", 0) + 1
        self.counts.append(self._local.seen)
        if len(self.counts) == MESSAGES:
            self.done.set()


def publish_and_count(subscribe: Callable[[ThreadLocalCounter], object], publish: Callable[[int], object]) -> list[int]:
    counter = ThreadLocalCounter()
    subscribe(counter)
    for number in range(MESSAGES):
        publish(number)
    assert counter.done.wait(10), f"only {len(counter.counts)} of {MESSAGES} messages arrived"
    return counter.counts


def test_without_a_kept_thread_state_each_callback_starts_afresh(component_environment):
    """The control: a plain official client, as CPython and awscrt behave on their own.

    Should a later awscrt keep a thread state itself, this fails, and `keep_thread_state` has become redundant.
    """
    from awsiot.greengrasscoreipc import connect
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
    from awsiot.greengrasscoreipc.model import JsonMessage, PublishMessage

    client = GreengrassCoreIPCClientV2(client=connect(), executor=None)
    counts = publish_and_count(
        lambda counter: client.subscribe_to_topic(topic="pinned", on_stream_event=counter),
        lambda n: client.publish_to_topic(topic="pinned", publish_message=PublishMessage(json_message=JsonMessage(message={"n": n}))),
    )
    client.close()
    assert counts == [1] * MESSAGES


def test_the_component_callbacks_share_one_thread_state(component_environment):
    bus = IpcBus()
    counts = publish_and_count(lambda counter: bus.subscribe("pinned", counter), lambda n: bus.publish_local("pinned", {"n": n}))
    bus.close()
    assert counts == list(range(1, MESSAGES + 1))


def test_the_sdk_callbacks_share_one_thread_state(component_environment, monkeypatch):
    from awsiot.greengrasscoreipc.model import JsonMessage, PublishMessage

    monkeypatch.setattr(_ipc, "_client", None)
    client = _ipc.ipc_client()
    counts = publish_and_count(
        lambda counter: client.subscribe_to_topic(topic="pinned", on_stream_event=counter),
        lambda n: client.publish_to_topic(topic="pinned", publish_message=PublishMessage(json_message=JsonMessage(message={"n": n}))),
    )
    client.close()
    assert counts == list(range(1, MESSAGES + 1))
