"""`client('feedback')`: publish model input and prediction to the ML Feedback component."""

from __future__ import annotations

import json
import numbers
import os
import re
import uuid
from typing import Any

from ml_feedback import messages

from . import _ipc
from .params import finite_floats, finite_number_list, invalid_type, json_document, text_matching, type_check, validate

CONFIG_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$")
FINGERPRINT = re.compile(r"^[0-9a-fA-F]{16}$")
TOPIC_VARIABLE = "ML_FEEDBACK_REQUEST_TOPIC"


def _fingerprint(name: str, value: Any) -> tuple[int | None, str | None]:
    """An int in [0, 2**64) or 16 hex digits, as the 64-bit integer; or the report line (botocore's
    type and min value lines; the pattern and max value lines are ours, worded like them)."""
    if isinstance(value, str):
        if not FINGERPRINT.fullmatch(value):
            return None, f"Invalid value for parameter {name}, value: {value}, valid pattern: {FINGERPRINT.pattern}"
        return messages.parse_fingerprint(value), None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        number = int(value)
        if number < 0:
            return None, f"Invalid value for parameter {name}, value: {value}, valid min value: 0"
        if number >= 1 << 64:
            return None, f"Invalid value for parameter {name}, value: {value}, valid max value: {(1 << 64) - 1}"
        return number, None
    return None, invalid_type(name, value, "<class 'int'>, <class 'str'>")


def _fingerprint_check(name: str, value: Any) -> str | None:
    return _fingerprint(name, value)[1]


class FeedbackClient:
    def __init__(self) -> None:
        self.last_request_id: str | None = None

    def publish(self, **kwargs: Any) -> None:
        """Send ConfigId, ModelInput (bytes), ModelPrediction (list or dict) and optional Metadata (dict).

        Beyond v1, optionally: Embedding, the model's feature vector (a non-empty list or tuple of
        finite numbers, or a 1-D numpy array), sent as a list of floats; and Fingerprint, a 64-bit
        perceptual hash of the input (an int in [0, 2**64) or 16 hex digits, as `fingerprint(image)`
        returns), sent as 16 lowercase hex digits.

        Returns None once the request is handed to the component; its outcome
        arrives on the status topic, as with the v1 connector, under the id
        this call made (`last_request_id`, an addition to the v1 API).
        """
        validate(
            kwargs,
            required={
                "ConfigId": text_matching(CONFIG_ID),
                "ModelInput": type_check(bytes, bytearray, memoryview, label="<class 'bytes'>, <class 'bytearray'>"),
                "ModelPrediction": json_document(list, tuple, dict, label="<class 'list'>, <class 'dict'>"),
            },
            optional={
                "Metadata": json_document(dict, label="<class 'dict'>"),
                "Embedding": finite_number_list,
                "Fingerprint": _fingerprint_check,
            },
        )
        prediction = kwargs["ModelPrediction"]
        request_id = str(uuid.uuid4())
        request = messages.feedback_request(
            kwargs["ConfigId"],
            bytes(kwargs["ModelInput"]),
            list(prediction) if isinstance(prediction, tuple) else prediction,
            kwargs.get("Metadata"),
            request_id,
            embedding=finite_floats("Embedding", kwargs["Embedding"])[0] if "Embedding" in kwargs else None,
            fingerprint=_fingerprint("Fingerprint", kwargs["Fingerprint"])[0] if "Fingerprint" in kwargs else None,
        )
        from awsiot.greengrasscoreipc.model import BinaryMessage, PublishMessage

        topic = os.environ.get(TOPIC_VARIABLE) or messages.FEEDBACK_REQUEST_TOPIC
        # The JSON travels as a BinaryMessage: the nucleus re-parses JsonMessage content with Gson and
        # would hand every number on as a double (Metadata {"n": 6} stored as "6.0"); bytes pass untouched.
        body = json.dumps(request, allow_nan=False).encode("utf-8")
        _ipc.ipc_client().publish_to_topic(topic=topic, publish_message=PublishMessage(binary_message=BinaryMessage(message=body)))
        self.last_request_id = request_id
        return None
