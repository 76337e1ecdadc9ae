"""S3 that a test can break: moto's server in its own process, stopped, hung and restarted on the same port.

moto keeps everything in memory, so a restarted server has lost its objects;
its buckets are made again before it answers (`start(buckets=...)`). The server's request log is
kept: it is what S3 really received (`requests()`), e.g. which multipart
parts were sent.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
SERVER = Path(__file__).with_name("s3_server.py")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_REQUEST_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/1\.1" (?P<status>\d{3})')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    status: int


class S3Process:
    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._log = folder / f"moto-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, buckets: tuple[str, ...] = ()) -> S3Process:
        """Start (or restart) on the same port, with `buckets` already there when it starts answering."""
        with open(self._log, "ab") as log:
            self._process = subprocess.Popen([sys.executable, str(SERVER), str(self.port), *buckets], stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.client().list_buckets()
                break
            except Exception:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError(f"moto did not start on port {self.port}; see {self._log}") from None
                time.sleep(0.05)
        return self

    def stop(self) -> None:
        """S3 is gone: connections are refused."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)
            self._process.kill()
            self._process.wait(10)
            self._process = None

    def pause(self) -> None:
        """S3 hangs: connections are accepted, nothing is answered (SIGSTOP)."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1}),
        )

    def keys(self, bucket: str) -> list[str]:
        keys: list[str] = []
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return keys

    def requests(self) -> list[Request]:
        """Every request this port's servers answered, oldest first."""
        text = _ANSI.sub("", self._log.read_text(errors="replace")) if self._log.exists() else ""
        return [Request(m["method"], m["path"], int(m["status"])) for m in _REQUEST_LINE.finditer(text)]


class HungListener:
    """A TCP listener that accepts connections and never answers (an S3 endpoint that hangs)."""

    def __init__(self, port: int) -> None:
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", port))
        self._socket.listen(256)
        self._socket.settimeout(0.2)
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        self.accepted = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:
                continue
            self._held.append(connection)
            self.accepted += 1

    def close(self) -> None:
        """Every held connection is reset, as when a hung server finally dies."""
        self._closed.set()
        self._thread.join(5)
        for connection in self._held:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            connection.close()
        self._socket.close()
