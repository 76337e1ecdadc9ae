"""The spool: selected samples on disk until S3 has them (SPEC §9.1, §9.8, §9.9).

Samples are appended to segment files (`000000000001.seg`, ...), several to
a segment, and flushed to stable storage in groups: one `fdatasync` covers
every sample written since the last one. Appending to an open file costs a
tenth of creating a file per sample, which matters on a device that spools
every sample it uploads. A sample larger than a segment gets a segment of
its own.

Each segment has a journal beside it (`000000000001.ack`, JSON lines): a
sample's multipart progress, and `done` once the sample has its final
answer. A segment is deleted when every sample in it is done (the one being
written is emptied instead), so a spool with nothing waiting holds no
sample bytes. Journal lines
are written without a flush: they survive `kill -9`; after a power loss a
sample may be sent again, to the same key (§9.2).

Record layout, format version 1 (little-endian):

    b"MLFS" | u16 version | u32 header length | u64 body length | header (JSON) | body | u32 CRC-32 of header and body

A record that is torn (cut short by a crash) or fails its checksum is copied
to `corrupt/` and skipped; the records after it are found again by their
magic and checksum.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger("ml_feedback.outbox")

FORMAT_VERSION = 1
MAGIC = b"MLFS"
_PREFIX = struct.Struct("<4sHIQ")
_TRAILER = struct.Struct("<I")
MAX_HEADER_BYTES = 16 * 1024 * 1024
COPY_CHUNK = 1024 * 1024
SEGMENT_SUFFIX, JOURNAL_SUFFIX = ".seg", ".ack"
CORRUPT_FOLDER = "corrupt"


class InputChanged(Exception):
    """A ModelInputPath file ended before its size at request time was read."""


@dataclass(frozen=True)
class SampleRecord:
    """Everything the outbox needs to upload a sample and answer for it, chosen once at spooling (§9.2)."""

    entry_id: str
    request_id: str
    config_id: str
    bucket: str
    key: str
    content_type: str
    metadata: dict[str, Any]  # the request's Metadata plus publish-ts
    prediction: Any
    created: float  # wall-clock seconds; the outbox stamps it when it spools the sample
    size: int  # bytes of model input

    def header(self) -> bytes:
        return json.dumps(
            {
                "id": self.entry_id,
                "request": self.request_id,
                "config": self.config_id,
                "bucket": self.bucket,
                "key": self.key,
                "type": self.content_type,
                "metadata": self.metadata,
                "prediction": self.prediction,
                "created": self.created,
            },
            separators=(",", ":"),
            allow_nan=False,
        ).encode()

    @classmethod
    def from_header(cls, header: bytes, size: int) -> SampleRecord:
        document = json.loads(header)
        text = ("id", "request", "config", "bucket", "key", "type")
        if not isinstance(document, dict) or not all(isinstance(document.get(name), str) for name in text):
            raise ValueError("a header field is missing")
        if not isinstance(document.get("metadata"), dict) or not isinstance(document.get("created"), (int, float)):
            raise ValueError("metadata or created is missing")
        return cls(
            document["id"],
            document["request"],
            document["config"],
            document["bucket"],
            document["key"],
            document["type"],
            document["metadata"],
            document.get("prediction"),
            float(document["created"]),
            size,
        )


@dataclass(frozen=True)
class Spooled:
    """Where a sample's bytes are."""

    record: SampleRecord
    segment: int
    body_offset: int
    disk_bytes: int


@dataclass
class Progress:
    """A multipart upload's state: its id and the ETag of every part S3 has confirmed."""

    upload_id: str | None = None
    etags: dict[int, str] = field(default_factory=dict)


@dataclass
class _Segment:
    number: int
    size: int = 0
    live: set[str] = field(default_factory=set)
    read_fd: int | None = None
    journal_fd: int | None = None


