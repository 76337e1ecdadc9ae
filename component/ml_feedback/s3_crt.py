"""The outbox's S3 uploads through awscrt: the same requests and answers as boto3, at a fraction of its memory and CPU.

boto3 costs a device about 35 MiB and a few milliseconds of Python per upload;
awscrt is already loaded for IPC and does the HTTP, the TLS and the SigV4
signature in native code, outside the GIL. What the user sees stays boto3's
(SPEC §4, §9): the object, its ContentType and user metadata, the
`s3_response` of a `success` status (same fields, same order), and the error
codes and message texts of a `fail`. Where this module cannot match boto3 (a
proxy, FIPS or dual-stack endpoints, ...), `unsupported_reason` says so and the
component keeps boto3 for it.

One HTTP attempt per call, as the outbox wants (it owns the retries, SPEC §9.3):
a connect timeout, and a read timeout counted, like a socket timeout, from the
last byte that moved.
"""

from __future__ import annotations

import io
import os
import platform
import re
import threading
import time
from collections.abc import Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from http import HTTPStatus
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

import awscrt
from awscrt.auth import (
    AwsCredentialsProvider,
    AwsSignatureType,
    AwsSignedBodyHeaderType,
    AwsSignedBodyValue,
    AwsSigningAlgorithm,
    AwsSigningConfig,
    aws_sign_request,
)
from awscrt.crypto import Hash
from awscrt.exceptions import AwsCrtError
from awscrt.http import HttpClientConnection, HttpHeaders, HttpRequest
from awscrt.io import ClientBootstrap, ClientTlsContext, DefaultHostResolver, EventLoopGroup, SocketOptions, TlsContextOptions

from . import __version__
from .uploader import OUTBOX_CONNECT_TIMEOUT, OUTBOX_READ_TIMEOUT, RETRYABLE_CODES, UploadError

# botocore's PutObject and CompleteMultipartUpload output members (name, header, type), in the model's order;
# tests/contract/test_s3_crt.py holds them to botocore's service model.
PUT_OBJECT_HEADERS: tuple[tuple[str, str, str], ...] = (
    ("Expiration", "x-amz-expiration", "string"),
    ("ETag", "etag", "string"),
    ("ChecksumCRC32", "x-amz-checksum-crc32", "string"),
    ("ChecksumCRC32C", "x-amz-checksum-crc32c", "string"),
    ("ChecksumCRC64NVME", "x-amz-checksum-crc64nvme", "string"),
    ("ChecksumSHA1", "x-amz-checksum-sha1", "string"),
    ("ChecksumSHA256", "x-amz-checksum-sha256", "string"),
    ("ChecksumSHA512", "x-amz-checksum-sha512", "string"),
    ("ChecksumMD5", "x-amz-checksum-md5", "string"),
    ("ChecksumXXHASH64", "x-amz-checksum-xxhash64", "string"),
    ("ChecksumXXHASH3", "x-amz-checksum-xxhash3", "string"),
    ("ChecksumXXHASH128", "x-amz-checksum-xxhash128", "string"),
    ("ChecksumType", "x-amz-checksum-type", "string"),
    ("ServerSideEncryption", "x-amz-server-side-encryption", "string"),
    ("VersionId", "x-amz-version-id", "string"),
    ("SSECustomerAlgorithm", "x-amz-server-side-encryption-customer-algorithm", "string"),
    ("SSECustomerKeyMD5", "x-amz-server-side-encryption-customer-key-md5", "string"),
    ("SSEKMSKeyId", "x-amz-server-side-encryption-aws-kms-key-id", "string"),
    ("SSEKMSEncryptionContext", "x-amz-server-side-encryption-context", "string"),
    ("BucketKeyEnabled", "x-amz-server-side-encryption-bucket-key-enabled", "boolean"),
    ("Size", "x-amz-object-size", "long"),
    ("RequestCharged", "x-amz-request-charged", "string"),
)
COMPLETE_MULTIPART_HEADERS: tuple[tuple[str, str, str], ...] = (
    ("Expiration", "x-amz-expiration", "string"),
    ("ServerSideEncryption", "x-amz-server-side-encryption", "string"),
    ("VersionId", "x-amz-version-id", "string"),
    ("SSEKMSKeyId", "x-amz-server-side-encryption-aws-kms-key-id", "string"),
    ("BucketKeyEnabled", "x-amz-server-side-encryption-bucket-key-enabled", "boolean"),
    ("RequestCharged", "x-amz-request-charged", "string"),
)
COMPLETE_MULTIPART_BODY = (
    "Location",
    "Bucket",
    "Key",
    "ETag",
    "ChecksumCRC32",
    "ChecksumCRC32C",
    "ChecksumCRC64NVME",
    "ChecksumSHA1",
    "ChecksumSHA256",
    "ChecksumSHA512",
    "ChecksumMD5",
    "ChecksumXXHASH64",
    "ChecksumXXHASH3",
    "ChecksumXXHASH128",
    "ChecksumType",
)
# Environment settings boto3 honours that this module does not: with any of them set, the component keeps boto3.
_BOTO3_ONLY_SETTINGS = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_S3_USE_ACCELERATE_ENDPOINT",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT",
    "AWS_DEFAULT_PROFILE",  # botocore reads it; awscrt's credentials read only AWS_PROFILE
)
_VIRTUAL_HOSTABLE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def unsupported_reason(environ: Mapping[str, str] = os.environ) -> str | None:
    """Why boto3 must do the outbox's uploads in this environment, or None when this module matches it."""
    for name in _BOTO3_ONLY_SETTINGS:
        if environ.get(name):
            return f"{name} is set"
    if environ.get("MLFEEDBACK_S3_CLIENT", "").lower() == "boto3":
        return "MLFEEDBACK_S3_CLIENT is boto3"
    region = resolve_region(environ)
    if "-iso" in region:
        return f"the region {region} is in an isolated partition"
    return None


