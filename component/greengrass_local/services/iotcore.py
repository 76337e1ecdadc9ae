"""PublishToIoTCore, SubscribeToIoTCore and SubscribeToIoTCoreConnectionStatus, with a loopback or a real MQTT broker.

Without a broker, IoT Core is an in-process loopback: what components publish
reaches the components subscribed with a matching filter. With `--mqtt-broker`
it is a bridge: publishes go to the broker and each distinct subscription
filter is subscribed on the broker, so plain MQTT clients are on both ends.

SubscribeToIoTCoreConnectionStatus (MqttProxyIPCAgent.java of recent nucleus
sources, not yet in every release; nucleus lite since 2.7) needs no
authorization: the subscriber first gets the current status, then one event
each time the connection is interrupted or resumed. The loopback is always
CONNECTED; the bridge reports its broker connection.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Protocol

from ..authorization import MQTTPROXY_SERVICE, Authorizer
from ..topics import iot_core_topic_problem, mqtt_filter_matches
from ..wire.errors import InvalidArgumentsError, ServiceError, UnauthorizedError
from ..wire.server import Call, Operation, Stream

log = logging.getLogger("greengrass_local.iotcore")

MAX_PAYLOAD_BYTES = 131072
QOS_VALUES = ("0", "1")
MQTT5_PROPERTIES = ("userProperties", "messageExpiryIntervalSeconds", "correlationData", "responseTopic", "payloadFormat", "contentType")


class Transport(Protocol):
    """Where IoT Core traffic goes: the loopback or a broker."""

    async def start(self, on_message: Any) -> None: ...
    def publish(self, topic: str, payload: bytes, qos: int, retain: bool, properties: dict[str, Any]) -> None: ...
    async def subscribe(self, topic_filter: str, qos: int) -> None: ...
    async def unsubscribe(self, topic_filter: str) -> None: ...
    async def stop(self) -> None: ...


@dataclass(eq=False)
class _Subscription:
    component: str
    topic_filter: str
    stream: Stream


class IoTCore:
    def __init__(self, authorizer: Authorizer, transport: Transport | None = None) -> None:
        self._authorizer = authorizer
        self._transport: Transport = transport or Loopback()
        self._subscriptions: list[_Subscription] = []
        self._filter_counts: dict[str, int] = defaultdict(int)
        self._background: set[asyncio.Future[None]] = set()
        self._status_streams: list[Stream] = []

    async def start(self) -> None:
        watch = getattr(self._transport, "watch_connection", None)
        if watch is not None:
            watch(self.connection_changed)
        await self._transport.start(self.dispatch)

    async def stop(self) -> None:
        await self._transport.stop()

    def operations(self) -> list[Operation]:
        return [
            Operation("PublishToIoTCore", self.publish_to_iot_core),
            Operation("SubscribeToIoTCore", self.subscribe_to_iot_core, "IoTCoreMessage"),
            Operation("SubscribeToIoTCoreConnectionStatus", self.subscribe_to_connection_status, "IoTCoreConnectionStatusEvent"),
        ]

    @property
    def connected(self) -> bool:
        return bool(getattr(self._transport, "connected", True))

    def subscribe_to_connection_status(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        stream = call.stream
        assert stream is not None
        self._status_streams.append(stream)
        stream.on_close(lambda: self._status_streams.remove(stream) if stream in self._status_streams else None)
        stream.send_json(_status_event(self.connected))  # held until the response is out
        return {}

    def connection_changed(self, connected: bool) -> None:
        log.info("IoT Core connection %s", "resumed" if connected else "interrupted")
        for stream in list(self._status_streams):
            stream.send_json(_status_event(connected))

    def publish_to_iot_core(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        topic = self._authorized_topic(call, request)
        if request.get("payload") is None:
            raise InvalidArgumentsError("Payload is required")
        qos = _qos(request)
        payload = _decode(request["payload"], "payload")
        problem = iot_core_topic_problem(topic, is_filter=False)
        if problem is None and len(payload) > MAX_PAYLOAD_BYTES:
            problem = f"The publishing message size {len(payload)} bytes exceeds the configured limit of {MAX_PAYLOAD_BYTES} bytes"
        if problem:
            raise ServiceError(f"Publish to topic {topic} failed: {problem}")
        properties = {key: request[key] for key in MQTT5_PROPERTIES if request.get(key) is not None}
        self._transport.publish(topic, payload, qos, bool(request.get("retain")), properties)
        return {}

    def publish_from_nucleus(self, topic: str, payload: bytes) -> None:
        """A message the nucleus itself sends to IoT Core (the ShadowManager stand-in's shadow topics)."""
        self._transport.publish(topic, payload, 0, False, {})

    async def subscribe_to_iot_core(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        topic_filter = self._authorized_topic(call, request)
        qos = _qos(request)
        assert call.stream is not None
        problem = iot_core_topic_problem(topic_filter, is_filter=True)
        if problem:
            raise ServiceError(f"Subscribe to topic {topic_filter} failed with error {problem}")
        if self._filter_counts[topic_filter] == 0:
            try:
                await self._transport.subscribe(topic_filter, qos)
            except Exception as exc:
                self._filter_counts.pop(topic_filter, None)
                raise ServiceError(f"Subscribe to topic {topic_filter} failed with error {exc}") from exc
        self._filter_counts[topic_filter] += 1
        subscription = _Subscription(call.component, topic_filter, call.stream)
        self._subscriptions.append(subscription)
        call.stream.on_close(lambda: self._unsubscribe(subscription))
        return {}

    def _authorized_topic(self, call: Call, request: dict[str, Any]) -> str:
        topic = request.get("topicName")
        if not isinstance(topic, str):
            raise InvalidArgumentsError("Topic is required")
        if topic == "" or not self._authorizer.allowed(call.component, MQTTPROXY_SERVICE, call.operation, topic):
            log.warning("%s is not authorized to %s on %r", call.component, call.operation, topic)
            raise UnauthorizedError("Not Authorized")
        return topic

    def _unsubscribe(self, subscription: _Subscription) -> None:
        if subscription not in self._subscriptions:
            return
        self._subscriptions.remove(subscription)
        self._filter_counts[subscription.topic_filter] -= 1
        if self._filter_counts[subscription.topic_filter] <= 0:
            del self._filter_counts[subscription.topic_filter]
            self._background.add(asyncio.ensure_future(self._quiet_unsubscribe(subscription.topic_filter)))

    async def _quiet_unsubscribe(self, topic_filter: str) -> None:
        current = asyncio.current_task()
        if current is not None:
            current.add_done_callback(self._background.discard)
        try:
            await self._transport.unsubscribe(topic_filter)
        except Exception as exc:
            log.warning("unsubscribing %s from the broker failed: %s", topic_filter, exc)

    def dispatch(self, topic: str, payload: bytes, extras: dict[str, Any] | None = None) -> int:
        """A message arrived from IoT Core: give it to every matching subscriber once."""
        matching = [s for s in self._subscriptions if mqtt_filter_matches(s.topic_filter, topic)]
        if not matching:
            return 0
        message: dict[str, Any] = {"topicName": topic, "payload": base64.b64encode(payload).decode("ascii")}
        message.update(extras or {})
        message.setdefault("retain", False)
        message.setdefault("payloadFormat", "BYTES")
        encoded = json.dumps({"message": message}).encode()
        return sum(subscription.stream.send(encoded) for subscription in matching)


def _status_event(connected: bool) -> dict[str, Any]:
    return {"connectionStatusEvent": {"status": "CONNECTED" if connected else "DISCONNECTED"}}


def _qos(request: dict[str, Any]) -> int:
    qos = request.get("qos")
    if qos is None:
        raise InvalidArgumentsError("QoS is required")
    if qos not in QOS_VALUES:
        raise InvalidArgumentsError(f"Invalid QoS value: {qos}")
    return int(qos)


def _decode(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidArgumentsError(f"{name} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidArgumentsError(f"{name} is not valid base64: {exc}") from None


class Loopback:
    """IoT Core stand-in inside the emulator: publishes come straight back to subscribers."""

    def __init__(self) -> None:
        self._on_message: Any = None

    async def start(self, on_message: Any) -> None:
        self._on_message = on_message

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool, properties: dict[str, Any]) -> None:
        if self._on_message is not None:
            asyncio.get_running_loop().call_soon(self._on_message, topic, payload, {"retain": retain, **properties})

    async def subscribe(self, topic_filter: str, qos: int) -> None:
        return None

    async def unsubscribe(self, topic_filter: str) -> None:
        return None

    async def stop(self) -> None:
        self._on_message = None


class MqttBridge:
    """IoT Core as a real MQTT broker reached over plain TCP with awscrt's client."""

    def __init__(self, host: str, port: int, client_id: str | None = None) -> None:
        self.host, self.port = host, port
        self.client_id = client_id or f"greengrass-local-{uuid.uuid4().hex[:12]}"
        self._connection: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connected = False
        self._on_status: Any = None

    def watch_connection(self, on_status: Any) -> None:
        """`on_status(connected)` on the event loop each time the broker connection is interrupted or resumed."""
        self._on_status = on_status

    def _status(self, connected: bool) -> None:
        self.connected = connected
        if self._on_status is not None:
            self._on_status(connected)

    async def start(self, on_message: Any) -> None:
        from awscrt import io, mqtt

        self._loop = asyncio.get_running_loop()
        loop = self._loop
        event_loops = io.EventLoopGroup(1)
        bootstrap = io.ClientBootstrap(event_loops, io.DefaultHostResolver(event_loops))
        client = mqtt.Client(bootstrap, None)

        def on_resumed(connection: Any, return_code: Any, session_present: bool, **_: Any) -> None:
            if not session_present:
                connection.resubscribe_existing_topics()
            loop.call_soon_threadsafe(self._status, True)

        def on_interrupted(connection: Any, error: Any, **_: Any) -> None:
            loop.call_soon_threadsafe(self._status, False)

        self._connection = mqtt.Connection(
            client=client,
            host_name=self.host,
            port=self.port,
            client_id=self.client_id,
            clean_session=True,
            keep_alive_secs=30,
            on_connection_resumed=on_resumed,
            on_connection_interrupted=on_interrupted,
        )

        def on_any_message(topic: str, payload: bytes, **_: Any) -> None:
            loop.call_soon_threadsafe(on_message, topic, bytes(payload))

        self._connection.on_message(on_any_message)
        try:
            await asyncio.wrap_future(self._connection.connect())
        except Exception as exc:
            raise ConnectionError(f"cannot reach the MQTT broker at {self.host}:{self.port}: {exc}") from exc
        self.connected = True
        log.info("IoT Core bridged to MQTT broker %s:%d as %s", self.host, self.port, self.client_id)

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool, properties: dict[str, Any]) -> None:
        """MQTT 3.1.1 carries no MQTT 5 properties; they are dropped here."""
        from awscrt import mqtt

        self._connection.publish(topic, payload, mqtt.QoS(qos), retain)

    async def subscribe(self, topic_filter: str, qos: int) -> None:
        from awscrt import mqtt

        future, _packet_id = self._connection.subscribe(topic_filter, mqtt.QoS(qos))
        await asyncio.wrap_future(future)

    async def unsubscribe(self, topic_filter: str) -> None:
        future, _packet_id = self._connection.unsubscribe(topic_filter)
        await asyncio.wrap_future(future)

    async def stop(self) -> None:
        if self._connection is not None:
            try:
                await asyncio.wait_for(asyncio.wrap_future(self._connection.disconnect()), 5)
            except Exception as exc:
                log.warning("disconnecting from the MQTT broker failed: %s", exc)
            self._connection = None