class Spool:
    """The segment files of one spool folder. Thread-safe."""

    def __init__(self, directory: Path, segment_bytes: int) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._segments: dict[int, _Segment] = {}
        self._active: _Segment | None = None
        self._active_fd: int | None = None
        self._next_number = 1
        self._unflushed: set[int] = set()  # file descriptors written since the last flush
        self._retired: list[int] = []  # write descriptors of segments no longer written, closed after their flush
        self._directory_fd: int | None = None

    # -- start --------------------------------------------------------------------------------

    def open(self) -> tuple[list[tuple[Spooled, Progress]], list[SampleRecord]]:
        """Create the folder, or read back every waiting sample in it (oldest first).

        Also returns the samples found damaged whose header could still be read, so their requests can be answered.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        self._directory_fd = os.open(self.directory, os.O_RDONLY)
        waiting: list[tuple[Spooled, Progress]] = []
        damaged: list[SampleRecord] = []
        numbers = _segment_numbers(self.directory)
        for path in self.directory.glob(f"*{JOURNAL_SUFFIX}"):
            if path.stem.isdigit() and int(path.stem) not in numbers:
                path.unlink()
        for number in numbers:
            segment = _Segment(number, size=self._segment_path(number).stat().st_size)
            done, progress = _read_journal(self._journal_path(number))
            _end_torn_line(self._journal_path(number))
            with open(self._segment_path(number), "rb") as handle:
                for found in _records(handle, number):
                    if isinstance(found, _Damaged):
                        self._set_aside(handle, number, found)
                        if found.record is not None and found.record.entry_id not in done:
                            damaged.append(found.record)
                    elif found.record.entry_id not in done:
                        segment.live.add(found.record.entry_id)
                        waiting.append((found, progress.get(found.record.entry_id, Progress())))
            self._segments[number] = segment
            if not segment.live:
                self._delete(segment)
        self._next_number = (numbers[-1] + 1) if numbers else 1
        return waiting, damaged

    def _set_aside(self, handle: BinaryIO, number: int, damaged: _Damaged) -> None:
        """Copy a torn or corrupt stretch of a segment to corrupt/ (the segment goes once its good samples are done)."""
        folder = self.directory / CORRUPT_FOLDER
        folder.mkdir(exist_ok=True)
        target = folder / f"{number:012d}-{damaged.start}.bad"
        handle.seek(damaged.start)
        with open(target, "wb") as out:
            remaining = damaged.end - damaged.start
            while remaining > 0:
                chunk = handle.read(min(COPY_CHUNK, remaining))
                if not chunk:
                    break
                out.write(chunk)
                remaining -= len(chunk)
        handle.seek(damaged.end)
        whose = f" (RequestId {damaged.record.request_id})" if damaged.record is not None else ""
        log.error("spool: a torn or corrupt entry%s, %d bytes, was moved to %s", whose, damaged.end - damaged.start, target)

    # -- writing --------------------------------------------------------------------------------

    @staticmethod
    def disk_bytes_of(record: SampleRecord) -> int:
        return _disk_bytes(len(record.header()), record.size)

    def append(self, record: SampleRecord, body: bytes | BinaryIO) -> Spooled:
        """Write a sample (it survives `kill -9` now, a power loss after `flush`). On failure nothing of it stays in the spool."""
        if isinstance(body, bytes) and len(body) != record.size:
            raise ValueError(f"the sample has {len(body)} bytes, its record says {record.size}")
        header = record.header()
        disk_bytes = _disk_bytes(len(header), record.size)
        prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(header), record.size)
        with self._lock:
            segment, fd = self._segment_for(disk_bytes)
            start = segment.size
            try:
                if isinstance(body, bytes):
                    crc = zlib.crc32(body, zlib.crc32(header))
                    _write_all(fd, b"".join((prefix, header, body, _TRAILER.pack(crc))))
                else:
                    _write_all(fd, prefix + header)
                    crc = _copy(body, fd, record.size, zlib.crc32(header))
                    _write_all(fd, _TRAILER.pack(crc))
            except BaseException:
                os.ftruncate(fd, start)
                raise
            segment.size += disk_bytes
            segment.live.add(record.entry_id)
            self._unflushed.add(fd)
            if disk_bytes > self.segment_bytes:
                self._retire_active()  # a sample larger than a segment keeps its segment to itself
            return Spooled(record, segment.number, start + _PREFIX.size + len(header), disk_bytes)

    def _segment_for(self, disk_bytes: int) -> tuple[_Segment, int]:
        active = self._active
        if active is not None and self._active_fd is not None:
            if active.size == 0 or active.size + disk_bytes <= self.segment_bytes:
                return active, self._active_fd
            self._retire_active()
        number = self._next_number
        self._next_number += 1
        fd = os.open(self._segment_path(number), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        if self._directory_fd is not None:
            os.fsync(self._directory_fd)  # the new file's name survives a power loss
        self._active, self._active_fd = _Segment(number), fd
        self._segments[number] = self._active
        return self._active, fd

    def _retire_active(self) -> None:
        if self._active_fd is not None:
            self._retired.append(self._active_fd)
        finished = self._active
        self._active, self._active_fd = None, None
        if finished is not None and not finished.live:
            self._delete(finished)

    def flush(self) -> None:
        """Put every sample written so far on stable storage (one `fdatasync` per segment written to, however many samples)."""
        with self._flush_lock:
            with self._lock:
                descriptors = [os.dup(fd) for fd in self._unflushed]
                self._unflushed.clear()
                retired, self._retired = self._retired, []
            try:
                for fd in descriptors:
                    os.fdatasync(fd)
            finally:
                for fd in descriptors + retired:
                    os.close(fd)

    # -- progress and answers ----------------------------------------------------------------------

    def read(self, spooled: Spooled, start: int = 0, length: int | None = None) -> bytes:
        length = spooled.record.size - start if length is None else length
        with self._lock:
            segment = self._segments[spooled.segment]
            if segment.read_fd is None:
                segment.read_fd = os.open(self._segment_path(segment.number), os.O_RDONLY)
            fd = os.dup(segment.read_fd)
        try:
            data = os.pread(fd, length, spooled.body_offset + start)
        finally:
            os.close(fd)
        if len(data) != length:
            raise OSError(f"spool segment {segment.number} ends before its sample {spooled.record.entry_id}")
        return data

    def note_upload(self, spooled: Spooled, upload_id: str) -> None:
        self._journal(spooled, {"id": spooled.record.entry_id, "upload": upload_id})

    def note_part(self, spooled: Spooled, number: int, etag: str) -> None:
        self._journal(spooled, {"id": spooled.record.entry_id, "part": number, "etag": etag})

    def note_restart(self, spooled: Spooled) -> None:
        """The multipart upload is gone on S3's side: start over."""
        self._journal(spooled, {"id": spooled.record.entry_id, "restart": True})

    def done(self, spooled: Spooled) -> None:
        """The sample has its final answer: it is never sent again, and its segment goes once all its samples are done."""
        with self._lock:
            segment = self._segments.get(spooled.segment)
            if segment is None or spooled.record.entry_id not in segment.live:
                return
            self._journal_locked(segment, {"id": spooled.record.entry_id, "done": True})
            segment.live.discard(spooled.record.entry_id)
            if segment.live:
                return
            if segment is self._active and self._active_fd is not None:
                # Emptied in place (cheaper than a new file per sample); the segment first, as in _delete.
                os.ftruncate(self._active_fd, 0)
                if segment.journal_fd is not None:
                    os.ftruncate(segment.journal_fd, 0)
                segment.size = 0
            else:
                self._delete(segment)

    def _journal(self, spooled: Spooled, event: dict[str, Any]) -> None:
        with self._lock:
            segment = self._segments.get(spooled.segment)
            if segment is not None:
                self._journal_locked(segment, event)

    def _journal_locked(self, segment: _Segment, event: dict[str, Any]) -> None:
        if segment.journal_fd is None:
            segment.journal_fd = os.open(self._journal_path(segment.number), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _write_all(segment.journal_fd, json.dumps(event, separators=(",", ":")).encode() + b"\n")

    def _delete(self, segment: _Segment) -> None:
        for fd in (segment.read_fd, segment.journal_fd):
            if fd is not None:
                os.close(fd)
        segment.read_fd = segment.journal_fd = None
        self._segments.pop(segment.number, None)
        # The segment first: a journal without its segment is ignored, a segment without its journal would be sent again.
        self._segment_path(segment.number).unlink(missing_ok=True)
        self._journal_path(segment.number).unlink(missing_ok=True)

    @property
    def disk_bytes(self) -> int:
        with self._lock:
            return sum(segment.size for segment in self._segments.values())

    def close(self) -> None:
        with self._lock:
            descriptors = [fd for fd in (self._active_fd, self._directory_fd) if fd is not None]
            descriptors += self._retired
            for segment in self._segments.values():
                descriptors += [fd for fd in (segment.read_fd, segment.journal_fd) if fd is not None]
                segment.read_fd = segment.journal_fd = None
            self._active_fd = self._directory_fd = None
            self._retired, self._unflushed = [], set()
        for fd in descriptors:
            os.close(fd)

    def _segment_path(self, number: int) -> Path:
        return self.directory / f"{number:012d}{SEGMENT_SUFFIX}"

    def _journal_path(self, number: int) -> Path:
        return self.directory / f"{number:012d}{JOURNAL_SUFFIX}"


def _disk_bytes(header_length: int, body_length: int) -> int:
    return _PREFIX.size + header_length + body_length + _TRAILER.size


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _copy(source: BinaryIO, fd: int, size: int, crc: int) -> int:
    remaining = size
    while remaining > 0:
        chunk = source.read(min(COPY_CHUNK, remaining))
        if not chunk:
            raise InputChanged(f"the file ended after {size - remaining} of its {size} bytes")
        crc = zlib.crc32(chunk, crc)
        _write_all(fd, chunk)
        remaining -= len(chunk)
    return crc


@dataclass(frozen=True)
class _Damaged:
    """A stretch of a segment that holds no good record; `record` when its header could still be read."""

    start: int
    end: int
    record: SampleRecord | None = None


def _segment_numbers(directory: Path) -> list[int]:
    return sorted(int(path.stem) for path in directory.glob(f"*{SEGMENT_SUFFIX}") if path.stem.isdigit())


def _records(handle: BinaryIO, number: int) -> Iterator[Spooled | _Damaged]:
    """Every record of a segment in order, and the damaged stretches between them."""
    end = os.fstat(handle.fileno()).st_size
    offset = 0
    while offset < end:
        found = _read_record(handle, number, offset, end)
        if isinstance(found, Spooled):
            yield found
            offset += found.disk_bytes
            continue
        following = _next_magic(handle, offset + 1, end)
        yield _Damaged(offset, following, found)
        offset = following


def _read_record(handle: BinaryIO, number: int, offset: int, end: int) -> Spooled | SampleRecord | None:
    """The record at `offset`; when it is torn or corrupt, its header if that still reads, else None."""
    handle.seek(offset)
    prefix = handle.read(_PREFIX.size)
    if len(prefix) < _PREFIX.size:
        return None
    magic, version, header_length, body_length = _PREFIX.unpack(prefix)
    if magic != MAGIC or version != FORMAT_VERSION or header_length > MAX_HEADER_BYTES:
        return None
    header = handle.read(header_length)
    try:
        record: SampleRecord | None = SampleRecord.from_header(header, body_length)
    except ValueError:
        record = None
    disk_bytes = _disk_bytes(header_length, body_length)
    if record is None or offset + disk_bytes > end:
        return record
    crc = zlib.crc32(header)
    remaining = body_length
    while remaining > 0:
        chunk = handle.read(min(COPY_CHUNK, remaining))
        crc = zlib.crc32(chunk, crc)
        remaining -= len(chunk)
    (stored,) = _TRAILER.unpack(handle.read(_TRAILER.size))
    if stored != crc:
        return record
    return Spooled(record, number, offset + _PREFIX.size + header_length, disk_bytes)


def _next_magic(handle: BinaryIO, start: int, end: int) -> int:
    """Where the next record may begin after a bad one (the end of the segment when none does)."""
    position = start
    while position < end:
        handle.seek(position)
        window = handle.read(COPY_CHUNK + len(MAGIC) - 1)
        found = window.find(MAGIC)
        if found >= 0:
            return position + found
        position += COPY_CHUNK
    return end


def _read_journal(path: Path) -> tuple[set[str], dict[str, Progress]]:
    """The samples a segment's journal says are done, and the multipart progress of the others."""
    done: set[str] = set()
    progress: dict[str, Progress] = {}
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return done, progress
    for line in lines:
        try:
            event = json.loads(line)
            entry_id = event["id"]
            if event.get("done"):
                done.add(entry_id)
            elif "upload" in event:
                progress[entry_id] = Progress(event["upload"])
            elif "part" in event and entry_id in progress:
                progress[entry_id].etags[int(event["part"])] = str(event["etag"])
            elif event.get("restart"):
                progress.pop(entry_id, None)
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a crash: what it said did not happen
    return done, progress


def _end_torn_line(path: Path) -> None:
    """A journal line cut short by a crash is ended, so the next line is not glued to it."""
    try:
        with open(path, "rb+") as journal:
            size = journal.seek(0, os.SEEK_END)
            if size:
                journal.seek(size - 1)
                if journal.read(1) != b"\n":
                    journal.write(b"\n")
    except FileNotFoundError:
        pass


def peek(directory: Path) -> list[SampleRecord]:
    """The samples waiting in a spool folder, read without changing anything (for diagnostics and tests)."""
    waiting: list[SampleRecord] = []
    for number in _segment_numbers(directory):
        done, _progress = _read_journal(directory / f"{number:012d}{JOURNAL_SUFFIX}")
        try:
            with open(directory / f"{number:012d}{SEGMENT_SUFFIX}", "rb") as handle:
                waiting += [r.record for r in _records(handle, number) if isinstance(r, Spooled) and r.record.entry_id not in done]
        except FileNotFoundError:
            continue  # deleted while we looked
    return waiting
