"""The component's publish requests are the bytes the official IPC client would send for the same call."""

from __future__ import annotations

import json
from typing import Any

import pytest
from awsiot.greengrasscoreipc.model import QOS, JsonMessage, PublishMessage, PublishToIoTCoreRequest, PublishToTopicRequest

from ml_feedback.ipc_publish import JsonText, publish_to_iot_core_request, publish_to_topic_request

MESSAGES: list[tuple[str, dict[str, Any]]] = [
    ("feedback/status", {"response": {"status": "success", "s3_response": {"ETag": '"9b2cf5"', "HTTPHeaders": {}}}, "id": "a"}),
    ("ünï/cødé", {"id": "é\u2028", "n": [1.5, None, True, -0.0, 10**20], "quote": 'q"\\'}),
    ("", {}),
]


def official(shape: Any) -> bytes:
    """As awsiot's eventstreamrpc encodes a request: json.dumps of the model's payload."""
    return json.dumps(shape._to_payload()).encode()


@pytest.mark.parametrize(("topic", "message"), MESSAGES)
def test_publish_to_topic_is_the_official_clients_request(topic: str, message: dict[str, Any]):
    expected = official(PublishToTopicRequest(topic=topic, publish_message=PublishMessage(json_message=JsonMessage(message=message))))
    assert publish_to_topic_request(topic, message) == expected
    assert publish_to_topic_request(topic, JsonText.of(message)) == expected, "a message encoded once for two destinations"


@pytest.mark.parametrize(("topic", "message"), MESSAGES)
def test_publish_to_iot_core_is_the_official_clients_request(topic: str, message: dict[str, Any]):
    payload = JsonText.of(message)
    expected = official(PublishToIoTCoreRequest(topic_name=topic, qos=QOS.AT_LEAST_ONCE, payload=payload))
    assert publish_to_iot_core_request(topic, payload) == expected
    assert json.loads(payload) == message


def test_a_message_that_strict_json_cannot_carry_is_refused_before_either_destination():
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        JsonText.of({"score": float("nan")})
