"""The project's own build files, validated with GDK's schemas (as GDK 1.6.2 validates them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

from greengrass_local.tools.packaging import packed_files, read_build_settings
from greengrass_local.tools.recipecheck import load_schema, lower_keys

REPO = Path(__file__).resolve().parents[2]
RECIPES = sorted([*REPO.glob("recipes/*.yaml"), *REPO.glob("examples/*/recipes/*.yaml")])


def test_gdk_config_is_valid_for_gdk():
    config = json.loads((REPO / "gdk-config.json").read_text())
    assert list(Draft7Validator(load_schema("gdk-config_schema.json")).iter_errors(config)) == []


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
@pytest.mark.parametrize("schema", ["gdk-recipe_schema.json", "component-common-recipe_schema.json"])
def test_every_recipe_is_valid_for_gdk_and_component_common(recipe, schema):
    document = yaml.safe_load(recipe.read_text())
    errors = [e.message for e in Draft7Validator(load_schema(schema)).iter_errors(lower_keys(document))]
    assert errors == []
    assert len(recipe.read_bytes()) < 16000, "recipes are limited to 16,000 bytes"


def test_the_root_recipe_is_the_component_recipe():
    assert (REPO / "recipe.yaml").resolve() == (REPO / "recipes" / "community.greengrass.MLFeedback-1.0.0.yaml").resolve()
    settings = read_build_settings(REPO)
    recipe = yaml.safe_load((REPO / "recipe.yaml").read_text())
    assert (recipe["ComponentName"], recipe["ComponentVersion"]) == (settings.component, settings.version)


def test_the_artifact_holds_only_what_the_device_needs():
    files = [f for f in packed_files(REPO, read_build_settings(REPO)) if not f.endswith("/")]
    assert all(
        f.startswith(("component/ml_feedback/", "component/greengrass_machine_learning_sdk/")) or f in ("LICENSE", "pyproject.toml")
        for f in files
    ), files
    assert "component/ml_feedback/__main__.py" in files and "component/greengrass_machine_learning_sdk/__init__.py" in files
    assert not any("__pycache__" in f or f.endswith(".pyc") or "greengrass_local" in f or f.startswith(("tests", ".")) for f in files)