@dataclass(frozen=True)
class S3Endpoint:
    """Where requests go, found as boto3 finds it: custom endpoints path-style, AWS's virtual-hosted when the bucket allows."""

    scheme: str
    host: str
    port: int
    base_path: str
    region: str
    custom: bool

    @property
    def url(self) -> str:
        default = 443 if self.scheme == "https" else 80
        authority = _bracketed(self.host) + ("" if self.port == default else f":{self.port}")
        return f"{self.scheme}://{authority}{self.base_path}"

    def in_region(self, region: str) -> S3Endpoint:
        """The same endpoint for a bucket in `region`: AWS's regional host, or a custom endpoint signed for that region."""
        if self.custom:
            return replace(self, region=region)
        return replace(self, host=_aws_host(region), region=region)

    def server_name(self, bucket: str) -> str | None:
        """The TLS server name of a bucket's requests (none for an IP address)."""
        if not self.custom and _VIRTUAL_HOSTABLE.match(bucket) and not _is_ip(bucket):
            return f"{bucket}.{self.host}"
        return None if _is_ip(self.host) else self.host

    def locate(self, bucket: str, key: str | None = None) -> tuple[str, str]:
        """(Host header, path) of a bucket or an object; the key percent-encoded as botocore does."""
        encoded = "" if key is None else "/" + quote(key, safe="/~")
        default = 443 if self.scheme == "https" else 80
        suffix = "" if self.port == default else f":{self.port}"
        if not self.custom and _VIRTUAL_HOSTABLE.match(bucket) and not _is_ip(bucket):
            return f"{bucket}.{self.host}{suffix}", (encoded or "/")
        return f"{_bracketed(self.host)}{suffix}", f"{self.base_path}/{quote(bucket, safe='')}{encoded}"


