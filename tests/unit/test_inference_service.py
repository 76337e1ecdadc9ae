"""The inference service's pure parts: service configuration, request parsing, the router with fake backends."""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

import pytest

from ml_feedback import messages
from ml_feedback.config import ConfigError, parse_config
from ml_feedback.inference.backend import AsyncResult, BackendError, Invocation, RealTimeResult
from ml_feedback.inference.config import model_server_base_url
from ml_feedback.inference.router import InferenceRouter
from ml_feedback.inference.watchdog import Watchdog
from ml_feedback.messages import FeedbackRequest, ReplyableProblem, RequestProblem, parse_inference_request

FEEDBACK = {"Uncertain": {"s3-bucket-name": "samples", "content-type": "image/png"}}
PREFIX = messages.INFERENCE_RESPONSE_TOPIC_PREFIX


def problems_of(services: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config({"FeedbackConfigurationMap": FEEDBACK, "InferenceServices": services})
    return raised.value.problems


@pytest.mark.parametrize(
    ("service", "problem"),
    [
        ({"Backend": "tensorflow"}, "InferenceServices.svc.Backend: must be one of sagemaker, http, python, got 'tensorflow'"),
        ({"Backend": "sagemaker"}, "InferenceServices.svc.EndpointName: required, a SageMaker endpoint name"),
        (
            {"Backend": "sagemaker", "EndpointName": "ep", "InvocationMode": "Async"},
            "InferenceServices.svc.AsyncInputS3Uri: required when InvocationMode is Async",
        ),
        (
            {"Backend": "sagemaker", "EndpointName": "ep", "AsyncInputS3Uri": "bucket/x"},
            "InferenceServices.svc.AsyncInputS3Uri: must be s3://bucket/prefix",
        ),
        ({"Backend": "http", "Url": "localhost:8080"}, "InferenceServices.svc.Url: required, the model server's http(s):// base URL"),
        (
            {"Backend": "http", "Url": "http://m:1", "InvocationMode": "Stream"},
            "InferenceServices.svc.InvocationMode: the http backend supports RealTime, got 'Stream'",
        ),
        ({"Backend": "python", "Entrypoint": "model.predict"}, "InferenceServices.svc.Entrypoint: required, as module:function"),
        (
            {"Backend": "python", "Entrypoint": "m:f", "PythonPath": "relative"},
            "InferenceServices.svc.PythonPath: must be an absolute path or a list of them",
        ),
        (
            {"Backend": "python", "Entrypoint": "m:f", "MLFeedbackConnectorConfigId": "Nope"},
            "InferenceServices.svc.MLFeedbackConnectorConfigId: 'Nope' is not in FeedbackConfigurationMap",
        ),
        (
            {"Backend": "python", "Entrypoint": "m:f", "TimeoutSeconds": 0},
            "InferenceServices.svc.TimeoutSeconds: must be a number of seconds above 0",
        ),
        (
            {"Backend": "python", "Entrypoint": "m:f", "MaxConcurrency": 0},
            "InferenceServices.svc.MaxConcurrency: must be a whole number from 1 to 64",
        ),
        (
            {"Backend": "python", "Entrypoint": "m:f", "EndpointName": "ep"},
            "InferenceServices.svc: unknown key(s) EndpointName for the python backend",
        ),
        (
            {"Backend": "sagemaker", "EndpointName": "ep", "CustomAttributes": "x" * 1025},
            "InferenceServices.svc.CustomAttributes: CustomAttributes has 1025 characters",
        ),
    ],
)
def test_each_invalid_service_setting_is_named(service, problem):
    found = problems_of({"svc": service})
    assert any(p.startswith(problem) for p in found), found


def test_valid_services_and_their_defaults():
    config = parse_config(
        {
            "FeedbackConfigurationMap": FEEDBACK,
            "InferenceServices": {
                "endpoint": {
                    "Backend": "sagemaker",
                    "EndpointName": "my-endpoint",
                    "ContentType": "image/jpeg",
                    "MLFeedbackConnectorConfigId": "Uncertain",
                },
                "local": {"Backend": "python", "Entrypoint": "models.cats:predict", "PythonPath": "/opt/models", "TimeoutSeconds": "5"},
            },
        }
    )
    endpoint, local = config.inference_services["endpoint"], config.inference_services["local"]
    assert (endpoint.timeout, endpoint.defaults, endpoint.feedback_config_id) == (70.0, {"ContentType": "image/jpeg"}, "Uncertain")
    assert (local.timeout, local.max_concurrency, local.queue_size, local.invocation_mode) == (5.0, 4, 32, "RealTime")


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("http://h:8080", "http://h:8080"),
        ("http://h:8080/", "http://h:8080"),
        ("http://h:8080/invocations", "http://h:8080"),
        ("http://h:8080/invocations/", "http://h:8080"),
        ("https://h/models/a", "https://h/models/a"),
        ("https://h/models/a/", "https://h/models/a"),
        ("http://h:8080/models/a/invocations", "http://h:8080/models/a"),
        ("http://h:8080/models/a/invocations/", "http://h:8080/models/a"),
        ("http://h:8080/invocations/invocations", "http://h:8080/invocations"),  # one /invocations goes, not every one
        ("http://h:8080/my-invocations", "http://h:8080/my-invocations"),  # only a whole path segment
        ("http://invocations:8080/", "http://invocations:8080"),  # a host named invocations stays
        ("http://invocations", "http://invocations"),
    ],
)
def test_an_http_service_url_with_or_without_invocations_gives_the_model_servers_base_url(url, base):
    assert model_server_base_url(url) == base


