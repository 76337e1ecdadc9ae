"""The component's lean connections to the nucleus: PublishToTopic, PublishToIoTCore and SubscribeToTopic, nothing else.

A dropped sample makes four publishes; through the official client each
builds model objects, a JSON document of them, an operation with its futures,
and parses a model back from the answer: three quarters of the component's
CPU per request. Here a publish is one JSON document sent on awscrt's
event-stream RPC, the layer the official client is built on, and its answer is
only checked for an error. The wire shapes are those of the IPC model
(awsiot/greengrasscoreipc/model.py), written once, below; the contract tests
publish through here to the local nucleus and read the messages back with the
official client.

Requests arrive the same way: a subscription's messages reach its handler
as the raw SubscriptionResponseMessage document, with no model objects made
for them. The requests have a connection of their own: each connection has
its own event-loop thread, so the answers to publishes arrive even while the
thread reading requests waits for room in the window of publishes in flight
(`PublishWindow`).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from awscrt.eventstream import Header
from awscrt.eventstream.rpc import (
    ClientConnection,
    ClientConnectionHandler,
    ClientContinuationHandler,
    MessageFlag,
    MessageType,
)
from awscrt.io import ClientBootstrap, DefaultHostResolver, EventLoopGroup, SocketDomain, SocketOptions
from awsiot.greengrasscoreipc.model import PublishToIoTCoreRequest, PublishToTopicRequest, SubscribeToTopicRequest

from .messages import json_payload
from .threadstate import keep_thread_state, release_thread_state

log = logging.getLogger("ml_feedback.ipc")

CONNECT_SECONDS = 10.0
# Publishes in flight at most (each holds a stream, its futures and its frames).
PUBLISH_WINDOW = 64
# A nucleus that answers no publish for this long gets one more anyway, with a warning: the component keeps going.
PUBLISH_WAIT_SECONDS = 10.0

_PROTOCOL_VERSION = Header.from_string(":version", "0.1.0")
_JSON = Header.from_string(":content-type", "application/json")
# The operation and request shape names, from the IPC model itself (`aws.greengrass#PublishToTopic`, ...Request).
PUBLISH_TO_TOPIC = PublishToTopicRequest._model_name().removesuffix("Request")
PUBLISH_TO_IOT_CORE = PublishToIoTCoreRequest._model_name().removesuffix("Request")
SUBSCRIBE_TO_TOPIC = SubscribeToTopicRequest._model_name().removesuffix("Request")
_REQUEST_HEADERS = {
    PUBLISH_TO_TOPIC: [_JSON, Header.from_string("service-model-type", PublishToTopicRequest._model_name())],
    PUBLISH_TO_IOT_CORE: [_JSON, Header.from_string("service-model-type", PublishToIoTCoreRequest._model_name())],
    SUBSCRIBE_TO_TOPIC: [_JSON, Header.from_string("service-model-type", SubscribeToTopicRequest._model_name())],
}


class JsonText(bytes):
    """A message already encoded as JSON (UTF-8), for a message sent to more than one destination.

    A status or prediction goes both to IoT Core and to local pub/sub; encoding it once spares the
    second encoding, which for a detector's prediction of a few hundred boxes takes milliseconds.
    """

    @classmethod
    def of(cls, message: dict[str, Any] | JsonText) -> JsonText:
        """The message's JSON; a message already encoded is taken as it is."""
        return message if isinstance(message, JsonText) else cls(json_payload(message))


def publish_to_topic_request(topic: str, message: dict[str, Any] | JsonText) -> bytes:
    """PublishToTopicRequest with a JsonMessage, as the IPC model serializes it (`json.dumps` of the request document)."""
    return b'{"topic": %s, "publishMessage": {"jsonMessage": {"message": %s}}}' % (json.dumps(topic).encode(), JsonText.of(message))


def publish_to_iot_core_request(topic: str, payload: bytes, qos: str = "1") -> bytes:
    """PublishToIoTCoreRequest: the payload travels as base64 inside the JSON."""
    return json.dumps({"topicName": topic, "qos": qos, "payload": base64.b64encode(payload).decode("ascii")}).encode()


