"""Local publish/subscribe: PublishToTopic and SubscribeToTopic.

Checks run in the nucleus's order (authorization first) with its texts
(PubSubIPCEventStreamAgent.java). Delivery is synchronous on the event loop,
so each subscriber sees messages in publish order; a message is serialized
once and shared by every subscriber.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ..authorization import PUBSUB_SERVICE, Authorizer
from ..topics import has_wildcard, local_filter_matches
from ..wire.errors import InvalidArgumentsError, ServiceError
from ..wire.gson import as_doubles
from ..wire.server import Call, Operation, Stream

RECEIVE_ALL = "RECEIVE_ALL_MESSAGES"
RECEIVE_FROM_OTHERS = "RECEIVE_MESSAGES_FROM_OTHERS"
JSON_MESSAGE = "jsonMessage"
BINARY_MESSAGE = "binaryMessage"


@dataclass(eq=False)
class _Subscription:
    component: str
    topic_filter: str
    receive_own: bool
    stream: Stream


class PubSub:
    def __init__(self, authorizer: Authorizer) -> None:
        self._authorizer = authorizer
        self._exact: dict[str, list[_Subscription]] = defaultdict(list)
        self._wildcard: list[_Subscription] = []

    def operations(self) -> list[Operation]:
        return [
            Operation("PublishToTopic", self.publish_to_topic),
            Operation("SubscribeToTopic", self.subscribe_to_topic, "SubscriptionResponseMessage"),
        ]

    def publish_to_topic(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        topic = request.get("topic")
        if topic is not None:
            self._authorizer.check(call.component, PUBSUB_SERVICE, call.operation, str(topic))
        kind, body = _message_of(request.get("publishMessage"))
        if not isinstance(topic, str):
            raise InvalidArgumentsError("Publish topic must not be null")
        if any(char in topic for char in "+#*"):
            raise InvalidArgumentsError("Publish topic must not contain a wildcard.")
        self.deliver(call.component, topic, kind, body)
        return {}

    def deliver(self, publisher: str | None, topic: str, kind: str, body: Any) -> int:
        """Hand one message to every matching subscriber; returns how many got it."""
        payload: bytes | None = None
        delivered = 0
        for subscription in (*self._exact.get(topic, ()), *self._wildcard):
            if subscription.component == publisher and not subscription.receive_own:
                continue
            if subscription.topic_filter != topic and not local_filter_matches(subscription.topic_filter, topic):
                continue
            if payload is None:
                payload = subscription_message(kind, body, topic)
            delivered += subscription.stream.send(payload)
        return delivered

    def subscribe_to_topic(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        topic_filter = request.get("topic")
        if topic_filter is not None:
            self._authorizer.check(call.component, PUBSUB_SERVICE, call.operation, str(topic_filter))
        if not isinstance(topic_filter, str) or not topic_filter:
            raise InvalidArgumentsError("Subscribe topic must not be empty")
        assert call.stream is not None
        wildcard = has_wildcard(topic_filter)
        mode = request.get("receiveMode") or (RECEIVE_FROM_OTHERS if wildcard else RECEIVE_ALL)
        if mode not in (RECEIVE_ALL, RECEIVE_FROM_OTHERS):
            raise InvalidArgumentsError(f"Invalid receive mode {mode}")
        subscription = _Subscription(call.component, topic_filter, mode == RECEIVE_ALL, call.stream)
        bucket = self._wildcard if wildcard else self._exact[topic_filter]
        bucket.append(subscription)
        call.stream.on_close(lambda: self._unsubscribe(subscription))
        return {}

    def _unsubscribe(self, subscription: _Subscription) -> None:
        if subscription in self._wildcard:
            self._wildcard.remove(subscription)
            return
        bucket = self._exact.get(subscription.topic_filter, [])
        if subscription in bucket:
            bucket.remove(subscription)
        if not bucket:
            self._exact.pop(subscription.topic_filter, None)

    def subscriber_count(self) -> int:
        return sum(len(bucket) for bucket in self._exact.values()) + len(self._wildcard)


_BASE64_TEXT = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


def subscription_message(kind: str, body: Any, topic: str) -> bytes:
    """The SubscriptionResponseMessage a subscriber gets.

    A binary message is base64 text, which JSON holds as it is: it is put in place rather than run
    through the encoder (the text of a 10 KB sample costs the encoder more than the rest of a delivery).
    """
    if kind == BINARY_MESSAGE and body.isascii() and not body.encode("ascii").translate(None, _BASE64_TEXT):
        context = json.dumps({"topic": topic})
        return f'{{"{BINARY_MESSAGE}": {{"message": "{body}", "context": {context}}}}}'.encode("ascii")
    message = as_doubles(body) if kind == JSON_MESSAGE else body
    return json.dumps({kind: {"message": message, "context": {"topic": topic}}}).encode()


def _message_of(publish_message: Any) -> tuple[str, Any]:
    if not isinstance(publish_message, dict):
        raise ServiceError("publishMessage is required")
    kinds = [key for key in (JSON_MESSAGE, BINARY_MESSAGE) if publish_message.get(key) is not None]
    if len(kinds) > 1:
        raise ServiceError("More than one union member set for type: aws.greengrass#PublishMessage")
    if not kinds:
        raise ServiceError("publishMessage must set jsonMessage or binaryMessage")
    kind = kinds[0]
    message = publish_message[kind]
    body = message.get("message") if isinstance(message, dict) else None
    if body is None:
        raise ServiceError(f"{kind}.message is required")
    if kind == BINARY_MESSAGE:
        # Passed on as sent: decoding 10 KB of base64 per message would cost more than the rest of a publish.
        if not isinstance(body, str):
            raise InvalidArgumentsError("binaryMessage.message must be a base64 string")
        return kind, body
    if not isinstance(body, dict):
        raise InvalidArgumentsError("Unable to serialize payload as JSON")
    return kind, body
