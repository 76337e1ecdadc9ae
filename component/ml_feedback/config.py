"""The component's configuration -> frozen dataclasses, or every problem with its key.

Both v1 connector parameters keep their v1 forms: `FeedbackConfigurationMap`
as an object or as the JSON string v1 took, `RequestLimit` as a string
(`^$|^[0-9]{1,3}$`) or a number. Numbers may arrive as `10`, `10.0` or `"10"`
(the nucleus turns JSON integers into doubles).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import messages
from .inference.config import ServiceConfig, parse_services
from .numbers import finite, whole
from .sampling import NEAR_DUPLICATE, NOVELTY, V1_STRATEGIES, Strategy
from .strategy_config import Budget, json_object, parse_budget, parse_strategies

T = TypeVar("T")
ID_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$")
BUCKET_PATTERN = re.compile(r"^[a-z0-9\.\-]{3,63}$")
REQUEST_LIMIT_PATTERN = re.compile(r"^$|^[0-9]{1,3}$")
DEFAULT_REQUEST_LIMIT = 50
DEFAULT_UPLOAD_WORKERS = 4
MIB = 1024 * 1024
REJECT_NEWEST, DROP_OLDEST = "RejectNewest", "DropOldest"
SPOOL_FULL_POLICIES = (REJECT_NEWEST, DROP_OLDEST)
MIN_MULTIPART_THRESHOLD = 5 * MIB  # S3's smallest part
REMEMBERING = (NOVELTY, NEAR_DUPLICATE)
FEEDBACK_KEYS = ("s3-bucket-name", "content-type", "s3-prefix", "file-ext", "sampling-strategy", "sampling-budget")

TOPIC_DEFAULTS = {
    "FeedbackRequestTopic": messages.FEEDBACK_REQUEST_TOPIC,
    "InferenceRequestTopic": messages.INFERENCE_REQUEST_TOPIC,
    "InferenceResponseTopicPrefix": messages.INFERENCE_RESPONSE_TOPIC_PREFIX,
    "StatusTopic": messages.STATUS_TOPIC,
    "PredictionTopic": messages.PREDICTION_TOPIC,
    "MetricsTopic": messages.METRICS_TOPIC,
}
PUBLISHED_TOPICS = ("StatusTopic", "PredictionTopic", "MetricsTopic")
# Every top-level key the component reads, and the nucleus's own `accessControl`: anything else is a mistake.
TOP_LEVEL_KEYS = (
    "FeedbackConfigurationMap",
    "RequestLimit",
    "S3EndpointUrl",
    "MetricsNamespace",
    "PublishMetrics",
    "LocalStatusAndPrediction",
    "ModelInputDirectories",
    "UploadWorkers",
    "InferenceServices",
    "SpoolDirectory",
    "SpoolMaxBytes",
    "SpoolFullPolicy",
    "MaxRetryIntervalSeconds",
    "SampleTimeToLiveSeconds",
    "MultipartThresholdBytes",
    *TOPIC_DEFAULTS,
    "accessControl",
)


class ConfigError(ValueError):
    """Every problem found, each as `key: reason`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class FeedbackConfig:
    config_id: str
    bucket: str
    content_type: str
    prefix: str = ""
    file_ext: str = ""
    strategies: tuple[Strategy, ...] = ()  # each must select a sample; none: every sample is uploaded
    budget: Budget | None = None
    v1: bool = True  # nothing beyond v1 is configured: its messages stay exactly v1's

    @property
    def remembers(self) -> bool:
        """Whether a selected sample changes what the next one meets: a budget, or a strategy comparing with uploads."""
        return self.budget is not None or any(strategy.name in REMEMBERING for strategy in self.strategies)

    @property
    def strategy(self) -> Strategy | None:
        """The strategy of a configuration that has exactly one."""
        return self.strategies[0] if len(self.strategies) == 1 else None

    def object_key(self, unique: str) -> str:
        name = f"{unique}.{self.file_ext}" if self.file_ext else unique
        prefix = self.prefix.strip("/")
        return f"{prefix}/{name}" if prefix else name