def resolve_endpoint(configured: str | None, environ: Mapping[str, str] = os.environ) -> S3Endpoint:
    """`S3EndpointUrl`, else `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`, else AWS's S3 endpoint of the region."""
    region = resolve_region(environ)
    url = configured or environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    if not url:
        return S3Endpoint("https", _aws_host(region), 443, "", region, custom=False)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) endpoint URL: {url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return S3Endpoint(parts.scheme, parts.hostname, port, parts.path.rstrip("/"), region, custom=True)


def _aws_host(region: str) -> str:
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"s3.{domain}" if region == "us-east-1" else f"s3.{region}.{domain}"


def resolve_region(environ: Mapping[str, str] = os.environ) -> str:
    """botocore's order: AWS_DEFAULT_REGION (the nucleus sets it), then the profile's `region`; us-east-1 without one.

    Like botocore, AWS_REGION is not read; a bucket in another region answers with its region, and the request
    is sent again there (`CrtS3Uploader`).
    """
    return environ.get("AWS_DEFAULT_REGION") or _profile_region(environ) or "us-east-1"


def _profile_region(environ: Mapping[str, str]) -> str | None:
    import configparser

    path = Path(environ.get("AWS_CONFIG_FILE") or Path.home() / ".aws" / "config").expanduser()
    profile = environ.get("AWS_PROFILE") or environ.get("AWS_DEFAULT_PROFILE") or "default"
    parser = configparser.RawConfigParser()
    try:
        parser.read(path)
    except (OSError, configparser.Error):
        return None
    section = profile if profile == "default" else f"profile {profile}"
    return parser.get(section, "region", fallback=None) if parser.has_section(section) else None


class CrtS3Uploader:
    """The outbox's `PartUploader` over awscrt's HTTP client: one attempt per call, kept-alive connections."""

    def __init__(
        self,
        endpoint_url: str | None = None,
        max_connections: int = 10,
        *,
        environ: Mapping[str, str] = os.environ,
        connect_timeout: float = OUTBOX_CONNECT_TIMEOUT,
        read_timeout: float = OUTBOX_READ_TIMEOUT,
    ) -> None:
        self.endpoint = resolve_endpoint(endpoint_url, environ)
        self.endpoint_url = self.endpoint.url
        # One event-loop thread of its own: a few uploads at a time need no more, and fewer threads contend for the GIL.
        self._event_loops = EventLoopGroup(num_threads=1)
        self._bootstrap = ClientBootstrap(self._event_loops, DefaultHostResolver(self._event_loops))
        self._credentials = AwsCredentialsProvider.new_default_chain(self._bootstrap)
        self._socket_options = SocketOptions()
        self._socket_options.connect_timeout_ms = int(connect_timeout * 1000)
        self._connect_timeout, self._read_timeout = connect_timeout, read_timeout
        self._tls = None
        if self.endpoint.scheme == "https":
            options = TlsContextOptions()
            bundle = environ.get("AWS_CA_BUNDLE")
            if bundle:
                options.override_default_trust_store_from_path(ca_filepath=bundle)
            self._tls = ClientTlsContext(options)
        self._user_agent = f"greengrass-ml-feedback/{__version__} awscrt/{awscrt.__version__} Python/{platform.python_version()}"
        self._max_idle = max_connections
        self._idle: dict[str, list[Any]] = {}
        self._bucket_regions: dict[str, str] = {}  # buckets S3 said are in another region
        self._lock = threading.Lock()

    # -- the PartUploader operations --------------------------------------------------------------

    def put(self, bucket: str, key: str, body: bytes | BinaryIO, content_type: str, metadata: dict[str, str]) -> dict[str, Any]:
        headers = [("Content-Type", content_type), *((f"x-amz-meta-{name}", value) for name, value in metadata.items())]
        answer = self._call("PutObject", "PUT", bucket, key, "", headers, body)
        return answer.parsed(PUT_OBJECT_HEADERS)

    def create_multipart(self, bucket: str, key: str, content_type: str, metadata: dict[str, str]) -> str:
        headers = [("Content-Type", content_type), *((f"x-amz-meta-{name}", value) for name, value in metadata.items())]
        answer = self._call("CreateMultipartUpload", "POST", bucket, key, "uploads", headers, b"")
        return answer.body_fields().get("UploadId", "")

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, body: bytes) -> str:
        query = f"partNumber={number}&uploadId={quote(upload_id, safe='')}"
        answer = self._call("UploadPart", "PUT", bucket, key, query, [], body)
        return answer.header("etag") or ""

    def complete_multipart(self, bucket: str, key: str, upload_id: str, etags: list[str]) -> dict[str, Any]:
        parts = "".join(
            f"<Part><ETag>{_xml_text(etag)}</ETag><PartNumber>{number}</PartNumber></Part>" for number, etag in enumerate(etags, start=1)
        )
        document = f'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{parts}</CompleteMultipartUpload>'
        query = f"uploadId={quote(upload_id, safe='')}"
        answer = self._call("CompleteMultipartUpload", "POST", bucket, key, query, [], document.encode())
        parsed = answer.parsed(COMPLETE_MULTIPART_HEADERS)
        fields = answer.body_fields()
        parsed.update((name, fields[name]) for name in COMPLETE_MULTIPART_BODY if name in fields)
        return parsed

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        self._call("AbortMultipartUpload", "DELETE", bucket, key, f"uploadId={quote(upload_id, safe='')}", [], None)

    # -- one HTTP exchange ------------------------------------------------------------------------------

    def _call(
        self,
        operation: str,
        method: str,
        bucket: str,
        key: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes | BinaryIO | None,
    ) -> _Answer:
        """One operation; a bucket in another region is asked once more, there, as botocore's redirector does."""
        stream = _TrackedBody(io.BytesIO(body) if isinstance(body, bytes | bytearray) or body is None else body)
        endpoint = self._endpoint_for(bucket)
        answer = self._send(endpoint, method, bucket, key, query, headers, stream)
        region = answer.redirect_region()
        if region and region != endpoint.region:
            with self._lock:
                self._bucket_regions[bucket] = region
            answer = self._send(endpoint.in_region(region), method, bucket, key, query, headers, stream)
        if answer.status >= 300 or (operation == "CompleteMultipartUpload" and answer.error_in_body()):
            raise answer.error(operation)
        return answer

    def _endpoint_for(self, bucket: str) -> S3Endpoint:
        region = self._bucket_regions.get(bucket)
        return self.endpoint if region is None else self.endpoint.in_region(region)

    def _send(
        self,
        endpoint: S3Endpoint,
        method: str,
        bucket: str,
        key: str,
        query: str,
        headers: list[tuple[str, str]],
        body: _TrackedBody,
    ) -> _Answer:
        """One HTTP exchange (twice when a kept-alive connection turns out closed)."""
        host, path = endpoint.locate(bucket, key)
        target = path + (f"?{query}" if query else "")
        url = f"{endpoint.scheme}://{host}{target}"
        server = endpoint.server_name(bucket)
        body.rewind()
        request = self._signed(endpoint, method, host, target, headers, body)
        connection, reused = self._connection(endpoint, host, server, url)
        try:
            answer = self._exchange(connection, request, body, url)
        except _Unanswered:
            connection.close()
            if not reused:
                raise _closed(url) from None
            # A kept-alive connection the server had just closed: the same request once more, on a new one.
            body.rewind()
            request = self._signed(endpoint, method, host, target, headers, body)
            connection, _ = self._connection(endpoint, host, server, url, fresh=True)
            try:
                answer = self._exchange(connection, request, body, url)
            except _Unanswered:
                connection.close()
                raise _closed(url) from None
        if answer.keep_alive and connection.is_open():
            self._release(host, connection)
        else:
            connection.close()
        return answer

    def _signed(self, endpoint: S3Endpoint, method: str, host: str, target: str, headers: list[tuple[str, str]], body: _TrackedBody) -> Any:
        all_headers = HttpHeaders([("Host", host), ("User-Agent", self._user_agent), *headers, ("Content-Length", str(body.size))])
        request = HttpRequest(method, target, all_headers, body)
        signing = AwsSigningConfig(
            algorithm=AwsSigningAlgorithm.V4,
            signature_type=AwsSignatureType.HTTP_REQUEST_HEADERS,
            credentials_provider=self._credentials,
            region=endpoint.region,
            service="s3",
            use_double_uri_encode=False,
            should_normalize_uri_path=False,
            # As botocore: over TLS the body is not hashed, over plain HTTP it is.
            signed_body_value=AwsSignedBodyValue.UNSIGNED_PAYLOAD if endpoint.scheme == "https" else body.sha256(),
            signed_body_header_type=AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256,
        )
        try:
            aws_sign_request(request, signing).result(self._connect_timeout + self._read_timeout)
        except Exception:
            raise UploadError("NoCredentialsError", "Unable to locate credentials", retryable=True) from None
        body.rewind()
        return request

    def _connection(self, endpoint: S3Endpoint, host: str, server: str | None, url: str, *, fresh: bool = False) -> tuple[Any, bool]:
        """A kept-alive connection to `host` (True) or a new one (False)."""
        if not fresh:
            with self._lock:
                idle = self._idle.get(host, [])
                while idle:
                    connection = idle.pop()
                    if connection.is_open():
                        return connection, True
        tls = None
        if self._tls is not None:
            tls = self._tls.new_connection_options()
            if server is not None:
                tls.set_server_name(server)
        pending = HttpClientConnection.new(
            host_name=server or endpoint.host,
            port=endpoint.port,
            bootstrap=self._bootstrap,
            socket_options=self._socket_options,
            tls_connection_options=tls,
        )
        try:
            return pending.result(self._connect_timeout + 5), False
        except AwsCrtError as error:
            raise _unreached(error, url) from None
        except FutureTimeout:
            raise UploadError("ConnectTimeoutError", f'Connect timeout on endpoint URL: "{url}"', retryable=True) from None

    def _release(self, host: str, connection: Any) -> None:
        with self._lock:
            idle = self._idle.setdefault(host, [])
            if len(idle) < self._max_idle:
                idle.append(connection)
                return
        connection.close()

    def _exchange(self, connection: Any, request: Any, body: _TrackedBody, url: str) -> _Answer:
        """Send the request and read the whole answer; no byte moving for `read_timeout` ends it (ReadTimeoutError)."""
        answer = _Answer()

        def on_response(http_stream: Any, status_code: int, headers: list[tuple[str, str]], **_: Any) -> None:
            answer.status, answer.raw_headers = status_code, headers
            body.moved()

        def on_body(http_stream: Any, chunk: bytes, **_: Any) -> None:
            answer.chunks.append(bytes(chunk))
            body.moved()

        try:
            stream = connection.request(request, on_response, on_body)
            stream.activate()
        except Exception:
            raise _Unanswered from None
        done = stream.completion_future
        while True:
            try:
                done.result(min(1.0, self._read_timeout))
                return answer
            except FutureTimeout:
                if time.monotonic() - body.last_moved >= self._read_timeout:
                    connection.close()
                    raise UploadError("ReadTimeoutError", f'Read timeout on endpoint URL: "{url}"', retryable=True) from None
            except Exception:
                if answer.status:
                    raise _closed(url) from None
                raise _Unanswered from None


