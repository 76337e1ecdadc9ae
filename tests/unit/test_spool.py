"""The spool on a real disk folder: what is written comes back after a restart, torn and corrupt entries are set aside."""

from __future__ import annotations

import errno
import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from ml_feedback.outbox.spool import FORMAT_VERSION, InputChanged, Progress, SampleRecord, Spool, peek


def record(n: int, size: int = 1000) -> SampleRecord:
    return SampleRecord(
        entry_id=f"id-{n}",
        request_id=f"req-{n}",
        config_id="All",
        bucket="samples",
        key=f"p/id-{n}.png",
        content_type="image/png",
        metadata={"camera": "line-3", "publish-ts": "2026-12-01 10:00:00.000000"},
        prediction=[0.5, 0.5],
        created=1_700_000_000.0 + n,
        size=size,
    )


def body(n: int, size: int = 1000) -> bytes:
    return bytes([n % 256]) * size


def reopen(folder: Path) -> tuple[Spool, list, list]:
    spool = Spool(folder, 64 * 1024)
    waiting, damaged = spool.open()
    return spool, waiting, damaged


def test_samples_written_come_back_in_order_with_their_bytes_after_a_restart(tmp_path):
    spool, waiting, _ = reopen(tmp_path)
    assert waiting == []
    written = [spool.append(record(n), body(n)) for n in range(5)]
    spool.flush()
    spool.done(written[1])
    spool.close()
    spool, waiting, damaged = reopen(tmp_path)
    assert damaged == []
    assert [spooled.record for spooled, _ in waiting] == [record(n) for n in (0, 2, 3, 4)]
    assert [spool.read(spooled) for spooled, _ in waiting] == [body(n) for n in (0, 2, 3, 4)]
    assert spool.read(waiting[1][0], 10, 5) == body(2)[10:15]
    assert [r.request_id for r in peek(tmp_path)] == ["req-0", "req-2", "req-3", "req-4"]
    spool.close()


def test_a_segment_is_deleted_once_every_sample_in_it_is_done_and_the_active_one_emptied(tmp_path):
    spool, _, _ = reopen(tmp_path)
    written = [spool.append(record(n, 20_000), body(n, 20_000)) for n in range(6)]  # 3 per 64 KiB segment
    spool.flush()
    assert sorted(p.name for p in tmp_path.glob("*.seg")) == ["000000000001.seg", "000000000002.seg"]
    for spooled in written[:3]:
        spool.done(spooled)
    assert sorted(p.name for p in tmp_path.glob("*")) == ["000000000002.seg"]
    for spooled in written[3:]:
        spool.done(spooled)
    assert [p.stat().st_size for p in tmp_path.iterdir()] == [0, 0], "nothing waits, no sample bytes kept"
    assert spool.disk_bytes == 0
    spool.close()


def test_a_sample_larger_than_a_segment_gets_a_segment_of_its_own(tmp_path):
    spool, _, _ = reopen(tmp_path)
    small = spool.append(record(1), body(1))
    large = spool.append(record(2, 100_000), body(2, 100_000))
    after = spool.append(record(3), body(3))
    assert (small.segment, large.segment, after.segment) == (1, 2, 3)
    spool.close()


def test_a_model_input_file_is_copied_and_a_file_that_shrinks_leaves_nothing(tmp_path):
    spool, _, _ = reopen(tmp_path / "spool")
    spooled = spool.append(record(1, 3000), io.BytesIO(body(1, 3000)))
    assert spool.read(spooled) == body(1, 3000)
    before = spool.disk_bytes
    with pytest.raises(InputChanged, match="the file ended after 2000 of its 3000 bytes"):
        spool.append(record(2, 3000), io.BytesIO(body(2, 2000)))
    assert spool.disk_bytes == before == (tmp_path / "spool" / "000000000001.seg").stat().st_size
    spool.close()
    assert [r.entry_id for r in peek(tmp_path / "spool")] == ["id-1"]


def test_a_torn_last_entry_is_moved_aside_and_answered_from_its_header(tmp_path, caplog):
    spool, _, _ = reopen(tmp_path)
    for n in range(3):
        spool.append(record(n), body(n))
    spool.flush()
    spool.close()
    segment = tmp_path / "000000000001.seg"
    segment.write_bytes(segment.read_bytes()[:-10])
    with caplog.at_level(logging.ERROR, "ml_feedback.outbox"):
        spool, waiting, damaged = reopen(tmp_path)
    assert [spooled.record.entry_id for spooled, _ in waiting] == ["id-0", "id-1"]
    assert damaged == [record(2)]
    [aside] = list((tmp_path / "corrupt").iterdir())
    assert aside.name.startswith("000000000001-")
    assert [r.getMessage() for r in caplog.records] == [
        f"spool: a torn or corrupt entry (RequestId req-2), {aside.stat().st_size} bytes, was moved to {aside}"
    ]
    spool.close()