@dataclass(frozen=True)
class Topics:
    feedback_requests: str = messages.FEEDBACK_REQUEST_TOPIC
    inference_requests: str = messages.INFERENCE_REQUEST_TOPIC
    inference_response_prefix: str = messages.INFERENCE_RESPONSE_TOPIC_PREFIX
    status: str = messages.STATUS_TOPIC
    prediction: str = messages.PREDICTION_TOPIC
    metrics: str = messages.METRICS_TOPIC


@dataclass(frozen=True)
class DeliveryConfig:
    """The outbox (SPEC §9): where waiting samples live and how long and how often they are retried."""

    spool_directory: str = "spool"
    spool_max_bytes: int = 256 * MIB
    spool_full_policy: str = REJECT_NEWEST
    max_retry_interval: float = 30.0
    time_to_live: int = 7 * 24 * 3600
    multipart_threshold: int = 16 * MIB

    @property
    def spooled(self) -> bool:
        """`SpoolMaxBytes: 0` turns the spool off: one upload call per sample, as v1."""
        return self.spool_max_bytes > 0


@dataclass(frozen=True)
class ComponentConfig:
    feedback: Mapping[str, FeedbackConfig] = field(default_factory=dict)
    request_limit: int = DEFAULT_REQUEST_LIMIT
    topics: Topics = field(default_factory=Topics)
    s3_endpoint_url: str | None = None
    metrics_namespace: str = messages.METRICS_NAMESPACE
    model_input_directories: tuple[str, ...] = ()
    upload_workers: int = DEFAULT_UPLOAD_WORKERS
    inference_services: Mapping[str, ServiceConfig] = field(default_factory=dict)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    publish_metrics: bool = True
    local_status_and_prediction: bool = True  # false: statuses and predictions to IoT Core only


def parse_feedback_map(value: Any, problems: list[str]) -> dict[str, FeedbackConfig]:
    key = "FeedbackConfigurationMap"
    entries = json_object(value if value is not None else {}, key, problems, json_string_allowed=True)
    if entries is None:
        return {}
    parsed: dict[str, FeedbackConfig] = {}
    for config_id, body in entries.items():
        where = f"{key}.{config_id}"
        if not ID_PATTERN.match(str(config_id)):
            problems.append(f"{where}: the id must match {ID_PATTERN.pattern}")
            continue
        if not isinstance(body, dict):
            problems.append(f"{where}: must be an object")
            continue
        before = len(problems)
        unknown = sorted(set(body) - set(FEEDBACK_KEYS))
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(FEEDBACK_KEYS)})")
        bucket = body.get("s3-bucket-name")
        if not isinstance(bucket, str) or not BUCKET_PATTERN.match(bucket):
            problems.append(f"{where}.s3-bucket-name: required, must match {BUCKET_PATTERN.pattern}, got {bucket!r}")
        content_type = body.get("content-type")
        if not isinstance(content_type, str) or not content_type.strip():
            problems.append(f"{where}.content-type: required, a MIME type such as image/png, got {content_type!r}")
        for optional in ("s3-prefix", "file-ext"):
            if optional in body and not isinstance(body[optional], str):
                problems.append(f"{where}.{optional}: must be a string, got {body[optional]!r}")
        strategies, listed = (), False
        if body.get("sampling-strategy") is not None:
            strategies, listed = parse_strategies(body["sampling-strategy"], f"{where}.sampling-strategy", problems)
        budget = None
        if body.get("sampling-budget") is not None:
            budget = parse_budget(body["sampling-budget"], f"{where}.sampling-budget", problems)
        if len(problems) == before:
            parsed[str(config_id)] = FeedbackConfig(
                config_id=str(config_id),
                bucket=bucket,
                content_type=content_type,
                prefix=body.get("s3-prefix", ""),
                file_ext=body.get("file-ext", "").lstrip("."),
                strategies=strategies,
                budget=budget,
                v1=not listed and budget is None and all(strategy.name in V1_STRATEGIES for strategy in strategies),
            )
    return parsed


