"""S3 writes with boto3: the one place the component (samples, staged async inference inputs) touches S3.

The endpoint is passed to boto3 only when `S3EndpointUrl` is configured, so
boto3's own settings (`AWS_ENDPOINT_URL_S3`, profiles, the Token Exchange
Service's container credentials) keep working untouched.

Two kinds of client: the direct one keeps v1's behaviour (botocore's own
retries, its default timeouts); the outbox's one makes one attempt per call
with timeouts of seconds, because the outbox owns the retries (SPEC §9.3, §9.5).
"""

from __future__ import annotations

from typing import Any, BinaryIO, Protocol

UPLOAD_RETRY_ATTEMPTS = 5
# Up to this size a sample is sent with its headers, without waiting for `100 Continue` first.
SMALL_BODY_BYTES = 1024 * 1024
# The outbox's client: an attempt never holds a worker longer than this (connect, then each read).
OUTBOX_CONNECT_TIMEOUT = 5.0
OUTBOX_READ_TIMEOUT = 20.0

# S3 error codes worth another attempt later; every other 4xx is the request's own fault (SPEC §9.3).
RETRYABLE_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestTimeout",
        "RequestTimeTooSkewed",  # a device whose clock NTP has not set yet
        "ExpiredToken",
        "ExpiredTokenException",
        "TokenRefreshRequired",
        "InternalError",
        "ServiceUnavailable",
    }
)
# botocore's exceptions for "S3 or the credentials could not be reached" (no answer to judge the request by).
RETRYABLE_EXCEPTIONS = (
    "EndpointConnectionError",
    "ConnectionError",
    "ConnectionClosedError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ProxyConnectionError",
    "HTTPClientError",
    "SSLError",
    "NoCredentialsError",
    "PartialCredentialsError",
    "CredentialRetrievalError",
    "ResponseStreamingError",
    "IncompleteReadError",
)
# Of those, the failures where S3 was not reached at all: a TCP connect tells cheaply when it can be again.
UNREACHED = frozenset({"EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError", "ProxyConnectionError"})


class Uploader(Protocol):
    def put(self, bucket: str, key: str, body: bytes | BinaryIO, content_type: str, metadata: dict[str, str]) -> dict[str, Any]: ...


class PartUploader(Uploader, Protocol):
    """What the outbox needs: single puts, multipart uploads it can resume, and where S3 is."""

    endpoint_url: str

    def create_multipart(self, bucket: str, key: str, content_type: str, metadata: dict[str, str]) -> str: ...
    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, body: bytes) -> str: ...
    def complete_multipart(self, bucket: str, key: str, upload_id: str, etags: list[str]) -> dict[str, Any]: ...
    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None: ...


def user_agent() -> str:
    """A fixed User-Agent naming this component.

    Given one, botocore sends it as is; otherwise it rebuilds and sanitizes
    its own string on every request, a seventh of the component's CPU per upload.
    """
    import platform

    import boto3
    import botocore

    from . import __version__

    return (
        f"greengrass-ml-feedback/{__version__} Boto3/{boto3.__version__} Botocore/{botocore.__version__} Python/{platform.python_version()}"
    )


def endpoint_answers(endpoint_url: str, timeout: float = 1.0) -> bool:
    """Whether a TCP connection to the endpoint's host and port gets through (no request is sent)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint_url)
    if not parts.hostname:
        return False
    try:
        socket.create_connection((parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)), timeout).close()
    except OSError:
        return False
    return True


class UploadError(Exception):
    """A failed upload: `code` is the S3 error code or the exception class; `retryable` when trying later may work."""

    def __init__(self, code: str, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.code, self.message, self.retryable = code, message, retryable


def upload_error(exc: Exception) -> UploadError:
    """botocore's exception as an UploadError, judged retryable or permanent."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or type(exc).__name__)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return UploadError(code, str(exc), status >= 500 or status == 429 or code in RETRYABLE_CODES)
    name = type(exc).__name__
    retryable = any(cls.__name__ in RETRYABLE_EXCEPTIONS for cls in type(exc).__mro__)
    return UploadError(name, str(exc), retryable)


