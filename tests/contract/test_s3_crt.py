"""The awscrt uploader answers as boto3 does: same requests, same responses, same error codes and texts.

Each case runs the same call through the boto3 uploader and the awscrt one
against the same server (moto in its own process, or a socket that misbehaves
on purpose) and compares what a user would see in a status message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ml_feedback.s3_crt import (
    COMPLETE_MULTIPART_BODY,
    COMPLETE_MULTIPART_HEADERS,
    PUT_OBJECT_HEADERS,
    CrtS3Uploader,
    resolve_endpoint,
    unsupported_reason,
)
from ml_feedback.uploader import S3Uploader, UploadError
from support.s3_process import CREDENTIALS, HungListener, S3Process, free_port

BUCKET = "crt-contract"
METADATA = {"publish-ts": "2026-12-01 10:00:00.000000", "camera": "north", "n": "7"}


@pytest.fixture(autouse=True)
def credentials(monkeypatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def moto(tmp_path_factory) -> Iterator[S3Process]:
    server = S3Process(tmp_path_factory.mktemp("moto")).start(buckets=(BUCKET,))
    yield server
    server.stop()


def both(endpoint: str) -> list[Any]:
    return [S3Uploader(endpoint, outbox=True), CrtS3Uploader(endpoint)]


def _shape(response: dict[str, Any]) -> dict[str, Any]:
    """What may differ between two uploads of the same bytes: request ids and dates."""
    metadata = response["ResponseMetadata"]
    return {
        "keys": list(response),
        "metadata keys": list(metadata),
        "header names": sorted(metadata["HTTPHeaders"]),
        "status": metadata["HTTPStatusCode"],
        "retries": metadata["RetryAttempts"],
        **{name: value for name, value in response.items() if name != "ResponseMetadata" and name not in ("Location",)},
    }


def test_the_output_members_are_botocores():
    botocore_session = pytest.importorskip("botocore.session")
    model = botocore_session.get_session().get_service_model("s3")

    def members(operation: str, location: str | None) -> list[tuple[str, str, str]]:
        shape = model.operation_model(operation).output_shape
        found = []
        for name, member in shape.members.items():
            if member.serialization.get("location") == location:
                found.append((name, str(member.serialization.get("name", name)).lower(), member.type_name))
        return found

    assert list(PUT_OBJECT_HEADERS) == members("PutObject", "header")
    assert list(COMPLETE_MULTIPART_HEADERS) == members("CompleteMultipartUpload", "header")
    assert list(COMPLETE_MULTIPART_BODY) == [name for name, _, _ in members("CompleteMultipartUpload", None)]


def test_a_put_stores_the_same_object_and_answers_the_same_response(moto: S3Process):
    responses = []
    for number, uploader in enumerate(both(moto.endpoint)):
        key = f"cats/{number} a+b~c.png"
        responses.append(uploader.put(BUCKET, key, b"\x89PNG sample", "image/png", METADATA))
        stored = moto.client().head_object(Bucket=BUCKET, Key=key)
        assert (stored["ContentType"], stored["Metadata"], stored["ContentLength"]) == ("image/png", METADATA, 11)
    boto3_response, crt_response = responses
    assert _shape(crt_response) == _shape(boto3_response)
    assert crt_response["ETag"] == '"' + hashlib.md5(b"\x89PNG sample").hexdigest() + '"'
    assert json.loads(json.dumps(crt_response)) == crt_response, "JSON-safe as it is, like boto3's after json_safe"


def test_a_multipart_upload_completes_with_the_same_response(moto: S3Process):
    responses = []
    for number, uploader in enumerate(both(moto.endpoint)):
        key = f"large/{number}.bin"
        upload_id = uploader.create_multipart(BUCKET, key, "application/octet-stream", METADATA)
        etags = [
            uploader.upload_part(BUCKET, key, upload_id, 1, b"a" * (5 * 1024 * 1024)),
            uploader.upload_part(BUCKET, key, upload_id, 2, b"b"),
        ]
        responses.append(uploader.complete_multipart(BUCKET, key, upload_id, etags))
        stored = moto.client().get_object(Bucket=BUCKET, Key=key)
        assert stored["Body"].read() == b"a" * (5 * 1024 * 1024) + b"b"
        assert stored["Metadata"] == METADATA
    boto3_response, crt_response = responses
    assert crt_response["Key"] == "large/1.bin" and boto3_response["Key"] == "large/0.bin"
    assert _shape({**crt_response, "Key": "k"}) == _shape({**boto3_response, "Key": "k"})


def test_an_aborted_upload_is_gone(moto: S3Process):
    uploader = CrtS3Uploader(moto.endpoint)
    upload_id = uploader.create_multipart(BUCKET, "aborted.bin", "application/octet-stream", {})
    listed = moto.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert upload_id in [upload["UploadId"] for upload in listed]
    uploader.abort_multipart(BUCKET, "aborted.bin", upload_id)
    listed = moto.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert upload_id not in [upload["UploadId"] for upload in listed]


def _failure(uploader: Any, call: str, *args: Any) -> tuple[str, str, bool]:
    with pytest.raises(UploadError) as failed:
        getattr(uploader, call)(*args)
    return failed.value.code, failed.value.message, failed.value.retryable


def test_s3_errors_have_boto3s_code_text_and_verdict(moto: S3Process):
    boto3_uploader, crt_uploader = both(moto.endpoint)
    put = ("put", "no-such-bucket", "k", b"x", "image/png", {})
    expected = (
        "NoSuchBucket",
        "An error occurred (NoSuchBucket) when calling the PutObject operation: The specified bucket does not exist",
        False,
    )
    assert _failure(boto3_uploader, *put) == expected
    assert _failure(crt_uploader, *put) == expected
    part = ("upload_part", BUCKET, "k", "no-such-upload", 1, b"x")
    # The one difference: one attempt per call, so no "(reached max retries: N)" (the README says so).
    crt = ("500", "An error occurred (500) when calling the UploadPart operation: Internal Server Error", True)
    assert _failure(crt_uploader, *part) == crt
    boto3 = _failure(boto3_uploader, *part)
    assert (boto3[0], boto3[1].replace(" (reached max retries: 1)", ""), boto3[2]) == crt


def test_a_closed_port_is_boto3s_endpoint_connection_error():
    endpoint = f"http://127.0.0.1:{free_port()}"
    failures = {type(u).__name__: _failure(u, "put", BUCKET, "cats/1.png", b"x", "image/png", {}) for u in both(endpoint)}
    expected = ("EndpointConnectionError", f'Could not connect to the endpoint URL: "{endpoint}/{BUCKET}/cats/1.png"', True)
    assert failures == {"S3Uploader": expected, "CrtS3Uploader": expected}


def test_a_listener_that_never_answers_is_a_read_timeout_after_the_read_timeout():
    port = free_port()
    hung = HungListener(port)
    try:
        uploader = CrtS3Uploader(f"http://127.0.0.1:{port}", read_timeout=1.0)
        started = time.monotonic()
        failure = _failure(uploader, "put", BUCKET, "k", b"x", "image/png", {})
        waited = time.monotonic() - started
    finally:
        hung.close()
    assert failure == ("ReadTimeoutError", f'Read timeout on endpoint URL: "http://127.0.0.1:{port}/{BUCKET}/k"', True)
    assert 1.0 <= waited < 10.0


class _ScriptedS3(BaseHTTPRequestHandler):
    """An S3 stand-in whose answers a test scripts: `answer(handler, requests_on_this_connection)` returns
    (status, headers, body), or None to close the connection without a word."""

    protocol_version = "HTTP/1.1"
    answer: Any = None
    seen: list[tuple[str, str, dict[str, str]]] = []

    def setup(self) -> None:
        super().setup()
        self.served = 0

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.seen.append((self.command, self.path, dict(self.headers)))
        self.served += 1
        scripted = type(self).answer(self, self.served)
        if scripted is None:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        status, headers, body = scripted
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_PUT = do_POST = do_DELETE = _handle

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[tuple[type[_ScriptedS3], str]]:
    handler = type("Scripted", (_ScriptedS3,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield handler, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _stored(handler: Any, _served: int) -> tuple[int, dict[str, str], bytes]:
    return 200, {"ETag": '"kept"'}, b""


def test_a_kept_alive_connection_the_server_drops_is_replaced_and_the_request_sent_once_more(scripted):
    handler, endpoint = scripted
    # The second request on any connection meets a server that hangs up (as one closing an idle connection just then).
    handler.answer = staticmethod(lambda h, served: _stored(h, served) if served == 1 else None)
    uploader = CrtS3Uploader(endpoint)
    for number in range(3):
        assert uploader.put(BUCKET, f"k{number}", b"x", "image/png", {})["ETag"] == '"kept"'
    paths = [path for _, path, _ in handler.seen]
    assert paths == [f"/{BUCKET}/k0", f"/{BUCKET}/k1", f"/{BUCKET}/k1", f"/{BUCKET}/k2", f"/{BUCKET}/k2"]


def test_a_new_connection_that_is_hung_up_on_is_connection_closed(scripted):
    handler, endpoint = scripted
    handler.answer = staticmethod(lambda h, served: None)
    message = f'Connection was closed before we received a valid response from endpoint URL: "{endpoint}/{BUCKET}/k".'
    assert _failure(CrtS3Uploader(endpoint), "put", BUCKET, "k", b"x", "image/png", {}) == ("ConnectionClosedError", message, True)


def _sigv4_signature(method: str, path: str, headers: dict[str, str], secret: str) -> str:
    """The SigV4 signature S3 computes for a request as it arrived (AWS's published algorithm, S3's single URI encoding)."""
    fields = dict(part.strip().split("=", 1) for part in headers["Authorization"].split(" ", 1)[1].split(","))
    date, region, service, _ = fields["Credential"].split("/", 1)[1].split("/")
    lower = {name.lower(): value for name, value in headers.items()}
    uri, _, query = path.partition("?")
    canonical_headers = "".join(f"{name}:{' '.join(lower[name].split())}\n" for name in fields["SignedHeaders"].split(";"))
    canonical = "\n".join(
        [
            method,
            uri,
            "&".join(sorted(query.split("&"))) if query else "",
            canonical_headers,
            fields["SignedHeaders"],
            lower["x-amz-content-sha256"],
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", lower["x-amz-date"], scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("given", ["bytes", "a file from an offset"])
def test_over_plain_http_the_body_is_hashed_and_the_signature_verifies(scripted, tmp_path: Path, given: str):
    handler, endpoint = scripted
    handler.answer = staticmethod(_stored)
    payload = os.urandom(3 * 1024 * 1024 + 17)  # more than one read of the body
    if given == "bytes":
        body: Any = payload
    else:
        (tmp_path / "spooled").write_bytes(b"header" + payload)
        body = (tmp_path / "spooled").open("rb")
        body.seek(len(b"header"))
    CrtS3Uploader(endpoint).put(BUCKET, "cats/a b.png", body, "image/png", METADATA)
    [(method, path, headers)] = handler.seen
    assert headers["x-amz-content-sha256"] == hashlib.sha256(payload).hexdigest()
    signature = headers["Authorization"].rsplit("Signature=", 1)[1]
    assert signature == _sigv4_signature(method, path, headers, CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    assert "x-amz-content-sha256" in headers["Authorization"].split("SignedHeaders=", 1)[1]


def _signing_region(headers: dict[str, str]) -> str:
    return headers["Authorization"].split("Credential=", 1)[1].split("/")[2]


@pytest.mark.parametrize("how", ["400 AuthorizationHeaderMalformed", "301 with x-amz-bucket-region"])
def test_a_bucket_in_another_region_is_asked_again_there_and_remembered(scripted, how):
    handler, endpoint = scripted

    def answer(h: Any, _served: int) -> tuple[int, dict[str, str], bytes]:
        if _signing_region(dict(h.headers)) == "eu-west-1":
            return _stored(h, _served)
        if how.startswith("400"):
            body = b"<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region us-east-1 is wrong</Message><Region>eu-west-1</Region></Error>"
            return 400, {}, body
        return 301, {"x-amz-bucket-region": "eu-west-1"}, b"<Error><Code>PermanentRedirect</Code><Message>moved</Message></Error>"

    handler.answer = staticmethod(answer)
    for uploader in both(endpoint):
        handler.seen.clear()
        for number in range(2):
            assert uploader.put(BUCKET, f"k{number}", b"x", "image/png", {})["ETag"] == '"kept"'
        regions = [_signing_region(headers) for _, _, headers in handler.seen]
        assert regions == ["us-east-1", "eu-west-1", "eu-west-1"], type(uploader).__name__


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (503, b"<html><body>Service Unavailable</body></html>", ("503", "Service Unavailable", True)),
        (502, b"", ("502", "Bad Gateway", True)),
        (403, b"<?xml version='1.0'?><Other><Code>X</Code></Other>", ("ClientError", "", False)),
        (403, b"not xml at all", ("403", "Forbidden", False)),
        (403, b"<Error><Code>AccessDenied</Code></Error>", ("AccessDenied", "Unknown", False)),
    ],
    ids=["html page", "no body", "other XML", "not XML", "no Message"],
)
def test_unusual_error_bodies_read_as_botocore_reads_them(scripted, status, body, expected):
    handler, endpoint = scripted
    handler.answer = staticmethod(lambda h, served: (status, {}, body))
    code, message, retryable = expected
    shown = "" if code == "ClientError" else code
    text = f"An error occurred ({shown}) when calling the PutObject operation: {message}"
    boto3_code, boto3_text, boto3_retryable = _failure(S3Uploader(endpoint, outbox=True), "put", BUCKET, "k", b"x", "image/png", {})
    assert (boto3_code, boto3_text.replace(" (reached max retries: 1)", ""), boto3_retryable) == (code, text, retryable)
    assert _failure(CrtS3Uploader(endpoint), "put", BUCKET, "k", b"x", "image/png", {}) == (code, text, retryable)


def test_a_completed_upload_answered_200_with_a_late_error_is_a_failure(scripted):
    """S3 keeps a slow CompleteMultipartUpload alive with spaces, and may end it with an <Error> after a 200."""
    handler, endpoint = scripted
    late = (
        b"<?xml version='1.0' encoding='UTF-8'?>"
        + b" " * 500
        + b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"
    )
    handler.answer = staticmethod(lambda h, served: (200, {}, late))
    text = "An error occurred (InternalError) when calling the CompleteMultipartUpload operation: We encountered an internal error."
    assert _failure(CrtS3Uploader(endpoint), "complete_multipart", BUCKET, "k", "upload-1", ['"a"']) == ("InternalError", text, True)
    boto3 = _failure(S3Uploader(endpoint, outbox=True), "complete_multipart", BUCKET, "k", "upload-1", ['"a"'])
    assert (boto3[0], boto3[1].replace(" (reached max retries: 1)", ""), boto3[2]) == ("InternalError", text, True)


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, dict[str, str]]] = []

    def do_GET(self) -> None:  # the Token Exchange Service's container credentials endpoint
        self.seen.append(("GET", self.path, dict(self.headers)))
        body = json.dumps({"AccessKeyId": "ASIATES", "SecretAccessKey": "secret", "Token": "session", "Expiration": "2099-01-01T00:00:00Z"})
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(("PUT", self.path, dict(self.headers)))
        self.send_response(200)
        self.send_header("ETag", '"recorded"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_credentials_come_from_the_token_exchange_service_as_on_a_device(monkeypatch, tmp_path: Path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.daemon_threads = True
    _Recorder.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            monkeypatch.delenv(name)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")  # the nucleus sets both
        monkeypatch.setenv("AWS_REGION", "eu-west-1")
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"http://localhost:{server.server_port}/2016-11-01/credentialprovider/")
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "svcuid")
        uploader = CrtS3Uploader(f"http://127.0.0.1:{server.server_port}")
        for number in range(2):
            uploader.put(BUCKET, f"k{number}", b"x", "image/png", {"publish-ts": "now"})
    finally:
        server.shutdown()
        server.server_close()
    fetched = [entry for entry in _Recorder.seen if entry[0] == "GET"]
    puts = [entry for entry in _Recorder.seen if entry[0] == "PUT"]
    assert [(path, headers["Authorization"]) for _, path, headers in fetched] == [("/2016-11-01/credentialprovider/", "svcuid")]
    assert len(puts) == 2
    for _, _, headers in puts:
        assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=ASIATES/")
        assert "/eu-west-1/s3/aws4_request" in headers["Authorization"]
        assert headers["X-Amz-Security-Token"] == "session"
        assert headers["Content-Type"] == "image/png" and headers["x-amz-meta-publish-ts"] == "now"
        assert "Expect" not in headers


def test_no_credentials_is_boto3s_no_credentials_error(monkeypatch, tmp_path: Path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    endpoint = f"http://127.0.0.1:{free_port()}"
    failures = [_failure(uploader, "put", BUCKET, "k", b"x", "image/png", {}) for uploader in both(endpoint)]
    assert failures == [("NoCredentialsError", "Unable to locate credentials", True)] * 2


@pytest.mark.parametrize(
    ("configured", "environment", "bucket"),
    [
        ("http://127.0.0.1:9000", {}, "samples"),
        ("http://localhost:9000/base", {}, "samples"),
        ("https://s3.example.com", {}, "my.samples"),
        (None, {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9001"}, "samples"),
        (None, {"AWS_ENDPOINT_URL": "http://127.0.0.1:9002"}, "samples"),
        (None, {"AWS_DEFAULT_REGION": "us-east-1"}, "samples"),
        (None, {"AWS_DEFAULT_REGION": "eu-west-1"}, "samples"),
        (None, {"AWS_DEFAULT_REGION": "eu-west-1"}, "my.samples"),
        (None, {"AWS_DEFAULT_REGION": "cn-north-1"}, "samples"),
    ],
)
def test_requests_go_where_boto3_sends_them(monkeypatch, configured, environment, bucket):
    boto3 = pytest.importorskip("boto3")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    client = boto3.session.Session().client("s3", endpoint_url=configured)
    sent: list[str] = []

    def capture(request: Any, **_: Any) -> None:
        sent.append(request.url)
        raise _Captured

    client.meta.events.register("before-send.s3", capture)
    with pytest.raises(_Captured):
        client.put_object(Bucket=bucket, Key="cats/a b+c~d.png", Body=b"x")
    endpoint = resolve_endpoint(configured)
    host, path = endpoint.locate(bucket, "cats/a b+c~d.png")
    assert f"{endpoint.scheme}://{host}{path}" == sent[0]


class _Captured(Exception):
    pass


def test_settings_only_boto3_honours_keep_boto3():
    assert unsupported_reason({}) is None
    assert unsupported_reason({"HTTPS_PROXY": "http://proxy:3128"}) == "HTTPS_PROXY is set"
    assert unsupported_reason({"AWS_USE_FIPS_ENDPOINT": "true"}) == "AWS_USE_FIPS_ENDPOINT is set"
    assert unsupported_reason({"MLFEEDBACK_S3_CLIENT": "boto3"}) == "MLFEEDBACK_S3_CLIENT is boto3"
    assert unsupported_reason({"AWS_DEFAULT_PROFILE": "edge"}) == "AWS_DEFAULT_PROFILE is set"
    assert unsupported_reason({"AWS_S3_US_EAST_1_REGIONAL_ENDPOINT": "regional"}) == "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT is set"
    assert unsupported_reason({"AWS_DEFAULT_REGION": "us-iso-east-1"}) == "the region us-iso-east-1 is in an isolated partition"
