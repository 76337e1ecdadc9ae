"""The `sagemaker` backend: boto3 `sagemaker-runtime`, real-time, async and response stream.

No endpoint is ever passed to boto3: `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` and
`AWS_ENDPOINT_URL_S3` keep working. The read timeout is the service's
TimeoutSeconds (70 s by default, as AWS advises for SageMaker's 60 s model
limit) and a call is not retried, so the time a caller waits stays bounded.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from .. import messages
from ..uploader import s3_client, user_agent
from .backend import AsyncResult, BackendError, Invocation, RealTimeResult
from .config import ServiceConfig

REAL_TIME_FIELDS = messages.BACKEND_FIELDS
STREAM_FIELDS = ("ContentType", "Accept", "CustomAttributes", "TargetVariant", "TargetContainerHostname", "InferenceId")
ASYNC_FIELDS = ("ContentType", "Accept", "CustomAttributes", "InferenceId")
ERROR_CODES = {
    "ModelError": messages.MODEL_ERROR,
    "ModelNotReadyException": messages.MODEL_ERROR,
    "ModelStreamError": messages.MODEL_ERROR,
    "ValidationError": messages.VALIDATION_ERROR,
    "ThrottlingException": messages.THROTTLING,
    "ServiceUnavailable": messages.SERVICE_UNAVAILABLE,
    "InternalFailure": messages.SERVICE_UNAVAILABLE,
    "InternalDependencyException": messages.SERVICE_UNAVAILABLE,
    "InternalStreamFailure": messages.SERVICE_UNAVAILABLE,
}


class SageMakerBackend:
    enforces_timeout = True  # botocore's read timeout

    def __init__(self, service: ServiceConfig, s3_endpoint_url: str | None = None) -> None:
        import boto3
        from botocore.config import Config

        self._service = service
        self._endpoint = service.settings["EndpointName"]
        config = Config(
            read_timeout=service.timeout, connect_timeout=10, retries={"mode": "standard", "max_attempts": 1}, user_agent=user_agent()
        )
        session = boto3.session.Session()
        self._client = session.client("sagemaker-runtime", config=config)
        self._s3: Any = None
        if service.settings.get("AsyncInputS3Uri"):
            # Made here, not on first use: boto3 sessions are not safe to share between worker threads.
            self._s3 = s3_client(s3_endpoint_url)

    def _params(self, call: Invocation, names: tuple[str, ...]) -> dict[str, Any]:
        return {"EndpointName": self._endpoint, **{name: call.fields[name] for name in names if name in call.fields}}

    def invoke(self, call: Invocation) -> RealTimeResult:
        with _translated_errors(self._service):
            response = self._client.invoke_endpoint(Body=call.body, **self._params(call, REAL_TIME_FIELDS))
            body = response["Body"].read()
        return RealTimeResult(body, response.get("ContentType"), response.get("InvokedProductionVariant"), response.get("CustomAttributes"))

    def invoke_stream(self, call: Invocation, on_part: Callable[[bytes], None]) -> str | None:
        with _translated_errors(self._service):
            response = self._client.invoke_endpoint_with_response_stream(Body=call.body, **self._params(call, STREAM_FIELDS))
            for event in response["Body"]:
                part = event.get("PayloadPart")
                if part is not None:
                    on_part(part.get("Bytes", b""))
        content_type: str | None = response.get("ContentType")
        return content_type

    def invoke_async(self, call: Invocation) -> AsyncResult:
        location = self._stage(call)
        params = self._params(call, ASYNC_FIELDS)
        ttl = self._service.settings.get("RequestTTLSeconds")
        if ttl is not None:
            params["RequestTTLSeconds"] = int(float(ttl))
        with _translated_errors(self._service):
            response = self._client.invoke_endpoint_async(InputLocation=location, **params)
        return AsyncResult(response.get("InferenceId"), response.get("OutputLocation"), response.get("FailureLocation"))

    def _stage(self, call: Invocation) -> str:
        """Put the request body where the async endpoint reads it: AsyncInputS3Uri/<uuid>."""
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, _, prefix = self._service.settings["AsyncInputS3Uri"][len("s3://") :].partition("/")
        key = f"{prefix.strip('/')}/{uuid.uuid4()}".lstrip("/")
        extra = {"ContentType": call.fields["ContentType"]} if "ContentType" in call.fields else {}
        try:
            self._s3.put_object(Bucket=bucket, Key=key, Body=call.body, **extra)
        except (ClientError, BotoCoreError) as exc:
            raise BackendError(messages.SERVICE_UNAVAILABLE, f"staging the async input at s3://{bucket}/{key} failed: {exc}") from exc
        return f"s3://{bucket}/{key}"

    def close(self) -> None:
        self._client.close()
        if self._s3 is not None:
            self._s3.close()


class _translated_errors:
    """botocore's exceptions -> BackendError with the reply's error codes."""

    def __init__(self, service: ServiceConfig) -> None:
        self._service = service

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: object) -> bool:
        if error is None or isinstance(error, BackendError):
            return False
        from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

        if isinstance(error, ClientError):
            code = str(error.response.get("Error", {}).get("Code", ""))
            raise BackendError(ERROR_CODES.get(code, messages.INTERNAL_ERROR), str(error)) from error
        if isinstance(error, ReadTimeoutError):
            raise BackendError(
                messages.TIMEOUT, f"{self._service.name}: no answer from the endpoint within {self._service.timeout:g} s"
            ) from error
        if isinstance(error, (EndpointConnectionError, ConnectTimeoutError)):
            raise BackendError(messages.SERVICE_UNAVAILABLE, str(error)) from error
        return False
