"""The feedback pipeline with a fake uploader and a recording outbox (pure: no IPC, no S3)."""

from __future__ import annotations

import datetime
import itertools
import json
import os
import threading
from typing import Any

import pytest

from ml_feedback import messages
from ml_feedback.config import parse_config
from ml_feedback.feedback import FeedbackService
from ml_feedback.uploader import UploadError

MOMENT = datetime.datetime(2019, 7, 11, 0, 12, 48, 816752, tzinfo=datetime.timezone.utc)
CONFIG = {
    "FeedbackConfigurationMap": {
        "ConfigID2": {
            "s3-bucket-name": "margin-bucket",
            "content-type": "image/png",
            "file-ext": "png",
            "s3-prefix": "s3-key-prefix",
            "sampling-strategy": {"strategy-name": "MARGIN", "threshold": 0.4},
        },
        "All": {"s3-bucket-name": "all-bucket", "content-type": "application/json"},
    },
    "RequestLimit": "2",
}


class RecordingOutbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def _add(self, kind: str, message: dict[str, Any]) -> None:
        with self._lock:
            self.sent.append((kind, message))

    def status(self, message: dict[str, Any]) -> None:
        self._add("status", message)

    def prediction(self, message: dict[str, Any]) -> None:
        self._add("prediction", message)

    def metric(self, message: dict[str, Any]) -> None:
        self._add("metric", message)

    def metric_names(self) -> list[str]:
        return [m["request"]["metricData"]["metricName"] for kind, m in self.sent if kind == "metric"]


class FakeUploader:
    def __init__(self, failure: UploadError | None = None, gate: threading.Event | None = None) -> None:
        self.puts: list[dict[str, Any]] = []
        self.failure, self.gate = failure, gate

    def put(self, bucket, key, body, content_type, metadata):
        if self.gate is not None:
            self.gate.wait(5)
        data = body if isinstance(body, bytes) else body.read()
        self.puts.append({"bucket": bucket, "key": key, "body": data, "content_type": content_type, "metadata": metadata})
        if self.failure:
            raise self.failure
        return {"ResponseMetadata": {"HTTPStatusCode": 200, "RetryAttempts": 0}, "ETag": '"abc"', "LastModified": MOMENT}


def service(raw_config=CONFIG, uploader=None, draw=0.0):
    uploader = uploader or FakeUploader()
    outbox = RecordingOutbox()
    ids = (f"uuid-{n}" for n in itertools.count(1))
    return (
        FeedbackService(
            parse_config(raw_config), lambda config: uploader, outbox, clock=lambda: MOMENT, draw=lambda: draw, new_id=lambda: next(ids)
        ),
        uploader,
        outbox,
    )


def request(config_id="ConfigID2", model_input=b"\x89PNG image", prediction=(0.5, 0.2, 0.2, 0.1), metadata=None, request_id="req-1"):
    return messages.feedback_request(config_id, model_input, list(prediction), metadata, request_id)


def test_an_uploaded_sample_produces_v1_messages_in_v1_order():
    svc, uploader, outbox = service()
    svc.process(request(metadata={"camera": "line-3", "count": 2}), svc.config, uploader)
    (put,) = uploader.puts
    assert put["bucket"] == "margin-bucket"
    assert put["key"] == "s3-key-prefix/uuid-1.png"
    assert put["body"] == b"\x89PNG image"
    assert put["content_type"] == "image/png"
    assert put["metadata"] == {"camera": "line-3", "count": "2", "publish-ts": "2019-07-11 00:12:48.816752"}
    assert outbox.sent == [
        (
            "metric",
            {
                "request": {
                    "namespace": "GreengrassFeedbackConnector",
                    "metricData": {"value": 10, "unit": "Bytes", "metricName": "SampleSize"},
                }
            },
        ),
        (
            "status",
            {
                "response": {
                    "status": "success",
                    "s3_response": {
                        "ResponseMetadata": {"HTTPStatusCode": 200, "RetryAttempts": 0},
                        "ETag": '"abc"',
                        "LastModified": "2019-07-11T00:12:48.816752+00:00",
                        "bucket": "margin-bucket",
                        "key": "s3-key-prefix/uuid-1.png",
                    },
                },
                "id": "req-1",
            },
        ),
        ("metric", messages.metric("SampleUploadSuccess", "GreengrassFeedbackConnector")),
        (
            "prediction",
            {
                "source-ref": "s3://margin-bucket/s3-key-prefix/uuid-1.png",
                "model-prediction": [0.5, 0.2, 0.2, 0.1],
                "config-id": "ConfigID2",
                "metadata": {"camera": "line-3", "count": 2, "publish-ts": "2019-07-11 00:12:48.816752"},
            },
        ),
        ("metric", messages.metric("SampleAndPredictionPublished", "GreengrassFeedbackConnector")),
    ]


