"""The inference service end to end: SageMaker (real-time, async, stream), a model server, Python models."""

from __future__ import annotations

import base64
import json
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ml_feedback import messages
from support.feedback import COMPONENT, OBSERVER, Observer, S3Server, add_component, add_observer, configuration_update
from support.harness import SUPPORT_DIR, NucleusThread, Project, component_environment
from support.inference_models import probabilities
from support.inference_servers import FakeSageMakerRuntime, ModelServer
from support.mqtt import free_port

SUPPORT = str(SUPPORT_DIR)
FEEDBACK_MAP = {
    "Uncertain": {
        "s3-bucket-name": "inference-samples",
        "content-type": "application/octet-stream",
        "sampling-strategy": {"strategy-name": "LEAST_CONFIDENCE", "threshold": 0.99},
    }
}


def services(model_server: str, invocations_server: str) -> dict[str, Any]:
    python = {"Backend": "python", "PythonPath": [SUPPORT]}
    return {
        "classifier": {
            "Backend": "sagemaker",
            "EndpointName": "classifier",
            "AlgoType": "image-classification",
            "MLFeedbackConnectorConfigId": "Uncertain",
        },
        "async-classifier": {
            "Backend": "sagemaker",
            "EndpointName": "classifier",
            "InvocationMode": "Async",
            "AsyncInputS3Uri": "s3://inference-async-input/requests",
        },
        "streamer": {"Backend": "sagemaker", "EndpointName": "streamer", "InvocationMode": "Stream"},
        "failing": {"Backend": "sagemaker", "EndpointName": "model-error"},
        "slow": {"Backend": "sagemaker", "EndpointName": "slow", "TimeoutSeconds": 1},
        "down": {"Backend": "http", "Url": f"http://127.0.0.1:{free_port()}"},
        "container": {
            "Backend": "http",
            "Url": model_server,
            "MLFeedbackConnectorConfigId": "Uncertain",
            "FeedbackPredictionField": "predictions",
        },
        "container-invocations-url": {"Backend": "http", "Url": f"{invocations_server}/invocations"},  # the invocations URL, not the base
        "python-model": {**python, "Entrypoint": "inference_models:classify"},
        "python-broken": {**python, "Entrypoint": "inference_models:broken"},
        "busy": {**python, "Entrypoint": "inference_models:sleepy", "MaxConcurrency": 1, "QueueSize": 0, "TimeoutSeconds": 0.5},
    }


@dataclass
class InferenceStack:
    nucleus: NucleusThread
    observer: Observer
    sagemaker: FakeSageMakerRuntime
    model_server: ModelServer
    invocations_server: ModelServer  # the model server of container-invocations-url
    s3: Any
    project: Project

    def call(self, document: dict[str, Any], count: int = 1, timeout: float = 20) -> list[dict[str, Any]]:
        """Publish a raw request and collect `count` replies on its own reply topic."""
        reply_topic = f"{messages.INFERENCE_RESPONSE_TOPIC_PREFIX}test/{uuid.uuid4().hex}"
        replies: list[dict[str, Any]] = []
        _response, operation = self.observer.client.subscribe_to_topic(
            topic=reply_topic, on_stream_event=lambda e: replies.append(e.json_message.message)
        )
        try:
            self.observer.send_raw(
                {"RequestId": str(uuid.uuid4()), "ReplyTopic": reply_topic, **document}, topic=messages.INFERENCE_REQUEST_TOPIC
            )
            deadline = time.monotonic() + timeout
            while len(replies) < count and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.05)  # nothing more should come
        finally:
            operation.close()
        return replies


