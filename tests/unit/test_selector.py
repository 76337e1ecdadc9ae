"""Selection beyond v1 (SPEC §10): the README's worked examples, decided by the pure strategies and the Selector."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from test_feedback_service import MOMENT, FakeUploader, RecordingOutbox

from ml_feedback import messages
from ml_feedback.config import ConfigError, parse_config
from ml_feedback.feedback import FeedbackService
from ml_feedback.messages import FeedbackRequest, RequestProblem
from ml_feedback.sampling import DETECTION_SHAPE, Detections, detections
from ml_feedback.selection import Selector


def configuration(strategy: Any, budget: dict[str, Any] | None = None) -> Any:
    body: dict[str, Any] = {"s3-bucket-name": "bkt", "content-type": "image/jpeg", "sampling-strategy": strategy}
    if budget is not None:
        body["sampling-budget"] = budget
    return parse_config({"FeedbackConfigurationMap": {"Cfg": body}}).feedback["Cfg"]


def decide(selector: Selector, target: Any, prediction: Any = (), embedding=None, fingerprint=None, size: int = 100, draw=0.0):
    request = FeedbackRequest(
        "Cfg",
        b"x",
        None,
        list(prediction) if isinstance(prediction, tuple) else prediction,
        embedding=embedding,
        fingerprint=fingerprint,
    )
    return selector.decide(target, selector.prepare(target, request), size, draw)


def outcomes(selector: Selector, target: Any, *requests: dict[str, Any]) -> list[str]:
    return [decision.reason or "upload" for decision in (decide(selector, target, **r) for r in requests)]


# -- the README's worked examples --------------------------------------------------------------------

PERSON_SURE = {"label": "person", "score": 0.92, "box": [10, 20, 50, 120]}


def test_detection_uncertainty_uploads_frames_with_a_box_the_model_is_unsure_of():
    target = configuration({"strategy-name": "DETECTION_UNCERTAINTY", "low": 0.3, "high": 0.7})
    assert outcomes(
        Selector(),
        target,
        {"prediction": [PERSON_SURE, {"label": "person", "score": 0.55}]},  # 0.55 lies in [0.3, 0.7]
        {"prediction": [PERSON_SURE, {"label": "dog", "score": 0.08}]},  # 0.92 and 0.08: sure of both
        {"prediction": []},  # nothing detected, nothing unsure
    ) == ["upload", "DETECTION_UNCERTAINTY", "DETECTION_UNCERTAINTY"]
    dogs = configuration({"strategy-name": "DETECTION_UNCERTAINTY", "low": 0.3, "high": 0.7, "min-count": 2, "labels": ["dog"]})
    assert outcomes(
        Selector(),
        dogs,
        {"prediction": [{"label": "dog", "score": 0.4}, {"label": "person", "score": 0.5}]},  # one unsure dog of the two needed
        {"prediction": [{"label": "dog", "score": 0.4}, {"label": "dog", "score": 0.7}]},  # 0.7 counts: the bounds are inclusive
    ) == ["DETECTION_UNCERTAINTY", "upload"]


def test_detection_count_uploads_crowded_or_empty_scenes_also_in_sagemakers_output():
    crowded = configuration({"strategy-name": "DETECTION_COUNT", "min-score": 0.5, "more-than": 3})
    four = [{"score": s} for s in (0.9, 0.8, 0.6, 0.5, 0.2)]  # four at 0.5 or more
    assert outcomes(Selector(), crowded, {"prediction": four}, {"prediction": four[1:]}) == ["upload", "DETECTION_COUNT"]
    empty = configuration({"strategy-name": "DETECTION_COUNT", "min-score": 0.5, "less-than": 1, "labels": [1]})
    sagemaker = {"prediction": [[0, 0.93, 0.1, 0.1, 0.4, 0.5], [1.0, 0.31, 0.5, 0.5, 0.7, 0.9]]}  # class 1 only at 0.31
    seen = {"prediction": [[0, 0.93, 0.1, 0.1, 0.4, 0.5], [1.0, 0.81, 0.5, 0.5, 0.7, 0.9]]}
    assert outcomes(Selector(), empty, {"prediction": sagemaker}, {"prediction": seen}) == ["upload", "DETECTION_COUNT"]


def test_novelty_uploads_what_is_far_from_the_last_uploads():
    target = configuration({"strategy-name": "NOVELTY", "threshold": 0.1, "window": 2})
    assert outcomes(
        Selector(),
        target,
        {"embedding": [1.0, 0.0]},  # the window is empty: novel
        {"embedding": [0.99, 0.1]},  # cosine distance to [1, 0] is 1 - 0.99/0.99504 = 0.00507: near
        {"embedding": [0.0, 3.0]},  # distance 1 from [1, 0] (length does not matter)
        {"embedding": [-1.0, 0.0]},  # distance 2 from [1, 0] and 1 from [0, 1]
        {"embedding": [1.0, 0.0]},  # [1, 0] left the 2-entry window: distance 2 and 1 again
    ) == ["upload", "NOVELTY", "upload", "upload", "upload"]


def test_near_duplicate_drops_repeats_within_the_window_of_seconds():
    clock = iter([0.0, 1.0, 2.0, 30.0, 61.5])
    selector = Selector(monotonic=lambda: next(clock))
    target = configuration({"strategy-name": "NEAR_DUPLICATE", "max-distance": 6, "window-seconds": 60})
    assert outcomes(
        selector,
        target,
        {"fingerprint": "00000000000000ff"},  # t=0: nothing to repeat
        {"fingerprint": "000000000000003f"},  # t=1: 2 bits from the first
        {"fingerprint": "ffffffffffffffff"},  # t=2: 56 bits from it
        {"fingerprint": "00000000000001ff"},  # t=30: 1 bit from the first (a drop is not remembered)
        {"fingerprint": "00000000000000FF"},  # t=61.5: the first upload is 61.5 s old, the third still holds 56 bits
    ) == ["upload", "NEAR_DUPLICATE", "upload", "NEAR_DUPLICATE", "upload"]


def test_a_list_uploads_an_uncertain_frame_once_and_names_the_strategy_that_dropped():
    target = configuration(
        [{"strategy-name": "LEAST_CONFIDENCE", "threshold": 0.6}, {"strategy-name": "NEAR_DUPLICATE", "max-distance": 4}]
    )
    uncertain, sure = (0.5, 0.3, 0.2), (0.9, 0.05, 0.05)
    assert outcomes(
        Selector(monotonic=lambda: 0.0),
        target,
        {"prediction": uncertain, "fingerprint": "0f0f0f0f0f0f0f0f"},
        {"prediction": uncertain, "fingerprint": "0f0f0f0f0f0f0f0e"},  # the same frame again
        {"prediction": sure, "fingerprint": "f0f0f0f0f0f0f0f0"},  # new, but the model is sure
        {"prediction": uncertain, "fingerprint": "f0f0f0f0f0f0f0f0"},  # new and uncertain: the sure one was not remembered
    ) == ["upload", "NEAR_DUPLICATE", "LEAST_CONFIDENCE", "upload"]


def test_a_budget_counts_samples_and_bytes_per_period_and_survives_a_new_selector(tmp_path):
    now = [3600.0 * 10 + 5]
    budget_file = tmp_path / "budgets.json"
    target = configuration({"strategy-name": "RANDOM_SAMPLING", "rate": 1.0}, {"max-samples": 3, "max-bytes": 250, "per": "hour"})
    first = Selector(budget_file, clock=lambda: now[0])
    assert outcomes(first, target, {"size": 100}, {"size": 100}, {"size": 100}) == ["upload", "upload", "budget"]  # 300 > 250 bytes
    first.save_budgets()  # what the worker taking a counted sample does before spooling it
    again = Selector(budget_file, clock=lambda: now[0])  # a restart
    assert outcomes(again, target, {"size": 50}, {"size": 1}) == ["upload", "budget"]  # the third sample; 3 per hour
    now[0] = 3600.0 * 11  # the next hour
    assert outcomes(again, target, {"size": 250}) == ["upload"]
    again.save_budgets()
    assert json.loads(budget_file.read_text()) == {"Cfg": {"per": "hour", "window": 11, "samples": 1, "bytes": 250}}


def test_an_unreadable_budget_file_starts_from_zero(tmp_path, caplog):
    budget_file = tmp_path / "budgets.json"
    budget_file.write_text('{"Cfg": {"per": "hour", "win')
    target = configuration({"strategy-name": "RANDOM_SAMPLING", "rate": 1.0}, {"max-samples": 1, "per": "day"})
    assert outcomes(Selector(budget_file), target, {}, {}) == ["upload", "budget"]
    assert "sampling budgets start from zero" in caplog.text


# -- wrong shapes: a fail status naming the field and the shape --------------------------------------


@pytest.mark.parametrize(
    ("strategy", "fields", "code", "reason"),
    [
        (
            {"strategy-name": "DETECTION_UNCERTAINTY", "low": 0.2, "high": 0.8},
            {"prediction": [{"label": "cat", "score": 0.5}, {"label": "dog"}]},
            "InvalidModelPrediction",
            f"ModelPrediction[1] has no score; ModelPrediction must be {DETECTION_SHAPE}",
        ),
        (
            {"strategy-name": "DETECTION_COUNT", "min-score": 0.5, "more-than": 1},
            {"prediction": [0.2, 0.8]},
            "InvalidModelPrediction",
            f"ModelPrediction[0] is not a detection object; ModelPrediction must be {DETECTION_SHAPE}",
        ),
        (
            {"strategy-name": "DETECTION_COUNT", "min-score": 0.5, "more-than": 1},
            {"prediction": {"prediction": [[0, 1.5, 0, 0, 1, 1]]}},
            "InvalidModelPrediction",
            "ModelPrediction.prediction[0] has score 1.5; a score is between 0 and 1",
        ),
        (
            {"strategy-name": "NOVELTY", "threshold": 0.2},
            {},
            "InvalidRequest",
            "NOVELTY needs an Embedding: a non-empty list of finite numbers",
        ),
        (
            {"strategy-name": "NOVELTY", "threshold": 0.2},
            {"embedding": [0.0, 0.0]},
            "InvalidRequest",
            "Embedding has no direction (all zeros) or is too large; NOVELTY compares directions",
        ),
        (
            {"strategy-name": "NEAR_DUPLICATE"},
            {},
            "InvalidRequest",
            "NEAR_DUPLICATE needs a Fingerprint: 16 hex digits (a 64-bit difference hash, as greengrass_machine_learning_sdk.fingerprint makes)",
        ),
    ],
)
def test_a_request_without_what_the_strategy_needs_is_refused_by_name(strategy, fields, code, reason):
    with pytest.raises(RequestProblem) as refused:
        decide(Selector(), configuration(strategy), **fields)
    assert (refused.value.code, refused.value.reason) == (code, reason)


def test_an_embedding_of_another_length_than_the_window_is_refused():
    selector, target = Selector(), configuration({"strategy-name": "NOVELTY", "threshold": 0.2})
    assert outcomes(selector, target, {"embedding": [1.0, 2.0, 3.0]}) == ["upload"]
    with pytest.raises(RequestProblem) as refused:
        decide(selector, target, embedding=[1.0, 2.0])
    assert refused.value.reason == (
        "Embedding has 2 numbers; configuration Cfg's NOVELTY window holds embeddings of 3 (send one model's embeddings to one configuration)"
    )


@pytest.mark.parametrize(
    ("strategy", "fields", "reason"),
    [
        (
            {"strategy-name": "NOVELTY", "threshold": 0.2},
            {"embedding": [1, "2"]},
            "Embedding[1] is '2'; Embedding must be a non-empty list of finite numbers",
        ),
        ({"strategy-name": "NOVELTY", "threshold": 0.2}, {"embedding": []}, "Embedding must be a non-empty list of finite numbers, got []"),
        ({"strategy-name": "NOVELTY", "threshold": 0.2}, {"embedding": [1.0, 10**400]}, "Embedding[1] is 1000000000"),
        ({"strategy-name": "NOVELTY", "threshold": 0.2}, {"embedding": [1.0, float("nan")]}, "Embedding[1] is nan; Embedding must be"),
        (
            {"strategy-name": "NOVELTY", "threshold": 0.2},
            {"embedding": [1.0] * 4097},
            "Embedding has 4097 numbers; NOVELTY takes at most 4096",
        ),
        (
            {"strategy-name": "NEAR_DUPLICATE"},
            {"fingerprint": "abc"},
            "Fingerprint must be 16 hex digits (a 64-bit difference hash, as greengrass_machine_learning_sdk.fingerprint makes), got 'abc'",
        ),
        ({"strategy-name": "NEAR_DUPLICATE"}, {"fingerprint": "0123456789abcdeg"}, "Fingerprint must be 16 hex digits"),
        ({"strategy-name": "NEAR_DUPLICATE"}, {"fingerprint": 12345}, "Fingerprint must be 16 hex digits"),
    ],
)
def test_embedding_and_fingerprint_of_the_wrong_shape_are_refused_by_the_configurations_that_use_them(strategy, fields, reason):
    with pytest.raises(RequestProblem) as refused:
        decide(Selector(), configuration(strategy), **fields)
    assert refused.value.code == "InvalidRequest"
    assert refused.value.reason.startswith(reason)


def test_a_v1_configuration_ignores_the_new_fields_as_v1_ignored_unknown_ones():
    document = messages.feedback_request("Cfg", b"x", [0.5, 0.5], None, "r-1")
    document.update({"Embedding": "n/a", "Fingerprint": ["not", "hex"]})
    request = messages.parse_feedback_request(json.dumps(document), "new")
    assert outcomes(Selector(), configuration({"strategy-name": "MARGIN", "threshold": 0.1}), {"prediction": request.prediction}) == [
        "upload"
    ]
    target = configuration({"strategy-name": "MARGIN", "threshold": 0.1})
    assert Selector().decide(target, Selector().prepare(target, request), 1, 0.0).selected


def test_detections_read_both_shapes():
    assert detections([{"label": "a", "score": 1}, {"score": 0.25, "box": [0, 0, 1, 1]}]) == Detections([1, 0.25], ["a", None])
    sagemaker = detections({"prediction": [[3.0, 0.5, 0, 0, 1, 1], [7, 1.0, 0, 0, 1, 1]]})
    assert isinstance(sagemaker, Detections) and (sagemaker.scores, sagemaker.labels) == ([0.5, 1.0], ["3", "7"])
    assert detections({"prediction": [[3, 0.5, 0, 0, 1]]}) == (
        "ModelPrediction.prediction[0] must be [class_id, score, xmin, ymin, xmax, ymax], got [3, 0.5, 0, 0, 1]"
    )


# -- configuration ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "problem"),
    [
        (
            [{"strategy-name": "LEAST_CONFIDENCE", "threshold": 0.5}, {"strategy-name": "NOVEL"}],
            "FeedbackConfigurationMap.Cfg.sampling-strategy[1].strategy-name: must be one of RANDOM_SAMPLING, LEAST_CONFIDENCE, "
            "MARGIN, ENTROPY, DETECTION_UNCERTAINTY, DETECTION_COUNT, NOVELTY, NEAR_DUPLICATE, got 'NOVEL'",
        ),
        ([], "FeedbackConfigurationMap.Cfg.sampling-strategy: a list of strategies needs at least one strategy object"),
        (
            {"strategy-name": "DETECTION_UNCERTAINTY", "low": 0.8, "high": 0.2},
            "FeedbackConfigurationMap.Cfg.sampling-strategy: low (0.8) must not be above high (0.2)",
        ),
        (
            {"strategy-name": "DETECTION_COUNT", "min-score": 0.5},
            "FeedbackConfigurationMap.Cfg.sampling-strategy: DETECTION_COUNT needs more-than, less-than or both (whole numbers)",
        ),
        (
            {"strategy-name": "NOVELTY", "threshold": 2.5},
            "FeedbackConfigurationMap.Cfg.sampling-strategy.threshold: NOVELTY needs a threshold between 0.0 and 2.0 (a cosine distance), got 2.5",
        ),
        (
            {"strategy-name": "NOVELTY", "threshold": 0.2, "window": 20000},
            "FeedbackConfigurationMap.Cfg.sampling-strategy.window: must be a whole number from 1 to 10000, got 20000",
        ),
        (
            {"strategy-name": "NEAR_DUPLICATE", "max-distance": 65},
            "FeedbackConfigurationMap.Cfg.sampling-strategy.max-distance: must be a whole number from 0 to 64, got 65",
        ),
        (
            {"strategy-name": "NEAR_DUPLICATE", "threshold": 3},
            "FeedbackConfigurationMap.Cfg.sampling-strategy: unknown key(s) threshold (NEAR_DUPLICATE takes max-distance, window-seconds)",
        ),
    ],
)
def test_a_strategy_of_the_wrong_shape_is_rejected_at_deployment_by_key(strategy, problem):
    with pytest.raises(ConfigError) as rejected:
        configuration(strategy)
    assert problem in rejected.value.problems


@pytest.mark.parametrize(
    ("budget", "problem"),
    [
        ({"max-samples": 10}, "FeedbackConfigurationMap.Cfg.sampling-budget.per: must be one of minute, hour, day, got None"),
        (
            {"per": "week", "max-samples": 1},
            "FeedbackConfigurationMap.Cfg.sampling-budget.per: must be one of minute, hour, day, got 'week'",
        ),
        (
            {"per": "hour"},
            'FeedbackConfigurationMap.Cfg.sampling-budget: needs max-samples, max-bytes or both, e.g. {"max-samples": 100, "per": "hour"}',
        ),
        (
            {"per": "hour", "max-samples": -1},
            "FeedbackConfigurationMap.Cfg.sampling-budget.max-samples: must be a whole number from 1 to 1000000000, got -1",
        ),
    ],
)
def test_a_budget_of_the_wrong_shape_is_rejected_at_deployment_by_key(budget, problem):
    with pytest.raises(ConfigError) as rejected:
        configuration({"strategy-name": "RANDOM_SAMPLING", "rate": 1}, budget)
    assert problem in rejected.value.problems


def test_only_configurations_beyond_v1_are_marked_so():
    assert configuration({"strategy-name": "MARGIN", "threshold": 0.1}).v1
    assert configuration(json.dumps({"strategy-name": "ENTROPY", "threshold": 0.1})).v1
    assert not configuration([{"strategy-name": "MARGIN", "threshold": 0.1}]).v1
    assert not configuration({"strategy-name": "NEAR_DUPLICATE"}).v1
    assert not configuration({"strategy-name": "MARGIN", "threshold": 0.1}, {"max-samples": 1, "per": "day"}).v1


# -- through the feedback pipeline: statuses and metrics ---------------------------------------------


def test_drops_beyond_v1_carry_their_reason_and_a_budget_drop_its_metric():
    raw = {
        "FeedbackConfigurationMap": {
            "Dup": {"s3-bucket-name": "bkt", "content-type": "image/jpeg", "sampling-strategy": {"strategy-name": "NEAR_DUPLICATE"}},
            "Capped": {"s3-bucket-name": "bkt", "content-type": "image/jpeg", "sampling-budget": {"max-samples": 1, "per": "minute"}},
            "V1": {
                "s3-bucket-name": "bkt",
                "content-type": "image/jpeg",
                "sampling-strategy": {"strategy-name": "RANDOM_SAMPLING", "rate": 0},
            },
        }
    }
    uploader, outbox, ids = FakeUploader(), RecordingOutbox(), (f"uuid-{n}" for n in itertools.count(1))
    service = FeedbackService(
        parse_config(raw), lambda c: uploader, outbox, clock=lambda: MOMENT, draw=lambda: 0.5, new_id=lambda: next(ids)
    )
    for config_id, request_id in (("Dup", "d1"), ("Dup", "d2"), ("Capped", "c1"), ("Capped", "c2"), ("V1", "v1")):
        document = messages.feedback_request(config_id, b"frame", [0.5], None, request_id, fingerprint=0xF0)
        service.process(json.dumps(document), service.config, uploader)
    statuses = [m for kind, m in outbox.sent if kind == "status"]
    assert [s["response"] for s in statuses if s["response"]["status"] != "success"] == [
        {"status": "sample_dropped_by_strategy", "reason": "NEAR_DUPLICATE"},
        {"status": "sample_dropped_by_strategy", "reason": "budget"},
        {"status": "sample_dropped_by_strategy"},  # v1's configuration: v1's message, exactly
    ]
    assert [s["id"] for s in statuses if s["response"]["status"] == "success"] == ["d1", "c1"]
    assert outbox.metric_names().count("SampleDroppedByBudget") == 1
    assert outbox.metric_names().count("SampleNotUsed") == 3
    assert len(uploader.puts) == 2


# -- what the review found ---------------------------------------------------------------------------


def test_a_sample_refused_after_its_selection_is_neither_remembered_nor_counted():
    target = configuration({"strategy-name": "NEAR_DUPLICATE"}, {"max-samples": 1, "per": "day"})
    selector = Selector()

    def too_large() -> None:
        raise RequestProblem("InvalidModelPrediction", "the prediction message would be too large", "r")

    request = FeedbackRequest("Cfg", b"x", None, [0.5], fingerprint="00000000000000ab")
    with pytest.raises(RequestProblem):
        selector.decide(target, selector.prepare(target, request), 1, 0.0, too_large)
    assert outcomes(selector, target, {"fingerprint": "00000000000000ab"}, {"fingerprint": "ffff0000ffff0000"}) == ["upload", "budget"]


def test_a_window_set_by_another_request_since_prepare_is_checked_again():
    selector, target = Selector(), configuration({"strategy-name": "NOVELTY", "threshold": 0.2})
    two = selector.prepare(target, FeedbackRequest("Cfg", b"x", None, [], embedding=[1.0, 0.0]))
    three = selector.prepare(target, FeedbackRequest("Cfg", b"x", None, [], embedding=[1.0, 0.0, 0.0]))
    assert selector.decide(target, two, 1, 0.0).selected
    with pytest.raises(RequestProblem) as refused:
        selector.decide(target, three, 1, 0.0)
    assert refused.value.reason.startswith("Embedding has 3 numbers; configuration Cfg's NOVELTY window holds embeddings of 2")


def test_a_budget_file_that_parses_but_holds_nonsense_starts_that_budget_from_zero(tmp_path, caplog):
    budget_file = tmp_path / "budgets.json"
    budget_file.write_text(json.dumps({"Cfg": {"per": "hour", "window": 1, "samples": None, "bytes": 0}}))
    target = configuration({"strategy-name": "RANDOM_SAMPLING", "rate": 1.0}, {"max-samples": 1, "per": "hour"})
    assert outcomes(Selector(budget_file), target, {}, {}) == ["upload", "budget"]
    assert "sampling budgets: 1 malformed entries" in caplog.text


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            {"sampling-strategy": [{"strategy-name": "NEAR_DUPLICATE"}, {"strategy-name": "NEAR_DUPLICATE", "max-distance": 0}]},
            "FeedbackConfigurationMap.Cfg.sampling-strategy: NEAR_DUPLICATE appears more than once; a list names each strategy once",
        ),
        (
            {
                "sampling-strategy": [
                    {"strategy-name": "ENTROPY", "threshold": 1},
                    {"strategy-name": "DETECTION_COUNT", "min-score": 0.5, "less-than": 1},
                ]
            },
            "FeedbackConfigurationMap.Cfg.sampling-strategy: ENTROPY, DETECTION_COUNT need different predictions (probabilities and "
            "detections); no request could satisfy both",
        ),
        (
            {"sampling-strategy": {"strategy-name": "DETECTION_COUNT", "min-score": 0.5, "less-than": 0}},
            "FeedbackConfigurationMap.Cfg.sampling-strategy.less-than: must be a whole number from 1 to 1000000, got 0",
        ),
        (
            {"sampling-budget": {"max-samples": 0, "per": "day"}},
            "FeedbackConfigurationMap.Cfg.sampling-budget.max-samples: must be a whole number from 1 to 1000000000, got 0",
        ),
    ],
)
def test_configurations_no_request_could_meet_are_rejected(raw, problem):
    body = {"s3-bucket-name": "bkt", "content-type": "image/jpeg", **raw}
    with pytest.raises(ConfigError) as rejected:
        parse_config({"FeedbackConfigurationMap": {"Cfg": body}})
    assert problem in rejected.value.problems


def test_an_inference_service_cannot_feed_a_configuration_that_needs_embeddings_or_fingerprints():
    raw = {
        "FeedbackConfigurationMap": {
            "Novel": {
                "s3-bucket-name": "bkt",
                "content-type": "image/jpeg",
                "sampling-strategy": {"strategy-name": "NOVELTY", "threshold": 0.2},
            }
        },
        "InferenceServices": {"model": {"Backend": "http", "Url": "http://127.0.0.1:8080", "MLFeedbackConnectorConfigId": "Novel"}},
    }
    with pytest.raises(ConfigError) as rejected:
        parse_config(raw)
    assert rejected.value.problems == [
        "InferenceServices.model.MLFeedbackConnectorConfigId: Novel uses NOVELTY, which needs an Embedding or a Fingerprint that "
        "inference results do not carry"
    ]