def test_a_sample_the_strategy_drops_is_reported_and_not_uploaded():
    svc, uploader, outbox = service()
    svc.process(request(prediction=[0.9, 0.05, 0.05]), svc.config, uploader)
    assert uploader.puts == []
    assert outbox.sent[1:] == [
        ("status", {"response": {"status": "sample_dropped_by_strategy"}, "id": "req-1"}),
        ("metric", messages.metric("SampleNotUsed", "GreengrassFeedbackConnector")),
    ]
    assert outbox.metric_names() == ["SampleSize", "SampleNotUsed"]


def test_a_failed_upload_names_the_s3_error_and_publishes_no_prediction():
    error = UploadError(
        "NoSuchBucket", "An error occurred (NoSuchBucket) when calling the PutObject operation: The specified bucket does not exist"
    )
    svc, uploader, outbox = service(uploader=FakeUploader(failure=error))
    svc.process(request(config_id="All", request_id="4bf5aeb0-d1e4-4362-5bb4-87c05de78ba3"), svc.config, uploader)
    statuses = [m for kind, m in outbox.sent if kind == "status"]
    assert statuses == [
        {
            "response": {
                "status": "fail",
                "error_message": "[RequestId: 4bf5aeb0-d1e4-4362-5bb4-87c05de78ba3] Failed to upload model input data due to exception. Model prediction will not be published. "
                "Exception type: NoSuchBucket, error: An error occurred (NoSuchBucket) when calling the PutObject operation: The specified bucket does not exist",
                "error": "NoSuchBucket",
            },
            "id": "4bf5aeb0-d1e4-4362-5bb4-87c05de78ba3",
        }
    ]
    assert outbox.metric_names() == ["SampleSize", "SampleUploadFailure"]
    assert not any(kind == "prediction" for kind, _ in outbox.sent)


@pytest.mark.parametrize(
    ("raw", "code", "reason"),
    [
        (b"{not json", "InvalidRequest", "the message is not valid JSON"),
        (
            {"ConfigId": "Nope", "ModelInput": "eA==", "ModelPrediction": [1]},
            "UnknownConfigId",
            "ConfigId 'Nope' is not in the FeedbackConfigurationMap (configured: All, ConfigID2)",
        ),
        ({"ConfigId": "All", "ModelInput": "not base64!", "ModelPrediction": [1]}, "InvalidModelInput", "ModelInput is not valid base64"),
        (
            {"ConfigId": "All", "ModelPrediction": [1]},
            "InvalidModelInput",
            "exactly one of ModelInput (base64) and ModelInputPath is required",
        ),
        (
            {"ConfigId": "ConfigID2", "ModelInput": "eA==", "ModelPrediction": [0.5, float("nan")]},
            "InvalidModelPrediction",
            "ModelPrediction[1] is not a finite number",
        ),
        (
            {"ConfigId": "ConfigID2", "ModelInput": "eA==", "ModelPrediction": [0.5, -0.5]},
            "InvalidModelPrediction",
            "ModelPrediction[1] is negative",
        ),
        (
            {"ConfigId": "All", "ModelInput": "eA==", "ModelPrediction": "cat"},
            "InvalidModelPrediction",
            "ModelPrediction must be a list or an object",
        ),
        (
            {"ConfigId": "All", "ModelInput": "eA==", "ModelPrediction": [1], "Metadata": [1]},
            "InvalidRequest",
            "Metadata must be an object",
        ),
    ],
)
def test_bad_requests_get_a_fail_status_with_a_clear_message(raw, code, reason):
    svc, uploader, outbox = service()
    svc.process(raw, svc.config, uploader)
    ((kind, status), (_, metric)) = outbox.sent
    assert kind == "status" and status["response"]["status"] == "fail" and status["response"]["error"] == code
    assert reason in status["response"]["error_message"]
    assert status["response"]["error_message"].startswith(f"[RequestId: {status['id']}] Invalid feedback request: ")
    assert metric["request"]["metricData"]["metricName"] == "ErrorInvalidRequest"
    assert uploader.puts == []