@pytest.fixture(scope="module")
def stack() -> Iterator[InferenceStack]:
    s3_server, sagemaker, model_server, invocations_server = S3Server(), FakeSageMakerRuntime(), ModelServer(), ModelServer()
    try:
        s3 = s3_server.client()
        for bucket in ("inference-samples", "inference-async-input"):
            s3.create_bucket(Bucket=bucket)
        with tempfile.TemporaryDirectory(prefix="ggi") as folder:
            project = Project(Path(folder) / "project")
            add_component(project)
            add_observer(project)
            environment = component_environment({**s3_server.environment(), "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": sagemaker.url})
            with NucleusThread(Path(folder) / "root", environment=environment) as nucleus:
                settings = {
                    "FeedbackConfigurationMap": FEEDBACK_MAP,
                    "InferenceServices": services(model_server.url, invocations_server.url),
                }
                record = nucleus.deploy(
                    project, merge={COMPONENT: "1.0.0", OBSERVER: "1.0.0"}, configuration=configuration_update(settings), timeout=120
                )
                assert record.status == "SUCCEEDED", record.details
                observer = Observer(nucleus)
                yield InferenceStack(nucleus, observer, sagemaker, model_server, invocations_server, s3, project)
                observer.close()
    finally:
        invocations_server.stop()
        model_server.stop()
        sagemaker.stop()
        s3_server.stop()


def body_of(reply: dict[str, Any]) -> bytes:
    return base64.b64decode(reply["Body"])


def test_every_per_request_field_reaches_sagemaker_and_the_answer_comes_back(stack):
    request = {
        "ServiceName": "classifier",
        "AlgoType": "image-classification",
        "Body": base64.b64encode(b"frame-0001").decode(),
        "ContentType": "application/x-image",
        "Accept": "application/json",
        "CustomAttributes": "c000b4f9-df62-4c85-a0bf-7c525f9104a4",
        "TargetModel": "model-v2.tar.gz",
        "TargetVariant": "variant-b",
        "TargetContainerHostname": "container-2",
        "InferenceId": "inference-0001",
        "EnableExplanations": "`true`",
    }
    (reply,) = stack.call(request)
    assert reply == {
        "RequestId": reply["RequestId"],
        "ContentType": "application/json",
        "Body": reply["Body"],
        "InvokedProductionVariant": "variant-b",
        "CustomAttributes": "Trace ID: c000b4f9-df62-4c85-a0bf-7c525f9104a4",
    }
    assert json.loads(body_of(reply)) == probabilities(b"frame-0001")
    received = next(r for r in stack.sagemaker.received if r["body"] == b"frame-0001")
    assert (received["endpoint"], received["action"]) == ("classifier", "invocations")
    headers = {k.lower(): v for k, v in received["headers"].items()}
    assert {name: headers.get(name.lower()) for name in (
        "Content-Type", "Accept", "X-Amzn-SageMaker-Custom-Attributes", "X-Amzn-SageMaker-Target-Model", "X-Amzn-SageMaker-Target-Variant",
        "X-Amzn-SageMaker-Target-Container-Hostname", "X-Amzn-SageMaker-Inference-Id", "X-Amzn-SageMaker-Enable-Explanations",
    )} == {
        "Content-Type": "application/x-image", "Accept": "application/json", "X-Amzn-SageMaker-Custom-Attributes": "c000b4f9-df62-4c85-a0bf-7c525f9104a4",
        "X-Amzn-SageMaker-Target-Model": "model-v2.tar.gz", "X-Amzn-SageMaker-Target-Variant": "variant-b",
        "X-Amzn-SageMaker-Target-Container-Hostname": "container-2", "X-Amzn-SageMaker-Inference-Id": "inference-0001",
        "X-Amzn-SageMaker-Enable-Explanations": "`true`",
    }  # fmt: skip
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/"), "botocore signed it"


def test_async_stages_the_input_in_s3_and_returns_where_the_result_will_be(stack):
    (reply,) = stack.call(
        {
            "ServiceName": "async-classifier",
            "Body": base64.b64encode(b"async frame").decode(),
            "ContentType": "image/jpeg",
            "InferenceId": "async-42",
        }
    )
    assert reply == {"RequestId": reply["RequestId"], "InferenceId": "async-42", "OutputLocation": "s3://async-output/async-42.out"}
    received = next(
        r
        for r in stack.sagemaker.received
        if r["action"] == "async-invocations" and r["headers"].get("X-Amzn-SageMaker-Inference-Id") == "async-42"
    )
    location = received["headers"]["X-Amzn-SageMaker-InputLocation"]
    bucket, key = location.removeprefix("s3://").split("/", 1)
    assert bucket == "inference-async-input" and key.startswith("requests/")
    staged = stack.s3.get_object(Bucket=bucket, Key=key)
    assert staged["Body"].read() == b"async frame"
    assert staged["ContentType"] == "image/jpeg"
    assert received["headers"]["X-Amzn-SageMaker-Content-Type"] == "image/jpeg"


