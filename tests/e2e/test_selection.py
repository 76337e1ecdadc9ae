"""Selection beyond v1 (SPEC §10) end to end: the packed component under the local nucleus, a local S3 server.

The README's worked examples, sent over IPC: what is selected lands in its bucket, what is dropped gets
`sample_dropped_by_strategy` with the `reason` that dropped it.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from ml_feedback import messages
from support.feedback import COMPONENT, configuration_update, restart_component

PERSON_SURE = {"label": "person", "score": 0.92, "box": [10, 20, 50, 120]}
SELECTION_MAP = {
    "DetUnsure": {
        "s3-bucket-name": "fb-det-unsure",
        "content-type": "image/jpeg",
        "sampling-strategy": {"strategy-name": "DETECTION_UNCERTAINTY", "low": 0.3, "high": 0.7},
    },
    "DetCount": {
        "s3-bucket-name": "fb-det-count",
        "content-type": "image/jpeg",
        "sampling-strategy": {"strategy-name": "DETECTION_COUNT", "min-score": 0.5, "more-than": 3},
    },
    "Novel": {
        "s3-bucket-name": "fb-novel",
        "content-type": "image/jpeg",
        "sampling-strategy": {"strategy-name": "NOVELTY", "threshold": 0.1, "window": 2},
    },
    "NoRepeat": {
        "s3-bucket-name": "fb-no-repeat",
        "content-type": "image/jpeg",
        "sampling-strategy": {"strategy-name": "NEAR_DUPLICATE", "max-distance": 6, "window-seconds": 60},
    },
    "UncertainOnce": {
        "s3-bucket-name": "fb-uncertain-once",
        "content-type": "image/jpeg",
        "sampling-strategy": [
            {"strategy-name": "LEAST_CONFIDENCE", "threshold": 0.6},
            {"strategy-name": "NEAR_DUPLICATE", "max-distance": 4},
        ],
    },
    "Capped": {
        "s3-bucket-name": "fb-capped",
        "content-type": "image/jpeg",
        "sampling-strategy": {"strategy-name": "RANDOM_SAMPLING", "rate": 1},
        "sampling-budget": {"max-samples": 10, "per": "hour"},
    },
}


@pytest.fixture(scope="module")
def selection(stack: Any) -> Any:
    for body in SELECTION_MAP.values():
        stack.s3.create_bucket(Bucket=body["s3-bucket-name"])
    record = stack.nucleus.deploy(stack.project, configuration=configuration_update({"FeedbackConfigurationMap": SELECTION_MAP}))
    assert record.status == "SUCCEEDED", record.details
    return stack


def outcomes(stack: Any, config_id: str, *requests: dict[str, Any]) -> list[dict[str, Any]]:
    """Each request sent and answered in turn (NOVELTY and NEAR_DUPLICATE depend on the order); their status responses."""
    responses = []
    for number, fields in enumerate(requests):
        request_id = f"{config_id}-{number}-{uuid.uuid4()}"
        document = messages.feedback_request(config_id, b"\xff\xd8 frame", fields.get("prediction", [0.5]), None, request_id)
        for name in ("Embedding", "Fingerprint"):
            if name in fields:
                document[name] = fields[name]
        stack.observer.send_raw(json.dumps(document).encode())
        responses.append(stack.observer.status(request_id)["response"])
    return responses


def statuses(responses: list[dict[str, Any]]) -> list[str]:
    return [r.get("reason", r["status"]) for r in responses]


def test_each_strategy_decides_as_its_worked_example(selection):
    unsure = outcomes(
        selection,
        "DetUnsure",
        {"prediction": [PERSON_SURE, {"label": "person", "score": 0.55}]},
        {"prediction": [PERSON_SURE, {"label": "dog", "score": 0.08}]},
    )
    assert unsure[1] == {"status": "sample_dropped_by_strategy", "reason": "DETECTION_UNCERTAINTY"}
    four = [{"score": s} for s in (0.9, 0.8, 0.6, 0.5, 0.2)]
    counted = outcomes(selection, "DetCount", {"prediction": four}, {"prediction": {"prediction": [[0, 0.9, 0.1, 0.1, 0.2, 0.2]]}})
    novel = outcomes(
        selection,
        "Novel",
        {"Embedding": [1.0, 0.0]},
        {"Embedding": [0.99, 0.1]},
        {"Embedding": [0.0, 3.0]},
        {"Embedding": [-1.0, 0.0]},
        {"Embedding": [1.0, 0.0]},
    )
    repeated = outcomes(
        selection,
        "NoRepeat",
        {"Fingerprint": "00000000000000ff"},
        {"Fingerprint": "000000000000003f"},
        {"Fingerprint": "ffffffffffffffff"},
        {"Fingerprint": "00000000000001FF"},
    )
    assert statuses(unsure) == ["success", "DETECTION_UNCERTAINTY"]
    assert statuses(counted) == ["success", "DETECTION_COUNT"]
    assert statuses(novel) == ["success", "NOVELTY", "success", "success", "success"]
    assert statuses(repeated) == ["success", "NEAR_DUPLICATE", "success", "NEAR_DUPLICATE"]
    for config_id, answered in (("DetUnsure", unsure), ("DetCount", counted), ("Novel", novel), ("NoRepeat", repeated)):
        keys = sorted(r["s3_response"]["key"] for r in answered if r["status"] == "success")
        assert sorted(selection.objects(SELECTION_MAP[config_id]["s3-bucket-name"])) == keys


def test_a_list_uploads_an_uncertain_frame_once_not_its_repeats(selection):
    uncertain = {"prediction": [0.5, 0.3, 0.2], "Fingerprint": "0f0f0f0f0f0f0f0f"}
    repeats = [{"prediction": [0.5, 0.3, 0.2], "Fingerprint": f"0f0f0f0f0f0f0f0{n}"} for n in "e0c8"]  # 1 to 2 bits away
    answered = outcomes(selection, "UncertainOnce", uncertain, *repeats, {"prediction": [0.9, 0.05, 0.05], "Fingerprint": "f" * 16})
    assert statuses(answered) == ["success"] + ["NEAR_DUPLICATE"] * 4 + ["LEAST_CONFIDENCE"]
    assert len(selection.objects("fb-uncertain-once")) == 1


def test_a_budget_of_10_an_hour_caps_100_selected_samples_across_a_restart(selection):
    """The issue's example. The budget starts afresh each hour (UTC), so the test does not begin in an hour's last minute."""
    to_next_hour = 3600 - time.time() % 3600
    if to_next_hour < 60:
        time.sleep(to_next_hour + 1)
    first = outcomes(selection, "Capped", *[{}] * 5)
    restart_component(selection)
    rest = outcomes(selection, "Capped", *[{}] * 95)
    answered = first + rest
    assert statuses(answered) == ["success"] * 10 + ["budget"] * 90
    assert len(selection.objects("fb-capped")) == 10
    assert selection.observer.wait(lambda: selection.observer.metric_names().count("SampleDroppedByBudget") == 90 or None)


@pytest.mark.parametrize(
    ("config_id", "fields", "error", "reason"),
    [
        (
            "DetUnsure",
            {"prediction": [{"label": "dog"}]},
            "InvalidModelPrediction",
            'ModelPrediction[0] has no score; ModelPrediction must be a list of detections [{"label": "text" (optional), '
            '"score": 0..1, "box": [x, y, w, h] (optional)}, ...] or SageMaker\'s object-detection output '
            '{"prediction": [[class_id, score, xmin, ymin, xmax, ymax], ...]}',
        ),
        (
            "NoRepeat",
            {"Fingerprint": "not-16-hex"},
            "InvalidRequest",
            "Fingerprint must be 16 hex digits (a 64-bit difference hash, as greengrass_machine_learning_sdk.fingerprint makes), "
            "got 'not-16-hex'",
        ),
        ("Novel", {"Embedding": [1.0, 0.0, 0.5]}, "InvalidRequest", "Embedding has 3 numbers; configuration Novel's NOVELTY window"),
        ("Novel", {"Embedding": ["a"]}, "InvalidRequest", "Embedding[0] is 'a'; Embedding must be a non-empty list of finite numbers"),
    ],
)
def test_a_request_of_the_wrong_shape_fails_naming_the_field_and_the_shape(selection, config_id, fields, error, reason):
    if config_id == "Novel":
        outcomes(selection, "Novel", {"Embedding": [0.6, 0.8]})  # the window holds 2-number embeddings
    (response,) = outcomes(selection, config_id, fields)
    assert response["status"] == "fail" and response["error"] == error
    assert response["error_message"].split("Invalid feedback request: ", 1)[1].startswith(reason)


def test_a_list_with_an_unknown_strategy_is_rejected_at_deployment(selection):
    from support.cli import run_cli

    broken = {
        "Broken": {
            **SELECTION_MAP["UncertainOnce"],
            "sampling-strategy": [{"strategy-name": "LEAST_CONFIDENCE", "threshold": 0.6}, {"strategy-name": "NEAR_DUPLICATES"}],
        }
    }
    result = run_cli(
        "local",
        "deploy",
        "--root",
        str(selection.root),
        "--update-config",
        json.dumps({COMPONENT: {"MERGE": {"FeedbackConfigurationMap": broken}}}),
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "mlfeedback: deployment failed: Components reported that their to-be-deployed configuration is invalid "
        "{ name = community.greengrass.MLFeedback, message = Invalid configuration for community.greengrass.MLFeedback: "
        "FeedbackConfigurationMap.Broken.sampling-strategy[1].strategy-name: must be one of RANDOM_SAMPLING, LEAST_CONFIDENCE, "
        "MARGIN, ENTROPY, DETECTION_UNCERTAINTY, DETECTION_COUNT, NOVELTY, NEAR_DUPLICATE, got 'NEAR_DUPLICATES' }"
    )
