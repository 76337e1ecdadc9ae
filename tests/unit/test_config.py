"""Configuration: v1 forms accepted unchanged, every invalid value named with its key."""

from __future__ import annotations

import json

import pytest

from ml_feedback.config import DEFAULT_REQUEST_LIMIT, ConfigError, parse_config
from ml_feedback.sampling import ENTROPY, LEAST_CONFIDENCE, RANDOM_SAMPLING, Strategy
from support.seeds import SEED_MAP_STRING


def problems_of(raw) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(raw)
    return raised.value.problems


def test_the_seed_map_string_and_request_limit_string_are_accepted_as_is():
    config = parse_config({"FeedbackConfigurationMap": SEED_MAP_STRING, "RequestLimit": "10"})
    assert config.request_limit == 10
    random_config = config.feedback["RandomSamplingConfiguration"]
    assert (random_config.bucket, random_config.content_type, random_config.file_ext) == (
        "my-aws-bucket-random-sampling",
        "image/png",
        "png",
    )
    assert random_config.strategy == Strategy(RANDOM_SAMPLING, rate=0.5)
    assert config.feedback["LeastConfidenceConfiguration"].strategy == Strategy(LEAST_CONFIDENCE, threshold=0.4)


def test_the_map_as_an_object_and_numbers_in_every_form():
    raw = {
        "FeedbackConfigurationMap": {
            "ConfigID4": {
                "s3-bucket-name": "b-entropy",
                "content-type": "image/png",
                "sampling-strategy": {"strategy-name": "ENTROPY", "threshold": 2},
            },
            "ConfigID5": {"s3-bucket-name": "b-all", "s3-prefix": "DeviceA", "content-type": "application/json"},
        },
        "RequestLimit": 25.0,
    }
    config = parse_config(raw)
    assert config.request_limit == 25
    assert config.feedback["ConfigID4"].strategy == Strategy(ENTROPY, threshold=2.0)
    assert config.feedback["ConfigID5"].strategy is None
    assert config.feedback["ConfigID5"].object_key("u-1") == "DeviceA/u-1"
    assert parse_config({"RequestLimit": "7"}).request_limit == 7
    assert parse_config({"FeedbackConfigurationMap": json.dumps(raw["FeedbackConfigurationMap"])}).feedback == config.feedback


def test_object_keys():
    config = parse_config(
        {"FeedbackConfigurationMap": {"a1": {"s3-bucket-name": "bkt", "content-type": "x/y", "s3-prefix": "p/q/", "file-ext": ".jpg"}}}
    )
    assert config.feedback["a1"].object_key("U") == "p/q/U.jpg"


