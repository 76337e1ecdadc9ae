"""Modeled IPC errors, shaped as the nucleus sends them.

The Python client maps `service-model-type` to an exception class and reads
its `message`; the other keys are what the Java nucleus's serializer adds.
"""

from __future__ import annotations

import json

SERVICE = "aws.greengrass#GreengrassCoreIPC"


class IpcError(Exception):
    """An error a handler raises to answer the caller with a modeled error."""

    shape = "ServiceError"
    error_code = "ServiceError"

    def __init__(self, message: str | None, **fields: object) -> None:
        super().__init__(message or "")
        self.message = message
        self.fields = fields

    @property
    def model_type(self) -> str:
        return f"aws.greengrass#{self.shape}"

    def payload(self) -> bytes:
        # An error the nucleus makes without a message (`new ResourceNotFoundError()`) has no `message` key.
        body: dict[str, object] = {} if self.message is None else {"message": self.message}
        body.update(self.fields)
        body.update({"_service": SERVICE, "_message": self.message or "", "_errorCode": self.error_code})
        return json.dumps(body).encode()


class ServiceError(IpcError):
    shape = error_code = "ServiceError"


class UnauthorizedError(IpcError):
    shape = error_code = "UnauthorizedError"


class InvalidArgumentsError(IpcError):
    shape = error_code = "InvalidArgumentsError"


class ResourceNotFoundError(IpcError):
    shape = error_code = "ResourceNotFoundError"


class ConflictError(IpcError):
    shape = error_code = "ConflictError"


class FailedUpdateConditionCheckError(IpcError):
    shape = error_code = "FailedUpdateConditionCheckError"


class ComponentNotFoundError(IpcError):
    shape = error_code = "ComponentNotFoundError"


class InvalidRecipeDirectoryPathError(IpcError):
    shape = error_code = "InvalidRecipeDirectoryPathError"


class InvalidArtifactsDirectoryPathError(IpcError):
    shape = error_code = "InvalidArtifactsDirectoryPathError"
