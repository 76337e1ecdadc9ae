"""The connection layer: authentication, unknown operations, and hostile bytes on the socket."""

from __future__ import annotations

import gc
import json
import selectors
import socket
import struct
import threading
import time
import zlib

import pytest
from awsiot.eventstreamrpc import AccessDeniedError

from greengrass_local.wire import rpc
from greengrass_local.wire.eventstream import MAX_FRAME_BYTES, FrameDecoder, Header, Message, encode


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
        client.validate_authorization_token(token="not-a-token")
    assert raised.value.message == "Operation aws.greengrass#ValidateAuthorizationToken is not supported by the local nucleus emulator"
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
        self.sock.sendall(self.connect_frame())
        return self.receive()

    def connect_frame(self) -> bytes:
        headers = (
            Header.int32(":message-type", rpc.MessageType.CONNECT),
            Header.int32(":message-flags", 0),
            Header.int32(":stream-id", 0),
            Header.string(":version", "0.1.0"),
        )
        return encode(Message(headers, json.dumps({"authToken": self.token}).encode()))

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


# -- limits on connections that have not completed CONNECT ------------------------------------------

HUGE_FRAME_BYTES = 23 * 1024 * 1024  # under the 24 MiB an authenticated client may send
PARTIAL_BYTES = 4 * 1024 * 1024  # what each connection sends of it: 200 MiB over 50 connections
# What the emulator may hold for them: each may buffer a 64 KiB frame and one 256 KiB socket read
# (16 MiB for 50), plus allocator slack. Before the limit it held all 200 MiB.
RSS_GROWTH_BOUND_BYTES = 32 * 1024 * 1024
CLOSE_SLACK_SECONDS = 25.0  # generous: the emulator closes them at the deadline, a loaded CI machine may be late


def _rss_bytes() -> int:
    """This process's resident set: the emulator runs in it (NucleusThread)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def _prelude(total: int, headers: int = 0) -> bytes:
    head = struct.pack(">II", total, headers)
    return head + struct.pack(">I", zlib.crc32(head))


def _unauthenticated(nucleus) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(10)
    sock.connect(nucleus.nucleus.socket_path)
    return sock


def _wait_until_closed_by_server(socks: list[socket.socket], timeout: float) -> list[socket.socket]:
    """Read every socket until the emulator closes it (EOF or reset); returns those still open at the timeout."""
    selector = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    open_ = set(socks)
    deadline = time.monotonic() + timeout
    while open_ and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.5):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                if sock.recv(65536):
                    continue  # a PROTOCOL_ERROR frame before the close
            except BlockingIOError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                pass
            selector.unregister(sock)
            open_.discard(sock)
    selector.close()
    return [sock for sock in socks if sock in open_]


def test_fifty_connections_announcing_huge_frames_before_connect_buffer_little_and_are_closed(observer):
    """Before, ten such connections took the emulator from 31 to 261 MiB and stayed open."""
    from greengrass_local.wire.server import CONNECT_TIMEOUT_SECONDS

    chunk = b"\0" * PARTIAL_BYTES  # allocated before the baseline: only the emulator's growth counts
    gc.collect()
    baseline = _rss_bytes()
    socks = [_unauthenticated(observer) for _ in range(50)]
    try:
        for sock in socks:
            try:
                sock.sendall(_prelude(HUGE_FRAME_BYTES))
                sock.sendall(chunk)
            except OSError:
                pass  # the emulator refused the frame and hung up: what should happen
        growth = _rss_bytes() - baseline
        assert growth < RSS_GROWTH_BOUND_BYTES, f"the emulator grew by {growth / 2**20:.0f} MiB holding 50 unauthenticated frames"
        assert_pubsub_works(observer)
        still_open = _wait_until_closed_by_server(socks, CONNECT_TIMEOUT_SECONDS + CLOSE_SLACK_SECONDS)
        assert not still_open, f"{len(still_open)} of 50 connections without CONNECT were left open"
    finally:
        for sock in socks:
            sock.close()
    assert_pubsub_works(observer)


def test_fifty_connections_that_never_connect_are_closed_at_the_connect_deadline(observer):
    """Half send nothing, half a frame within the pre-CONNECT limit but never all of it."""
    from greengrass_local.wire.server import CONNECT_TIMEOUT_SECONDS

    socks = [_unauthenticated(observer) for _ in range(50)]
    try:
        for sock in socks[::2]:
            sock.sendall(_prelude(4096) + b"\0" * 1000)
        assert_pubsub_works(observer)  # a real client is served while they wait
        still_open = _wait_until_closed_by_server(socks, CONNECT_TIMEOUT_SECONDS + CLOSE_SLACK_SECONDS)
        assert not still_open, f"{len(still_open)} of 50 connections without CONNECT were left open"
    finally:
        for sock in socks:
            sock.close()
    assert_pubsub_works(observer)


@pytest.mark.parametrize(
    "violation",
    [
        pytest.param(lambda raw: raw.connect_frame(), id="a second CONNECT"),
        pytest.param(lambda raw: b"GET / HTTP/1.1\r\nHost: nucleus\r\n\r\n", id="garbage"),
    ],
)
def test_a_connect_and_a_protocol_violation_in_one_write_close_the_connection_quietly(observer, caplog, violation):
    """Before: `RuntimeError: connection is closed, expected awaiting-decision` from inside the emulator."""
    raw = RawClient(observer)
    raw.sock.sendall(raw.connect_frame() + violation(raw))
    answers: list[Message] = []
    while chunk := raw.sock.recv(65536):  # until the emulator hangs up (a timeout fails the test)
        answers += raw.decoder.feed(chunk)
    assert [_headers(answer)[":message-type"] for answer in answers] == [rpc.MessageType.PROTOCOL_ERROR]
    assert_pubsub_works(observer)
    emulator_log = (observer.root / "logs" / "greengrass.log").read_text()
    assert "Traceback" not in emulator_log and "RuntimeError" not in emulator_log
    assert [record.getMessage() for record in caplog.records if record.exc_info or "RuntimeError" in record.getMessage()] == []


@pytest.mark.parametrize(
    ("operation", "call"),
    [
        (
            "AuthorizeClientDeviceAction",
            lambda c: c.authorize_client_device_action(client_device_auth_token="t", operation="mqtt:connect", resource="r"),
        ),
        ("GetClientDeviceAuthToken", lambda c: c.get_client_device_auth_token(credential=None)),
        ("SubscribeToCertificateUpdates", lambda c: c.subscribe_to_certificate_updates(certificate_options=None, on_stream_event=print)),
        ("VerifyClientDeviceIdentity", lambda c: c.verify_client_device_identity(credential=None)),
        ("CreateDebugPassword", lambda c: c.create_debug_password()),
    ],
)
def test_an_operation_only_a_plugin_provides_gets_the_nucleus_own_not_supported_error(observer, operation, call):
    from awsiot.greengrasscoreipc.model import ServiceError

    client = observer.client("test.Observer")
    with pytest.raises(ServiceError) as raised:
        call(client)
    assert raised.value.message == f"Operation aws.greengrass#{operation} is not supported by Greengrass"
    assert_pubsub_works(observer)
    client.close()
