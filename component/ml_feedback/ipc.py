"""Greengrass IPC for the component: the only module that imports awsiotsdk.

The client runs stream callbacks on its own event thread (`executor=None`), so
requests reach the services in arrival order with no extra thread hop. That
thread must never wait on IPC: publishes are sent asynchronously, and
configuration and validation events, which need blocking calls, are handed
to a single control thread.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from awsiot.eventstreamrpc import DeserializeError, LifecycleHandler
from awsiot.greengrasscoreipc import connect
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import (
    QOS,
    ConfigurationUpdateEvents,
    ConfigurationValidityReport,
    ConfigurationValidityStatus,
    JsonMessage,
    PublishMessage,
    ReportedLifecycleState,
    SubscriptionResponseMessage,
    ValidateConfigurationUpdateEvents,
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
    def __init__(self, disconnected: threading.Event) -> None:
        self._disconnected = disconnected

    def on_connect(self) -> None:
        keep_thread_state()

    def on_disconnect(self, reason: Exception | None) -> None:
        release_thread_state()
        self._disconnected.set()


class IpcBus:
    def __init__(self, client: GreengrassCoreIPCClientV2 | None = None) -> None:
        # The IPC client never reconnects: when the nucleus goes away, the component must end
        # (and be restarted by it), so the connection's end is observable.
        self.disconnected = threading.Event()
        self._owns_connection = client is None
        if client is None:
            client = GreengrassCoreIPCClientV2(client=connect(lifecycle_handler=_Lifecycle(self.disconnected)), executor=None)
        self._client = client
        self._control = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ipc-control")

    # -- pub/sub ------------------------------------------------------------------------

    def subscribe(self, topic: str, handler: Callable[[Message], None]) -> Subscription:
        """Local pub/sub messages as a dict (JsonMessage) or bytes (BinaryMessage).

        A message the IPC client cannot decode (JSON nested too deeply for
        Python's parser) reaches `handler` as an UndecodableMessage, so it can
        still be answered.
        """

        def on_event(event: SubscriptionResponseMessage) -> None:
            try:
                if event.json_message is not None:
                    handler(event.json_message.message)
                elif event.binary_message is not None:
                    handler(event.binary_message.message)
            except Exception:
                log.exception("handling a message on %s failed", topic)

        def on_error(error: Exception) -> bool:
            payload = error.args[-1] if isinstance(error, DeserializeError) and error.args else None
            if not isinstance(payload, bytes):
                return _log_stream_error(error)
            log.warning("a message on %s could not be decoded by the IPC client (%d bytes)", topic, len(payload))
            try:
                handler(UndecodableMessage(payload))
            except Exception as exc:
                log.error("handling an undecodable message on %s failed: %s", topic, type(exc).__name__)
            return False

        _response, operation = self._client.subscribe_to_topic(topic=topic, on_stream_event=on_event, on_stream_error=on_error)
        return Subscription(operation)

    def publish_local(self, topic: str, message: dict[str, Any]) -> Future[Any]:
        """Sent without waiting; the future completes when the nucleus has answered."""
        future = self._client.publish_to_topic_async(topic=topic, publish_message=PublishMessage(json_message=JsonMessage(message=message)))
        future.add_done_callback(lambda done: _log_failure(done, f"publishing to {topic}"))
        return future

    def publish_iot_core(self, topic: str, message: dict[str, Any]) -> Future[Any]:
        """QoS 1, sent without waiting; the future completes when the nucleus has taken the message."""
        payload = json.dumps(message, allow_nan=False).encode()
        future = self._client.publish_to_iot_core_async(topic_name=topic, qos=QOS.AT_LEAST_ONCE, payload=payload)
        future.add_done_callback(lambda done: _log_failure(done, f"publishing to IoT Core topic {topic}"))
        return future

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
        """Close the connection and wait (briefly) until its event-loop thread has finished with Python."""
        self._control.shutdown(wait=True)
        self._client.close()
        if self._owns_connection and not self.disconnected.wait(CLOSE_SECONDS):
            log.warning("the IPC connection did not report its end within %s s", CLOSE_SECONDS)


def _log_failure(done: Future[Any], what: str) -> None:
    error = done.exception()
    if error is not None:
        log.warning("%s failed: %s", what, getattr(error, "message", None) or error)


def _log_stream_error(error: Exception) -> bool:
    log.warning("IPC stream error: %s", str(error)[:300])  # some errors carry the whole message
    return False