@pytest.mark.parametrize(
    ("raw", "code", "reason"),
    [
        (
            b'{"ConfigId": "All", "ModelInput": "eA==", "ModelPrediction": [0.5, NaN]}',
            "InvalidRequest",
            "the message is not valid JSON (NaN is not a JSON value)",
        ),
        (
            {"ConfigId": "All", "ModelInput": "eA==", "ModelPrediction": {"score": float("inf")}},
            "InvalidModelPrediction",
            "ModelPrediction.score is not a finite number (JSON has no NaN or Infinity)",
        ),
        (
            {"ConfigId": "All", "ModelInput": "eA==", "ModelPrediction": [1], "Metadata": {"t": [float("-inf")]}},
            "InvalidRequest",
            "Metadata.t[0] is not a finite number (JSON has no NaN or Infinity)",
        ),
        ({"ConfigId": "All", "ModelInput": "eA==", "ModelPrediction": [1], "Metadata": []}, "InvalidRequest", "Metadata must be an object"),
        ({"ConfigId": "All", "ModelInput": "eA==", "ModelPrediction": [1], "Metadata": 0}, "InvalidRequest", "Metadata must be an object"),
        (
            {"ConfigId": "All", "ModelInput": "", "ModelPrediction": [1]},
            "InvalidModelInput",
            "ModelInput must be a non-empty base64 string",
        ),
        (
            {"ConfigId": "All", "ModelInputPath": "/tmp/a\x00b", "ModelPrediction": [1]},
            "InvalidModelInput",
            "ModelInputPath '/tmp/a\\x00b' is not a usable path (embedded null byte)",
        ),
        (
            {"ConfigId": "All", "ModelInput": "eA==", "ModelPrediction": [1], "RequestId": "r" * 257},
            "InvalidRequest",
            "RequestId must be a string of at most 256 characters",
        ),
        (
            {"ConfigId": "x" * 1000, "ModelInput": "eA==", "ModelPrediction": [1]},
            "UnknownConfigId",
            f"ConfigId '{'x' * 252}... is not in the FeedbackConfigurationMap",
        ),
    ],
)
def test_values_json_cannot_carry_and_edge_cases_are_refused_by_name(raw, code, reason):
    svc, uploader, outbox = service()
    svc.process(raw, svc.config, uploader)
    ((_, status), (_, metric)) = outbox.sent
    assert (status["response"]["error"], status["id"]) == (code, "uuid-1")
    assert status["response"]["error_message"].startswith(f"[RequestId: uuid-1] Invalid feedback request: {reason}")
    assert metric["request"]["metricData"]["metricName"] == "ErrorInvalidRequest"
    assert uploader.puts == []


class BrokenUploader(FakeUploader):
    def put(self, bucket, key, body, content_type, metadata):
        raise OSError(5, "Input/output error")


def test_a_fault_of_the_component_still_answers_with_a_status_and_a_metric():
    svc, _uploader, outbox = service(uploader=BrokenUploader())
    assert svc.accept(request(config_id="All", request_id="broken-1"))
    assert svc.wait_idle(5)
    statuses = [m for kind, m in outbox.sent if kind == "status"]
    assert statuses == [
        {
            "response": {
                "status": "fail",
                "error_message": "[RequestId: broken-1] The component failed to process the feedback request: "
                "OSError: [Errno 5] Input/output error",
                "error": "InternalError",
            },
            "id": "broken-1",
        }
    ]
    assert outbox.metric_names() == ["SampleSize", "ErrorInternal"]
    assert svc.accept(request(config_id="All", request_id="broken-2")), "the request's slot was given back"
    svc.close()


def test_a_request_after_close_is_not_taken_and_holds_no_slot():
    svc, _uploader, outbox = service()
    svc.close()
    assert not svc.accept(request())
    assert svc.wait_idle(0)
    assert outbox.sent == []


def test_request_limit_refuses_the_excess_with_queue_full():
    gate = threading.Event()
    svc, uploader, outbox = service(uploader=FakeUploader(gate=gate))
    accepted = [svc.accept(request(config_id="All", request_id=f"r{n}")) for n in range(5)]
    assert accepted == [True, True, False, False, False]
    refused = [m for kind, m in outbox.sent if kind == "status"]
    assert refused == [
        {
            "response": {
                "status": "fail",
                "error_message": "Request limit has been reached (max request: 2 ). Dropping request.",
                "error": "Queue.Full",
            },
            "id": f"r{n}",
        }
        for n in (2, 3, 4)
    ]
    assert outbox.metric_names().count("ErrorRequestThrottled") == 3
    gate.set()
    assert svc.wait_idle(5)
    assert len(uploader.puts) == 2
    assert svc.accept(request(config_id="All", request_id="after")), "capacity comes back once requests finish"
    svc.close()


def test_a_request_limit_of_zero_refuses_everything():
    svc, _uploader, outbox = service({**CONFIG, "RequestLimit": "0"})
    assert not svc.accept(request())
    assert outbox.sent[0][1]["response"]["error_message"] == "Request limit has been reached (max request: 0 ). Dropping request."
    svc.close()


