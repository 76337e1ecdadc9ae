"""Every wire shape of the component, defined once.

The feedback status, prediction and metric messages are the v1 ML Feedback
connector's (seed 001), key for key; the feedback request is SPEC §4.1, the
inference request and replies SPEC §5. The component, the client SDK, the
demo and the tests all build and read messages through this module.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import math
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .numbers import finite, non_finite

# -- topics (configuration keys and their defaults, SPEC §3) --------------------------------

FEEDBACK_REQUEST_TOPIC = "ml/feedback/requests"
INFERENCE_REQUEST_TOPIC = "ml/inference/requests"
INFERENCE_RESPONSE_TOPIC_PREFIX = "ml/inference/responses/"
STATUS_TOPIC = "feedback/message/status"
PREDICTION_TOPIC = "feedback/message/prediction"
METRICS_TOPIC = "cloudwatch/metric/put"
METRICS_NAMESPACE = "GreengrassFeedbackConnector"

# -- status ----------------------------------------------------------------------------------

SUCCESS = "success"
SAMPLE_DROPPED = "sample_dropped_by_strategy"
FAIL = "fail"

QUEUE_FULL = "Queue.Full"
INVALID_REQUEST = "InvalidRequest"
UNKNOWN_CONFIG_ID = "UnknownConfigId"
INVALID_MODEL_INPUT = "InvalidModelInput"
INVALID_MODEL_PREDICTION = "InvalidModelPrediction"
INTERNAL_ERROR = "InternalError"  # ours: a fault of the component, not of the request
# Why a selected sample was given up without an S3 error of its own (SPEC §9.6).
SPOOL_FULL = "SpoolFull"
EXPIRED = "Expired"
SPOOL_WRITE_ERROR = "SpoolWriteError"
# Deepest JSON nesting a request may have (SPEC §9.11): deeper ones are refused before they are parsed.
MAX_NESTING = 64
# IoT Core's payload limit: a prediction message larger than this could never be delivered (SPEC §9.11).
IOT_CORE_MESSAGE_LIMIT = 128 * 1024
# Longest RequestId accepted, and longest value echoed back in an error message: status messages go
# to IoT Core, whose payloads are limited, so one huge field must not make the answer undeliverable.
MAX_ID_CHARS = 256


def queue_full_message(limit: int) -> str:
    return f"Request limit has been reached (max request: {limit} ). Dropping request."


def upload_failure_message(request_id: str, error_type: str, error: str) -> str:
    return (
        f"[RequestId: {request_id}] Failed to upload model input data due to exception. "
        f"Model prediction will not be published. Exception type: {error_type}, error: {error}"
    )


def invalid_request_message(request_id: str, reason: str) -> str:
    return f"[RequestId: {request_id}] Invalid feedback request: {reason}"


def internal_error_message(request_id: str, error: BaseException) -> str:
    return f"[RequestId: {request_id}] The component failed to process the feedback request: {type(error).__name__}: {error}"


def status_success(request_id: str, s3_response: dict[str, Any]) -> dict[str, Any]:
    return {"response": {"status": SUCCESS, "s3_response": s3_response}, "id": request_id}


def status_dropped(request_id: str, reason: str | None = None) -> dict[str, Any]:
    """v1's message; `reason` (ours) names the strategy or the budget that dropped it, for configurations beyond v1."""
    response: dict[str, Any] = {"status": SAMPLE_DROPPED}
    if reason is not None:
        response["reason"] = reason
    return {"response": response, "id": request_id}


def status_fail(request_id: str, error: str, error_message: str) -> dict[str, Any]:
    return {"response": {"status": FAIL, "error_message": error_message, "error": error}, "id": request_id}


# -- prediction ------------------------------------------------------------------------------


def publish_timestamp(moment: datetime.datetime) -> str:
    """v1's `publish-ts`: UTC, `2019-07-11 00:12:48.816752`."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def json_payload(message: Any) -> bytes:
    """A message as it is published to IoT Core and local pub/sub: `json.dumps` as the IPC client writes JSON (its
    separators with their spaces, ASCII), strict (no NaN). IoT Core's 128 KiB limit applies to these bytes."""
    return json.dumps(message, allow_nan=False).encode()