def parse_request_limit(value: Any, problems: list[str]) -> int:
    """`""` or absent: the default; otherwise 0..999, where 0 refuses every request."""
    if value is None:
        return DEFAULT_REQUEST_LIMIT
    if isinstance(value, str):
        if not REQUEST_LIMIT_PATTERN.match(value):
            problems.append(f"RequestLimit: must match {REQUEST_LIMIT_PATTERN.pattern} (0 to 999), got {value!r}")
            return DEFAULT_REQUEST_LIMIT
        return int(value) if value else DEFAULT_REQUEST_LIMIT
    number = whole(value, 0, 999)
    if number is None:
        problems.append(f"RequestLimit: must be a whole number from 0 to 999, got {value!r}")
        return DEFAULT_REQUEST_LIMIT
    return number


def _topics(raw: Mapping[str, Any], problems: list[str]) -> Topics:
    values: dict[str, str] = {}
    for key, default in TOPIC_DEFAULTS.items():
        value = raw.get(key, default)
        if not isinstance(value, str) or not value:
            problems.append(f"{key}: must be a non-empty topic, got {value!r}")
            value = default
        elif key in PUBLISHED_TOPICS and any(c in value for c in "+#*"):
            problems.append(f"{key}: a topic published to cannot contain +, # or *, got {value!r}")
        values[key] = value
    prefix = values["InferenceResponseTopicPrefix"]
    if any(c in prefix for c in "+#*"):
        problems.append(f"InferenceResponseTopicPrefix: cannot contain +, # or *, got {prefix!r}")
    return Topics(
        feedback_requests=values["FeedbackRequestTopic"],
        inference_requests=values["InferenceRequestTopic"],
        inference_response_prefix=prefix,
        status=values["StatusTopic"],
        prediction=values["PredictionTopic"],
        metrics=values["MetricsTopic"],
    )


def _checked(raw: Mapping[str, Any], key: str, default: T, parse: Callable[[Any], T | None], rule: str, problems: list[str]) -> T:
    """`raw[key]` parsed, or `default` when absent; a value `parse` refuses is a problem naming the key and `rule`."""
    value = parse(raw.get(key, default))
    if value is None:
        problems.append(f"{key}: must be {rule}, got {raw.get(key)!r}")
        return default
    return value


def _in_range(low: float, high: float) -> Callable[[Any], float | None]:
    def parse(value: Any) -> float | None:
        number = finite(value)
        return number if number is not None and low <= number <= high else None

    return parse


def _whole_in(low: int, high: int) -> Callable[[Any], int | None]:
    return lambda value: whole(value, low, high)


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str | None]:
    return lambda value: value if value in choices else None


def _switch(value: Any) -> bool | None:
    """true or false, also as the strings v1-style configurations use."""
    if isinstance(value, bool):
        return value
    return {"true": True, "false": False}.get(value.strip().lower()) if isinstance(value, str) else None


def _folder(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() and "\0" not in value else None


def parse_delivery(raw: Mapping[str, Any], problems: list[str]) -> DeliveryConfig:
    default = DeliveryConfig()
    most = 2**53  # the largest whole number a double (the nucleus's number) holds exactly
    return DeliveryConfig(
        spool_directory=_checked(
            raw, "SpoolDirectory", default.spool_directory, _folder, "a folder path (relative to the work folder, or absolute)", problems
        ),
        spool_max_bytes=_checked(
            raw,
            "SpoolMaxBytes",
            default.spool_max_bytes,
            _whole_in(0, most),
            "a whole number of bytes, 0 or more (0 turns the spool off)",
            problems,
        ),
        spool_full_policy=_checked(
            raw,
            "SpoolFullPolicy",
            default.spool_full_policy,
            _one_of(SPOOL_FULL_POLICIES),
            f"one of {', '.join(SPOOL_FULL_POLICIES)}",
            problems,
        ),
        max_retry_interval=_checked(
            raw, "MaxRetryIntervalSeconds", default.max_retry_interval, _in_range(1, 3600), "a number of seconds from 1 to 3600", problems
        ),
        time_to_live=_checked(
            raw,
            "SampleTimeToLiveSeconds",
            default.time_to_live,
            _whole_in(0, most),
            "a whole number of seconds, 0 or more (0: never)",
            problems,
        ),
        multipart_threshold=_checked(
            raw,
            "MultipartThresholdBytes",
            default.multipart_threshold,
            _whole_in(MIN_MULTIPART_THRESHOLD, most),
            f"a whole number of bytes, {MIN_MULTIPART_THRESHOLD} (5 MiB) or more",
            problems,
        ),
    )


def unknown_key_problems(raw: Mapping[str, Any], known: Sequence[str] = TOP_LEVEL_KEYS) -> list[str]:
    """A key nobody reads, with the known key it most likely meant: a typo must not deploy as if it were applied."""
    import difflib

    by_lower = {key.lower(): key for key in known}
    problems = []
    for key in raw:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key).lower(), list(by_lower), n=1, cutoff=0.6)
        hint = f"did you mean {by_lower[close[0]]}?" if close else f"the known keys are {', '.join(known)}"
        problems.append(f"{key}: unknown key; {hint}")
    return problems