def test_model_input_path_must_be_inside_an_allowed_directory(tmp_path):
    allowed = tmp_path / "inputs"
    allowed.mkdir()
    (allowed / "frame.png").write_bytes(b"big frame")
    (tmp_path / "secret").write_bytes(b"no")
    svc, uploader, outbox = service({**CONFIG, "ModelInputDirectories": [str(allowed)]})
    document = {"ConfigId": "All", "ModelInputPath": str(allowed / "frame.png"), "ModelPrediction": [1], "RequestId": "p1"}
    svc.process(document, svc.config, uploader)
    assert uploader.puts[0]["body"] == b"big frame"
    assert outbox.sent[0][1]["request"]["metricData"]["value"] == 9
    escape = {**document, "ModelInputPath": str(allowed / ".." / "secret"), "RequestId": "p2"}
    svc.process(escape, svc.config, uploader)
    assert len(uploader.puts) == 1
    status = [m for kind, m in outbox.sent if kind == "status"][-1]
    assert status["response"]["error"] == "InvalidModelInput"
    assert "is not under ModelInputDirectories" in status["response"]["error_message"]


def test_a_model_input_path_that_is_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    """Requests are read and decided on the IPC thread: opening a FIFO must not hold it until a writer comes."""
    allowed = tmp_path / "inputs"
    allowed.mkdir()
    os.mkfifo(allowed / "pipe")
    svc, uploader, outbox = service({**CONFIG, "ModelInputDirectories": [str(allowed)]})
    document = {"ConfigId": "All", "ModelInputPath": str(allowed / "pipe"), "ModelPrediction": [1], "RequestId": "fifo-1"}
    taking = threading.Thread(target=svc.accept, args=(document,), daemon=True)
    taking.start()
    taking.join(10)
    assert not taking.is_alive(), "accept() is still waiting on the FIFO"
    [status] = [m for kind, m in outbox.sent if kind == "status"]
    assert status["response"]["error"] == "InvalidModelInput"
    assert status["response"]["error_message"].endswith("cannot be read: not a regular file (a FIFO, socket or device)")
    assert uploader.puts == []
    svc.close()


def test_metadata_is_made_header_safe_for_s3():
    assert messages.s3_metadata({"camera id": "café", "n": 1.5, "tags": ["a"]}) == {"camera-id": "caf%C3%A9", "n": "1.5", "tags": '["a"]'}


def test_a_binary_message_holding_the_json_is_accepted():
    svc, uploader, _outbox = service()
    svc.process(json.dumps(request(config_id="All")).encode(), svc.config, uploader)
    assert len(uploader.puts) == 1


NEAR_DUPLICATES = {
    "FeedbackConfigurationMap": {
        "Det": {
            "s3-bucket-name": "det-bucket",
            "content-type": "image/jpeg",
            "sampling-strategy": {"strategy-name": "NEAR_DUPLICATE", "max-distance": 0, "window-seconds": 60},
        }
    }
}


def _detections(count: int) -> list[dict[str, Any]]:
    return [{"label": "car", "score": 0.12345678 + n / 1e8, "box": [0.5, 0.25, 0.125, 1.0]} for n in range(count)]


def _message_bytes(count: int, key: str) -> int:
    message = messages.prediction_message("det-bucket", key, _detections(count), "Det", {"publish-ts": "2019-07-11 00:12:48.816752"})
    return len(messages.json_payload(message))


@pytest.mark.parametrize("over", [False, True])
def test_a_remembering_strategy_checks_the_prediction_message_as_published(over: bool):
    """The size check before a sample is remembered (SPEC §9.11) measures the message as it would be published,
    with a key as long as a real one: a prediction just under 128 KiB is uploaded and its fingerprint remembered;
    one a box longer is refused with its exact length and not remembered, so the same frame with a small
    prediction is still new."""
    placeholder_key = "0" * 36  # as long as the UUID the real key is made of
    count = next(n for n in range(1700, 2000) if _message_bytes(n, placeholder_key) > messages.IOT_CORE_MESSAGE_LIMIT)
    count -= 0 if over else 1
    svc, uploader, outbox = service(NEAR_DUPLICATES)
    frame = {"Fingerprint": "00000000000000ff"}
    svc.process(
        json.dumps(messages.feedback_request("Det", b"\xff\xd8 frame", _detections(count), None, "big") | frame), svc.config, uploader
    )
    svc.process(json.dumps(messages.feedback_request("Det", b"\xff\xd8 frame", [], None, "small") | frame), svc.config, uploader)
    statuses = {m["id"]: m["response"] for kind, m in outbox.sent if kind == "status"}
    assert [p["key"] for p in uploader.puts] == ["uuid-1"]
    if over:
        length = _message_bytes(count, placeholder_key)
        assert statuses["big"]["status"] == "fail"
        assert statuses["big"]["error"] == "InvalidModelPrediction"
        assert f"the prediction message would be {length} bytes;" in statuses["big"]["error_message"]
        assert statuses["small"]["status"] == "success"
    else:
        assert statuses["big"]["status"] == "success"
        assert statuses["small"] == {"status": messages.SAMPLE_DROPPED, "reason": "NEAR_DUPLICATE"}
        (prediction,) = [m for kind, m in outbox.sent if kind == "prediction"]
        assert prediction["model-prediction"] == _detections(count)
