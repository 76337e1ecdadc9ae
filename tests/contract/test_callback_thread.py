"""The component keeps one Python thread state on its connection's event-loop thread, connect to disconnect.

Without it CPython builds and drops a thread state around every IPC callback
(measurable CPU per message), and a thread-local value set in one callback is
gone in the next. That second effect is what these tests observe; a value
still alive after the connection closed would be a leaked thread state.
"""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable

import pytest

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


def count_through_a_component_bus() -> list[int]:
    bus = IpcBus()
    counts = publish_and_count(lambda counter: bus.subscribe("pinned", counter), lambda n: bus.publish_local("pinned", {"n": n}))
    bus.close()
    return counts


def test_the_component_callbacks_share_one_thread_state(component_environment):
    assert count_through_a_component_bus() == list(range(1, MESSAGES + 1))


def test_every_new_connection_keeps_its_own_thread_state(component_environment):
    """Each connection has a new event-loop thread, and Linux reuses thread ids: no id may be taken as already done."""
    for _ in range(8):
        assert count_through_a_component_bus() == list(range(1, MESSAGES + 1))


class Marker:
    pass


def test_the_thread_state_is_given_back_when_the_connection_closes(component_environment):
    local = threading.local()
    markers: list[weakref.ref[Marker]] = []
    arrived = threading.Event()

    def on_message(_message: object) -> None:
        local.marker = Marker()
        markers.append(weakref.ref(local.marker))
        arrived.set()

    bus = IpcBus()
    bus.subscribe("pinned", on_message)
    bus.publish_local("pinned", {"n": 1})
    assert arrived.wait(10)
    gc.collect()
    assert markers[0]() is not None, "the thread state holding the thread-local value should still be alive"
    bus.close()
    assert bus.disconnected.is_set()
    gc.collect()
    assert markers[0]() is None, "the event-loop thread's state outlived its connection"