@pytest.mark.parametrize(
    ("request_limit", "expected"),
    [(None, DEFAULT_REQUEST_LIMIT), ("", DEFAULT_REQUEST_LIMIT), ("0", 0), (0, 0), ("999", 999), (3.0, 3)],
)
def test_request_limit_forms(request_limit, expected):
    raw = {} if request_limit is None else {"RequestLimit": request_limit}
    assert parse_config(raw).request_limit == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"RequestLimit": "1000"}, "RequestLimit: must match ^$|^[0-9]{1,3}$ (0 to 999), got '1000'"),
        ({"RequestLimit": -1}, "RequestLimit: must be a whole number from 0 to 999, got -1"),
        ({"RequestLimit": 2.5}, "RequestLimit: must be a whole number from 0 to 999, got 2.5"),
        ({"FeedbackConfigurationMap": "{not json"}, "FeedbackConfigurationMap: not a well-formed JSON string"),
        ({"FeedbackConfigurationMap": ["a"]}, "FeedbackConfigurationMap: must be an object or a JSON string holding one"),
        (
            {"FeedbackConfigurationMap": {"x": {"s3-bucket-name": "bkt", "content-type": "a/b"}}},
            "FeedbackConfigurationMap.x: the id must match",
        ),
        ({"FeedbackConfigurationMap": {"cfg": {"content-type": "a/b"}}}, "FeedbackConfigurationMap.cfg.s3-bucket-name: required"),
        (
            {"FeedbackConfigurationMap": {"cfg": {"s3-bucket-name": "My_Bucket", "content-type": "a/b"}}},
            "FeedbackConfigurationMap.cfg.s3-bucket-name: required, must match",
        ),
        ({"FeedbackConfigurationMap": {"cfg": {"s3-bucket-name": "bkt"}}}, "FeedbackConfigurationMap.cfg.content-type: required"),
        (
            {"FeedbackConfigurationMap": {"cfg": {"s3-bucket-name": "bkt", "content-type": "a/b", "sampling-stratgy": {}}}},
            "FeedbackConfigurationMap.cfg: unknown key(s) sampling-stratgy",
        ),
        (
            {
                "FeedbackConfigurationMap": {
                    "cfg": {"s3-bucket-name": "bkt", "content-type": "a/b", "sampling-strategy": {"strategy-name": "RANDOM"}}
                }
            },
            "FeedbackConfigurationMap.cfg.sampling-strategy.strategy-name: must be one of",
        ),
        (
            {
                "FeedbackConfigurationMap": {
                    "cfg": {
                        "s3-bucket-name": "bkt",
                        "content-type": "a/b",
                        "sampling-strategy": {"strategy-name": "RANDOM_SAMPLING", "rate": 1.5},
                    }
                }
            },
            "FeedbackConfigurationMap.cfg.sampling-strategy.rate: RANDOM_SAMPLING needs a rate between 0.0 and 1.0, got 1.5",
        ),
        (
            {
                "FeedbackConfigurationMap": {
                    "cfg": {"s3-bucket-name": "bkt", "content-type": "a/b", "sampling-strategy": {"strategy-name": "MARGIN"}}
                }
            },
            "FeedbackConfigurationMap.cfg.sampling-strategy.threshold: MARGIN needs a threshold between 0.0 and 1.0, got None",
        ),
        (
            {
                "FeedbackConfigurationMap": {
                    "cfg": {
                        "s3-bucket-name": "bkt",
                        "content-type": "a/b",
                        "sampling-strategy": {"strategy-name": "ENTROPY", "threshold": -1},
                    }
                }
            },
            "FeedbackConfigurationMap.cfg.sampling-strategy.threshold: ENTROPY needs a threshold of 0.0 or more, got -1",
        ),
        ({"StatusTopic": "feedback/+/status"}, "StatusTopic: a topic published to cannot contain +, # or *"),
        ({"S3EndpointUrl": "localhost:9000"}, "S3EndpointUrl: must be an http:// or https:// URL"),
        ({"ModelInputDirectories": ["relative/dir"]}, "ModelInputDirectories: must be a list of absolute paths"),
        ({"UploadWorkers": 0}, "UploadWorkers: must be a whole number from 1 to 64"),
    ],
)
def test_every_invalid_value_is_named_with_its_key(raw, problem):
    assert any(p.startswith(problem) for p in problems_of(raw)), problems_of(raw)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"UploadWorkers": "inf"}, "UploadWorkers: must be a whole number from 1 to 64, got 'inf'"),
        ({"RequestLimit": float("nan")}, "RequestLimit: must be a whole number from 0 to 999, got nan"),
        ({"RequestLimit": 10**400}, "RequestLimit: must be a whole number from 0 to 999, got 1000"),
        (
            {
                "FeedbackConfigurationMap": '{"cc": {"s3-bucket-name": "bkt", "content-type": "a/b", '
                '"sampling-strategy": {"strategy-name": "MARGIN", "threshold": 1' + "0" * 400 + "}}}"
            },
            "FeedbackConfigurationMap.cc.sampling-strategy.threshold: MARGIN needs a threshold between 0.0 and 1.0, got 1000",
        ),
        (
            {
                "FeedbackConfigurationMap": '{"cc": {"s3-bucket-name": "bkt", "content-type": "a/b", '
                '"sampling-strategy": {"strategy-name": "ENTROPY", "threshold": NaN}}}'
            },
            "FeedbackConfigurationMap.cc.sampling-strategy.threshold: ENTROPY needs a threshold of 0.0 or more, got nan",
        ),
        (
            {"InferenceServices": {"svc": {"Backend": "python", "Entrypoint": "m:f", "MaxConcurrency": "inf"}}},
            "InferenceServices.svc.MaxConcurrency: must be a whole number from 1 to 64, got 'inf'",
        ),
        (
            {"InferenceServices": {"svc": {"Backend": "python", "Entrypoint": "m:f", "QueueSize": "nan"}}},
            "InferenceServices.svc.QueueSize: must be a whole number from 0 to 1000, got 'nan'",
        ),
        (
            {"InferenceServices": {"svc": {"Backend": "sagemaker", "EndpointName": "ep", "RequestTTLSeconds": 1e999}}},
            "InferenceServices.svc.RequestTTLSeconds: must be a whole number from 60 to 21600, got inf",
        ),
        (
            {"InferenceServices": {"svc": {"Backend": "python", "Entrypoint": "m:f", "TimeoutSeconds": True}}},
            "InferenceServices.svc.TimeoutSeconds: must be a number of seconds above 0 and at most 3600, got True",
        ),
    ],
)
def test_non_finite_and_huge_numbers_are_problems_not_crashes(raw, problem):
    assert any(p.startswith(problem) for p in problems_of(raw)), problems_of(raw)


