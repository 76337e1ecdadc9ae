"""The stand-ins' configuration rules and the shadows file, without a nucleus."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from greengrass_local.authorization import Authorizer
from greengrass_local.services.shadows import MAX_DOCUMENT_BYTES, Shadows, document_size_limit
from greengrass_local.services.standins import SHADOW_MANAGER, ConfigurationNotes, check_root_version, standin_recipe

TOO_LARGE = "Maximum shadow size provided {} is either less than 0 or exceeds default maximum shadow size of 30720"


@pytest.mark.parametrize(
    ("configuration", "limit"),
    [
        (None, MAX_DOCUMENT_BYTES),
        ({}, 8192),
        ({"shadowDocumentSizeLimitBytes": 0}, 8192),  # 0 is the default, as Coerce.toInt of nothing
        ({"shadowDocumentSizeLimitBytes": 16384.0}, 16384),  # a deployment's number is a double
        ({"SHADOWDOCUMENTSIZELIMITBYTES": "20000"}, 20000),  # keys ignore case; numeric strings coerce
        ({"shadowDocumentSizeLimitBytes": "lots"}, 8192),  # not a number: 0, so the default
        ({"shadowDocumentSizeLimitBytes": 30720}, 30720),
    ],
)
def test_document_size_limit_follows_the_components_rules(configuration, limit):
    assert document_size_limit(configuration) == limit


@pytest.mark.parametrize("value", [30721, -1])
def test_document_size_limit_out_of_range_has_the_components_text(value):
    with pytest.raises(ValueError) as raised:
        document_size_limit({"shadowDocumentSizeLimitBytes": value})
    assert str(raised.value) == TOO_LARGE.format(value)


def test_a_stand_in_recipe_has_no_artifacts_and_no_default_configuration():
    recipe = standin_recipe(SHADOW_MANAGER, "2.3.9")
    assert (recipe.version, recipe.default_configuration, recipe.manifests[0].artifacts, recipe.manifests[0].lifecycle) == (
        "2.3.9",
        {},
        (),
        {},
    )
    assert check_root_version(SHADOW_MANAGER, "2.3.9") is None
    assert check_root_version(SHADOW_MANAGER, "2.3") == f"{SHADOW_MANAGER}=2.3: not a version (MAJOR.MINOR.PATCH)"


def test_configuration_notes_are_said_once_per_change(caplog):
    notes = ConfigurationNotes()
    with caplog.at_level(logging.INFO, logger="greengrass_local.standins"):
        notes.note(SHADOW_MANAGER, {"synchronize": {}, "shadowDocumentSizeLimitBytes": 10000})
        notes.note(SHADOW_MANAGER, {"synchronize": {}, "shadowDocumentSizeLimitBytes": 10000})
        notes.note(SHADOW_MANAGER, {"synchronize": {}, "shadowDocumentSizeLimitBytes": 12000})
        notes.note(SHADOW_MANAGER, {})
    said = [record.getMessage() for record in caplog.records]
    assert said == [
        f"{SHADOW_MANAGER} stand-in stores but does not act on: synchronize "
        "(there is no cloud shadow service to synchronize with, and local requests are not rate-limited)",
        f"{SHADOW_MANAGER} stand-in acts on: shadowDocumentSizeLimitBytes (shadow updates may hold 10000 bytes of desired and reported state)",
        f"{SHADOW_MANAGER} stand-in acts on: shadowDocumentSizeLimitBytes (shadow updates may hold 12000 bytes of desired and reported state)",
    ]


def _shadows(path: Path) -> Shadows:
    return Shadows(Authorizer(lambda component: {}), path=path)


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        '{"shadows": {}}',
        '{"shadows": [{"thingName": "", "shadowName": "", "version": 1, "document": null}]}',
        '{"shadows": [{"thingName": "t", "shadowName": "", "version": "1", "document": null}]}',
        '{"shadows": [{"thingName": "t", "shadowName": "", "version": 2, "document": {"state": {}, "metadata": {}, "version": 1}}]}',
        '{"shadows": [{"thingName": "t", "shadowName": "", "version": 1, "document": {"state": [], "metadata": {}, "version": 1}}]}',
    ],
)
def test_a_shadows_file_that_is_not_one_is_moved_aside(tmp_path, caplog, content):
    path = tmp_path / "shadows.json"
    path.write_text(content, encoding="utf-8")
    shadows = _shadows(path)
    with caplog.at_level(logging.INFO, logger="greengrass_local.shadows"):
        shadows.load()
    assert not path.exists()
    aside = list(tmp_path.glob("shadows.json.corrupt-*"))
    assert [p.read_text() for p in aside] == [content]
    assert [record.levelname for record in caplog.records] == ["ERROR"]
    assert f"file={path}, moved to={aside[0]}, error=" in caplog.records[0].getMessage()
    assert shadows._documents == {} and shadows._versions == {}


def test_a_second_corrupt_file_does_not_overwrite_the_first_one_moved_aside(tmp_path):
    path = tmp_path / "shadows.json"
    for content in ("first", "second"):
        path.write_text(content, encoding="utf-8")
        _shadows(path).load()
    assert sorted(p.read_text() for p in tmp_path.glob("shadows.json.corrupt-*")) == ["first", "second"]


def test_a_well_formed_shadows_file_loads_documents_and_the_versions_of_deleted_shadows(tmp_path):
    path = tmp_path / "shadows.json"
    document = {"state": {"reported": {"a": 1}}, "metadata": {"reported": {"a": {"timestamp": 1}}}, "version": 4, "timestamp": 1}
    entries = [
        {"thingName": "t", "shadowName": "", "version": 4, "document": document},
        {"thingName": "t", "shadowName": "old", "version": 7, "document": None},
    ]
    path.write_text(json.dumps({"shadows": entries}), encoding="utf-8")
    shadows = _shadows(path)
    shadows.load()
    assert shadows._documents == {("t", ""): document}
    assert shadows._versions == {("t", ""): 4, ("t", "old"): 7}
    shadows._save()
    assert json.loads(path.read_text()) == {"shadows": entries}
