"""The RPC state machine, byte for byte, without sockets."""

from __future__ import annotations

import json

import pytest

from greengrass_local.wire import rpc
from greengrass_local.wire.eventstream import FrameDecoder, Header, HeaderType, Message, encode


def client_frame(message_type: int, stream_id: int = 0, flags: int = 0, extra: tuple[Header, ...] = (), payload: bytes = b"") -> bytes:
    headers = (
        Header.int32(rpc.H_MESSAGE_TYPE, message_type),
        Header.int32(rpc.H_MESSAGE_FLAGS, flags),
        Header.int32(rpc.H_STREAM_ID, stream_id),
        *extra,
    )
    return encode(Message(headers, payload))


def connect_frame(token: str = "secret", version: str = "0.1.0") -> bytes:
    return client_frame(
        rpc.MessageType.CONNECT, extra=(Header.string(rpc.H_VERSION, version),), payload=json.dumps({"authToken": token}).encode()
    )


def operation_frame(stream_id: int, operation: str = "aws.greengrass#PublishToTopic", payload: bytes = b"{}") -> bytes:
    extra = (
        Header.string(rpc.H_OPERATION, operation),
        Header.string(rpc.H_CONTENT_TYPE, "application/json"),
        Header.string(rpc.H_MODEL_TYPE, operation + "Request"),
    )
    return client_frame(rpc.MessageType.APPLICATION_MESSAGE, stream_id, extra=extra, payload=payload)


def sent(connection: rpc.ServerConnection) -> list[Message]:
    return FrameDecoder().feed(connection.data_to_send())


def headers_of(message: Message) -> dict[str, object]:
    return {h.name: h.value for h in message.headers}


def connected() -> rpc.ServerConnection:
    connection = rpc.ServerConnection()
    connection.receive_data(connect_frame())
    connection.accept()
    connection.data_to_send()
    return connection


def test_connect_yields_the_token_and_accept_sends_a_bare_ack():
    connection = rpc.ServerConnection()
    assert connection.receive_data(connect_frame("tok-1")) == [rpc.ConnectRequested("tok-1")]
    connection.accept()
    (ack,) = sent(connection)
    assert headers_of(ack) == {":message-type": 5, ":message-flags": 1, ":stream-id": 0}
    assert all(h.type is HeaderType.INT32 for h in ack.headers)
    assert ack.payload == b""


def test_reject_sends_an_ack_without_the_accepted_flag():
    connection = rpc.ServerConnection()
    connection.receive_data(connect_frame())
    connection.reject()
    (ack,) = sent(connection)
    assert headers_of(ack)[":message-flags"] == 0
    assert connection.state is rpc.ConnectionState.CLOSED


@pytest.mark.parametrize("version", ["0.2.0", ""])
def test_wrong_version_is_refused_like_a_bad_token(version):
    connection = rpc.ServerConnection()
    (event,) = connection.receive_data(connect_frame(version=version))
    assert isinstance(event, rpc.ConnectionRefused)
    assert "mismatches server version {0.1.0}" in event.reason
    (ack,) = sent(connection)
    assert headers_of(ack) == {":message-type": 5, ":message-flags": 0, ":stream-id": 0}


def test_operation_before_connect_is_a_protocol_error():
    connection = rpc.ServerConnection()
    (event,) = connection.receive_data(operation_frame(1))
    assert isinstance(event, rpc.ConnectionTerminated)
    assert event.reason == rpc.CONNECT_FIRST
    (error,) = sent(connection)
    assert headers_of(error)[":message-type"] == rpc.MessageType.PROTOCOL_ERROR
    assert json.loads(error.payload) == {"message": rpc.CONNECT_FIRST}


def test_control_headers_must_be_int32():
    connection = rpc.ServerConnection()
    frame = encode(
        Message((Header(rpc.H_MESSAGE_TYPE, HeaderType.INT16, 4), Header.int32(rpc.H_MESSAGE_FLAGS, 0), Header.int32(rpc.H_STREAM_ID, 0)))
    )
    (event,) = connection.receive_data(frame)
    assert isinstance(event, rpc.ConnectionTerminated)
    assert event.reason == rpc.MISSING_FIELDS


def test_garbage_bytes_terminate_and_later_data_is_ignored():
    connection = rpc.ServerConnection()
    (event,) = connection.receive_data(b"\x00" * 8 + b"\xde\xad\xbe\xef")
    assert isinstance(event, rpc.ConnectionTerminated)
    assert connection.receive_data(connect_frame()) == []


def test_operation_response_carries_content_type_model_type_and_terminate():
    connection = connected()
    (event,) = connection.receive_data(operation_frame(1, payload=b'{"topic": "a"}'))
    assert event == rpc.OperationRequested(1, "aws.greengrass#PublishToTopic", "aws.greengrass#PublishToTopicRequest", b'{"topic": "a"}')
    assert connection.respond(1, "aws.greengrass#PublishToTopicResponse", b"{}", terminate=True)
    (response,) = sent(connection)
    assert headers_of(response) == {
        ":message-type": 0,
        ":message-flags": 2,
        ":stream-id": 1,
        ":content-type": "application/json",
        "service-model-type": "aws.greengrass#PublishToTopicResponse",
    }
    assert not connection.respond(1, "aws.greengrass#PublishToTopicResponse", b"{}", terminate=True)


