"""The Install step's pure parts: which packages a device gets, and version checks."""

from __future__ import annotations

import pytest

from ml_feedback import install


def test_a_device_gets_only_the_packages_the_component_imports(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\ndependencies = [\n    "awsiotsdk>=1.21,<2",\n    "awscrt>=0.20",\n    "boto3>=1.28",\n    "pyyaml>=6",\n]\n'
        '[project.optional-dependencies]\nlocal = ["moto[server]>=5"]\n',
        encoding="utf-8",
    )
    assert install.requirements(pyproject) == ["awsiotsdk>=1.21,<2", "awscrt>=0.20", "boto3>=1.28"]


def test_the_projects_own_pyproject_lists_every_device_package():
    listed = install.requirements(install.PROJECT_ROOT / "pyproject.toml")
    assert sorted(entry.split(">")[0].split("=")[0].split("<")[0] for entry in listed) == sorted(install.DEVICE_PACKAGES)


@pytest.mark.parametrize(
    ("version", "key"),
    [("1.28.3", (1, 28, 3)), ("2.0.0rc1", (2, 0, 0)), ("0.20.1+local.7", (0, 20, 1)), ("1.21.0.post2", (1, 21, 0))],
)
def test_versions_compare_by_their_release_numbers(version, key):
    assert install._version_key(version) == key


def test_an_unmet_requirement_says_what_is_wrong():
    assert install.unmet("boto3>=1.0") is None
    assert install.unmet("no-such-package-here>=1") == "no-such-package-here is not installed"
    assert install.unmet("boto3<1.0").startswith("boto3 ") and install.unmet("boto3<1.0").endswith(" does not satisfy <1.0")