_JSON_NULL = json_payload(None)


def prediction_message(bucket: str, key: str, prediction: Any, config_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """`metadata` already holds `publish-ts`, as the connector inserted it."""
    return {"source-ref": f"s3://{bucket}/{key}", "model-prediction": prediction, "config-id": config_id, "metadata": metadata}


def prediction_message_bytes(bucket: str, key: str, prediction_bytes: int, config_id: str, metadata: dict[str, Any]) -> int:
    """`len(json_payload(prediction_message(...)))`, given `len(json_payload(prediction))`.

    `json.dumps` writes a value inside the message exactly as it writes it alone, so a detector's large
    prediction is encoded once however often its message is measured.
    """
    skeleton = json_payload(prediction_message(bucket, key, None, config_id, metadata))
    return len(skeleton) - len(_JSON_NULL) + prediction_bytes


# -- metrics ---------------------------------------------------------------------------------

SAMPLE_SIZE = "SampleSize"
SAMPLE_UPLOAD_SUCCESS = "SampleUploadSuccess"
SAMPLE_AND_PREDICTION_PUBLISHED = "SampleAndPredictionPublished"
SAMPLE_UPLOAD_FAILURE = "SampleUploadFailure"
SAMPLE_NOT_USED = "SampleNotUsed"
SAMPLE_DROPPED_BY_BUDGET = "SampleDroppedByBudget"  # ours (SPEC §10)
ERROR_REQUEST_THROTTLED = "ErrorRequestThrottled"
ERROR_INVALID_REQUEST = "ErrorInvalidRequest"  # ours: v1 had no metric for a malformed request
ERROR_INTERNAL = "ErrorInternal"  # ours: a request the component failed on
SAMPLE_QUEUED = "SampleQueued"  # ours: a selected sample starts waiting in the spool for S3
SPOOL_SAMPLES = "SpoolSamples"  # ours: gauge, samples waiting in the spool
SPOOL_BYTES = "SpoolBytes"  # ours: gauge, disk the spool uses
COUNT, BYTES = "Count", "Bytes"


def metric(name: str, namespace: str, value: float = 1, unit: str = COUNT) -> dict[str, Any]:
    return {"request": {"namespace": namespace, "metricData": {"value": value, "unit": unit, "metricName": name}}}


# -- the feedback request (SPEC §4.1) ----------------------------------------------------------


@dataclass(frozen=True)
class FeedbackRequest:
    config_id: str
    model_input: bytes | None
    model_input_path: str | None
    prediction: Any
    metadata: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""
    # As sent: a configuration whose strategies use them checks them (selection.py); v1 ones ignore them, as v1 did.
    embedding: Any = None
    fingerprint: Any = None


class RequestProblem(ValueError):
    """A request the service cannot use; `code` is the status's short `error`."""

    def __init__(self, code: str, reason: str, request_id: str = "") -> None:
        super().__init__(reason)
        self.code, self.reason, self.request_id = code, reason, request_id


def feedback_request(
    config_id: str,
    model_input: bytes,
    prediction: Any,
    metadata: dict[str, Any] | None,
    request_id: str | None = None,
    embedding: list[float] | None = None,
    fingerprint: int | None = None,
) -> dict[str, Any]:
    """The request document the client SDK publishes; `fingerprint` is a 64-bit integer, sent as 16 lowercase hex digits."""
    document: dict[str, Any] = {
        "ConfigId": config_id,
        "ModelInput": base64.b64encode(model_input).decode("ascii"),
        "ModelPrediction": prediction,
    }
    if metadata:
        document["Metadata"] = metadata
    if request_id:
        document["RequestId"] = request_id
    if embedding is not None:
        document["Embedding"] = embedding
    if fingerprint is not None:
        document["Fingerprint"] = format_fingerprint(fingerprint)
    return document


FINGERPRINT_SHAPE = "16 hex digits (a 64-bit difference hash, as greengrass_machine_learning_sdk.fingerprint makes)"
EMBEDDING_SHAPE = "a non-empty list of finite numbers"


def format_fingerprint(fingerprint: int) -> str:
    return f"{fingerprint:016x}"


def parse_fingerprint(value: Any) -> int:
    """A Fingerprint field as its 64-bit integer; ValueError with the expected shape otherwise."""
    if not isinstance(value, str) or len(value) != 16 or not all(c in string.hexdigits for c in value):
        raise ValueError(f"Fingerprint must be {FINGERPRINT_SHAPE}, got {shown(value)}")
    return int(value, 16)


def parse_embedding(value: Any) -> list[float]:
    """An Embedding field as floats; ValueError naming the first bad element and the expected shape otherwise."""
    if not isinstance(value, list) or not value:
        raise ValueError(f"Embedding must be {EMBEDDING_SHAPE}, got {shown(value)}")
    try:
        if set(map(type, value)) <= {float, int} and all(map(math.isfinite, value)):  # the common case, at C speed
            return value
    except OverflowError:  # an int too large for a double
        pass
    for index, number in enumerate(value):
        if finite(number, text_allowed=False) is None:
            raise ValueError(f"Embedding[{index}] is {shown(number)}; Embedding must be {EMBEDDING_SHAPE}")
    return [float(number) for number in value]


def shown(value: Any) -> str:
    """`repr(value)` for an error message, cut to MAX_ID_CHARS."""
    text = repr(value)
    return text if len(text) <= MAX_ID_CHARS else text[: MAX_ID_CHARS - 3] + "..."


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def strict_json(data: bytes | str) -> Any:
    """json.loads without NaN and Infinity, which the nucleus and IoT Core consumers cannot parse."""
    return json.loads(data, parse_constant=_not_json)


@dataclass(frozen=True)
class UndecodableMessage:
    """A pub/sub message the IPC client could not decode (its JSON nests too deeply for Python's parser, say)."""

    payload: bytes


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_INNERMOST_PAIR = re.compile(rb"[\[{][\]}]")
NESTING_PROBLEM = f"the message nests deeper than {MAX_NESTING} levels"


def outside_strings(raw: bytes) -> bytes:
    """JSON text without its strings (quotes included), as `_JSON_STRING.sub(b"", raw)` leaves it.

    Without a backslash, and with an even number of quotes, the quotes pair up in order: every
    other piece between them is a string. Splitting there is three times cheaper than the regular
    expression on a detector's 150 KB request; any other text takes the expression.
    """
    if b"\\" in raw or raw.count(b'"') % 2:
        return _JSON_STRING.sub(b"", raw)
    return b"".join(raw.split(b'"')[::2])


def text_nests_deeper(data: bytes | str, limit: int = MAX_NESTING) -> bool:
    """Whether JSON text nests deeper than `limit`, found without parsing it (so without recursion).

    Outside strings, only the brackets are kept; each pass removes the innermost
    pairs, one level. Brackets left after `limit` passes nest deeper. A list of
    a thousand detections is three levels: three passes at C speed.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    brackets = outside_strings(raw).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        brackets = _INNERMOST_PAIR.sub(b"", brackets)
        if not brackets:
            return False
    return any(opening in brackets for opening in (b"[", b"{"))


def value_nests_deeper(value: Any, limit: int = MAX_NESTING) -> bool:
    """Whether a parsed JSON value nests deeper than `limit` (the value itself is level 1)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _json_object(raw: bytes | str | dict[str, Any] | UndecodableMessage, code: str, new_id: Callable[[], str]) -> dict[str, Any]:
    """The request document; NaN and Infinity are refused as the nucleus's JSON parser refuses them.

    `new_id` makes the id of a request that has none (only then: a UUID costs microseconds).
    """
    if isinstance(raw, UndecodableMessage):
        # The IPC client's envelope ({"jsonMessage": {"message": ...}}) adds two levels.
        reason = NESTING_PROBLEM if text_nests_deeper(raw.payload, MAX_NESTING + 2) else "the IPC client could not decode the message"
        raise RequestProblem(code, reason, new_id())
    document: Any = raw
    if not isinstance(document, dict):
        if text_nests_deeper(raw):
            raise RequestProblem(code, NESTING_PROBLEM, new_id())
        try:
            document = strict_json(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RequestProblem(code, f"the message is not valid JSON ({exc})", new_id()) from None
    elif value_nests_deeper(document):
        raise RequestProblem(code, NESTING_PROBLEM, _request_id(document, new_id) or new_id())
    if not isinstance(document, dict):
        raise RequestProblem(code, "the message must be a JSON object", new_id())
    return document


def _request_id(document: dict[str, Any], new_id: Callable[[], str]) -> str | None:
    """The document's RequestId, a new one when it has none, None when it is unusable."""
    request_id = document.get("RequestId")
    if request_id is None or request_id == "":
        return new_id()
    if not isinstance(request_id, str) or len(request_id) > MAX_ID_CHARS:
        return None
    return request_id


REQUEST_ID_RULE = f"RequestId must be a string of at most {MAX_ID_CHARS} characters"


def request_id_of(raw: bytes | str | dict[str, Any] | UndecodableMessage) -> str | None:
    """The RequestId a request carries, if it is readable and usable (nothing else is checked)."""
    try:
        document = _json_object(raw, INVALID_REQUEST, _no_id)
    except RequestProblem:
        return None
    return _request_id(document, _no_id) or None


def _no_id() -> str:
    return ""


def _id_maker(new_id: str | Callable[[], str]) -> Callable[[], str]:
    if isinstance(new_id, str):
        return NewId(lambda: new_id)
    return new_id


class NewId:
    """The id of a request that carries none: made when first asked for, then the same every time."""

    def __init__(self, make: Callable[[], str]) -> None:
        self._make = make
        self._made: str | None = None

    def __call__(self) -> str:
        if self._made is None:
            self._made = self._make()
        return self._made


_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def strict_base64(text: str) -> bytes:
    """`base64.b64decode(text, validate=True)`, without its regular expression over the whole input in the usual case.

    Text of the alphabet with at most two `=` at its end is what that expression admits, and is decoded
    directly (one C pass to check it); anything else takes the validating decoder, so its result and
    error messages are the standard library's.
    """
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raw = b"="  # not base64: the standard library says why
    rest = raw.translate(None, _BASE64_ALPHABET)
    if not rest or (rest in (b"=", b"==") and raw.endswith(rest) and len(raw) > len(rest)):
        return binascii.a2b_base64(raw)
    return base64.b64decode(text, validate=True)


def parse_feedback_request(raw: bytes | str | dict[str, Any] | UndecodableMessage, new_id: str | Callable[[], str]) -> FeedbackRequest:
    """A request from its JSON (or already parsed) form; raises RequestProblem naming the field.

    `new_id`: the RequestId of a request without one, or what makes it when needed.
    """
    new_id = _id_maker(new_id)
    document = _json_object(raw, INVALID_REQUEST, new_id)
    request_id = _request_id(document, new_id)
    if request_id is None:
        raise RequestProblem(INVALID_REQUEST, REQUEST_ID_RULE, new_id())
    config_id = document.get("ConfigId")
    if not isinstance(config_id, str) or not config_id:
        raise RequestProblem(UNKNOWN_CONFIG_ID, "ConfigId is required and must be a string", request_id)
    metadata = document.get("Metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        raise RequestProblem(INVALID_REQUEST, "Metadata must be an object", request_id)
    model_input, path = document.get("ModelInput"), document.get("ModelInputPath")
    if (model_input is None) == (path is None):
        raise RequestProblem(INVALID_MODEL_INPUT, "exactly one of ModelInput (base64) and ModelInputPath is required", request_id)
    decoded = None
    if model_input is not None:
        if not isinstance(model_input, str) or not model_input:
            raise RequestProblem(INVALID_MODEL_INPUT, "ModelInput must be a non-empty base64 string", request_id)
        try:
            decoded = strict_base64(model_input)
        except ValueError as exc:
            raise RequestProblem(INVALID_MODEL_INPUT, f"ModelInput is not valid base64 ({exc})", request_id) from None
    elif not isinstance(path, str) or not path:
        raise RequestProblem(INVALID_MODEL_INPUT, "ModelInputPath must be a non-empty string", request_id)
    if "ModelPrediction" not in document:
        raise RequestProblem(INVALID_MODEL_PREDICTION, "ModelPrediction is required", request_id)
    prediction = document["ModelPrediction"]
    if not isinstance(prediction, (list, dict)):
        raise RequestProblem(INVALID_MODEL_PREDICTION, "ModelPrediction must be a list or an object", request_id)
    for code, value, name in ((INVALID_MODEL_PREDICTION, prediction, "ModelPrediction"), (INVALID_REQUEST, metadata, "Metadata")):
        where = non_finite(value, name)
        if where:
            raise RequestProblem(code, f"{where} is not a finite number (JSON has no NaN or Infinity)", request_id)
    embedding, fingerprint = document.get("Embedding"), document.get("Fingerprint")
    return FeedbackRequest(config_id, decoded, path, prediction, metadata, request_id, embedding, fingerprint)


# -- JSON and S3 metadata safety ---------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """A boto3 response as plain JSON: datetimes as ISO text, bytes and others as text."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


_HEADER_TOKEN = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def s3_metadata(metadata: dict[str, Any]) -> dict[str, str]:
    """Request metadata as S3 user metadata: header-token keys, printable-ASCII values.

    Non-string values are sent as JSON; characters outside printable ASCII are
    percent-encoded, so any metadata a client sends can be stored.
    """
    safe: dict[str, str] = {}
    for key, value in metadata.items():
        name = "".join(c if c in _HEADER_TOKEN else "-" for c in str(key)) or "-"
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        safe[name] = "".join(c if 32 <= ord(c) < 127 else _percent(c) for c in text)
    return safe


def _percent(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


# -- inference (SPEC §5) -------------------------------------------------------------------------

REAL_TIME, ASYNC, STREAM = "RealTime", "Async", "Stream"
INVOCATION_MODES = (REAL_TIME, ASYNC, STREAM)
# Error codes of an inference reply: each failure kind its own.
VALIDATION_ERROR = "ValidationError"
UNKNOWN_SERVICE = "UnknownService"
MODEL_ERROR = "ModelError"
TIMEOUT = "Timeout"
SERVICE_UNAVAILABLE = "ServiceUnavailable"
THROTTLING = "Throttling"
# Request fields passed to the backend, SageMaker's names (seeds 002-004).
BACKEND_FIELDS = (
    "ContentType",
    "Accept",
    "CustomAttributes",
    "TargetModel",
    "TargetVariant",
    "TargetContainerHostname",
    "InferenceId",
    "EnableExplanations",
)
CUSTOM_ATTRIBUTES_LIMIT = 1024


@dataclass(frozen=True)
class InferenceRequest:
    request_id: str
    reply_topic: str
    service_name: str
    body: bytes | None
    body_path: str | None
    algo_type: str | None = None
    invocation_mode: str | None = None
    fields: dict[str, str] = field(default_factory=dict)  # BACKEND_FIELDS that were given


def inference_request(
    service_name: str,
    body: bytes,
    reply_topic: str,
    request_id: str,
    algo_type: str | None = None,
    invocation_mode: str | None = None,
    **fields: str | None,
) -> dict[str, Any]:
    """The request document the client SDK publishes."""
    document: dict[str, Any] = {
        "RequestId": request_id,
        "ReplyTopic": reply_topic,
        "ServiceName": service_name,
        "Body": base64.b64encode(body).decode("ascii"),
    }
    if algo_type:
        document["AlgoType"] = algo_type
    if invocation_mode:
        document["InvocationMode"] = invocation_mode
    document.update({key: value for key, value in fields.items() if value is not None})
    return document


def custom_attributes_problem(value: str) -> str | None:
    if len(value) > CUSTOM_ATTRIBUTES_LIMIT:
        return f"CustomAttributes has {len(value)} characters; at most {CUSTOM_ATTRIBUTES_LIMIT} are allowed"
    bad = next((c for c in value if not (c == "\t" or 32 <= ord(c) < 127)), None)
    if bad is not None:
        return f"CustomAttributes must be visible US-ASCII characters, found {bad!r}"
    return None


def parse_inference_request(raw: bytes | str | dict[str, Any], new_id: str | Callable[[], str], reply_prefix: str) -> InferenceRequest:
    """An inference request; raises RequestProblem, or ReplyableProblem once the reply topic is known."""
    new_id = _id_maker(new_id)
    document = _json_object(raw, VALIDATION_ERROR, new_id)
    request_id = _request_id(document, new_id)
    reply_topic = document.get("ReplyTopic")
    if (
        not isinstance(reply_topic, str)
        or not reply_topic.startswith(reply_prefix)
        or len(reply_topic) == len(reply_prefix)
        or any(c in reply_topic for c in "+#*")
    ):
        reason = f"ReplyTopic must be a topic under {reply_prefix}, got {shown(reply_topic)}"
        raise RequestProblem(VALIDATION_ERROR, reason, request_id or new_id())
    if request_id is None:
        raise ReplyableProblem(VALIDATION_ERROR, REQUEST_ID_RULE, new_id(), reply_topic)
    problem = _inference_problem(document)
    if problem:
        raise ReplyableProblem(VALIDATION_ERROR, problem, request_id, reply_topic)
    body, path = document.get("Body"), document.get("BodyPath")
    decoded = None
    if body is not None:
        try:
            decoded = base64.b64decode(body, validate=True)
        except ValueError as exc:
            raise ReplyableProblem(VALIDATION_ERROR, f"Body is not valid base64 ({exc})", request_id, reply_topic) from None
    fields = {key: document[key] for key in BACKEND_FIELDS if document.get(key) is not None}
    return InferenceRequest(
        request_id, reply_topic, document["ServiceName"], decoded, path, document.get("AlgoType"), document.get("InvocationMode"), fields
    )


def _inference_problem(document: dict[str, Any]) -> str | None:
    if not isinstance(document.get("ServiceName"), str) or not document["ServiceName"]:
        return "ServiceName is required"
    if (document.get("Body") is None) == (document.get("BodyPath") is None):
        return "exactly one of Body (base64) and BodyPath is required"
    for key in ("Body", "BodyPath", "AlgoType", "InvocationMode", *BACKEND_FIELDS):
        if document.get(key) is not None and not isinstance(document[key], str):
            return f"{key} must be a string"
    mode = document.get("InvocationMode")
    if mode is not None and mode not in INVOCATION_MODES:
        return f"InvocationMode must be one of {', '.join(INVOCATION_MODES)}, got {shown(mode)}"
    attributes = document.get("CustomAttributes")
    return custom_attributes_problem(attributes) if attributes is not None else None


class ReplyableProblem(RequestProblem):
    """A bad request whose reply topic is known, so the caller gets an error reply."""

    def __init__(self, code: str, reason: str, request_id: str, reply_topic: str) -> None:
        super().__init__(code, reason, request_id)
        self.reply_topic = reply_topic


def reply_real_time(
    request_id: str, content_type: str | None, body: bytes, invoked_variant: str | None = None, custom_attributes: str | None = None
) -> dict[str, Any]:
    reply: dict[str, Any] = {"RequestId": request_id, "ContentType": content_type, "Body": base64.b64encode(body).decode("ascii")}
    if invoked_variant:
        reply["InvokedProductionVariant"] = invoked_variant
    if custom_attributes:
        reply["CustomAttributes"] = custom_attributes
    return reply


def reply_async(
    request_id: str, inference_id: str | None, output_location: str | None, failure_location: str | None = None
) -> dict[str, Any]:
    reply: dict[str, Any] = {"RequestId": request_id, "InferenceId": inference_id, "OutputLocation": output_location}
    if failure_location:
        reply["FailureLocation"] = failure_location
    return reply


def reply_stream_part(request_id: str, part: bytes, sequence: int) -> dict[str, Any]:
    return {"RequestId": request_id, "PayloadPart": base64.b64encode(part).decode("ascii"), "Sequence": sequence}


def reply_stream_done(request_id: str, content_type: str | None) -> dict[str, Any]:
    return {"RequestId": request_id, "Done": True, "ContentType": content_type}


def reply_error(request_id: str, code: str, message: str) -> dict[str, Any]:
    return {"RequestId": request_id, "Error": {"Code": code, "Message": message}}
