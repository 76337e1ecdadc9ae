"""Greengrass IPC for the component: with `ipc_publish`, the only module that imports awsiotsdk.

Three connections to the nucleus. The official client's carries the
configuration and the lifecycle. The other two are `ipc_publish`'s lean ones:
one carries the request subscriptions, whose messages reach the services on
its event thread, in arrival order, with no extra thread hop; the other
carries only the publishes, whose answers arrive on its own event thread. A
publish may therefore wait for room in the window of publishes in flight,
even on the requests' thread. That wait is the back-pressure that keeps
memory bounded when requests come faster than their answers can go out: the
requests stay with the nucleus. Configuration and validation events, which
need blocking calls on the official client's connection, are handed to a
single control thread.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from awsiot.eventstreamrpc import LifecycleHandler
from awsiot.greengrasscoreipc import connect
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import (
    ConfigurationUpdateEvents,
    ConfigurationValidityReport,
    ConfigurationValidityStatus,
    ReportedLifecycleState,
    ValidateConfigurationUpdateEvents,
)

from .ipc_publish import (
    PUBLISH_TO_IOT_CORE,
    PUBLISH_TO_TOPIC,
    JsonText,
    PublishConnection,
    publish_to_iot_core_request,
    publish_to_topic_request,
)
from .messages import UndecodableMessage
from .threadstate import keep_thread_state, release_thread_state

log = logging.getLogger("ml_feedback.ipc")

Message = dict[str, Any] | bytes | UndecodableMessage
CLOSE_SECONDS = 5.0


class Subscription:
    def __init__(self, operation: Any) -> None:
        self._operation = operation

    def close(self) -> None:
        try:
            self._operation.close()
        except Exception as exc:  # the connection may already be gone
            log.debug("closing a subscription failed: %s", exc)


class _Lifecycle(LifecycleHandler):
    def __init__(self, *ended: threading.Event) -> None:
        self._ended = ended

    def on_connect(self) -> None:
        keep_thread_state()

    def on_disconnect(self, reason: Exception | None) -> None:
        release_thread_state()
        for event in self._ended:
            event.set()


class IpcBus:
    def __init__(self) -> None:
        # The IPC clients never reconnect: when the nucleus goes away, the component must end
        # (and be restarted by it), so the end of either connection is observable.
        self.disconnected = threading.Event()
        self._ended = threading.Event()
        self._client = GreengrassCoreIPCClientV2(
            client=connect(lifecycle_handler=_Lifecycle(self._ended, self.disconnected)), executor=None
        )
        self._publisher = PublishConnection(on_end=self.disconnected.set)
        self._requests = PublishConnection(on_end=self.disconnected.set)
        self._control = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ipc-control")

    # -- pub/sub ------------------------------------------------------------------------

    def subscribe(self, topic: str, handler: Callable[[Message], None]) -> Subscription:
        """Local pub/sub messages as a dict (JsonMessage) or bytes (BinaryMessage), on the requests' own connection.

        A message whose JSON cannot be decoded (nested too deeply for Python's
        parser) reaches `handler` as an UndecodableMessage, so it can still be
        answered. The shapes are the IPC model's SubscriptionResponseMessage,
        read as the official client reads them.
        """

        def on_message(payload: bytes) -> None:
            try:
                document = json.loads(payload)
                json_message, binary_message = document.get("jsonMessage"), document.get("binaryMessage")
                message: Message | None = None
                if json_message is not None:
                    message = json_message["message"]
                elif binary_message is not None:
                    message = base64.b64decode(binary_message["message"])
            except Exception:
                log.warning("a message on %s could not be decoded by the IPC client (%d bytes)", topic, len(payload))
                try:
                    handler(UndecodableMessage(payload))
                except Exception as exc:
                    log.error("handling an undecodable message on %s failed: %s", topic, type(exc).__name__)
                return
            if message is None:
                return
            try:
                handler(message)
            except Exception:
                log.exception("handling a message on %s failed", topic)

        return Subscription(self._requests.subscribe(topic, on_message))

    def publish_local(self, topic: str, message: dict[str, Any] | JsonText) -> Future[Any]:
        """A JsonMessage, sent once the publish window has room, without waiting for the answer.

        The future completes when the nucleus has answered; a refusal is logged.
        """
        return self._publisher.publish(PUBLISH_TO_TOPIC, publish_to_topic_request(topic, message), f"publishing to {topic}")

    def publish_iot_core(self, topic: str, message: dict[str, Any] | JsonText) -> Future[Any]:
        """QoS 1, as `publish_local`; the future completes when the nucleus has taken the message."""
        payload = publish_to_iot_core_request(topic, JsonText.of(message))
        return self._publisher.publish(PUBLISH_TO_IOT_CORE, payload, f"publishing to IoT Core topic {topic}")

    # -- configuration -------------------------------------------------------------------

    def configuration(self) -> dict[str, Any]:
        value = self._client.get_configuration().value
        return dict(value or {})

    def on_configuration_change(self, callback: Callable[[dict[str, Any]], None]) -> Subscription:
        """Calls `callback` with the whole new configuration after each change."""

        def reload() -> None:
            try:
                callback(self.configuration())
            except Exception:
                log.exception("applying a configuration change failed")

        def on_event(event: ConfigurationUpdateEvents) -> None:
            self._control.submit(reload)

        _response, operation = self._client.subscribe_to_configuration_update(on_stream_event=on_event, on_stream_error=_log_stream_error)
        return Subscription(operation)

    def on_validate(self, validate: Callable[[dict[str, Any]], str | None]) -> Subscription:
        """Answers each proposed configuration: `validate` returns a rejection reason or None."""

        def answer(proposed: dict[str, Any], deployment_id: str) -> None:
            try:
                reason = validate(proposed)
            except Exception as exc:
                log.exception("validating a proposed configuration failed")
                reason = f"validation failed: {exc}"
            status = ConfigurationValidityStatus.ACCEPTED if reason is None else ConfigurationValidityStatus.REJECTED
            report = ConfigurationValidityReport(status=status, deployment_id=deployment_id, message=reason)
            try:
                self._client.send_configuration_validity_report(configuration_validity_report=report)
            except Exception as exc:  # unanswered, the deployment waits out the nucleus's validation timeout
                log.error("sending the validity report of deployment %s failed: %s", deployment_id, getattr(exc, "message", None) or exc)

        def on_event(event: ValidateConfigurationUpdateEvents) -> None:
            proposed = event.validate_configuration_update_event
            if proposed is not None:
                self._control.submit(answer, dict(proposed.configuration or {}), proposed.deployment_id)

        _response, operation = self._client.subscribe_to_validate_configuration_updates(
            on_stream_event=on_event, on_stream_error=_log_stream_error
        )
        return Subscription(operation)

    # -- lifecycle -------------------------------------------------------------------------

    def report_running(self) -> None:
        self._client.update_state(state=ReportedLifecycleState.RUNNING)

    def report_errored(self) -> None:
        self._client.update_state(state=ReportedLifecycleState.ERRORED)

    def close(self) -> None:
        """Close the connections and wait (briefly) until their event-loop threads have finished with Python."""
        self._control.shutdown(wait=True)
        self._client.close()
        self._requests.close()
        self._publisher.close()
        deadline = time.monotonic() + CLOSE_SECONDS
        connections = (self._ended, self._requests.ended, self._publisher.ended)
        if not all(ended.wait(max(0.0, deadline - time.monotonic())) for ended in connections):
            log.warning("the IPC connections did not report their end within %s s", CLOSE_SECONDS)


def _log_stream_error(error: Exception) -> bool:
    log.warning("IPC stream error: %s", str(error)[:300])  # some errors carry the whole message
    return False
