"""`client('inference')`: the v1 `invoke_inference_service`, answered by the component's inference service."""

from __future__ import annotations

import base64
import io
import json
import os
import threading
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from ml_feedback import messages

from . import _ipc
from .exceptions import InferenceServiceError, InferenceTimeoutError
from .params import invalid_type, type_check, validate

REQUEST_TOPIC_VARIABLE = "ML_INFERENCE_REQUEST_TOPIC"
RESPONSE_PREFIX_VARIABLE = "ML_INFERENCE_RESPONSE_TOPIC_PREFIX"
TIMEOUT_VARIABLE = "ML_INFERENCE_TIMEOUT_SECONDS"
DEFAULT_TIMEOUT_SECONDS = 100.0  # above the component's 70 s SageMaker read timeout


def _body(name: str, value: Any) -> str | None:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return None
    if hasattr(value, "read") and hasattr(value, "seek"):
        return None
    return invalid_type(name, value, "<class 'bytes'>, <class 'bytearray'>, file-like object")


class _Replies:
    """The process's one subscription to its reply topics: PREFIX<process id>/<request id>."""

    def __init__(self) -> None:
        self.prefix = (os.environ.get(RESPONSE_PREFIX_VARIABLE) or messages.INFERENCE_RESPONSE_TOPIC_PREFIX) + uuid.uuid4().hex
        self._waiting: dict[str, tuple[Future[dict[str, Any]], list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()
        _ipc.ipc_client().subscribe_to_topic(topic=f"{self.prefix}/+", on_stream_event=self._on_reply)

    def expect(self, request_id: str) -> Future[dict[str, Any]]:
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            self._waiting[request_id] = (future, [])
        return future

    def forget(self, request_id: str) -> None:
        with self._lock:
            self._waiting.pop(request_id, None)

    def _on_reply(self, event: Any) -> None:
        message = event.json_message.message if event.json_message is not None else json.loads(event.binary_message.message)
        with self._lock:
            waiting = self._waiting.get(message.get("RequestId"))
        if waiting is None:
            return
        future, parts = waiting
        if "PayloadPart" in message:
            parts.append(message)  # a streamed reply: collect until Done
            return
        if message.get("Done"):
            body = b"".join(base64.b64decode(p["PayloadPart"]) for p in sorted(parts, key=lambda p: p["Sequence"]))
            message = {
                "RequestId": message["RequestId"],
                "ContentType": message.get("ContentType"),
                "Body": base64.b64encode(body).decode(),
            }
        elif "OutputLocation" in message:  # an asynchronous service: what the caller needs is where the result will be
            message = {
                "RequestId": message["RequestId"],
                "ContentType": "application/json",
                "Body": base64.b64encode(json.dumps(message).encode()).decode(),
            }
        if not future.done():
            future.set_result(message)


_replies: _Replies | None = None
_replies_lock = threading.Lock()


def _reply_listener() -> _Replies:
    global _replies
    with _replies_lock:
        if _replies is None:
            _replies = _Replies()
        return _replies


# Beyond v1: SageMaker's per-request fields, passed to the service as given.
EXTRA_FIELDS = ("CustomAttributes", "TargetModel", "TargetVariant", "TargetContainerHostname", "InferenceId", "EnableExplanations")


class InferenceClient:
    def invoke_inference_service(self, **kwargs: Any) -> dict[str, Any]:
        """Run a model of the component's inference service; returns {'Body': StreamingBody, 'ContentType': str}.

        The v1 arguments (AlgoType, ServiceName, ContentType, Body, Accept), and
        optionally SageMaker's per-request fields (EXTRA_FIELDS).
        """
        text = type_check(str, label="<class 'str'>")
        optional = {"Accept": text, **dict.fromkeys(EXTRA_FIELDS, text)}
        validate(kwargs, required={"AlgoType": text, "ServiceName": text, "ContentType": text, "Body": _body}, optional=optional)
        body = kwargs["Body"]
        payload = bytes(body) if isinstance(body, (bytes, bytearray, memoryview)) else body.read()
        replies = _reply_listener()
        request_id = str(uuid.uuid4())
        reply_future = replies.expect(request_id)
        fields = {key: kwargs.get(key) for key in ("ContentType", "Accept", *EXTRA_FIELDS)}
        request = messages.inference_request(
            kwargs["ServiceName"], payload, f"{replies.prefix}/{request_id}", request_id, kwargs["AlgoType"], **fields
        )
        from awsiot.greengrasscoreipc.model import BinaryMessage, PublishMessage

        topic = os.environ.get(REQUEST_TOPIC_VARIABLE) or messages.INFERENCE_REQUEST_TOPIC
        timeout = float(os.environ.get(TIMEOUT_VARIABLE) or DEFAULT_TIMEOUT_SECONDS)
        try:
            _ipc.ipc_client().publish_to_topic(
                topic=topic, publish_message=PublishMessage(binary_message=BinaryMessage(message=json.dumps(request).encode()))
            )
            reply = reply_future.result(timeout)
        except FutureTimeout:
            raise InferenceTimeoutError(
                messages.TIMEOUT, f"no reply from service {kwargs['ServiceName']} within {timeout:g} s", request_id
            ) from None
        finally:
            replies.forget(request_id)
        if "Error" in reply:
            raise InferenceServiceError(reply["Error"]["Code"], reply["Error"]["Message"], request_id)
        from botocore.response import StreamingBody

        result = base64.b64decode(reply.get("Body") or "")
        return {"Body": StreamingBody(io.BytesIO(result), len(result)), "ContentType": reply.get("ContentType")}