def test_a_stream_of_n_parts_arrives_as_n_parts_in_order_then_done(stack):
    body = b"".join(f"{n:03d}|".encode() for n in range(12))  # the endpoint streams 4-byte parts: 12 of them
    replies = stack.call({"ServiceName": "streamer", "Body": base64.b64encode(body).decode()}, count=13)
    assert len(replies) == 13
    parts, done = replies[:-1], replies[-1]
    assert [p["Sequence"] for p in parts] == list(range(12))
    assert [base64.b64decode(p["PayloadPart"]) for p in parts] == [f"{n:03d}|".encode() for n in range(12)]
    assert done == {"RequestId": parts[0]["RequestId"], "Done": True, "ContentType": "text/plain"}


@pytest.mark.parametrize(
    ("request_fields", "code", "message"),
    [
        (
            {"ServiceName": "failing"},
            "ModelError",
            'An error occurred (ModelError) when calling the InvokeEndpoint operation: Received server error (500) from primary with message "model crashed"',
        ),
        (
            {"ServiceName": "nope"},
            "UnknownService",
            "No inference service named 'nope' (services: async-classifier, busy, classifier, container, container-invocations-url, down, failing, python-broken, python-model, slow, streamer)",
        ),
        (
            {"ServiceName": "classifier", "CustomAttributes": "x" * 1025},
            "ValidationError",
            "CustomAttributes has 1025 characters; at most 1024 are allowed",
        ),
        (
            {"ServiceName": "classifier", "AlgoType": "object-detection"},
            "ValidationError",
            "AlgoType 'object-detection' does not match service classifier (image-classification)",
        ),
        ({"ServiceName": "slow"}, "Timeout", "slow: no answer from the endpoint within 1 s"),
        (
            {"ServiceName": "container", "InvocationMode": "Stream"},
            "ValidationError",
            "InvocationMode Stream is not supported by the http backend of service container",
        ),
        ({"ServiceName": "python-broken"}, "ModelError", "ValueError: the model cannot read this input"),
    ],
)
def test_each_failure_is_an_error_reply_with_its_own_code(stack, request_fields, code, message):
    (reply,) = stack.call({"Body": base64.b64encode(b"input").decode(), **request_fields})
    assert reply == {"RequestId": reply["RequestId"], "Error": {"Code": code, "Message": message}}


def test_a_model_server_that_is_down_or_failing(stack):
    (down,) = stack.call({"ServiceName": "down", "Body": base64.b64encode(b"x").decode()})
    assert down["Error"]["Code"] == "ServiceUnavailable"
    assert down["Error"]["Message"].startswith("the model server at http://127.0.0.1:") and "Connection refused" in down["Error"]["Message"]
    (failing,) = stack.call({"ServiceName": "container", "Body": base64.b64encode(b"fail").decode()})
    assert failing["Error"] == {"Code": "ModelError", "Message": "the model server answered 500: model exploded"}


def test_each_model_server_gets_one_ping_when_its_service_starts_and_the_log_says_how_it_went(stack):
    log = stack.observer.wait(
        lambda: text if "inference service down: the model server" in (text := stack.nucleus.log(COMPONENT)) else None,
        what="the readiness lines in the component log",
    )
    assert [(r["method"], r["path"]) for r in stack.model_server.received if r["method"] == "GET"] == [("GET", "/ping")]
    assert f"inference service container: the model server at {stack.model_server.url} is ready (GET /ping answered 200)" in log
    down = next(line for line in log.splitlines() if "inference service down: the model server" in line)
    assert re.search(
        r"WARNING ml_feedback.inference: inference service down: the model server at http://127\.0\.0\.1:\d+ does not answer GET /ping "
        r"\(\[Errno 111\] Connection refused\); requests get ServiceUnavailable until it does",
        down,
    ), down


