"""What a subscriber receives is the JSON the encoder would write, whichever way it was built."""

from __future__ import annotations

import base64
import json

import pytest

from greengrass_local.services.pubsub import subscription_message


def encoded(kind: str, body: object, topic: str) -> bytes:
    return json.dumps({kind: {"message": body, "context": {"topic": topic}}}).encode()


@pytest.mark.parametrize("topic", ["feedback/message/request", 'odd "tópic"\\/', "t/\u2028"])
@pytest.mark.parametrize("body", [base64.b64encode(bytes(range(256)) * 40).decode(), "", "QQ==", 'not base64: "quoted" \\', "é", "a\nb"])
def test_a_binary_message_is_the_encoders_json_byte_for_byte(body, topic):
    assert subscription_message("binaryMessage", body, topic) == encoded("binaryMessage", body, topic)


def test_a_json_message_carries_its_numbers_as_the_nucleus_reads_them():
    assert subscription_message("jsonMessage", {"n": 1, "x": [2, 2.5, True]}, "t") == (
        b'{"jsonMessage": {"message": {"n": 1.0, "x": [2.0, 2.5, true]}, "context": {"topic": "t"}}}'
    )
