"""Amazon event-stream frames: bytes in, messages out, and back. No sockets.

The encoding is the one the Greengrass IPC client speaks through awscrt
(aws-c-event-stream); see the "Amazon Event Stream specification" on smithy.io.
The decoder is incremental, like h11's receive buffer: feed it whatever arrived
and take out the whole frames. Anything malformed raises `FrameError`; the
caller's only safe answer is to drop that connection, since framing is lost.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from enum import IntEnum
from functools import lru_cache
from typing import NamedTuple

MAX_FRAME_BYTES = 24 * 1024 * 1024
MAX_HEADER_VALUE_BYTES = 32767
PRELUDE_BYTES = 12
MESSAGE_CRC_BYTES = 4
MIN_FRAME_BYTES = PRELUDE_BYTES + MESSAGE_CRC_BYTES

_PRELUDE = struct.Struct(">III")
_U32 = struct.Struct(">I")


class HeaderType(IntEnum):
    TRUE = 0
    FALSE = 1
    BYTE = 2
    INT16 = 3
    INT32 = 4
    INT64 = 5
    BYTES = 6
    STRING = 7
    TIMESTAMP = 8
    UUID = 9


HeaderValue = bool | int | bytes | str | uuid.UUID

_FIXED = {
    HeaderType.BYTE: struct.Struct(">b"),
    HeaderType.INT16: struct.Struct(">h"),
    HeaderType.INT32: struct.Struct(">i"),
    HeaderType.INT64: struct.Struct(">q"),
    HeaderType.TIMESTAMP: struct.Struct(">q"),
}
_LEN16 = struct.Struct(">H")
_TYPES = tuple(HeaderType)  # indexed by the wire code: no Enum call per header


class FrameError(ValueError):
    """The byte stream is not valid event-stream framing."""


class Header(NamedTuple):
    name: str
    type: HeaderType
    value: HeaderValue

    @classmethod
    def string(cls, name: str, value: str) -> Header:
        return cls(name, HeaderType.STRING, value)

    @classmethod
    def int32(cls, name: str, value: int) -> Header:
        return cls(name, HeaderType.INT32, value)


class Message(NamedTuple):
    headers: tuple[Header, ...]
    payload: bytes = b""

    def header(self, name: str) -> Header | None:
        for header in self.headers:
            if header.name == name:
                return header
        return None


def encode_headers(headers: tuple[Header, ...] | list[Header]) -> bytes:
    return b"".join(map(_encode_header, headers))


@lru_cache(maxsize=1024)
def _encode_header(header: Header) -> bytes:
    """Headers repeat (types, flags, stream ids, model names): each is encoded once."""
    name = header.name.encode("utf-8")
    if not 0 < len(name) < 256:
        raise ValueError(f"header name must be 1..255 bytes: {header.name!r}")
    return bytes((len(name),)) + name + bytes((header.type,)) + _encode_value(header)


def _encode_value(header: Header) -> bytes:
    kind, value = header.type, header.value
    if kind in (HeaderType.TRUE, HeaderType.FALSE):
        return b""
    fixed = _FIXED.get(kind)
    if fixed is not None:
        return fixed.pack(value)
    if kind is HeaderType.UUID:
        assert isinstance(value, uuid.UUID)
        return value.bytes
    raw = value.encode("utf-8") if isinstance(value, str) else value
    assert isinstance(raw, bytes)
    if len(raw) > MAX_HEADER_VALUE_BYTES:
        raise ValueError(f"header {header.name!r} value exceeds {MAX_HEADER_VALUE_BYTES} bytes")
    return _LEN16.pack(len(raw)) + raw


def encode(message: Message) -> bytes:
    return encode_frame(encode_headers(message.headers), message.payload)


def encode_frame(encoded_headers: bytes, payload: bytes) -> bytes:
    """Frame already-encoded headers and a payload; lets a sender reuse a payload."""
    total = MIN_FRAME_BYTES + len(encoded_headers) + len(payload)
    if total > MAX_FRAME_BYTES:
        raise ValueError(f"frame of {total} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    prelude = _PRELUDE.pack(total, len(encoded_headers), 0)[:8]
    prelude += _U32.pack(zlib.crc32(prelude))
    crc = zlib.crc32(payload, zlib.crc32(encoded_headers, zlib.crc32(prelude)))
    return b"".join((prelude, encoded_headers, payload, _U32.pack(crc)))


# Header blocks seen before, decoded. A client's frames repeat the same few blocks (message type, flags,
# operation, content type, model name) that differ only in their stream id: a block is remembered with its
# stream id set to 0, and found again by its bytes with that id zeroed.
_STREAM_ID = b"\x0a:stream-id\x04"  # name length, name, INT32
_KNOWN_BLOCKS: dict[bytes, tuple[tuple[Header, ...], int]] = {}
_KNOWN_BLOCKS_MAX = 256


def decode_headers(raw: bytes | memoryview) -> tuple[Header, ...]:
    data = bytes(raw)
    at = data.find(_STREAM_ID)
    if at < 0 or at + 16 > len(data):
        return _decode_headers_checked(data)
    value_at = at + len(_STREAM_ID)
    zeroed = data[:value_at] + b"\0\0\0\0" + data[value_at + 4 :]
    known = _KNOWN_BLOCKS.get(zeroed)
    stream_id = int.from_bytes(data[value_at : value_at + 4], "big", signed=True)
    if known is not None:
        headers, index = known
        return (*headers[:index], Header(":stream-id", HeaderType.INT32, stream_id), *headers[index + 1 :])
    decoded = _decode_headers_checked(data)
    if len(_KNOWN_BLOCKS) >= _KNOWN_BLOCKS_MAX:
        _KNOWN_BLOCKS.clear()  # a peer that sends ever new blocks keeps the memory bounded, and the usual blocks come back
    _remember(zeroed, decoded, stream_id)
    return decoded


def _remember(zeroed: bytes, decoded: tuple[Header, ...], stream_id: int) -> None:
    """Only a block whose zeroed bytes are the same headers with a stream id of 0 (not, say, a string that holds those bytes)."""
    template = _decode_headers_checked(zeroed)
    ids = [index for index, header in enumerate(decoded) if header == (":stream-id", HeaderType.INT32, stream_id)]
    if len(ids) == 1 and template == (*decoded[: ids[0]], Header(":stream-id", HeaderType.INT32, 0), *decoded[ids[0] + 1 :]):
        _KNOWN_BLOCKS[zeroed] = (template, ids[0])


def _decode_headers_checked(raw: bytes | memoryview) -> tuple[Header, ...]:
    headers: list[Header] = []
    view = memoryview(raw)
    pos, end = 0, len(view)
    try:
        while pos < end:
            name_len = view[pos]
            pos += 1
            if name_len == 0:
                raise FrameError("header with an empty name")
            name = bytes(view[pos : pos + name_len]).decode("utf-8")
            pos += name_len
            kind = _TYPES[view[pos]]
            pos += 1
            value: HeaderValue
            if kind is HeaderType.TRUE:
                value = True
            elif kind is HeaderType.FALSE:
                value = False
            elif kind in _FIXED:
                fixed = _FIXED[kind]
                (value,) = fixed.unpack_from(view, pos)
                pos += fixed.size
            elif kind is HeaderType.UUID:
                value = uuid.UUID(bytes=bytes(view[pos : pos + 16]))
                pos += 16
            else:
                (length,) = _LEN16.unpack_from(view, pos)
                pos += 2
                chunk = bytes(view[pos : pos + length])
                if len(chunk) != length:
                    raise FrameError("header value runs past the header block")
                value = chunk.decode("utf-8") if kind is HeaderType.STRING else chunk
                pos += length
            if pos > end:
                raise FrameError("header runs past the header block")
            headers.append(Header(name, kind, value))
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, FrameError):
            raise
        raise FrameError(f"malformed header block: {exc}") from exc
    return tuple(headers)


class FrameDecoder:
    """Accumulates bytes and yields whole messages.

    The prelude is checked as soon as its 12 bytes arrive, so an oversized or
    garbage frame fails at once instead of after buffering up to the limit.
    `max_frame_bytes` may change between feeds (the RPC layer allows less
    before CONNECT than after).
    """

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._buffer = bytearray()
        self.max_frame_bytes = max_frame_bytes

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Message]:
        self._buffer += data
        messages: list[Message] = []
        buffer = self._buffer
        start, end = 0, len(buffer)
        try:
            while end - start >= PRELUDE_BYTES:
                total, headers_len, prelude_crc = _PRELUDE.unpack_from(buffer, start)
                if zlib.crc32(memoryview(buffer)[start : start + 8]) != prelude_crc:
                    raise FrameError("prelude checksum mismatch")
                if total > self.max_frame_bytes:
                    raise FrameError(f"frame of {total} bytes exceeds the {self.max_frame_bytes}-byte limit")
                if total < MIN_FRAME_BYTES or headers_len > total - MIN_FRAME_BYTES:
                    raise FrameError(f"inconsistent frame lengths: total {total}, headers {headers_len}")
                if end - start < total:
                    break
                messages.append(self._message(buffer, start, total, headers_len))
                start += total
        finally:
            del buffer[:start]  # once per feed: deleting frame by frame would be quadratic
        return messages

    @staticmethod
    def _message(buffer: bytearray, start: int, total: int, headers_len: int) -> Message:
        # A copy, not a view: a view kept alive by an exception's traceback would
        # stop feed() from trimming the buffer.
        frame = bytes(buffer[start : start + total])
        (message_crc,) = _U32.unpack_from(frame, total - MESSAGE_CRC_BYTES)
        if zlib.crc32(memoryview(frame)[: total - MESSAGE_CRC_BYTES]) != message_crc:
            raise FrameError("message checksum mismatch")
        view = memoryview(frame)
        headers = decode_headers(view[PRELUDE_BYTES : PRELUDE_BYTES + headers_len])
        payload = frame[PRELUDE_BYTES + headers_len : total - MESSAGE_CRC_BYTES]
        return Message(headers, payload)
