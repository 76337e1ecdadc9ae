"""`mlfeedback recipe check`: each problem named by file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from greengrass_local.tools.recipecheck import check_document, check_file, recipe_files
from support.cli import run_cli

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "community.greengrass.MLFeedback-1.0.0.yaml"


def component_recipe() -> dict:
    return yaml.safe_load(RECIPE.read_text())


def problems(document: dict) -> list[str]:
    return [str(p) for p in check_document(document, "r.yaml")]


def test_the_project_recipes_and_the_examples_pass():
    files = recipe_files([REPO / "recipes", *sorted(REPO.glob("examples/*/recipes"))])
    names = {f.name for f in files}
    assert {
        "community.greengrass.MLFeedback-1.0.0.yaml",
        "com.example.FeedbackClient-1.0.0.yaml",
        "com.example.InferenceClient-1.0.0.yaml",
    } <= names
    assert [str(p) for f in files for p in check_file(f)] == []


def test_a_misspelt_lifecycle_step_is_named():
    recipe = component_recipe()
    recipe["Manifests"][0]["Lifecycle"]["Runn"] = "python3 app.py"
    assert problems(recipe) == [
        "r.yaml: Manifests.0.Lifecycle.Runn: unknown lifecycle step (steps: Setenv, Bootstrap, Install, Startup, Run, Shutdown, Recover, Uninstall)"
    ]


def test_a_misspelt_step_key_and_startup_with_run():
    recipe = component_recipe()
    lifecycle = recipe["Manifests"][0]["Lifecycle"]
    lifecycle["Install"] = {"Scirpt": "pip install ."}
    lifecycle["Run"] = "python3 app.py"
    found = problems(recipe)
    assert (
        "r.yaml: Manifests.0.Lifecycle.Install.Scirpt: unknown step key (keys: Script, RequiresPrivilege, Skipif, Timeout, Setenv)" in found
    )
    assert "r.yaml: Manifests.0.Lifecycle.Install: a step written as a mapping needs Script" in found
    assert "r.yaml: Manifests.0.Lifecycle: Startup and Run together: the nucleus ignores Run when Startup exists" in found


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda ac: ac.update({"aws.greengrass.ipc.pubsubb": {"p": {"operations": ["*"], "resources": ["*"]}}}),
            "r.yaml: ComponentConfiguration.DefaultConfiguration.accessControl.aws.greengrass.ipc.pubsubb: not an IPC service the nucleus authorizes",
        ),
        (
            lambda ac: ac["aws.greengrass.ipc.pubsub"]["community.greengrass.MLFeedback:pubsub:1"].pop("operations"),
            "r.yaml: ComponentConfiguration.DefaultConfiguration.accessControl.aws.greengrass.ipc.pubsub.community.greengrass.MLFeedback:pubsub:1.operations: a non-empty list is required",
        ),
        (
            lambda ac: ac["aws.greengrass.ipc.mqttproxy"]["community.greengrass.MLFeedback:mqttproxy:1"].update(
                operations=["aws.greengrass#PublishToTopic"]
            ),
            "r.yaml: ComponentConfiguration.DefaultConfiguration.accessControl.aws.greengrass.ipc.mqttproxy.community.greengrass.MLFeedback:mqttproxy:1.operations.0: 'aws.greengrass#PublishToTopic' is not an operation of this service",
        ),
        (
            lambda ac: ac["aws.greengrass.ipc.pubsub"]["community.greengrass.MLFeedback:pubsub:2"]["resources"].append("ml/what?"),
            "r.yaml: ComponentConfiguration.DefaultConfiguration.accessControl.aws.greengrass.ipc.pubsub.community.greengrass.MLFeedback:pubsub:2.resources.4: Resource contains invalid character: '?'",
        ),
        (
            lambda ac: ac["aws.greengrass.ipc.pubsub"].update({"p3": ["aws.greengrass#PublishToTopic"]}),
            "r.yaml: ComponentConfiguration.DefaultConfiguration.accessControl.aws.greengrass.ipc.pubsub.p3: a policy must be an object with operations and resources",
        ),
    ],
)
def test_a_malformed_access_control_is_named(mutate, expected):
    recipe = component_recipe()
    mutate(recipe["ComponentConfiguration"]["DefaultConfiguration"]["accessControl"])
    found = problems(recipe)
    assert any(p.startswith(expected) for p in found), found


def test_an_invalid_feedback_configuration_map_is_named():
    recipe = component_recipe()
    defaults = recipe["ComponentConfiguration"]["DefaultConfiguration"]
    defaults["FeedbackConfigurationMap"] = {"Cam1": {"s3-bucket-name": "Bad_Bucket", "content-type": "image/png"}}
    defaults["RequestLimit"] = "1000"
    assert problems(recipe) == [
        "r.yaml: ComponentConfiguration.DefaultConfiguration.FeedbackConfigurationMap.Cam1.s3-bucket-name: required, must match ^[a-z0-9\\.\\-]{3,63}$, got 'Bad_Bucket'",
        "r.yaml: ComponentConfiguration.DefaultConfiguration.RequestLimit: must match ^$|^[0-9]{1,3}$ (0 to 999), got '1000'",
    ]


def test_schema_errors_use_the_recipes_own_spelling():
    recipe = component_recipe()
    recipe["RecipeFormatVersion"] = "2020-01-25-beta"
    recipe["Manifests"][0]["Artifacts"][0]["Unarchive"] = "TAR"
    found = problems(recipe)
    assert any(p.startswith("r.yaml: RecipeFormatVersion: schema: '2020-01-25-beta' is not one of ['2020-01-25']") for p in found), found
    assert any(p.startswith("r.yaml: Manifests.0.Artifacts.0.Unarchive: schema: 'TAR' does not match") for p in found), found


def test_the_command_prints_problems_and_exits_non_zero(tmp_path):
    bad = tmp_path / "bad.yaml"
    recipe = component_recipe()
    recipe["Manifests"][0]["Lifecycle"]["Runn"] = "x"
    bad.write_text(yaml.safe_dump(recipe))
    result = run_cli("recipe", "check", str(bad))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{bad}: Manifests.0.Lifecycle.Runn: unknown lifecycle step (steps: Setenv, Bootstrap, Install, Startup, Run, Shutdown, Recover, Uninstall)"
    ]
    assert result.stderr.strip() == "mlfeedback: 1 problem(s) in 1 of 1 recipe(s)"
    ok = run_cli("recipe", "check", str(RECIPE))
    assert (ok.returncode, ok.stdout.strip()) == (0, "1 recipe(s) OK")


def test_the_selection_beyond_v1_is_checked_in_a_recipe():
    recipe = component_recipe()
    defaults = recipe["ComponentConfiguration"]["DefaultConfiguration"]
    defaults["FeedbackConfigurationMap"] = {
        "Detector": {
            "s3-bucket-name": "frames",
            "content-type": "image/jpeg",
            "sampling-strategy": [{"strategy-name": "DETECTION_UNCERTAINTY", "low": 0.3, "high": 0.7}, {"strategy-name": "NEAR_DUPLICATE"}],
            "sampling-budget": {"max-bytes": 50000000, "per": "day"},
        }
    }
    assert problems(recipe) == []
    defaults["FeedbackConfigurationMap"]["Detector"]["sampling-strategy"][1] = {"strategy-name": "NOVELTY", "treshold": 0.2}
    assert problems(recipe) == [
        "r.yaml: ComponentConfiguration.DefaultConfiguration.FeedbackConfigurationMap.Detector.sampling-strategy[1]: "
        "unknown key(s) treshold (NOVELTY takes threshold, window)",
        "r.yaml: ComponentConfiguration.DefaultConfiguration.FeedbackConfigurationMap.Detector.sampling-strategy[1].threshold: "
        "NOVELTY needs a threshold between 0.0 and 2.0 (a cosine distance), got None",
    ]
