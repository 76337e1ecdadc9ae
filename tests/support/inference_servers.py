"""Local stand-ins for inference backends, reached over real HTTP.

`FakeSageMakerRuntime` answers boto3's `sagemaker-runtime` client through its
endpoint URL, so botocore's own serializer and parser run (the event stream
of InvokeEndpointWithResponseStream included). It records what reached it.
`ModelServer` speaks the SageMaker container contract (`/ping`, `/invocations`).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from greengrass_local.wire.eventstream import Header, Message, encode
from support.inference_models import probabilities


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeSageMakerRuntime(_Server):
    """Endpoints: `classifier` (JSON probabilities), `model-error`, `slow`; any endpoint streams and takes async calls."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        super().__init__(_SageMakerHandler)


class _SageMakerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        owner: FakeSageMakerRuntime = self.server.owner  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _, _, endpoint, action = self.path.split("/", 3)
        owner.received.append({"endpoint": endpoint, "action": action, "headers": dict(self.headers.items()), "body": body})
        if action == "async-invocations":
            inference_id = self.headers.get("X-Amzn-SageMaker-Inference-Id") or str(uuid.uuid4())
            self._send(
                202,
                json.dumps({"InferenceId": inference_id}).encode(),
                "application/json",
                {"X-Amzn-SageMaker-OutputLocation": f"s3://async-output/{inference_id}.out"},
            )
        elif action == "invocations-response-stream":
            self._stream(body)
        elif endpoint == "model-error":
            error = {
                "Message": 'Received server error (500) from primary with message "model crashed"',
                "OriginalStatusCode": 500,
                "OriginalMessage": "model crashed",
            }
            self._send(
                424,
                json.dumps(error).encode(),
                "application/json",
                {"x-amzn-ErrorType": "ModelError:http://internal.amazon.com/coral/com.amazon.sagemaker/"},
            )
        else:
            if endpoint == "slow":
                time.sleep(3)
            variant = self.headers.get("X-Amzn-SageMaker-Target-Variant") or "AllTraffic"
            echo = {
                "X-Amzn-SageMaker-Custom-Attributes": f"Trace ID: {self.headers.get('X-Amzn-SageMaker-Custom-Attributes', '')}",
                "x-Amzn-Invoked-Production-Variant": variant,
            }
            self._send(200, json.dumps(probabilities(body)).encode(), "application/json", echo)

    def _stream(self, body: bytes) -> None:
        parts = [body[i : i + 4] for i in range(0, len(body), 4)]
        events = b"".join(
            encode(
                Message(
                    (
                        Header.string(":event-type", "PayloadPart"),
                        Header.string(":content-type", "application/octet-stream"),
                        Header.string(":message-type", "event"),
                    ),
                    part,
                )
            )
            for part in parts
        )
        self._send(200, events, "application/vnd.amazon.eventstream", {"X-Amzn-SageMaker-Content-Type": "text/plain"})

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class ModelServer(_Server):
    """The SageMaker container contract: GET /ping, POST /invocations (a body of b'fail' answers 500)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        super().__init__(_ModelServerHandler)


class _ModelServerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        owner: ModelServer = self.server.owner  # type: ignore[attr-defined]
        owner.received.append({"method": "GET", "path": self.path})
        self._send(200 if self.path == "/ping" else 404, b"", "text/plain")

    def do_POST(self) -> None:
        owner: ModelServer = self.server.owner  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        owner.received.append({"method": "POST", "path": self.path, "headers": dict(self.headers.items()), "body": body})
        if self.path != "/invocations":
            self._send(404, b"no such path", "text/plain")
        elif body == b"fail":
            self._send(500, b"model exploded", "text/plain")
        else:
            self._send(200, json.dumps({"predictions": probabilities(body)}).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