def test_an_http_service_keeps_the_base_url_so_both_ways_of_writing_it_are_the_same_service():
    config = parse_config(
        {
            "FeedbackConfigurationMap": FEEDBACK,
            "InferenceServices": {
                "base": {"Backend": "http", "Url": "http://127.0.0.1:8080/models/a"},
                "invocations": {"Backend": "http", "Url": "http://127.0.0.1:8080/models/a/invocations/"},
            },
        }
    )
    base, invocations = config.inference_services["base"], config.inference_services["invocations"]
    assert base.settings == invocations.settings == {"Url": "http://127.0.0.1:8080/models/a"}


def request(**fields: Any) -> dict[str, Any]:
    return {"RequestId": "r1", "ReplyTopic": f"{PREFIX}me/1", "ServiceName": "svc", "Body": base64.b64encode(b"data").decode(), **fields}


def test_a_request_without_a_usable_reply_topic_cannot_be_answered():
    for reply_topic in (None, "elsewhere/1", PREFIX, f"{PREFIX}+"):
        with pytest.raises(RequestProblem) as raised:
            parse_inference_request(request(ReplyTopic=reply_topic), "new", PREFIX)
        assert not isinstance(raised.value, ReplyableProblem)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"ServiceName": None}, "ServiceName is required"),
        ({"BodyPath": "/tmp/x"}, "exactly one of Body (base64) and BodyPath is required"),
        ({"Body": "###"}, "Body is not valid base64"),
        ({"InvocationMode": "Batch"}, "InvocationMode must be one of RealTime, Async, Stream, got 'Batch'"),
        ({"CustomAttributes": "caf\u00e9"}, "CustomAttributes must be visible US-ASCII characters, found 'é'"),
        ({"TargetVariant": 3}, "TargetVariant must be a string"),
    ],
)
def test_bad_requests_are_answered_on_their_reply_topic(fields, reason):
    with pytest.raises(ReplyableProblem) as raised:
        parse_inference_request(request(**fields), "new", PREFIX)
    assert (raised.value.code, raised.value.reply_topic) == ("ValidationError", f"{PREFIX}me/1")
    assert raised.value.reason.startswith(reason)


class FakeBackend:
    def __init__(self, enforces_timeout: bool = True, delay: float = 0.0, gate: threading.Event | None = None) -> None:
        self.enforces_timeout = enforces_timeout
        self.delay, self.gate = delay, gate
        self.calls: list[Invocation] = []

    def invoke(self, call: Invocation) -> RealTimeResult:
        self.calls.append(call)
        if self.gate is not None:
            self.gate.wait(5)
        time.sleep(self.delay)
        if call.body == b"fail":
            raise BackendError(messages.MODEL_ERROR, "model failed")
        return RealTimeResult(b"[0.4, 0.6]", "application/json", "AllTraffic", "echo")

    def invoke_async(self, call: Invocation) -> AsyncResult:
        return AsyncResult("inf-1", "s3://out/inf-1.out")

    def invoke_stream(self, call: Invocation, on_part: Any) -> str | None:
        for index in range(5):
            on_part(f"part{index}".encode())
        return "text/plain"

    def close(self) -> None:
        return None