class PublishError(Exception):
    """The nucleus refused a publish (UnauthorizedError, ServiceError, ...), or the connection ended first."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}" if kind else message)
        self.kind, self.message = kind, message

    @property
    def lost(self) -> bool:
        """The connection ended first: the nucleus may never have had the message (the outbox then answers again later)."""
        return self.kind in ("ConnectionClosedError", "StreamClosedError")


class PublishWindow:
    """At most `size` publishes in flight: `open()` waits for room, `done()` gives it back."""

    def __init__(self, size: int = PUBLISH_WINDOW, patience: float = PUBLISH_WAIT_SECONDS) -> None:
        self.size, self._patience = size, patience
        self.in_flight = 0
        self._room = threading.Condition()

    def open(self) -> None:
        with self._room:
            if not self._room.wait_for(lambda: self.in_flight < self.size, self._patience):
                log.warning("the nucleus has not answered %d publishes for %.0f s; sending one more", self.in_flight, self._patience)
            self.in_flight += 1

    def done(self) -> None:
        with self._room:
            self.in_flight -= 1
            self._room.notify()


class PublishConnection(ClientConnectionHandler):
    """An IPC connection of the component, authenticated with its SVCUID, that publishes or subscribes to topics."""

    def __init__(self, on_end: Callable[[], None], window: PublishWindow | None = None) -> None:
        self._on_end = on_end
        self.window = window or PublishWindow()
        self._accepted: Future[bool] = Future()
        self.ended = threading.Event()
        self._elg = EventLoopGroup(num_threads=1)
        options = SocketOptions()
        options.domain = SocketDomain.Local
        self._connection: ClientConnection | None = None
        connected = ClientConnection.connect(
            handler=self,
            host_name=os.environ["AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT"],
            port=0,
            bootstrap=ClientBootstrap(self._elg, DefaultHostResolver(self._elg)),
            socket_options=options,
        )
        connected.result(CONNECT_SECONDS)
        assert self._connection is not None
        token = json.dumps({"authToken": os.environ["SVCUID"]}).encode()
        self._connection.send_protocol_message(headers=[_PROTOCOL_VERSION], payload=token, message_type=MessageType.CONNECT)
        if not self._accepted.result(CONNECT_SECONDS):
            self._connection.close()
            raise PublishError("AccessDeniedError", "the nucleus did not accept the component's publishing connection")

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, operation: str, payload: bytes, what: str) -> Future[None]:
        """Sent once the window has room; the future completes when the nucleus has answered.

        It fails with PublishError when the nucleus refused, or when the connection is gone (the component is
        then on its way out, and the nucleus restarts it).
        """
        answered: Future[None] = Future()
        connection = self._connection
        if connection is None or self.ended.is_set():
            answered.set_exception(PublishError("ConnectionClosedError", "the IPC connection to the nucleus is closed"))
            return answered
        self.window.open()
        try:
            stream = connection.new_stream(_Answer(answered, self.window, what))
            stream.activate(
                operation=operation, headers=_REQUEST_HEADERS[operation], payload=payload, message_type=MessageType.APPLICATION_MESSAGE
            )
        except Exception as error:  # the connection closed meanwhile: no stream, no answer to wait for
            self.window.done()
            log.warning("%s failed: %s", what, error)
            answered.set_exception(PublishError("ConnectionClosedError", str(error)))
        return answered

    def subscribe(self, topic: str, on_message: Callable[[bytes], None]) -> TopicSubscription:
        """SubscribeToTopic: returns once the nucleus has answered; raises PublishError when it refused.

        `on_message` gets each SubscriptionResponseMessage's JSON, on this connection's event-loop thread.
        """
        connection = self._connection
        if connection is None or self.ended.is_set():
            raise PublishError("ConnectionClosedError", "the IPC connection to the nucleus is closed")
        subscription = TopicSubscription(topic, on_message)
        stream = connection.new_stream(subscription)
        subscription.stream = stream
        payload = json.dumps({"topic": topic}).encode()
        stream.activate(
            operation=SUBSCRIBE_TO_TOPIC,
            headers=_REQUEST_HEADERS[SUBSCRIBE_TO_TOPIC],
            payload=payload,
            message_type=MessageType.APPLICATION_MESSAGE,
        )
        try:
            subscription.opened.result(CONNECT_SECONDS)
        except TimeoutError:
            subscription.close()
            raise PublishError(
                "TimeoutError", f"the nucleus did not answer the subscription to {topic} within {CONNECT_SECONDS:.0f} s"
            ) from None
        return subscription

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    # -- the connection's events (its event-loop thread) ---------------------------------------

    def on_connection_setup(self, connection: ClientConnection | None, error: Exception | None, **kwargs: Any) -> None:
        if connection is not None:
            keep_thread_state()
            self._connection = connection

    def on_protocol_message(self, headers: Any, payload: bytes, message_type: MessageType, flags: int, **kwargs: Any) -> None:
        if message_type == MessageType.CONNECT_ACK and not self._accepted.done():
            self._accepted.set_result(bool(flags & MessageFlag.CONNECTION_ACCEPTED))

    def on_connection_shutdown(self, reason: Exception | None, **kwargs: Any) -> None:
        release_thread_state()
        if not self._accepted.done():
            self._accepted.set_result(False)
        self.ended.set()
        self._on_end()


def _error_of(headers: Any, payload: bytes) -> PublishError:
    """The nucleus's modeled error (UnauthorizedError, ...) from an APPLICATION_ERROR message."""
    kind = next((str(header.value) for header in headers if header.name == "service-model-type"), "")
    try:
        message = str(json.loads(payload).get("message", ""))
    except (ValueError, AttributeError):
        message = payload.decode("utf-8", "replace")[:300]
    return PublishError(kind.rsplit("#", 1)[-1], message)