def test_streaming_events_flow_until_the_client_terminates():
    connection = connected()
    connection.receive_data(operation_frame(1, "aws.greengrass#SubscribeToTopic"))
    connection.respond(1, "aws.greengrass#SubscribeToTopicResponse", b"{}", terminate=False)
    assert connection.send_event(1, "aws.greengrass#SubscriptionResponseMessage", b"{}")
    assert [headers_of(m)[":message-flags"] for m in sent(connection)] == [0, 0]
    (closed,) = connection.receive_data(client_frame(rpc.MessageType.APPLICATION_MESSAGE, 1, flags=rpc.MessageFlag.TERMINATE_STREAM))
    assert closed == rpc.StreamClosedByClient(1)
    assert not connection.send_event(1, "aws.greengrass#SubscriptionResponseMessage", b"{}")


def test_errors_are_application_errors_that_end_the_stream():
    connection = connected()
    connection.receive_data(operation_frame(1))
    connection.send_error(1, "aws.greengrass#UnauthorizedError", b'{"message": "no"}')
    (error,) = sent(connection)
    assert headers_of(error)[":message-type"] == rpc.MessageType.APPLICATION_ERROR
    assert headers_of(error)[":message-flags"] == rpc.MessageFlag.TERMINATE_STREAM
    assert not connection.is_open(1)


def test_a_late_terminate_for_an_ended_stream_is_ignored():
    connection = connected()
    connection.receive_data(operation_frame(1))
    connection.respond(1, "aws.greengrass#PublishToTopicResponse", b"{}", terminate=True)
    late_close = client_frame(rpc.MessageType.APPLICATION_MESSAGE, 1, flags=rpc.MessageFlag.TERMINATE_STREAM)
    assert connection.receive_data(late_close) == []
    assert connection.state is rpc.ConnectionState.CONNECTED


def test_a_stream_id_lower_than_the_last_is_a_protocol_error():
    connection = connected()
    connection.receive_data(operation_frame(1) + operation_frame(2))
    connection.respond(1, "aws.greengrass#PublishToTopicResponse", b"{}", terminate=True)
    (event,) = connection.receive_data(operation_frame(1))
    assert event == rpc.ConnectionTerminated(rpc.STREAM_ID_LOWER)


def test_a_skipped_stream_id_is_a_protocol_error():
    connection = connected()
    (event,) = connection.receive_data(operation_frame(2))
    assert event == rpc.ConnectionTerminated(rpc.STREAM_ID_SKIPPED)


def test_a_new_stream_without_an_operation_is_a_protocol_error():
    connection = connected()
    (event,) = connection.receive_data(client_frame(rpc.MessageType.APPLICATION_MESSAGE, 1, payload=b"{}"))
    assert event == rpc.ConnectionTerminated(rpc.MISSING_OPERATION)


def test_a_second_connect_is_a_protocol_error():
    connection = connected()
    (event,) = connection.receive_data(connect_frame())
    assert event == rpc.ConnectionTerminated(rpc.CONNECT_FIRST)


def test_ping_is_answered_with_its_own_payload_and_headers():
    connection = connected()
    assert connection.receive_data(client_frame(rpc.MessageType.PING, extra=(Header.string("x", "y"),), payload=b"hi")) == []
    (pong,) = sent(connection)
    assert headers_of(pong)[":message-type"] == rpc.MessageType.PING_RESPONSE
    assert headers_of(pong)["x"] == "y"
    assert pong.payload == b"hi"


def test_connection_lost_closes_every_open_stream():
    connection = connected()
    connection.receive_data(operation_frame(1, "aws.greengrass#SubscribeToTopic") + operation_frame(2, "aws.greengrass#SubscribeToTopic"))
    assert connection.connection_lost() == [rpc.StreamClosedByClient(1), rpc.StreamClosedByClient(2)]


def test_a_connect_and_a_violation_in_one_read_only_terminate_the_connection():
    """The CONNECT can no longer be accepted: before, the owner's accept() raised RuntimeError."""
    connection = rpc.ServerConnection()
    (event,) = connection.receive_data(connect_frame() + connect_frame())
    assert event == rpc.ConnectionTerminated(rpc.CONNECT_FIRST)
    assert [headers_of(m)[":message-type"] for m in sent(connection)] == [rpc.MessageType.PROTOCOL_ERROR]


def test_before_connect_a_frame_may_not_exceed_the_pre_connect_limit_after_it_the_full_one():
    big = operation_frame(1, payload=b'{"x": "' + b"a" * rpc.PRE_CONNECT_MAX_FRAME_BYTES + b'"}')
    early = rpc.ServerConnection()
    (event,) = early.receive_data(big[:12])  # refused from the prelude alone
    assert isinstance(event, rpc.ConnectionTerminated)
    assert event.reason == f"frame of {len(big)} bytes exceeds the {rpc.PRE_CONNECT_MAX_FRAME_BYTES}-byte limit"
    (event,) = connected().receive_data(big)
    assert isinstance(event, rpc.OperationRequested)
