"""`mlfeedback convert-v1` on seed 001's create-connector-definition example."""

from __future__ import annotations

import copy
import json

import pytest

from greengrass_local.tools.convert import ConversionError, convert
from support.cli import run_cli
from support.seeds import CREATE_CONNECTOR_DEFINITION, SEED_MAP_STRING

V1_PARAMETERS = {"FeedbackConfigurationMap": SEED_MAP_STRING, "RequestLimit": "10"}


def with_other_connectors() -> dict:
    definition = copy.deepcopy(CREATE_CONNECTOR_DEFINITION)
    definition["Connectors"] += [
        {
            "Id": "Classifier",
            "ConnectorArn": "arn:aws:greengrass:us-west-2::/connectors/ImageClassificationAarch64/versions/2",
            "Parameters": {},
        },
        {"Id": "Texts", "ConnectorArn": "arn:aws:greengrass:us-west-2::/connectors/TwilioNotifications/versions/5"},
    ]
    return definition


def test_the_seed_definition_converts_with_its_parameters_unchanged():
    conversion = convert(CREATE_CONNECTOR_DEFINITION)
    assert conversion.update_config() == {"community.greengrass.MLFeedback": {"MERGE": V1_PARAMETERS}}
    assert conversion.skipped == []
    entry = conversion.deployment_components()["community.greengrass.MLFeedback"]
    assert entry["componentVersion"] == "1.0.0"
    assert json.loads(entry["configurationUpdate"]["merge"]) == V1_PARAMETERS


@pytest.mark.parametrize("wrap", [lambda d: d, lambda d: {"InitialVersion": d}, lambda d: {"Definition": d}, lambda d: d["Connectors"]])
def test_every_shape_the_aws_cli_uses_is_read(wrap):
    assert convert(wrap(copy.deepcopy(CREATE_CONNECTOR_DEFINITION))).merge == V1_PARAMETERS


def test_other_connectors_are_named_with_the_reason():
    skipped = convert(with_other_connectors()).skipped
    assert skipped == [
        "Classifier (arn:aws:greengrass:us-west-2::/connectors/ImageClassificationAarch64/versions/2): not converted: "
        "runs a SageMaker Neo model on the core; use an inference backend (InferenceServices) for the model instead",
        "Texts (arn:aws:greengrass:us-west-2::/connectors/TwilioNotifications/versions/5): not converted: "
        "community.greengrass.MLFeedback replaces only the ML Feedback connector",
    ]


def test_a_definition_without_ml_feedback_or_with_bad_parameters_is_an_error():
    with pytest.raises(ConversionError, match="no ML Feedback connector"):
        convert({"Connectors": [{"Id": "x", "ConnectorArn": "arn:aws:greengrass:r::/connectors/TwilioNotifications/versions/5"}]})
    bad = copy.deepcopy(CREATE_CONNECTOR_DEFINITION)
    bad["Connectors"][0]["Parameters"]["RequestLimit"] = "1000"
    with pytest.raises(ConversionError, match=r"MyMLFeedbackConnector: the connector's parameters are not valid: RequestLimit: must match"):
        convert(bad)


def test_the_command_writes_update_config_and_names_what_it_skipped(tmp_path):
    source = tmp_path / "definition.json"
    source.write_text(json.dumps(with_other_connectors()))
    result = run_cli("convert-v1", str(source), "-o", str(tmp_path / "update.json"))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "update.json").read_text()) == {"community.greengrass.MLFeedback": {"MERGE": V1_PARAMETERS}}
    assert [line.split(" (")[0] for line in result.stderr.splitlines()] == ["mlfeedback: Classifier", "mlfeedback: Texts"]
    deployment = run_cli("convert-v1", "--deployment", str(source))
    assert json.loads(json.loads(deployment.stdout)["community.greengrass.MLFeedback"]["configurationUpdate"]["merge"]) == V1_PARAMETERS
    missing = run_cli("convert-v1", str(tmp_path / "nope.json"))
    assert (missing.returncode, missing.stderr.strip()) == (
        2,
        f"mlfeedback: cannot read {tmp_path / 'nope.json'}: No such file or directory",
    )


def test_the_examples_connector_definition_is_seed_001s_and_converts_to_the_examples_parameters():
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples" / "feedback-client"
    definition = json.loads((examples / "v1-connector-definition.json").read_text())
    assert definition == CREATE_CONNECTOR_DEFINITION
    assert convert(definition).update_config() == json.loads((examples / "v1-connector-parameters.json").read_text())


def test_a_definition_using_the_selection_beyond_v1_converts_and_is_checked_by_the_same_rules():
    definition = copy.deepcopy(CREATE_CONNECTOR_DEFINITION)
    feedback_map = json.loads(SEED_MAP_STRING)
    feedback_map["LeastConfidenceConfiguration"]["sampling-strategy"] = [
        feedback_map["LeastConfidenceConfiguration"]["sampling-strategy"],
        {"strategy-name": "NEAR_DUPLICATE", "max-distance": 4},
    ]
    feedback_map["LeastConfidenceConfiguration"]["sampling-budget"] = {"max-samples": 10, "per": "hour"}
    definition["Connectors"][0]["Parameters"]["FeedbackConfigurationMap"] = json.dumps(feedback_map)
    converted = convert(definition).update_config()["community.greengrass.MLFeedback"]["MERGE"]
    assert json.loads(converted["FeedbackConfigurationMap"]) == feedback_map

    feedback_map["LeastConfidenceConfiguration"]["sampling-budget"] = {"max-samples": 10, "per": "week"}
    definition["Connectors"][0]["Parameters"]["FeedbackConfigurationMap"] = json.dumps(feedback_map)
    with pytest.raises(ConversionError) as refused:
        convert(definition)
    assert str(refused.value) == (
        "MyMLFeedbackConnector: the connector's parameters are not valid: "
        "FeedbackConfigurationMap.LeastConfidenceConfiguration.sampling-budget.per: must be one of minute, hour, day, got 'week'"
    )
