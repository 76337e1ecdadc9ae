"""S3 writes with boto3: the one place the component (samples, staged async inference inputs) touches S3.

The endpoint is passed to boto3 only when `S3EndpointUrl` is configured, so
boto3's own settings (`AWS_ENDPOINT_URL_S3`, profiles, the Token Exchange
Service's container credentials) keep working untouched.
"""

from __future__ import annotations

from typing import Any, BinaryIO

UPLOAD_RETRY_ATTEMPTS = 5
# Up to this size a sample is sent with its headers, without waiting for `100 Continue` first.
SMALL_BODY_BYTES = 1024 * 1024


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


class UploadError(Exception):
    """A failed upload: `code` is the S3 error code or the exception class."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def s3_client(endpoint_url: str | None = None, max_connections: int = 10) -> Any:
    """The boto3 S3 client every upload of the component goes through (samples, staged async inference inputs)."""
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {}
    if "request_checksum_calculation" in Config.OPTION_DEFAULTS:
        # botocore >= 1.36 adds a CRC32 of every body unless told otherwise; v1 sent none, TLS already
        # protects the body on its way to S3, and on a device the checksum costs a quarter of an upload's CPU.
        options["request_checksum_calculation"] = "when_required"
    config = Config(
        retries={"mode": "standard", "max_attempts": UPLOAD_RETRY_ATTEMPTS},
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
    def __init__(self, endpoint_url: str | None = None, max_connections: int = 10) -> None:
        self._client = s3_client(endpoint_url, max_connections)
        self.endpoint_url = self._client.meta.endpoint_url

    def put(self, bucket: str, key: str, body: bytes | BinaryIO, content_type: str, metadata: dict[str, str]) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response: dict[str, Any] = self._client.put_object(
                Bucket=bucket, Key=key, Body=body, ContentType=content_type, Metadata=metadata
            )
            return response
        except ClientError as exc:
            raise UploadError(str(exc.response.get("Error", {}).get("Code") or type(exc).__name__), str(exc)) from exc
        except BotoCoreError as exc:
            raise UploadError(type(exc).__name__, str(exc)) from exc


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
