"""The frame codec, checked against botocore's independent event-stream parser."""

from __future__ import annotations

import struct
import uuid
import zlib

import pytest
from botocore.eventstream import EventStreamBuffer

from greengrass_local.wire.eventstream import (
    MAX_FRAME_BYTES,
    FrameDecoder,
    FrameError,
    Header,
    HeaderType,
    Message,
    decode_headers,
    encode,
    encode_headers,
)

EVERY_HEADER_TYPE = (
    Header("t", HeaderType.TRUE, True),
    Header("f", HeaderType.FALSE, False),
    Header("b", HeaderType.BYTE, -7),
    Header("s", HeaderType.INT16, -300),
    Header("i", HeaderType.INT32, 70000),
    Header("l", HeaderType.INT64, -(2**40)),
    Header("y", HeaderType.BYTES, b"\x00\xffraw"),
    Header("str", HeaderType.STRING, "ünïcode"),
    Header("ts", HeaderType.TIMESTAMP, 1_700_000_000_000),
    Header("u", HeaderType.UUID, uuid.UUID("12345678-1234-5678-1234-567812345678")),
)


def test_botocore_parses_what_we_encode():
    frame = encode(Message(EVERY_HEADER_TYPE, b'{"hello": "world"}'))
    buffer = EventStreamBuffer()
    buffer.add_data(frame)
    (parsed,) = list(buffer)
    assert parsed.payload == b'{"hello": "world"}'
    headers = parsed.headers
    assert headers["t"] is True and headers["f"] is False
    assert (headers["b"], headers["s"], headers["i"], headers["l"]) == (-7, -300, 70000, -(2**40))
    assert headers["y"] == b"\x00\xffraw"
    assert headers["str"] == "ünïcode"
    assert headers["u"] == uuid.UUID("12345678-1234-5678-1234-567812345678").bytes


def test_round_trip_keeps_every_header_type():
    message = Message(EVERY_HEADER_TYPE, b"payload")
    assert FrameDecoder().feed(encode(message)) == [message]


def test_frames_split_at_every_byte_boundary_still_decode():
    frames = encode(Message((Header.string("a", "1"),), b"x" * 50)) + encode(Message((), b""))
    decoder = FrameDecoder()
    received = []
    for index in range(len(frames)):
        received += decoder.feed(frames[index : index + 1])
    assert [m.payload for m in received] == [b"x" * 50, b""]
    assert decoder.buffered == 0


def test_known_minimal_frame_bytes():
    # An empty message is the 12-byte prelude plus the 4-byte message CRC.
    prelude = struct.pack(">II", 16, 0)
    expected = prelude + struct.pack(">I", zlib.crc32(prelude))
    expected += struct.pack(">I", zlib.crc32(expected))
    assert encode(Message(())) == expected


def _corrupt(frame: bytes, index: int) -> bytes:
    return frame[:index] + bytes([frame[index] ^ 0xFF]) + frame[index + 1 :]


def test_bad_prelude_checksum_is_rejected_before_the_frame_arrives():
    frame = encode(Message((), b"x" * 100))
    with pytest.raises(FrameError, match="prelude checksum"):
        FrameDecoder().feed(_corrupt(frame, 9)[:12])


def test_bad_message_checksum_is_rejected():
    frame = encode(Message((), b"x" * 100))
    with pytest.raises(FrameError, match="message checksum"):
        FrameDecoder().feed(_corrupt(frame, 50))


def test_oversized_frame_is_rejected_from_its_prelude_alone():
    prelude = struct.pack(">II", MAX_FRAME_BYTES + 1, 0)
    prelude += struct.pack(">I", zlib.crc32(prelude))
    with pytest.raises(FrameError, match="exceeds"):
        FrameDecoder().feed(prelude)


def test_headers_longer_than_the_frame_are_rejected():
    prelude = struct.pack(">II", 20, 10)
    prelude += struct.pack(">I", zlib.crc32(prelude))
    with pytest.raises(FrameError, match="inconsistent"):
        FrameDecoder().feed(prelude)


def test_garbage_header_block_is_a_frame_error():
    body = b"\x03abc\x63"  # header type 0x63 does not exist
    prelude = struct.pack(">II", 16 + len(body), len(body))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    frame = prelude + body
    frame += struct.pack(">I", zlib.crc32(frame))
    with pytest.raises(FrameError, match="malformed header"):
        FrameDecoder().feed(frame)


def test_encoder_refuses_frames_over_the_limit():
    with pytest.raises(ValueError, match="exceeds"):
        encode(Message((), b"\0" * MAX_FRAME_BYTES))


def test_encoder_refuses_oversized_header_values():
    with pytest.raises(ValueError, match="exceeds 32767"):
        encode(Message((Header.string("big", "x" * 40000),)))


def test_a_bad_frame_after_a_good_one_in_the_same_read_is_still_a_frame_error():
    body = b"\x03abc\x63"
    prelude = struct.pack(">II", 16 + len(body), len(body))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    bad = prelude + body
    bad += struct.pack(">I", zlib.crc32(bad))
    decoder = FrameDecoder()
    with pytest.raises(FrameError, match="malformed header"):
        decoder.feed(encode(Message((), b"good")) + bad)


def test_a_header_block_seen_before_decodes_the_same_with_each_stream_id():
    def block(stream_id: int, model: str) -> bytes:
        return encode_headers(
            (
                Header.int32(":message-type", 0),
                Header.int32(":message-flags", 0),
                Header.int32(":stream-id", stream_id),
                Header.string("service-model-type", model),
            )
        )

    for stream_id in (1, 2, -7, 2**31 - 1, 1):
        for model in ("aws.greengrass#PublishToTopicRequest", "aws.greengrass#PublishToIoTCoreRequest"):
            headers = decode_headers(block(stream_id, model))
            assert headers[2] == Header.int32(":stream-id", stream_id)
            assert headers[3] == Header.string("service-model-type", model)


def test_a_string_that_holds_the_bytes_of_a_stream_id_header_stays_a_string():
    tricky = Header.string("note", "\x0a:stream-id\x04" + "abcd")
    for value in ("\x0a:stream-id\x04" + "abcd", "\x0a:stream-id\x04" + "wxyz"):
        raw = encode_headers((Header.int32(":message-type", 0), Header.string("note", value)))
        assert decode_headers(raw) == (Header.int32(":message-type", 0), Header.string("note", value))
    assert decode_headers(encode_headers((tricky,))) == (tricky,)