def test_a_url_ending_in_invocations_reaches_the_model_servers_invocations_once_and_its_ping(stack):
    server = stack.invocations_server
    log = stack.observer.wait(
        lambda: text if "inference service container-invocations-url: the model server" in (text := stack.nucleus.log(COMPONENT)) else None,
        what="the readiness line of container-invocations-url",
    )
    assert f"inference service container-invocations-url: the model server at {server.url} is ready (GET /ping answered 200)" in log
    (reply,) = stack.call({"ServiceName": "container-invocations-url", "Body": base64.b64encode(b"frame at invocations").decode()})
    assert json.loads(body_of(reply)) == {"predictions": probabilities(b"frame at invocations")}
    assert [(r["method"], r["path"]) for r in server.received] == [("GET", "/ping"), ("POST", "/invocations")]


def test_a_busy_service_answers_throttling_at_once(stack):
    replies: list[dict[str, Any]] = []
    topic = f"{messages.INFERENCE_RESPONSE_TOPIC_PREFIX}test/busy"
    _response, operation = stack.observer.client.subscribe_to_topic(
        topic=topic, on_stream_event=lambda e: replies.append(e.json_message.message)
    )
    for n in range(2):
        stack.observer.send_raw(
            {"RequestId": f"busy-{n}", "ReplyTopic": topic, "ServiceName": "busy", "Body": "eA=="}, topic=messages.INFERENCE_REQUEST_TOPIC
        )
    stack.observer.wait(lambda: len(replies) >= 2, what="two busy replies")
    operation.close()
    by_id = {r["RequestId"]: r["Error"] for r in replies}
    assert by_id["busy-1"] == {
        "Code": "Throttling",
        "Message": "Service busy is busy: 1 requests in process (MaxConcurrency 1, QueueSize 0)",
    }
    assert by_id["busy-0"] == {"Code": "Timeout", "Message": "busy: the model did not return within 0.5 s"}


def test_results_of_a_feedback_enabled_service_land_as_samples_that_name_their_inference(stack):
    (reply,) = stack.call(
        {"ServiceName": "classifier", "Body": base64.b64encode(b"uncertain frame").decode(), "InferenceId": "inference-traced"}
    )
    status = stack.observer.status(reply["RequestId"])
    assert status["response"]["status"] == "success"
    bucket, key = status["response"]["s3_response"]["bucket"], status["response"]["s3_response"]["key"]
    stored = stack.s3.get_object(Bucket=bucket, Key=key)
    assert bucket == "inference-samples"
    assert stored["Body"].read() == b"uncertain frame"
    assert stored["Metadata"]["inferenceid"] == "inference-traced"
    assert stored["Metadata"]["requestid"] == reply["RequestId"]
    prediction = stack.observer.wait(
        lambda: next((p for p in stack.observer.predictions if p["source-ref"] == f"s3://{bucket}/{key}"), None)
    )
    assert prediction["model-prediction"] == probabilities(b"uncertain frame")
    assert prediction["metadata"]["InferenceId"] == "inference-traced"

    # A model server whose result holds the probabilities in a field (FeedbackPredictionField).
    (served,) = stack.call({"ServiceName": "container", "Body": base64.b64encode(b"served frame").decode()})
    assert json.loads(body_of(served)) == {"predictions": probabilities(b"served frame")}
    assert stack.observer.status(served["RequestId"])["response"]["status"] == "success"


SDK_CLIENT = """
from ipc_probe import save
import greengrass_machine_learning_sdk as ml

client = ml.client("inference")
results = {}

def call(name, **kwargs):
    try:
        response = client.invoke_inference_service(**kwargs)
        results[name] = ["ok", response["ContentType"], response["Body"].read().decode(), type(response["Body"]).__name__]
    except Exception as exc:
        results[name] = [type(exc).__name__, getattr(exc, "code", None), getattr(exc, "message", str(exc))]

call("python", AlgoType="image-classification", ServiceName="python-model", ContentType="application/octet-stream", Body=b"v1 body")
call("file", AlgoType="image-classification", ServiceName="classifier", ContentType="image/png", Accept="application/json", Body=open(__file__, "rb"))
call("model_error", AlgoType="x", ServiceName="failing", ContentType="a/b", Body=b"x")
call("unknown", AlgoType="x", ServiceName="nope", ContentType="a/b", Body=b"x")
call("custom_attributes", AlgoType="image-classification", ServiceName="classifier", ContentType="a/b", Body=b"x", CustomAttributes="\\u00e9")
call("timeout", AlgoType="x", ServiceName="slow", ContentType="a/b", Body=b"x")
call("down", AlgoType="x", ServiceName="down", ContentType="a/b", Body=b"x")
call("after_errors", AlgoType="image-classification", ServiceName="python-model", ContentType="a/b", Body=b"still serving")
call("bad_args", ServiceName="python-model", ContentType="a/b", Body="not bytes")
save(results=results)
"""