def test_all_problems_are_reported_together():
    problems = problems_of({"RequestLimit": "abc", "FeedbackConfigurationMap": {"c1": {"s3-bucket-name": "x"}}})
    assert len(problems) == 3  # RequestLimit, the bucket name, the missing content-type


def test_the_outbox_keys_default_to_the_spec_and_take_the_nucleus_s_doubles():
    from ml_feedback.config import DeliveryConfig

    assert parse_config({}).delivery == DeliveryConfig("spool", 268435456, "RejectNewest", 30.0, 604800, 16777216)
    delivery = parse_config(
        {
            "SpoolDirectory": "/var/lib/samples",
            "SpoolMaxBytes": 1048576.0,
            "SpoolFullPolicy": "DropOldest",
            "MaxRetryIntervalSeconds": "2.5",
            "SampleTimeToLiveSeconds": 0,
            "MultipartThresholdBytes": 5242880,
        }
    ).delivery
    assert delivery == DeliveryConfig("/var/lib/samples", 1048576, "DropOldest", 2.5, 0, 5242880)
    assert parse_config({"SpoolMaxBytes": 0}).delivery.spooled is False


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("SpoolDirectory", "", "SpoolDirectory: must be a folder path (relative to the work folder, or absolute), got ''"),
        ("SpoolMaxBytes", -1, "SpoolMaxBytes: must be a whole number of bytes, 0 or more (0 turns the spool off), got -1"),
        ("SpoolMaxBytes", "lots", "SpoolMaxBytes: must be a whole number of bytes, 0 or more (0 turns the spool off), got 'lots'"),
        ("SpoolFullPolicy", "DropNewest", "SpoolFullPolicy: must be one of RejectNewest, DropOldest, got 'DropNewest'"),
        ("MaxRetryIntervalSeconds", 0.5, "MaxRetryIntervalSeconds: must be a number of seconds from 1 to 3600, got 0.5"),
        ("MaxRetryIntervalSeconds", float("nan"), "MaxRetryIntervalSeconds: must be a number of seconds from 1 to 3600, got nan"),
        ("SampleTimeToLiveSeconds", 1.5, "SampleTimeToLiveSeconds: must be a whole number of seconds, 0 or more (0: never), got 1.5"),
        (
            "MultipartThresholdBytes",
            1048576,
            "MultipartThresholdBytes: must be a whole number of bytes, 5242880 (5 MiB) or more, got 1048576",
        ),
    ],
)
def test_a_bad_outbox_value_is_named_with_its_key(key, value, problem):
    assert problems_of({key: value}) == [problem]


@pytest.mark.parametrize(("value", "expected"), [(True, True), (False, False), ("false", False), ("True", True)])
def test_publish_metrics_is_a_switch_on_by_default(value, expected):
    assert parse_config({}).publish_metrics is True
    assert parse_config({"PublishMetrics": value}).publish_metrics is expected


def test_a_publish_metrics_that_is_not_a_switch_is_named():
    assert problems_of({"PublishMetrics": "no"}) == ["PublishMetrics: must be true or false, got 'no'"]


@pytest.mark.parametrize(("value", "expected"), [(True, True), (False, False), ("false", False), ("True", True)])
def test_local_status_and_prediction_is_a_switch_on_by_default(value, expected):
    assert parse_config({}).local_status_and_prediction is True
    assert parse_config({"LocalStatusAndPrediction": value}).local_status_and_prediction is expected


def test_a_local_status_and_prediction_that_is_not_a_switch_is_named():
    assert problems_of({"LocalStatusAndPrediction": 0}) == ["LocalStatusAndPrediction: must be true or false, got 0"]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"RequestLimt": "5"}, "RequestLimt: unknown key; did you mean RequestLimit?"),
        ({"UploadWorker": 8}, "UploadWorker: unknown key; did you mean UploadWorkers?"),
        ({"spoolmaxbytes": 0}, "spoolmaxbytes: unknown key; did you mean SpoolMaxBytes?"),
    ],
)
def test_an_unknown_top_level_key_is_a_problem_naming_the_key_it_most_likely_meant(raw, problem):
    assert problems_of(raw) == [problem]


def test_an_unknown_key_like_no_known_one_lists_the_known_keys():
    [problem] = problems_of({"Colour": "blue"})
    assert problem.startswith("Colour: unknown key; the known keys are FeedbackConfigurationMap, RequestLimit, ")
    assert problem.endswith(", MetricsTopic, accessControl")


def test_the_recipe_defaults_use_only_known_keys():
    from support.feedback import recipe_defaults

    assert parse_config(recipe_defaults()) == parse_config({})