class _Unanswered(Exception):
    """The connection ended before any answer: nothing is known about the request."""


class _TrackedBody:
    """A request body for awscrt that notes when its bytes last moved (the read timeout counts from there)."""

    def __init__(self, raw: BinaryIO | io.BytesIO) -> None:
        self._raw = raw
        self._start = raw.tell()
        self.size = raw.seek(0, io.SEEK_END) - self._start
        raw.seek(self._start)
        self.last_moved = time.monotonic()
        self._digest: str | None = None

    def readinto(self, buffer: Any) -> int:
        self.last_moved = time.monotonic()
        return self._raw.readinto(buffer)

    def read(self, size: int = -1) -> bytes:
        self.last_moved = time.monotonic()
        return self._raw.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            return self._raw.seek(self._start + offset) - self._start
        return self._raw.seek(offset, whence) - self._start

    def rewind(self) -> None:
        self._raw.seek(self._start)
        self.last_moved = time.monotonic()

    def sha256(self) -> str:
        """The body's SHA-256 in hex, for a signature over plain HTTP.

        Given it, the signer does not read the body through Python callbacks, one more pass under the GIL per attempt.
        awscrt's own SHA-256, not hashlib's: loading OpenSSL for it would add almost 4 MiB to the component.
        """
        if self._digest is None:
            digest = Hash.sha256_new()
            self.rewind()
            for chunk in iter(lambda: self._raw.read(1024 * 1024), b""):
                digest.update(chunk)
            self.rewind()
            self._digest = digest.digest().hex()
        return self._digest

    def moved(self) -> None:
        self.last_moved = time.monotonic()


