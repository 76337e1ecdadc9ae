"""`client('feedback')`: publish model input and prediction to the ML Feedback component."""

from __future__ import annotations

import json
import os
import re
import uuid
from typing import Any

from ml_feedback import messages

from . import _ipc
from .params import json_document, text_matching, type_check, validate

CONFIG_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$")
TOPIC_VARIABLE = "ML_FEEDBACK_REQUEST_TOPIC"


class FeedbackClient:
    def __init__(self) -> None:
        self.last_request_id: str | None = None

    def publish(self, **kwargs: Any) -> None:
        """Send ConfigId, ModelInput (bytes), ModelPrediction (list or dict) and optional Metadata (dict).

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
            optional={"Metadata": json_document(dict, label="<class 'dict'>")},
        )
        prediction = kwargs["ModelPrediction"]
        request_id = str(uuid.uuid4())
        request = messages.feedback_request(
            kwargs["ConfigId"],
            bytes(kwargs["ModelInput"]),
            list(prediction) if isinstance(prediction, tuple) else prediction,
            kwargs.get("Metadata"),
            request_id,
        )
        from awsiot.greengrasscoreipc.model import BinaryMessage, PublishMessage

        topic = os.environ.get(TOPIC_VARIABLE) or messages.FEEDBACK_REQUEST_TOPIC
        # The JSON travels as a BinaryMessage: the nucleus re-parses JsonMessage content with Gson and
        # would hand every number on as a double (Metadata {"n": 6} stored as "6.0"); bytes pass untouched.
        body = json.dumps(request, allow_nan=False).encode("utf-8")
        _ipc.ipc_client().publish_to_topic(topic=topic, publish_message=PublishMessage(binary_message=BinaryMessage(message=body)))
        self.last_request_id = request_id
        return None
