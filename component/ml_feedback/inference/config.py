"""`InferenceServices`: service name -> backend settings, validated like the feedback configuration (SPEC §5.3)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import messages
from ..numbers import finite, whole

SERVICE_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$")
ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
ENTRYPOINT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
S3_URI = re.compile(r"^s3://[a-z0-9.\-]{3,63}(/.*)?$")
SAGEMAKER, HTTP, PYTHON = "sagemaker", "http", "python"
DEFAULT_TIMEOUTS = {SAGEMAKER: 70.0, HTTP: 60.0, PYTHON: 60.0}  # SageMaker models may take 60 s: AWS advises a 70 s socket timeout
COMMON_KEYS = (
    "Backend",
    "AlgoType",
    "TimeoutSeconds",
    "MaxConcurrency",
    "QueueSize",
    "MLFeedbackConnectorConfigId",
    "FeedbackPredictionField",
    "InvocationMode",
)
BACKEND_KEYS = {
    SAGEMAKER: ("EndpointName", "AsyncInputS3Uri", "RequestTTLSeconds", *messages.BACKEND_FIELDS),
    HTTP: ("Url", "ContentType", "Accept", "CustomAttributes"),
    PYTHON: ("Entrypoint", "PythonPath", "ContentType", "Accept"),
}
MODES = {SAGEMAKER: messages.INVOCATION_MODES, HTTP: (messages.REAL_TIME,), PYTHON: (messages.REAL_TIME,)}


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    backend: str
    timeout: float
    settings: Mapping[str, Any]  # the backend's own keys, as given (but an http Url is its base: model_server_base_url)
    defaults: Mapping[str, str] = field(default_factory=dict)  # per-request field defaults (ContentType, Accept, ...)
    algo_type: str | None = None
    invocation_mode: str = messages.REAL_TIME
    max_concurrency: int = 4
    queue_size: int = 32
    feedback_config_id: str | None = None
    feedback_prediction_field: str | None = None

    def mode_problem(self, mode: str) -> str | None:
        """Why this service cannot serve a request in `mode`, or None."""
        if mode not in MODES[self.backend]:
            return f"InvocationMode {mode} is not supported by the {self.backend} backend of service {self.name}"
        if mode == messages.ASYNC and not self.settings.get("AsyncInputS3Uri"):
            return f"InvocationMode Async needs AsyncInputS3Uri, which service {self.name} does not set"
        return None


def parse_service(name: str, body: Any, feedback_ids: set[str], problems: list[str]) -> ServiceConfig | None:
    where = f"InferenceServices.{name}"
    before = len(problems)
    if not SERVICE_NAME.match(name):
        problems.append(f"{where}: the service name must match {SERVICE_NAME.pattern}")
    if not isinstance(body, dict):
        problems.append(f"{where}: must be an object")
        return None
    backend = body.get("Backend")
    if backend not in BACKEND_KEYS:
        problems.append(f"{where}.Backend: must be one of {', '.join(BACKEND_KEYS)}, got {backend!r}")
        return None
    unknown = sorted(set(body) - set(COMMON_KEYS) - set(BACKEND_KEYS[backend]))
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(unknown)} for the {backend} backend")
    _backend_problems(backend, body, where, problems)
    for key in messages.BACKEND_FIELDS:
        if key in body and not isinstance(body[key], str):
            problems.append(f"{where}.{key}: must be a string")
    if isinstance(body.get("CustomAttributes"), str):
        problem = messages.custom_attributes_problem(body["CustomAttributes"])
        if problem:
            problems.append(f"{where}.CustomAttributes: {problem}")
    timeout = body.get("TimeoutSeconds", DEFAULT_TIMEOUTS[backend])
    if _seconds(timeout) is None:
        problems.append(f"{where}.TimeoutSeconds: must be a number of seconds above 0 and at most 3600, got {timeout!r}")
    concurrency = whole(body.get("MaxConcurrency", 4), 1, 64)
    if concurrency is None:
        problems.append(f"{where}.MaxConcurrency: must be a whole number from 1 to 64, got {body.get('MaxConcurrency')!r}")
    queue = whole(body.get("QueueSize", 32), 0, 1000)
    if queue is None:
        problems.append(f"{where}.QueueSize: must be a whole number from 0 to 1000, got {body.get('QueueSize')!r}")
    mode = body.get("InvocationMode", messages.REAL_TIME)
    if mode not in MODES[backend]:
        problems.append(f"{where}.InvocationMode: the {backend} backend supports {', '.join(MODES[backend])}, got {mode!r}")
    feedback = body.get("MLFeedbackConnectorConfigId")
    if feedback is not None and feedback not in feedback_ids:
        problems.append(f"{where}.MLFeedbackConnectorConfigId: {feedback!r} is not in FeedbackConfigurationMap")
    for key in ("AlgoType", "FeedbackPredictionField"):
        if key in body and not (isinstance(body[key], str) and body[key]):
            problems.append(f"{where}.{key}: must be a non-empty string")
    if len(problems) > before:
        return None
    settings = {key: body[key] for key in BACKEND_KEYS[backend] if key in body}
    if backend == HTTP:
        settings["Url"] = model_server_base_url(settings["Url"])
    return ServiceConfig(
        name=name,
        backend=backend,
        timeout=_seconds(timeout) or DEFAULT_TIMEOUTS[backend],
        settings=settings,
        defaults={key: body[key] for key in messages.BACKEND_FIELDS if key in body},
        algo_type=body.get("AlgoType"),
        invocation_mode=mode,
        max_concurrency=concurrency or 4,
        queue_size=queue if queue is not None else 32,
        feedback_config_id=feedback,
        feedback_prediction_field=body.get("FeedbackPredictionField"),
    )


def model_server_base_url(url: str) -> str:
    """The base URL of an http service's model server, from its `Url`: the backend adds `/invocations` and `/ping`.

    Users give the server's base URL or the invocations URL they tried with curl, often with a trailing
    slash; taken as a base, the latter sent every request to `/invocations/invocations`. So trailing
    slashes and one trailing `/invocations` go; the host and any path prefix (`/models/a`) stay.
    """
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    return f"{scheme}://{host}" + f"/{path}".rstrip("/").removesuffix("/invocations")


def _seconds(value: Any) -> float | None:
    number = finite(value)
    return number if number is not None and 0 < number <= 3600 else None


def _backend_problems(backend: str, body: dict[str, Any], where: str, problems: list[str]) -> None:
    if backend == SAGEMAKER:
        endpoint = body.get("EndpointName")
        if not isinstance(endpoint, str) or not ENDPOINT_NAME.match(endpoint):
            problems.append(f"{where}.EndpointName: required, a SageMaker endpoint name ({ENDPOINT_NAME.pattern}), got {endpoint!r}")
        uri = body.get("AsyncInputS3Uri")
        if uri is not None and (not isinstance(uri, str) or not S3_URI.match(uri)):
            problems.append(f"{where}.AsyncInputS3Uri: must be s3://bucket/prefix, got {uri!r}")
        if body.get("InvocationMode") == messages.ASYNC and uri is None:
            problems.append(f"{where}.AsyncInputS3Uri: required when InvocationMode is Async (the body is staged there)")
        if "RequestTTLSeconds" in body and whole(body["RequestTTLSeconds"], 60, 21600) is None:
            problems.append(f"{where}.RequestTTLSeconds: must be a whole number from 60 to 21600, got {body['RequestTTLSeconds']!r}")
    elif backend == HTTP:
        url = body.get("Url")
        if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
            problems.append(f"{where}.Url: required, the model server's http(s):// base URL, got {url!r}")
    else:
        entrypoint = body.get("Entrypoint")
        if not isinstance(entrypoint, str) or not ENTRYPOINT.match(entrypoint):
            problems.append(f"{where}.Entrypoint: required, as module:function, got {entrypoint!r}")
        paths = body.get("PythonPath", [])
        paths = [paths] if isinstance(paths, str) else paths
        if not isinstance(paths, list) or not all(isinstance(p, str) and os.path.isabs(p) for p in paths):
            problems.append(f"{where}.PythonPath: must be an absolute path or a list of them, got {body.get('PythonPath')!r}")


def parse_services(raw: Any, feedback_ids: set[str], problems: list[str]) -> dict[str, ServiceConfig]:
    if not isinstance(raw, dict):
        return {}
    services = {}
    for name, body in raw.items():
        service = parse_service(str(name), body, feedback_ids, problems)
        if service is not None:
            services[service.name] = service
    return services