def test_v1_invoke_inference_service_through_the_sdk(stack):
    component_dir = f"{{{COMPONENT}:artifacts:decompressedPath}}/{COMPONENT}/component"
    stack.project.component(
        "test.InferenceClient",
        dependencies={COMPONENT: {"VersionRequirement": "^1.0.0"}},
        pubsub={"PublishToTopic": [messages.INFERENCE_REQUEST_TOPIC], "SubscribeToTopic": [f"{messages.INFERENCE_RESPONSE_TOPIC_PREFIX}*"]},
        lifecycle={
            "Setenv": {"PYTHONPATH": f"{component_dir}:{SUPPORT}"},
            "Run": f"{{{COMPONENT}:work:path}}/python -u {{artifacts:path}}/main.py",
        },
        script=SDK_CLIENT,
    )
    record = stack.nucleus.deploy(stack.project, merge={"test.InferenceClient": "1.0.0"}, timeout=120)
    assert record.status == "SUCCEEDED", record.details
    r = stack.nucleus.results("test.InferenceClient", timeout=60)["results"]
    assert r["python"] == ["ok", "application/json", json.dumps(probabilities(b"v1 body")), "StreamingBody"]
    assert r["file"][0:2] == ["ok", "application/json"]
    assert r["model_error"][:2] == ["InferenceServiceError", "ModelError"]
    assert r["model_error"][2].endswith('Received server error (500) from primary with message "model crashed"')
    assert r["unknown"][:2] == ["InferenceServiceError", "UnknownService"]
    assert r["custom_attributes"] == [
        "InferenceServiceError",
        "ValidationError",
        "CustomAttributes must be visible US-ASCII characters, found 'é'",
    ]
    assert r["timeout"] == ["InferenceServiceError", "Timeout", "slow: no answer from the endpoint within 1 s"]
    assert r["down"][:2] == ["InferenceServiceError", "ServiceUnavailable"]
    assert r["after_errors"] == ["ok", "application/json", json.dumps(probabilities(b"still serving")), "StreamingBody"]
    assert r["bad_args"][0] == "ParamValidationError"
    assert 'Missing required parameter in input: "AlgoType"' in r["bad_args"][2]


def test_the_inference_client_example_runs_with_its_model_server(short_tmp):
    import shutil

    from support.cli import local_args, run_cli
    from support.feedback import REPO

    example = REPO / "examples" / "inference-client"
    project = Project(short_tmp / "project")
    add_component(project)
    shutil.copytree(example / "recipes", project.recipes, dirs_exist_ok=True)
    shutil.copytree(example / "artifacts", project.artifacts, dirs_exist_ok=True)
    result = run_cli(
        *local_args("run", short_tmp / "root", project.recipes, project.artifacts),
        "--merge", f"{COMPONENT}=1.0.0", "--merge", "com.example.InferenceClient=1.0.0",
        "--update-config", str(example / "inference-services.json"), "--until-finished", "com.example.InferenceClient",
    )  # fmt: skip
    log = (short_tmp / "root" / "logs" / "com.example.InferenceClient.log").read_text()
    assert result.returncode == 0, result.stderr + log
    sample = (example / "artifacts" / "com.example.InferenceClient" / "1.0.0" / "sample.jpg").read_bytes()
    weights = [1 + (sum(sample[i::3]) % 7) for i in range(3)]
    assert f"stdout. application/json: {[round(w / sum(weights), 4) for w in weights]}." in log