class _Answer:
    """An HTTP answer from S3, read as botocore reads it."""

    def __init__(self) -> None:
        self.status = 0
        self.raw_headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self._headers: dict[str, str] | None = None

    @property
    def headers(self) -> dict[str, str]:
        """Lower-case names; a repeated header's values joined with ', ' (as urllib3 does)."""
        if self._headers is None:
            joined: dict[str, str] = {}
            for name, value in self.raw_headers:
                lower = name.lower()
                joined[lower] = f"{joined[lower]}, {value}" if lower in joined else value
            self._headers = joined
        return self._headers

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    @property
    def keep_alive(self) -> bool:
        return "close" not in self.headers.get("connection", "").lower()

    def metadata(self) -> dict[str, Any]:
        headers = self.headers
        metadata: dict[str, Any] = {}
        if "x-amzn-requestid" in headers:
            metadata["RequestId"] = headers["x-amzn-requestid"]
        elif "x-amz-request-id" in headers:
            metadata["RequestId"] = headers["x-amz-request-id"]
            metadata["HostId"] = headers.get("x-amz-id-2", "")
        metadata.update(HTTPStatusCode=self.status, HTTPHeaders=dict(headers), RetryAttempts=0)
        return metadata

    def parsed(self, members: tuple[tuple[str, str, str], ...]) -> dict[str, Any]:
        """ResponseMetadata, then the output members S3 sent as headers (botocore's shape and order)."""
        parsed: dict[str, Any] = {"ResponseMetadata": self.metadata()}
        for name, header, kind in members:
            value = self.headers.get(header)
            if value is None:
                continue
            parsed[name] = value.lower() == "true" if kind == "boolean" else int(value) if kind == "long" else value
        return parsed

    def _xml(self) -> tuple[str, dict[str, str]] | None:
        """The root's name and its children's texts, by name (namespaces dropped); None for no body or no XML."""
        import xml.etree.ElementTree as ElementTree  # only for errors and multipart answers

        body = self.body.strip()  # S3 may send spaces to keep a slow CompleteMultipartUpload alive
        if not body:
            return None
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError:
            return None
        return _local_name(root.tag), {_local_name(child.tag): child.text or "" for child in root}

    def body_fields(self) -> dict[str, str]:
        parsed = self._xml()
        return {} if parsed is None else parsed[1]

    def error_in_body(self) -> bool:
        """S3 can answer 200 and still fail a CompleteMultipartUpload: the body is then an <Error>."""
        parsed = self._xml()
        return parsed is not None and parsed[0] == "Error"

    def redirect_region(self) -> str | None:
        """The bucket's region when S3 says the request went to the wrong one (botocore's S3RegionRedirector)."""
        if self.status not in (301, 302, 307, 400):
            return None
        fields = self.body_fields()
        code = fields.get("Code", "")
        if self.status == 400 and code not in ("AuthorizationHeaderMalformed", "IllegalLocationConstraintException", "PermanentRedirect"):
            return None
        return self.header("x-amz-bucket-region") or fields.get("Region") or None

    def error(self, operation: str) -> UploadError:
        """botocore's ClientError: its code, and `An error occurred (Code) when calling the Operation operation: Message`."""
        status = 500 if self.status < 300 else self.status  # a 200 with an <Error> body is a server error, as botocore has it
        stripped = self.body.strip()
        generic = status >= 500 and (not stripped or stripped.startswith(b"<html>"))
        parsed = None if generic else self._xml()
        if parsed is None:
            error = {"Code": str(status), "Message": _reason_phrase(status)}
        elif parsed[0] == "Error":
            error = {name: text for name, text in parsed[1].items() if name not in ("RequestId", "HostId")}
        else:
            error = {"Code": "", "Message": ""}
        text = (
            f"An error occurred ({error.get('Code', 'Unknown')}) when calling the {operation} operation: {error.get('Message', 'Unknown')}"
        )
        code = error.get("Code") or "ClientError"
        retryable = status >= 500 or status == 429 or code in RETRYABLE_CODES
        return UploadError(code, text, retryable)


def _unreached(error: Exception, url: str) -> UploadError:
    """A connection that could not be made, as botocore names it."""
    name = getattr(error, "name", "")
    if name == "AWS_IO_SOCKET_TIMEOUT":
        return UploadError("ConnectTimeoutError", f'Connect timeout on endpoint URL: "{url}"', retryable=True)
    if "TLS" in name:
        return UploadError("SSLError", f"SSL validation failed for {url} {getattr(error, 'message', error)}", retryable=True)
    return UploadError("EndpointConnectionError", f'Could not connect to the endpoint URL: "{url}"', retryable=True)


def _closed(url: str) -> UploadError:
    message = f'Connection was closed before we received a valid response from endpoint URL: "{url}".'
    return UploadError("ConnectionClosedError", message, retryable=True)


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