def test_a_corrupt_entry_in_the_middle_does_not_hide_the_ones_after_it(tmp_path):
    spool, _, _ = reopen(tmp_path)
    for n in range(4):
        spool.append(record(n), body(n))
    spool.close()
    segment = tmp_path / "000000000001.seg"
    data = bytearray(segment.read_bytes())
    second = data.index(b"MLFS", 1)
    data[second + 3] ^= 0xFF  # the second record's magic: its lengths cannot be trusted either
    segment.write_bytes(bytes(data))
    spool, waiting, damaged = reopen(tmp_path)
    assert [spooled.record.entry_id for spooled, _ in waiting] == ["id-0", "id-2", "id-3"]
    assert damaged == []  # nothing of it could be read
    assert len(list((tmp_path / "corrupt").iterdir())) == 1
    spool.close()


def test_an_entry_of_an_unknown_format_version_is_set_aside_not_guessed(tmp_path):
    spool, _, _ = reopen(tmp_path)
    spool.append(record(0), body(0))
    spool.close()
    segment = tmp_path / "000000000001.seg"
    data = bytearray(segment.read_bytes())
    data[4:6] = (FORMAT_VERSION + 1).to_bytes(2, "little")
    segment.write_bytes(bytes(data))
    spool, waiting, _ = reopen(tmp_path)
    assert waiting == []
    assert len(list((tmp_path / "corrupt").iterdir())) == 1
    spool.close()


def test_multipart_progress_survives_a_restart_and_a_torn_journal_line_is_ignored(tmp_path):
    spool, _, _ = reopen(tmp_path)
    spooled = spool.append(record(0), body(0))
    spool.note_upload(spooled, "upload-1")
    spool.note_part(spooled, 1, '"etag-1"')
    spool.note_part(spooled, 2, '"etag-2"')
    spool.close()
    journal = tmp_path / "000000000001.ack"
    journal.write_bytes(journal.read_bytes()[:-5])  # the last line was being written when the power went
    spool, waiting, _ = reopen(tmp_path)
    [(_, progress)] = waiting
    assert progress == Progress("upload-1", {1: '"etag-1"'})
    spool.note_restart(waiting[0][0])
    spool.close()
    spool, waiting, _ = reopen(tmp_path)
    assert waiting[0][1] == Progress()
    spool.close()


def test_the_on_disk_record_is_the_documented_layout(tmp_path):
    spool, _, _ = reopen(tmp_path)
    spool.append(record(7, 4), b"\x00\x01\x02\x03")
    spool.close()
    data = (tmp_path / "000000000001.seg").read_bytes()
    header_length = int.from_bytes(data[6:10], "little")
    assert data[:4] == b"MLFS" and int.from_bytes(data[4:6], "little") == 1
    assert int.from_bytes(data[10:18], "little") == 4
    header = json.loads(data[18 : 18 + header_length])
    assert header == {
        "id": "id-7",
        "request": "req-7",
        "config": "All",
        "bucket": "samples",
        "key": "p/id-7.png",
        "type": "image/png",
        "metadata": {"camera": "line-3", "publish-ts": "2026-12-01 10:00:00.000000"},
        "prediction": [0.5, 0.5],
        "created": 1_700_000_007.0,
    }
    assert data[18 + header_length : -4] == b"\x00\x01\x02\x03"
    assert len(data) == Spool.disk_bytes_of(record(7, 4))


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    """A real write failure: the kernel refuses to grow the file past RLIMIT_FSIZE (EFBIG), in a child process."""
    script = f"""
import resource, signal, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[2] / "component")!r})
from pathlib import Path
from ml_feedback.outbox.spool import SampleRecord, Spool
record = lambda n: SampleRecord(f"id-{{n}}", f"req-{{n}}", "All", "samples", f"id-{{n}}", "image/png", {{}}, [1], 0.0, 10000)
spool = Spool(Path({str(tmp_path)!r}), 1 << 20)
spool.open()
spool.append(record(0), b"a" * 10000)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (spool.disk_bytes + 5000, resource.RLIM_INFINITY))
try:
    spool.append(record(1), b"b" * 10000)
except OSError as error:
    print(error.errno, spool.disk_bytes)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    errno_number, disk_bytes = map(int, result.stdout.split())
    assert errno_number == errno.EFBIG
    assert (tmp_path / "000000000001.seg").stat().st_size == disk_bytes
    assert [r.entry_id for r in peek(tmp_path)] == ["id-0"]
