"""What the component's S3 client sends, seen by a recording HTTP server standing in for S3."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ml_feedback.uploader import SMALL_BODY_BYTES, S3Uploader


class RecordingS3(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RecordPut)
        self.puts: list[tuple[dict[str, str], bytes]] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class _RecordPut(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # so the server answers `Expect: 100-continue` with `100 Continue`
    server: RecordingS3

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.puts.append((dict(self.headers), body))
        self.send_response(200)
        self.send_header("ETag", '"recorded"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recording_s3(monkeypatch) -> Iterator[RecordingS3]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    server = RecordingS3()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("size", "expect"),
    [(10 * 1024, None), (SMALL_BODY_BYTES, None), (SMALL_BODY_BYTES + 1, "100-continue")],
    ids=["10 KiB", "at the limit", "over the limit"],
)
@pytest.mark.parametrize("source", ["ModelInput", "ModelInputPath"])
def test_a_small_sample_is_sent_with_its_headers_a_large_one_after_100_continue(recording_s3, tmp_path: Path, source, size, expect):
    sample = os.urandom(size)
    uploader = S3Uploader(recording_s3.endpoint)
    if source == "ModelInput":
        uploader.put("samples", "cats/1.png", sample, "image/png", {"publish-ts": "2026-11-22 10:00:00.000000"})
    else:
        (tmp_path / "input.png").write_bytes(sample)
        with open(tmp_path / "input.png", "rb") as body:
            uploader.put("samples", "cats/1.png", body, "image/png", {"publish-ts": "2026-11-22 10:00:00.000000"})
    [(headers, received)] = recording_s3.puts
    assert received == sample
    assert headers.get("Expect") == expect
    assert headers["Content-Type"] == "image/png"
    assert headers["x-amz-meta-publish-ts"] == "2026-11-22 10:00:00.000000"