def parse_config(raw: Mapping[str, Any]) -> ComponentConfig:
    """Parse the whole component configuration; raises ConfigError listing every problem."""
    problems: list[str] = unknown_key_problems(raw)
    feedback = parse_feedback_map(raw.get("FeedbackConfigurationMap"), problems)
    request_limit = parse_request_limit(raw.get("RequestLimit"), problems)
    topics = _topics(raw, problems)
    endpoint = raw.get("S3EndpointUrl") or None
    if endpoint is not None and (not isinstance(endpoint, str) or not re.match(r"^https?://[^\s/]+", endpoint)):
        problems.append(f"S3EndpointUrl: must be an http:// or https:// URL, got {endpoint!r}")
        endpoint = None
    namespace = raw.get("MetricsNamespace", messages.METRICS_NAMESPACE)
    if not isinstance(namespace, str) or not namespace:
        problems.append(f"MetricsNamespace: must be a non-empty string, got {namespace!r}")
        namespace = messages.METRICS_NAMESPACE
    directories = raw.get("ModelInputDirectories", [])
    if not isinstance(directories, list) or not all(isinstance(d, str) and os.path.isabs(d) for d in directories):
        problems.append(f"ModelInputDirectories: must be a list of absolute paths, got {directories!r}")
        directories = []
    workers = whole(raw.get("UploadWorkers", DEFAULT_UPLOAD_WORKERS), 1, 64)
    if workers is None:
        problems.append(f"UploadWorkers: must be a whole number from 1 to 64, got {raw.get('UploadWorkers')!r}")
        workers = DEFAULT_UPLOAD_WORKERS
    services_raw = json_object(raw.get("InferenceServices", {}), "InferenceServices", problems, json_string_allowed=False) or {}
    services = parse_services(services_raw, set(feedback), problems)
    for name, service in services.items():
        target = feedback.get(service.feedback_config_id or "")
        needs = sorted({strategy.name for strategy in target.strategies if strategy.name in REMEMBERING}) if target else []
        if needs:
            problems.append(
                f"InferenceServices.{name}.MLFeedbackConnectorConfigId: {target.config_id} uses {', '.join(needs)}, which needs "
                "an Embedding or a Fingerprint that inference results do not carry"
            )
    delivery = parse_delivery(raw, problems)
    publish_metrics = _checked(raw, "PublishMetrics", True, _switch, "true or false", problems)
    local_status = _checked(raw, "LocalStatusAndPrediction", True, _switch, "true or false", problems)
    if problems:
        raise ConfigError(problems)
    return ComponentConfig(
        feedback=feedback,
        request_limit=request_limit,
        topics=topics,
        s3_endpoint_url=endpoint,
        metrics_namespace=namespace,
        model_input_directories=tuple(os.path.normpath(d) for d in directories),
        upload_workers=workers,
        inference_services=services,
        delivery=delivery,
        publish_metrics=publish_metrics,
        local_status_and_prediction=local_status,
    )
