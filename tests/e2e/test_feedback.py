"""The v1 ML Feedback connector end to end: emulator, the packed component, a local S3 server, mosquitto."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from ml_feedback import messages

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
PUBLISH_TS = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}"
NAMESPACE = "GreengrassFeedbackConnector"


def outcome(stack, config_id, prediction, model_input=b"\x89PNG sample") -> str:
    request_id = stack.observer.send(config_id, model_input, prediction)
    return stack.observer.status(request_id)["response"]["status"]


@pytest.mark.parametrize(
    ("config_id", "prediction", "expected"),
    [
        ("LeastConfidence", [0.2, 0.2, 0.4, 0.2], "success"),  # seed: max .4 <= .6
        ("LeastConfidence", [0.1, 0.1, 0.7, 0.1], "sample_dropped_by_strategy"),
        ("Margin", [0.3, 0.35, 0.34, 0.01], "success"),  # seed: .35 - .34 <= .02
        ("Margin", [0.3, 0.5, 0.19, 0.01], "sample_dropped_by_strategy"),
        ("Entropy", [0.5, 0.25, 0.25], "success"),  # seed: 1.03972 > .75
        ("Entropy", [0.9, 0.05, 0.05], "sample_dropped_by_strategy"),
    ],
)
def test_the_seed_examples_decide_as_documented(stack, config_id, prediction, expected):
    before = len(stack.objects(stack_bucket(config_id)))
    assert outcome(stack, config_id, prediction) == expected
    assert len(stack.objects(stack_bucket(config_id))) == before + (expected == "success")


def stack_bucket(config_id: str) -> str:
    from e2e.conftest import FEEDBACK_MAP

    return FEEDBACK_MAP[config_id]["s3-bucket-name"]


def test_random_sampling_rate_0_drops_all_and_rate_1_uploads_all(stack):
    assert {outcome(stack, "RandomNone", [0.5, 0.5]) for _ in range(8)} == {"sample_dropped_by_strategy"}
    assert {outcome(stack, "RandomAll", {"label": "any"}) for _ in range(8)} == {"success"}
    assert stack.objects("fb-random-none") == []
    assert len(stack.objects("fb-random-all")) == 8


def test_an_uploaded_sample_lands_with_key_type_metadata_and_v1_messages(stack):
    observer = stack.observer
    payload = json.dumps({"temperature": 21.5}).encode()
    request_id = observer.send(
        "Everything", payload, [0.7, 0.3], metadata={"camera": "line-3", "shift": 2}, request_id=f"e2e-{uuid.uuid4()}"
    )
    status = observer.status(request_id)
    assert status["id"] == request_id
    assert status["response"]["status"] == "success"
    s3_response = status["response"]["s3_response"]
    key = s3_response["key"]
    assert re.fullmatch(rf"DeviceA/line-3/{UUID}\.json", key)
    assert s3_response["bucket"] == "fb-everything"
    assert s3_response["ETag"].startswith('"') and s3_response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert not [field for field in s3_response if field.startswith("Checksum")], "like v1, no optional checksum is sent or echoed"

    stored = stack.s3.get_object(Bucket="fb-everything", Key=key)
    assert stored["Body"].read() == payload
    assert stored["ContentType"] == "application/json"
    assert stored["Metadata"]["camera"] == "line-3"
    assert stored["Metadata"]["shift"] == "2.0"  # the nucleus hands JSON integers on as doubles
    assert re.fullmatch(PUBLISH_TS, stored["Metadata"]["publish-ts"])

    prediction = observer.wait(lambda: next((p for p in observer.predictions if p["source-ref"] == f"s3://fb-everything/{key}"), None))
    assert prediction == {
        "source-ref": f"s3://fb-everything/{key}",
        "model-prediction": [0.7, 0.3],
        "config-id": "Everything",
        "metadata": {"camera": "line-3", "shift": 2.0, "publish-ts": stored["Metadata"]["publish-ts"]},
    }

    # The same status and prediction reach AWS IoT Core, here a real MQTT broker.
    def on_broker(topic: str, body: dict) -> bool:
        return any(t == topic and json.loads(p) == body for t, p in stack.cloud.messages)

    observer.wait(
        lambda: on_broker(messages.STATUS_TOPIC, status) and on_broker(messages.PREDICTION_TOPIC, prediction),
        what="IoT Core messages on mosquitto",
    )


def test_local_status_and_prediction_false_sends_them_to_iot_core_only(stack):
    from support.feedback import configuration_update

    observer = stack.observer

    def on_broker(topic: str, request_id: str | None = None, source: str | None = None) -> bool:
        for t, payload in stack.cloud.messages:
            body = json.loads(payload)
            if t == topic and (body.get("id") == request_id if request_id else body.get("source-ref") == source):
                return True
        return False

    assert stack.nucleus.deploy(configuration=configuration_update({"LocalStatusAndPrediction": False})).status == "SUCCEEDED"
    try:
        uploaded = observer.send("Everything", b"x" * 100, [1], request_id=f"iot-only-{uuid.uuid4()}")
        dropped = observer.send("RandomNone", b"abc", [1], request_id=f"iot-only-{uuid.uuid4()}")
        observer.wait(
            lambda: on_broker(messages.STATUS_TOPIC, uploaded) and on_broker(messages.STATUS_TOPIC, dropped),
            what="both statuses on IoT Core (mosquitto)",
        )
        [status] = [json.loads(p) for t, p in stack.cloud.messages if t == messages.STATUS_TOPIC and json.loads(p)["id"] == uploaded]
        assert status["response"]["status"] == "success"
        source = f"s3://{stack_bucket('Everything')}/{status['response']['s3_response']['key']}"
        observer.wait(lambda: on_broker(messages.PREDICTION_TOPIC, source=source), what="the prediction on IoT Core")
    finally:
        assert stack.nucleus.deploy(configuration=configuration_update({"LocalStatusAndPrediction": True})).status == "SUCCEEDED"
    # Publishes on one connection arrive in order: once a later request's local status is in, none of theirs is coming.
    later = observer.status(observer.send("RandomNone", b"abc", [1]))
    assert later["response"]["status"] == "sample_dropped_by_strategy"
    with observer._lock:
        local_ids = [s["id"] for s in observer.statuses]
        local_sources = [p["source-ref"] for p in observer.predictions]
    assert uploaded not in local_ids and dropped not in local_ids
    assert source not in local_sources


def test_a_prediction_message_over_iot_cores_limit_is_refused_before_the_upload(stack):
    """SPEC §9.11, measured as IoT Core measures it: the message's JSON as it is published (", " and ": " included).

    27,000 numbers make about 108 KB written compactly and 135 KB as published; 25,000 fit in 128 KiB either way.
    """
    observer = stack.observer
    bucket = stack_bucket("Everything")
    before = len(stack.objects(bucket))
    metrics_before = len(observer.metrics)
    refused = observer.status(observer.send("Everything", b"x", [0.5] * 27_000, request_id=f"big-{uuid.uuid4()}"))
    response = refused["response"]
    assert (response["status"], response.get("error")) == ("fail", "InvalidModelPrediction")
    length = int(re.search(r"the prediction message would be (\d+) bytes", response["error_message"]).group(1))
    assert 131_072 < length < 136_000
    assert response["error_message"].endswith("AWS IoT Core takes at most 131072 (send a smaller ModelPrediction or Metadata)")
    assert len(stack.objects(bucket)) == before, "nothing uploaded"

    fits = observer.status(observer.send("Everything", b"x", [0.5] * 25_000))
    assert fits["response"]["status"] == "success"
    source = f"s3://{bucket}/{fits['response']['s3_response']['key']}"
    observer.wait(
        lambda: any(t == messages.PREDICTION_TOPIC and json.loads(p)["source-ref"] == source for t, p in stack.cloud.messages),
        what="the prediction message on IoT Core (mosquitto)",
    )
    # SampleSize and ErrorInvalidRequest, then SampleSize, SampleUploadSuccess and SampleAndPredictionPublished: all
    # in before the next test counts its own.
    observer.wait(lambda: len(observer.metrics) >= metrics_before + 5, what="both requests' metrics")
    names = [m["request"]["metricData"]["metricName"] for m in observer.metrics[metrics_before:]]
    assert names == ["SampleSize", "ErrorInvalidRequest", "SampleSize", "SampleUploadSuccess", "SampleAndPredictionPublished"]


def metrics_after(stack, action) -> list[dict]:
    start = len(stack.observer.metrics)
    action()
    return stack.observer.metrics[start:]


def test_metrics_for_each_outcome_as_seed_001_lists_them(stack):
    observer = stack.observer

    def wait_metrics(count: int, start: int) -> list[dict]:
        observer.wait(lambda: len(observer.metrics) >= start + count, what=f"{count} metrics")
        return observer.metrics[start : start + count]

    def metric(name, value=1, unit="Count"):
        return {"request": {"namespace": NAMESPACE, "metricData": {"value": value, "unit": unit, "metricName": name}}}

    start = len(observer.metrics)
    observer.status(observer.send("Everything", b"x" * 47592, [1]))
    assert wait_metrics(3, start) == [
        metric("SampleSize", 47592, "Bytes"),
        metric("SampleUploadSuccess"),
        metric("SampleAndPredictionPublished"),
    ]

    start = len(observer.metrics)
    observer.status(observer.send("RandomNone", b"abc", [1]))
    assert wait_metrics(2, start) == [metric("SampleSize", 3, "Bytes"), metric("SampleNotUsed")]

    start = len(observer.metrics)
    observer.status(observer.send("NoBucket", b"abcd", [1]))
    assert wait_metrics(2, start) == [metric("SampleSize", 4, "Bytes"), metric("SampleUploadFailure")]


def test_publish_metrics_false_sends_every_status_and_prediction_and_no_metric(stack):
    from support.feedback import configuration_update

    observer = stack.observer
    assert stack.nucleus.deploy(configuration=configuration_update({"PublishMetrics": False})).status == "SUCCEEDED"
    try:
        before = len(observer.metrics)
        uploaded = observer.status(observer.send("Everything", b"x" * 100, [1]))
        dropped = observer.status(observer.send("RandomNone", b"abc", [1]))
        assert uploaded["response"]["status"] == "success"
        assert dropped["response"] == {"status": "sample_dropped_by_strategy"}
        observer.wait(lambda: any(p["source-ref"].endswith(uploaded["response"]["s3_response"]["key"]) for p in observer.predictions))
    finally:
        assert stack.nucleus.deploy(configuration=configuration_update({"PublishMetrics": True})).status == "SUCCEEDED"
    after_on = observer.status(observer.send("RandomNone", b"abc", [1]))
    assert after_on["response"]["status"] == "sample_dropped_by_strategy"
    observer.wait(lambda: len(observer.metrics) >= before + 2, what="the metrics of the request after PublishMetrics: true")
    names = [m["request"]["metricData"]["metricName"] for m in observer.metrics[before:]]
    assert names == ["SampleSize", "SampleNotUsed"], "only the request sent after the switch back has metrics"


def test_a_missing_bucket_fails_with_no_such_bucket(stack):
    request_id = stack.observer.send("NoBucket", b"data", [1])
    response = stack.observer.status(request_id)["response"]
    assert response["status"] == "fail"
    assert response["error"] == "NoSuchBucket"
    assert response["error_message"] == (
        f"[RequestId: {request_id}] Failed to upload model input data due to exception. Model prediction will not be published. "
        "Exception type: NoSuchBucket, error: An error occurred (NoSuchBucket) when calling the PutObject operation: The specified bucket does not exist"
    )


@pytest.mark.parametrize(
    ("request_body", "error", "text"),
    [
        (
            {"ConfigId": "NoSuchConfig", "ModelInput": "eA==", "ModelPrediction": [1]},
            "UnknownConfigId",
            "ConfigId 'NoSuchConfig' is not in the FeedbackConfigurationMap",
        ),
        (
            {"ConfigId": "Everything", "ModelInput": "%%% not base64 %%%", "ModelPrediction": [1]},
            "InvalidModelInput",
            "ModelInput is not valid base64",
        ),
        (
            {"ConfigId": "Entropy", "ModelInput": "eA==", "ModelPrediction": [0.5, float("nan")]},
            "InvalidModelPrediction",
            "ModelPrediction[1] is not a finite number",
        ),
        (
            {"ConfigId": "Margin", "ModelInput": "eA==", "ModelPrediction": [0.9, -0.1]},
            "InvalidModelPrediction",
            "ModelPrediction[1] is negative",
        ),
    ],
)
def test_bad_requests_get_a_fail_status_and_the_component_keeps_serving(stack, request_body, error, text):
    request_id = f"bad-{uuid.uuid4()}"
    stack.observer.send_raw({**request_body, "RequestId": request_id})
    response = stack.observer.status(request_id)["response"]
    assert (response["status"], response["error"]) == ("fail", error)
    assert response["error_message"].startswith(f"[RequestId: {request_id}] Invalid feedback request: ")
    assert text in response["error_message"]
    assert outcome(stack, "RandomAll", [1]) == "success"


def test_malformed_json_gets_a_fail_status_and_the_component_keeps_serving(stack):
    observer = stack.observer
    start = len(observer.statuses)
    observer.send_raw(b'{"ConfigId": "Everything", "ModelInput": ')
    status = observer.wait(lambda: next((s for s in observer.statuses[start:] if s["response"].get("error") == "InvalidRequest"), None))
    assert re.fullmatch(UUID, status["id"])
    assert "the message is not valid JSON" in status["response"]["error_message"]
    assert outcome(stack, "RandomAll", [1]) == "success"


def test_five_times_request_limit_at_once_loses_nothing(stack):
    from awsiot.greengrasscoreipc.model import JsonMessage, PublishMessage

    from support.feedback import configuration_update

    limit = 4
    assert stack.nucleus.deploy(configuration=configuration_update({"RequestLimit": str(limit)})).status == "SUCCEEDED"
    try:
        observer = stack.observer
        ids = [f"burst-{n}-{uuid.uuid4()}" for n in range(5 * limit)]
        throttled_before = observer.metric_names().count("ErrorRequestThrottled")
        sends = [
            observer.client.publish_to_topic_async(
                topic=messages.FEEDBACK_REQUEST_TOPIC,
                publish_message=PublishMessage(
                    json_message=JsonMessage(message=messages.feedback_request("Burst", b"x" * 2048, [1], None, request_id))
                ),
            )
            for request_id in ids
        ]
        for send in sends:
            send.result(10)
        statuses = [observer.status(request_id) for request_id in ids]
        observer.wait(
            lambda: (
                observer.metric_names().count("ErrorRequestThrottled") - throttled_before
                >= sum(s["response"]["status"] == "fail" for s in statuses)
            )
        )
    finally:
        assert stack.nucleus.deploy(configuration=configuration_update({"RequestLimit": "10"})).status == "SUCCEEDED"

    assert sorted(s["id"] for s in observer.statuses if s["id"] in ids) == sorted(ids), "exactly one status per request"
    full = [s for s in statuses if s["response"]["status"] == "fail"]
    uploaded = [s for s in statuses if s["response"]["status"] == "success"]
    assert len(full) + len(uploaded) == len(ids)
    assert len(uploaded) >= limit and full, f"{len(uploaded)} uploaded, {len(full)} refused"
    for status in full:
        assert status["response"] == {
            "status": "fail",
            "error_message": f"Request limit has been reached (max request: {limit} ). Dropping request.",
            "error": "Queue.Full",
        }
    assert observer.metric_names().count("ErrorRequestThrottled") - throttled_before == len(full)
    assert sorted(stack.objects("fb-burst")) == sorted(s["response"]["s3_response"]["key"] for s in uploaded)


def test_local_deploy_adds_a_configuration_without_restart_and_rejects_an_invalid_one(stack):
    from e2e.conftest import FEEDBACK_MAP
    from support.cli import run_cli
    from support.feedback import COMPONENT

    stack.s3.create_bucket(Bucket="fb-added-later")
    added = {
        "FeedbackConfigurationMap": {"AddedLater": {"s3-bucket-name": "fb-added-later", "content-type": "text/plain", "file-ext": "txt"}}
    }
    result = run_cli("local", "deploy", "--root", str(stack.root), "--update-config", json.dumps({COMPONENT: {"MERGE": added}}))
    assert result.returncode == 0, result.stderr
    assert outcome(stack, "AddedLater", [1], b"new config") == "success"
    assert len(stack.objects("fb-added-later")) == 1

    invalid = {"FeedbackConfigurationMap": {"Broken": {"s3-bucket-name": "Not_A_Bucket", "content-type": "text/plain"}}}
    result = run_cli("local", "deploy", "--root", str(stack.root), "--update-config", json.dumps({COMPONENT: {"MERGE": invalid}}))
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "mlfeedback: deployment failed: Components reported that their to-be-deployed configuration is invalid "
        "{ name = community.greengrass.MLFeedback, message = Invalid configuration for community.greengrass.MLFeedback: "
        "FeedbackConfigurationMap.Broken.s3-bucket-name: required, must match ^[a-z0-9\\.\\-]{3,63}$, got 'Not_A_Bucket' }"
    )
    assert outcome(stack, "AddedLater", [1], b"still works") == "success"
    assert outcome(stack, "Everything", [1], b"{}") == "success"
    assert "Broken" not in stack.nucleus.run(lambda: stack.nucleus.nucleus.config.get(COMPONENT))["FeedbackConfigurationMap"]
    assert set(FEEDBACK_MAP) < set(stack.nucleus.run(lambda: stack.nucleus.nucleus.config.get(COMPONENT))["FeedbackConfigurationMap"])

    log = (stack.root / "logs" / "greengrass.log").read_text()
    assert log.count(f"serviceName={COMPONENT}, currentState=STARTING, newState=RUNNING") == 1, (
        "configuration changes must not restart the component"
    )


def test_a_misspelt_key_is_rejected_at_deployment_with_the_key_it_most_likely_meant(stack):
    """Before, `RequestLimt` deployed as SUCCEEDED and the user believed the limit was 5."""
    from support.cli import run_cli
    from support.feedback import COMPONENT

    typo = {"RequestLimt": "5", "UploadWorker": 8}
    result = run_cli("local", "deploy", "--root", str(stack.root), "--update-config", json.dumps({COMPONENT: {"MERGE": typo}}))
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "mlfeedback: deployment failed: Components reported that their to-be-deployed configuration is invalid "
        "{ name = community.greengrass.MLFeedback, message = Invalid configuration for community.greengrass.MLFeedback: "
        "RequestLimt: unknown key; did you mean RequestLimit?; UploadWorker: unknown key; did you mean UploadWorkers? }"
    )
    configuration = stack.nucleus.run(lambda: stack.nucleus.nucleus.config.get(COMPONENT))
    assert "RequestLimt" not in configuration and "UploadWorker" not in configuration
    assert outcome(stack, "Everything", [1], b"still served") == "success"


def test_a_topic_change_the_policy_does_not_allow_keeps_the_old_topic_until_the_policy_follows(stack):
    from e2e.conftest import MOVED_FEEDBACK_TOPIC
    from support.cli import run_cli
    from support.feedback import COMPONENT

    log_file = stack.root / "logs" / f"{COMPONENT}.log"

    def deploy_and_wait_for_log(merge: dict, text: str) -> str:
        seen = log_file.read_text().count(text)
        result = run_cli("local", "deploy", "--root", str(stack.root), "--update-config", json.dumps({COMPONENT: {"MERGE": merge}}))
        assert result.returncode == 0, result.stderr
        stack.observer.wait(lambda: log_file.read_text().count(text) > seen, what=f"{text!r} in the component log")
        return next(line for line in reversed(log_file.read_text().splitlines()) if text in line)

    def served_on(topic: str) -> bool:
        request_id = str(uuid.uuid4())
        stack.observer.send_raw(messages.feedback_request("Everything", b"{}", [1], None, request_id), topic=topic)
        try:
            return stack.observer.status(request_id, timeout=3)["response"]["status"] == "success"
        except AssertionError:
            return False

    refusal = deploy_and_wait_for_log({"FeedbackRequestTopic": MOVED_FEEDBACK_TOPIC}, "cannot subscribe to its request topics")
    assert refusal.split("ERROR ml_feedback: ")[1].startswith(
        "configuration change ignored, keeping the previous one: cannot subscribe to its request topics: "
        f"Principal {COMPONENT} is not authorized to perform aws.greengrass.ipc.pubsub:aws.greengrass#SubscribeToTopic "
        f"on resource {MOVED_FEEDBACK_TOPIC}."
    )
    assert served_on(messages.FEEDBACK_REQUEST_TOPIC)
    assert not served_on(MOVED_FEEDBACK_TOPIC)

    policy = {
        "aws.greengrass.ipc.pubsub": {
            f"{COMPONENT}:moved": {"operations": ["aws.greengrass#SubscribeToTopic"], "resources": [MOVED_FEEDBACK_TOPIC]}
        }
    }
    deploy_and_wait_for_log({"accessControl": policy}, f"listening for feedback requests on {MOVED_FEEDBACK_TOPIC}")
    assert served_on(MOVED_FEEDBACK_TOPIC)
    assert not served_on(messages.FEEDBACK_REQUEST_TOPIC)

    deploy_and_wait_for_log(
        {"FeedbackRequestTopic": messages.FEEDBACK_REQUEST_TOPIC}, f"listening for feedback requests on {messages.FEEDBACK_REQUEST_TOPIC}"
    )
    assert served_on(messages.FEEDBACK_REQUEST_TOPIC)


def test_a_stop_logs_the_work_summary_of_the_run(stack):
    """Issue 12: what the component did shows in its log, at the latest when it stops.

    Restarts the component, so it runs last in this module: an earlier test counts the component's starts. A first
    restart makes the run it checks begin with this test, whatever the module's other tests sent before.
    """
    from support.feedback import restart_component, stop_summaries

    earlier = stop_summaries(restart_component(stack))
    assert len(earlier) == 1 and re.fullmatch(
        r"work summary at stop: \d+ uploaded, \d+ dropped by strategy, \d+ failed since start; \d+ waiting in the spool", earlier[0]
    ), earlier

    outcomes = [outcome(stack, "RandomAll", [1]) for _ in range(3)]
    outcomes += [outcome(stack, "RandomNone", [0.5, 0.5]) for _ in range(5)]
    outcomes += [outcome(stack, "NoBucket", [1]), outcome(stack, "NoSuchConfig", [1])]
    assert outcomes == ["success"] * 3 + ["sample_dropped_by_strategy"] * 5 + ["fail"] * 2

    assert stop_summaries(restart_component(stack)) == [
        "work summary at stop: 3 uploaded, 5 dropped by strategy, 2 failed since start; 0 waiting in the spool"
    ]
    assert outcome(stack, "RandomAll", [1]) == "success", "the restarted component serves again"