class _Answer(ClientContinuationHandler):
    """One publish's stream: its answer completes the future; the stream's end gives its room in the window back."""

    def __init__(self, answered: Future[None], window: PublishWindow, what: str) -> None:
        self._answered, self._window, self._what = answered, window, what

    def on_continuation_message(self, headers: Any, payload: bytes, message_type: MessageType, flags: int, **kwargs: Any) -> None:
        if self._answered.done():
            return
        if message_type == MessageType.APPLICATION_MESSAGE:
            self._answered.set_result(None)
            return
        error = _error_of(headers, payload)
        log.warning("%s failed: %s", self._what, error.message or error)
        self._answered.set_exception(error)

    def on_continuation_closed(self, **kwargs: Any) -> None:
        self._window.done()
        if not self._answered.done():
            error = PublishError("StreamClosedError", "the stream closed before the nucleus answered")
            log.warning("%s failed: %s", self._what, error.message)
            self._answered.set_exception(error)


class TopicSubscription(ClientContinuationHandler):
    """A SubscribeToTopic stream: its first answer opens it (or refuses it); every later message goes to `on_message`."""

    def __init__(self, topic: str, on_message: Callable[[bytes], None]) -> None:
        self.topic, self._on_message = topic, on_message
        self.opened: Future[None] = Future()
        self.stream: Any = None

    def close(self) -> None:
        """Ends the subscription (the nucleus stops delivering); nothing happens when the stream is already gone."""
        try:
            sent = self.stream.send_message(message_type=MessageType.APPLICATION_MESSAGE, flags=MessageFlag.TERMINATE_STREAM)
            sent.result(CONNECT_SECONDS)
        except Exception as error:  # the stream or the connection is already closed
            log.debug("closing the subscription to %s: %s", self.topic, error)

    def on_continuation_message(self, headers: Any, payload: bytes, message_type: MessageType, flags: int, **kwargs: Any) -> None:
        if not self.opened.done():
            if message_type == MessageType.APPLICATION_MESSAGE:
                self.opened.set_result(None)
            else:
                self.opened.set_exception(_error_of(headers, payload))
            return
        if message_type == MessageType.APPLICATION_MESSAGE:
            self._on_message(payload)
        else:
            log.warning("IPC stream error: %s", str(_error_of(headers, payload))[:300])

    def on_continuation_closed(self, **kwargs: Any) -> None:
        if not self.opened.done():
            self.opened.set_exception(
                PublishError("StreamClosedError", f"the stream closed before the nucleus answered the subscription to {self.topic}")
            )