class Replies:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def __call__(self, topic: str, message: dict[str, Any]) -> None:
        with self.lock:
            self.sent.append((topic, message))

    def wait(self, count: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 5
        while len(self.sent) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        return [m for _, m in self.sent]


def router(backend: FakeBackend, **service: Any) -> tuple[InferenceRouter, Replies, list[dict[str, Any]]]:
    kind = {"Backend": "python", "Entrypoint": "m:f"} if service.get("Backend", "python") == "python" else {}
    settings = {**kind, "MLFeedbackConnectorConfigId": "Uncertain", "AlgoType": "image-classification", **service}
    config = parse_config({"FeedbackConfigurationMap": FEEDBACK, "InferenceServices": {"svc": settings}})
    replies, feedback = Replies(), []
    return InferenceRouter(config, replies, feedback.append, backend_for=lambda s, c: backend), replies, feedback


def test_a_real_time_reply_and_the_feedback_hand_off():
    backend = FakeBackend()
    inference, replies, feedback = router(backend, ContentType="image/png")
    inference.accept(request(InferenceId="inf-7", Accept="application/json"))
    (reply,) = replies.wait(1)
    assert reply == {
        "RequestId": "r1",
        "ContentType": "application/json",
        "Body": base64.b64encode(b"[0.4, 0.6]").decode(),
        "InvokedProductionVariant": "AllTraffic",
        "CustomAttributes": "echo",
    }
    assert backend.calls[0].fields == {"ContentType": "image/png", "InferenceId": "inf-7", "Accept": "application/json"}
    deadline = time.monotonic() + 5
    while not feedback and time.monotonic() < deadline:
        time.sleep(0.005)
    assert feedback == [
        FeedbackRequest(
            "Uncertain", b"data", None, [0.4, 0.6], {"RequestId": "r1", "InferenceService": "svc", "InferenceId": "inf-7"}, "r1"
        )
    ]
    inference.close()


def test_unknown_service_algo_type_mismatch_and_model_errors():
    inference, replies, _ = router(FakeBackend())
    inference.accept(request(ServiceName="other"))
    inference.accept(request(RequestId="r2", AlgoType="object-detection"))
    inference.accept(request(RequestId="r3", Body=base64.b64encode(b"fail").decode()))
    by_id = {m["RequestId"]: m["Error"] for m in replies.wait(3)}
    assert by_id == {
        "r1": {"Code": "UnknownService", "Message": "No inference service named 'other' (services: svc)"},
        "r2": {"Code": "ValidationError", "Message": "AlgoType 'object-detection' does not match service svc (image-classification)"},
        "r3": {"Code": "ModelError", "Message": "model failed"},
    }
    inference.close()


def test_a_full_service_answers_throttling_at_once():
    gate = threading.Event()
    inference, replies, _ = router(FakeBackend(gate=gate), MaxConcurrency=1, QueueSize=1)
    for n in range(4):
        inference.accept(request(RequestId=f"r{n}"))
    throttled = replies.wait(2)
    assert [m["RequestId"] for m in throttled] == ["r2", "r3"]
    assert throttled[0]["Error"] == {
        "Code": "Throttling",
        "Message": "Service svc is busy: 2 requests in process (MaxConcurrency 1, QueueSize 1)",
    }
    gate.set()
    assert sorted(m["RequestId"] for m in replies.wait(4)[2:]) == ["r0", "r1"]
    inference.close()


def test_a_model_that_overruns_gets_a_timeout_reply_and_its_late_result_is_dropped():
    backend = FakeBackend(enforces_timeout=False, delay=0.3)
    inference, replies, feedback = router(backend, TimeoutSeconds=0.05)
    inference.accept(request())
    (reply,) = replies.wait(1)
    assert reply == {"RequestId": "r1", "Error": {"Code": "Timeout", "Message": "svc: the model did not return within 0.05 s"}}
    time.sleep(0.4)
    assert len(replies.sent) == 1 and feedback == [], "the late result is not sent"
    inference.close()


def test_stream_parts_in_order_then_done_and_async():
    inference, replies, _ = router(FakeBackend(), Backend="sagemaker", EndpointName="ep", AsyncInputS3Uri="s3://input/x")
    inference.accept(request(InvocationMode="Stream"))
    stream = replies.wait(6)
    assert [m.get("Sequence") for m in stream] == [0, 1, 2, 3, 4, None]
    assert [base64.b64decode(m["PayloadPart"]) for m in stream[:5]] == [f"part{i}".encode() for i in range(5)]
    assert stream[5] == {"RequestId": "r1", "Done": True, "ContentType": "text/plain"}
    inference.accept(request(RequestId="r2", InvocationMode="Async"))
    assert replies.wait(7)[6] == {"RequestId": "r2", "InferenceId": "inf-1", "OutputLocation": "s3://out/inf-1.out"}
    inference.close()


def test_the_watchdog_fires_once_unless_cancelled():
    watchdog, fired = Watchdog(), []
    kept = watchdog.watch(0.05, lambda: fired.append("kept"))
    cancelled = watchdog.watch(0.05, lambda: fired.append("cancelled"))
    watchdog.cancel(cancelled)
    time.sleep(0.2)
    watchdog.cancel(kept)
    assert fired == ["kept"]


def test_a_request_that_waits_out_its_timeout_in_the_queue_gets_timeout_and_is_never_invoked():
    gate = threading.Event()
    backend = FakeBackend(enforces_timeout=False, gate=gate)
    inference, replies, _ = router(backend, MaxConcurrency=1, QueueSize=1, TimeoutSeconds=0.2)
    inference.accept(request(RequestId="busy"))
    inference.accept(request(RequestId="queued"))
    first = replies.wait(1)
    assert first[0] == {
        "RequestId": "busy",
        "Error": {"Code": "Timeout", "Message": "svc: the model did not return within 0.2 s"},
    }
    second = replies.wait(2)
    assert second[1] == {
        "RequestId": "queued",
        "Error": {"Code": "Timeout", "Message": "svc: no worker was free within 0.2 s (MaxConcurrency 1)"},
    }
    gate.set()
    time.sleep(0.1)
    assert [call.request_id for call in backend.calls] == ["busy"]
    assert len(replies.sent) == 2
    inference.close()


def test_async_on_a_service_without_async_input_s3_uri_is_a_validation_error():
    backend = FakeBackend()
    inference, replies, _ = router(backend, Backend="sagemaker", EndpointName="ep")
    inference.accept(request(InvocationMode="Async"))
    assert replies.sent == [
        (
            f"{PREFIX}me/1",
            {
                "RequestId": "r1",
                "Error": {
                    "Code": "ValidationError",
                    "Message": "InvocationMode Async needs AsyncInputS3Uri, which service svc does not set",
                },
            },
        )
    ]
    assert backend.calls == []
    inference.close()


def test_an_unusable_request_id_is_answered_when_the_reply_topic_is_usable():
    with pytest.raises(ReplyableProblem) as raised:
        parse_inference_request(request(RequestId=7), "new", PREFIX)
    assert (raised.value.request_id, raised.value.reason) == ("new", "RequestId must be a string of at most 256 characters")


def test_a_feedback_hand_off_that_fails_leaves_the_inference_reply_alone():
    backend = FakeBackend()
    config = parse_config(
        {
            "FeedbackConfigurationMap": FEEDBACK,
            "InferenceServices": {"svc": {"Backend": "python", "Entrypoint": "m:f", "MLFeedbackConnectorConfigId": "Uncertain"}},
        }
    )
    replies = Replies()

    def broken_feedback(_request: Any) -> None:
        raise RuntimeError("cannot schedule new futures after shutdown")

    inference = InferenceRouter(config, replies, broken_feedback, backend_for=lambda s, c: backend)
    inference.accept(request())
    time.sleep(0.2)
    assert [m.get("Error") for m in replies.wait(1)] == [None]
    assert len(replies.sent) == 1
    inference.close()


class ClosingBackend(FakeBackend):
    def __init__(self) -> None:
        super().__init__()
        self.closed = threading.Event()

    def close(self) -> None:
        self.closed.set()


def test_a_replaced_service_closes_its_backend_once_its_requests_are_done():
    backends: list[ClosingBackend] = []

    def backend_for(_service: Any, _config: Any) -> ClosingBackend:
        backends.append(ClosingBackend())
        return backends[-1]

    def config(timeout: float) -> Any:
        service = {"Backend": "python", "Entrypoint": "m:f", "TimeoutSeconds": timeout}
        return parse_config({"FeedbackConfigurationMap": FEEDBACK, "InferenceServices": {"svc": service}})

    inference = InferenceRouter(config(5), Replies(), None, backend_for=backend_for)
    inference.update_config(config(6))
    assert backends[0].closed.wait(5)
    assert not backends[1].closed.is_set()
    inference.close()
    assert backends[1].closed.is_set()


def test_a_failing_deadline_callback_does_not_stop_the_watchdog():
    watchdog, fired = Watchdog(), threading.Event()

    def broken() -> None:
        raise ConnectionError("the IPC connection is closed")

    watchdog.watch(0.01, broken)
    watchdog.watch(0.05, fired.set)
    assert fired.wait(2)
