"""Errors the SDK raises; like botocore's, they carry a code and a message."""

from __future__ import annotations


class ParamValidationError(ValueError):
    """Arguments rejected before anything is sent, in botocore's words."""

    def __init__(self, report: list[str]) -> None:
        self.report = report
        super().__init__("Parameter validation failed:\n" + "\n".join(report))


class InferenceServiceError(Exception):
    """An error reply from the inference service, shaped like botocore's ClientError."""

    def __init__(self, code: str, message: str, request_id: str) -> None:
        self.code, self.message, self.request_id = code, message, request_id
        self.response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"RequestId": request_id}}
        super().__init__(f"An error occurred ({code}) when calling the InvokeInferenceService operation: {message}")


class InferenceTimeoutError(InferenceServiceError):
    """No reply within the client's timeout (ML_INFERENCE_TIMEOUT_SECONDS)."""