def s3_client(endpoint_url: str | None = None, max_connections: int = 10, *, outbox: bool = False) -> Any:
    """The boto3 S3 client every upload of the component goes through (samples, staged async inference inputs).

    `outbox`: one attempt per call and timeouts of seconds, for callers that retry themselves.
    """
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {}
    if outbox:
        options.update(connect_timeout=OUTBOX_CONNECT_TIMEOUT, read_timeout=OUTBOX_READ_TIMEOUT)
    if "request_checksum_calculation" in Config.OPTION_DEFAULTS:
        # botocore >= 1.36 adds a CRC32 of every body unless told otherwise; v1 sent none, TLS already
        # protects the body on its way to S3, and on a device the checksum costs a quarter of an upload's CPU.
        options["request_checksum_calculation"] = "when_required"
    config = Config(
        retries={"mode": "standard", "max_attempts": 1 if outbox else UPLOAD_RETRY_ATTEMPTS},
        max_pool_connections=max_connections,
        user_agent=user_agent(),
        parameter_validation=False,  # every parameter is built by the component from validated configuration and requests
        **options,
    )
    client_options: dict[str, Any] = {"config": config}
    if endpoint_url:
        client_options["endpoint_url"] = endpoint_url
    client = boto3.session.Session().client("s3", **client_options)
    # After botocore's own handler on the same event, which adds the Expect header.
    client.meta.events.register_last("before-call.s3", _send_small_bodies_at_once)
    return client


class S3Uploader:
    def __init__(self, endpoint_url: str | None = None, max_connections: int = 10, *, outbox: bool = False) -> None:
        self._client = s3_client(endpoint_url, max_connections, outbox=outbox)
        self.endpoint_url = self._client.meta.endpoint_url

    def _call(self, operation: str, **parameters: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response: dict[str, Any] = getattr(self._client, operation)(**parameters)
            return response
        except (ClientError, BotoCoreError) as exc:
            raise upload_error(exc) from exc

    def put(self, bucket: str, key: str, body: bytes | BinaryIO, content_type: str, metadata: dict[str, str]) -> dict[str, Any]:
        return self._call("put_object", Bucket=bucket, Key=key, Body=body, ContentType=content_type, Metadata=metadata)

    # -- multipart (samples above MultipartThresholdBytes, SPEC §9.9) -------------------------------

    def create_multipart(self, bucket: str, key: str, content_type: str, metadata: dict[str, str]) -> str:
        response = self._call("create_multipart_upload", Bucket=bucket, Key=key, ContentType=content_type, Metadata=metadata)
        return str(response["UploadId"])

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, body: bytes) -> str:
        response = self._call("upload_part", Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)
        return str(response["ETag"])

    def complete_multipart(self, bucket: str, key: str, upload_id: str, etags: list[str]) -> dict[str, Any]:
        parts = [{"PartNumber": number, "ETag": etag} for number, etag in enumerate(etags, start=1)]
        return self._call("complete_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        self._call("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)


def _send_small_bodies_at_once(model: Any, params: dict[str, Any], **_: Any) -> None:
    """Drop `Expect: 100-continue` from the PUT of a small sample.

    botocore asks for it on every upload, then waits for the server's
    `100 Continue` (one more round trip to S3 per sample, up to a second with
    a server that never sends one) and reads it a byte at a time. For a body
    this small, sending it straight away costs less even when S3 refuses it.
    """
    from botocore.utils import determine_content_length

    if model.name != "PutObject" or "Expect" not in params["headers"]:
        return
    try:
        size = determine_content_length(params.get("body"))
    except OSError:  # a stream that cannot tell its length keeps botocore's behaviour
        return
    if size is not None and size <= SMALL_BODY_BYTES:
        del params["headers"]["Expect"]
