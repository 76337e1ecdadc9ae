"""The connection layer: authentication, unknown operations, and hostile bytes on the socket."""

from __future__ import annotations

import json
import socket
import struct
import threading
import zlib

import pytest
from awsiot.eventstreamrpc import AccessDeniedError

from greengrass_local import rpc
from greengrass_local.eventstream import MAX_FRAME_BYTES, FrameDecoder, Header, Message, encode


@pytest.fixture
def observer(nucleus, project):
    project.component("test.Observer", pubsub={"SubscribeToTopic": ["*"], "PublishToTopic": ["*"]})
    assert nucleus.deploy(project, merge={"test.Observer": "1.0.0"}).status == "SUCCEEDED"
    return nucleus


def assert_pubsub_works(nucleus) -> None:
    from awsiot.greengrasscoreipc.model import JsonMessage, PublishMessage

    client = nucleus.client("test.Observer", executor=None)
    got = threading.Event()
    client.subscribe_to_topic(topic="health", on_stream_event=lambda event: got.set())
    client.publish_to_topic(topic="health", publish_message=PublishMessage(json_message=JsonMessage(message={"ok": True})))
    assert got.wait(5), "a healthy component stopped being served"
    client.close()


def test_an_unknown_token_is_refused(observer):
    from awsiot.greengrasscoreipc import connect

    with pytest.raises(AccessDeniedError):
        connect(ipc_socket=observer.nucleus.socket_path, authtoken="NOT-A-TOKEN", timeout=5)
    assert_pubsub_works(observer)


def test_an_unimplemented_operation_is_a_service_error_naming_it(observer):
    from awsiot.greengrasscoreipc.model import ServiceError

    client = observer.client("test.Observer")
    with pytest.raises(ServiceError) as raised:
        client.get_secret_value(secret_id="db-password")
    assert raised.value.message == "Operation aws.greengrass#GetSecretValue is not supported by the local nucleus emulator"
    client.close()


class RawClient:
    """A socket speaking event-stream by hand, to send what no real client would."""

    def __init__(self, nucleus) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(5)
        self.sock.connect(nucleus.nucleus.socket_path)
        self.decoder = FrameDecoder()
        self.token = nucleus.token("test.Observer")

    def send(self, message_type: int, stream_id: int = 0, flags: int = 0, extra: tuple[Header, ...] = (), payload: bytes = b"") -> None:
        headers = (
            Header.int32(":message-type", message_type),
            Header.int32(":message-flags", flags),
            Header.int32(":stream-id", stream_id),
            *extra,
        )
        self.sock.sendall(encode(Message(headers, payload)))

    def connect(self) -> Message:
        self.send(
            rpc.MessageType.CONNECT, extra=(Header.string(":version", "0.1.0"),), payload=json.dumps({"authToken": self.token}).encode()
        )
        return self.receive()

    def receive(self) -> Message:
        while True:
            messages = self.decoder.feed(self.sock.recv(65536))
            if messages:
                return messages[0]

    def closed_by_server(self) -> bool:
        try:
            while self.sock.recv(65536):
                pass
        except (ConnectionResetError, TimeoutError):
            return False
        return True


def _headers(message: Message) -> dict[str, object]:
    return {h.name: h.value for h in message.headers}


def test_ping_is_echoed(observer):
    raw = RawClient(observer)
    assert _headers(raw.connect())[":message-flags"] == 1
    raw.send(rpc.MessageType.PING, extra=(Header.string("probe", "42"),), payload=b"ping!")
    pong = raw.receive()
    assert _headers(pong)[":message-type"] == rpc.MessageType.PING_RESPONSE
    assert _headers(pong)["probe"] == "42"
    assert pong.payload == b"ping!"


def test_garbage_closes_only_that_connection(observer):
    raw = RawClient(observer)
    raw.sock.sendall(b"GET / HTTP/1.1\r\nHost: nucleus\r\n\r\n")
    assert raw.closed_by_server()
    assert_pubsub_works(observer)


def test_a_truncated_frame_then_hang_up_leaves_the_server_serving(observer):
    raw = RawClient(observer)
    raw.connect()
    frame = encode(
        Message((Header.int32(":message-type", 0), Header.int32(":message-flags", 0), Header.int32(":stream-id", 1)), b"{" * 100)
    )
    raw.sock.sendall(frame[: len(frame) // 2])
    raw.sock.close()
    assert_pubsub_works(observer)


def test_an_oversized_frame_is_refused_from_its_prelude(observer):
    raw = RawClient(observer)
    raw.connect()
    prelude = struct.pack(">II", MAX_FRAME_BYTES + 1, 0)
    raw.sock.sendall(prelude + struct.pack(">I", zlib.crc32(prelude)))
    error = raw.receive()
    assert _headers(error)[":message-type"] == rpc.MessageType.PROTOCOL_ERROR
    assert "exceeds" in json.loads(error.payload)["message"]
    assert raw.closed_by_server()
    assert_pubsub_works(observer)


def test_a_request_that_is_not_json_gets_the_nucleus_text_error(observer):
    raw = RawClient(observer)
    raw.connect()
    operation = (
        Header.string("operation", "aws.greengrass#PublishToTopic"),
        Header.string(":content-type", "application/json"),
        Header.string("service-model-type", "aws.greengrass#PublishToTopicRequest"),
    )
    raw.send(rpc.MessageType.APPLICATION_MESSAGE, stream_id=1, extra=operation, payload=b"{not json")
    error = raw.receive()
    assert _headers(error) == {":message-type": 1, ":message-flags": 2, ":stream-id": 1, ":content-type": "text/plain"}
    assert error.payload == b"InternalServerError"
    # The connection itself is fine: the next stream is served.
    raw.send(
        rpc.MessageType.APPLICATION_MESSAGE,
        stream_id=2,
        extra=operation,
        payload=b'{"topic": "x", "publishMessage": {"jsonMessage": {"message": {}}}}',
    )
    assert _headers(raw.receive())["service-model-type"] == "aws.greengrass#PublishToTopicResponse"
