"""Server side of event-stream RPC as a state machine: frames in, events out.

`ServerConnection.receive_data()` turns bytes from a client into events; the
`accept`/`respond`/`send_event`/`send_error` methods queue the bytes to answer
with, drained by `data_to_send()`. Nothing here touches a socket, so every
rule of the protocol (INT32 headers, the CONNECT handshake, stream ids, the
terminate flag) is testable byte for byte. Facts: shared/GREENGRASS_IPC.md.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from enum import Enum, IntEnum
from functools import lru_cache

from .eventstream import MAX_FRAME_BYTES, FrameDecoder, FrameError, Header, HeaderType, Message, encode_frame, encode_headers

PROTOCOL_VERSION = "0.1.0"
# The largest frame a connection may send before its CONNECT is accepted. A real CONNECT is a
# few hundred bytes (`:version` and `{"authToken": ...}`); without this bound anyone who can open
# the socket could make the emulator hold a 24 MiB frame per connection without authenticating.
PRE_CONNECT_MAX_FRAME_BYTES = 64 * 1024
CONTENT_TYPE_JSON = "application/json"

H_MESSAGE_TYPE = ":message-type"
H_MESSAGE_FLAGS = ":message-flags"
H_STREAM_ID = ":stream-id"
H_VERSION = ":version"
H_CONTENT_TYPE = ":content-type"
H_OPERATION = "operation"
H_MODEL_TYPE = "service-model-type"


# Texts aws-c-event-stream sends in PROTOCOL_ERROR messages (event_stream_rpc_priv.h).
CONNECT_FIRST = (
    "A CONNECT message must be received, and the CONNECT_ACK must be sent in response, before any other "
    "message-types can be sent on this connection. In addition, only one CONNECT message is allowed on a connection."
)
STREAM_ID_SKIPPED = "stream-id values must be monotonically incrementing. A new stream-id arrived that was incremented by more than 1."
STREAM_ID_LOWER = "stream-id values must be monotonically incrementing. A stream-id arrived that was lower than the last seen stream-id."
MISSING_OPERATION = "The first message for on a non-zero :stream-id must contain an operation header value."
NON_ZERO_STREAM_ID = (
    "non-zero stream-id field is only allowed for messages of type APPLICATION_MESSAGE. The stream id max value is INT32_MAX."
)
MISSING_FIELDS = (
    "A message was received with missing required fields. Check that your client is sending at least, "
    ":message-type, :message-flags, and :stream-id"
)
INVALID_MESSAGE_TYPE = "an invalid value for message-type field was received."


class MessageType(IntEnum):
    APPLICATION_MESSAGE = 0
    APPLICATION_ERROR = 1
    PING = 2
    PING_RESPONSE = 3
    CONNECT = 4
    CONNECT_ACK = 5
    PROTOCOL_ERROR = 6
    INTERNAL_ERROR = 7


class MessageFlag:
    """Plain ints: IntFlag arithmetic on every message costs more than the rest of the parse."""

    NONE = 0
    CONNECTION_ACCEPTED = 0x1
    TERMINATE_STREAM = 0x2


_MESSAGE_TYPES = {int(kind): kind for kind in MessageType}


class ConnectionState(Enum):
    AWAITING_CONNECT = "awaiting-connect"
    AWAITING_DECISION = "awaiting-decision"
    CONNECTED = "connected"
    CLOSED = "closed"


@dataclass(frozen=True)
class ConnectRequested:
    """A CONNECT arrived; the owner must call `accept()` or `reject()`."""

    auth_token: str | None


@dataclass(frozen=True)
class OperationRequested:
    stream_id: int
    operation: str
    model_type: str | None
    payload: bytes


@dataclass(frozen=True)
class StreamMessageReceived:
    stream_id: int
    model_type: str | None
    payload: bytes


@dataclass(frozen=True)
class StreamClosedByClient:
    stream_id: int


@dataclass(frozen=True)
class ConnectionRefused:
    """The CONNECT was refused (a refusing ack is queued); the client hangs up on reading it."""

    reason: str


@dataclass(frozen=True)
class ConnectionTerminated:
    """The connection is over; flush `data_to_send()` and close the socket."""

    reason: str


Event = ConnectRequested | OperationRequested | StreamMessageReceived | StreamClosedByClient | ConnectionRefused | ConnectionTerminated


class ProtocolViolation(Exception):
    pass


def _int32_header(headers: dict[str, Header], name: str) -> int:
    header = headers.get(name)
    if header is None:
        raise ProtocolViolation(f"missing {name} header")
    if header.type is not HeaderType.INT32:
        raise ProtocolViolation(f"{name} header must be INT32, got {header.type.name}")
    assert isinstance(header.value, int)
    return header.value


def _string_header(headers: dict[str, Header], name: str) -> str | None:
    header = headers.get(name)
    if header is None or header.type is not HeaderType.STRING:
        return None
    assert isinstance(header.value, str)
    return header.value


def _auth_token(payload: bytes) -> str | None:
    try:
        document = json.loads(payload or b"{}")
    except ValueError:
        return None
    token = document.get("authToken") if isinstance(document, dict) else None
    return token if isinstance(token, str) else None


@lru_cache(maxsize=64)
def _control_prefix(message_type: int, flags: int) -> bytes:
    return encode_headers((Header.int32(H_MESSAGE_TYPE, message_type), Header.int32(H_MESSAGE_FLAGS, flags)))


_STREAM_ID_HEADER = encode_headers((Header.int32(H_STREAM_ID, 0),))[:-4]
_INT32 = struct.Struct(">i")


def encode_control(message_type: MessageType, flags: int, stream_id: int, extra: tuple[Header, ...] = ()) -> bytes:
    """The RPC headers of one frame; the fixed part of each combination is encoded once."""
    return _control_prefix(int(message_type), flags) + _STREAM_ID_HEADER + _INT32.pack(stream_id) + encode_headers(extra)


class ServerConnection:
    """One client connection. Until its CONNECT is accepted it may send frames of at most
    `PRE_CONNECT_MAX_FRAME_BYTES`, so an unauthenticated peer buffers at most that plus one read."""

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._max_frame_bytes = max_frame_bytes
        self._decoder = FrameDecoder(min(max_frame_bytes, PRE_CONNECT_MAX_FRAME_BYTES))
        self._outbox: list[bytes] = []
        self.state = ConnectionState.AWAITING_CONNECT
        self._open_streams: set[int] = set()
        self._last_stream_id = 0

    # -- input ---------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[Event]:
        if self.state is ConnectionState.CLOSED:
            return []
        events: list[Event] = []
        try:
            for message in self._decoder.feed(data):
                event = self._handle(message)
                if event is not None:
                    events.append(event)
        except (FrameError, ProtocolViolation) as exc:
            # A CONNECT earlier in this same read can no longer be accepted or refused: the connection is over.
            events = [event for event in events if not isinstance(event, ConnectRequested)]
            events.append(self._fail(str(exc)))
        return events

    def connection_lost(self) -> list[StreamClosedByClient]:
        """Every stream still open ends with the socket; subscriptions must go."""
        self.state = ConnectionState.CLOSED
        closed = [StreamClosedByClient(stream_id) for stream_id in sorted(self._open_streams)]
        self._open_streams.clear()
        return closed

    def _fail(self, reason: str) -> ConnectionTerminated:
        payload = json.dumps({"message": reason}).encode()
        self._queue(MessageType.PROTOCOL_ERROR, MessageFlag.NONE, 0, payload, (Header.string(H_CONTENT_TYPE, CONTENT_TYPE_JSON),))
        self.state = ConnectionState.CLOSED
        self._open_streams.clear()
        return ConnectionTerminated(reason)

    def _handle(self, message: Message) -> Event | None:
        if self.state is ConnectionState.CLOSED:
            return None
        headers = {header.name: header for header in message.headers}
        try:
            message_type = _int32_header(headers, H_MESSAGE_TYPE)
            flags = _int32_header(headers, H_MESSAGE_FLAGS)
            stream_id = _int32_header(headers, H_STREAM_ID)
        except ProtocolViolation:
            raise ProtocolViolation(MISSING_FIELDS) from None
        kind = _MESSAGE_TYPES.get(message_type)
        if kind is None:
            raise ProtocolViolation(INVALID_MESSAGE_TYPE)
        if stream_id != 0 and kind not in (MessageType.APPLICATION_MESSAGE, MessageType.APPLICATION_ERROR):
            raise ProtocolViolation(NON_ZERO_STREAM_ID)
        if stream_id == 0 and kind in (MessageType.APPLICATION_MESSAGE, MessageType.APPLICATION_ERROR):
            raise ProtocolViolation(INVALID_MESSAGE_TYPE)

        if kind is MessageType.CONNECT:
            if self.state is not ConnectionState.AWAITING_CONNECT:
                raise ProtocolViolation(CONNECT_FIRST)
            version = _string_header(headers, H_VERSION)
            self.state = ConnectionState.AWAITING_DECISION
            if version != PROTOCOL_VERSION:
                # The nucleus answers a version mismatch like a bad token: a refused ack.
                self.reject()
                return ConnectionRefused(f"Client version {{{version}}} mismatches server version {{{PROTOCOL_VERSION}}}")
            return ConnectRequested(_auth_token(message.payload))
        if self.state is not ConnectionState.CONNECTED:
            raise ProtocolViolation(CONNECT_FIRST)
        if kind is MessageType.PING:
            self._queue(MessageType.PING_RESPONSE, MessageFlag.NONE, 0, message.payload, _echoable(message.headers))
            return None
        if kind is MessageType.PING_RESPONSE:
            return None
        if kind in (MessageType.APPLICATION_MESSAGE, MessageType.APPLICATION_ERROR):
            return self._stream_message(message, headers, stream_id, flags)
        raise ProtocolViolation(f"client sent {kind.name}")

    def _stream_message(self, message: Message, headers: dict[str, Header], stream_id: int, flags: int) -> Event | None:
        terminate = bool(flags & MessageFlag.TERMINATE_STREAM)
        model_type = _string_header(headers, H_MODEL_TYPE)
        if stream_id in self._open_streams:
            if terminate:
                self._open_streams.discard(stream_id)
                return StreamClosedByClient(stream_id)
            return StreamMessageReceived(stream_id, model_type, message.payload)
        if stream_id <= self._last_stream_id:
            if terminate:
                return None  # the client closing a stream the server already ended
            raise ProtocolViolation(STREAM_ID_LOWER)
        if stream_id != self._last_stream_id + 1:
            raise ProtocolViolation(STREAM_ID_SKIPPED)
        operation = _string_header(headers, H_OPERATION)
        if operation is None:
            raise ProtocolViolation(MISSING_OPERATION)
        self._last_stream_id = stream_id
        if terminate:
            return None
        self._open_streams.add(stream_id)
        return OperationRequested(stream_id, operation, model_type, message.payload)

    # -- output --------------------------------------------------------------

    def accept(self) -> None:
        self._require(ConnectionState.AWAITING_DECISION)
        self._queue(MessageType.CONNECT_ACK, MessageFlag.CONNECTION_ACCEPTED, 0, b"")
        self.state = ConnectionState.CONNECTED
        self._decoder.max_frame_bytes = self._max_frame_bytes

    def reject(self) -> None:
        """Refuse the CONNECT the way the nucleus does: an ack without the accepted flag, then close."""
        self._require(ConnectionState.AWAITING_DECISION)
        self._queue(MessageType.CONNECT_ACK, MessageFlag.NONE, 0, b"")
        self.state = ConnectionState.CLOSED

    def is_open(self, stream_id: int) -> bool:
        return stream_id in self._open_streams

    def respond(self, stream_id: int, model_type: str, payload: bytes, *, terminate: bool) -> bool:
        flags = MessageFlag.TERMINATE_STREAM if terminate else MessageFlag.NONE
        return self._stream_send(MessageType.APPLICATION_MESSAGE, flags, stream_id, model_type, payload)

    def send_event(self, stream_id: int, model_type: str, payload: bytes) -> bool:
        return self._stream_send(MessageType.APPLICATION_MESSAGE, MessageFlag.NONE, stream_id, model_type, payload)

    def send_error(self, stream_id: int, model_type: str, payload: bytes) -> bool:
        return self._stream_send(MessageType.APPLICATION_ERROR, MessageFlag.TERMINATE_STREAM, stream_id, model_type, payload)

    def send_unmodeled_error(self, stream_id: int, content_type: str, payload: bytes) -> bool:
        """An error without `service-model-type`, as the nucleus sends for requests it cannot parse."""
        if stream_id not in self._open_streams or self.state is not ConnectionState.CONNECTED:
            return False
        extra = (Header.string(H_CONTENT_TYPE, content_type),)
        self._queue(MessageType.APPLICATION_ERROR, MessageFlag.TERMINATE_STREAM, stream_id, payload, extra)
        self._open_streams.discard(stream_id)
        return True

    def terminate(self, stream_id: int) -> bool:
        """End a stream from the server side with an empty terminate message."""
        if stream_id not in self._open_streams or self.state is not ConnectionState.CONNECTED:
            return False
        self._queue(MessageType.APPLICATION_MESSAGE, MessageFlag.TERMINATE_STREAM, stream_id, b"")
        self._open_streams.discard(stream_id)
        return True

    def data_to_send(self) -> bytes:
        data = b"".join(self._outbox)
        self._outbox.clear()
        return data

    def _stream_send(self, kind: MessageType, flags: int, stream_id: int, model_type: str, payload: bytes) -> bool:
        if stream_id not in self._open_streams or self.state is not ConnectionState.CONNECTED:
            return False
        extra = (Header.string(H_CONTENT_TYPE, CONTENT_TYPE_JSON), Header.string(H_MODEL_TYPE, model_type))
        self._queue(kind, flags, stream_id, payload, extra)
        if flags & MessageFlag.TERMINATE_STREAM:
            self._open_streams.discard(stream_id)
        return True

    def _queue(self, kind: MessageType, flags: int, stream_id: int, payload: bytes, extra: tuple[Header, ...] = ()) -> None:
        self._outbox.append(encode_frame(encode_control(kind, flags, stream_id, extra), payload))

    def _require(self, state: ConnectionState) -> None:
        if self.state is not state:
            raise RuntimeError(f"connection is {self.state.value}, expected {state.value}")


_RESERVED = {H_MESSAGE_TYPE, H_MESSAGE_FLAGS, H_STREAM_ID}


def _echoable(headers: tuple[Header, ...]) -> tuple[Header, ...]:
    return tuple(h for h in headers if h.name not in _RESERVED)
