"""The emulator's component store under ROOT/packages, laid out as the nucleus's.

- recipes/NAME@VERSION.recipe.yaml: every recipe a deployment brought;
- artifacts/NAME/VERSION/: files copied from a deployment's artifact folder;
- artifacts-unarchived/NAME/VERSION/STEM/: what `Unarchive: ZIP` extracts.

Artifacts are made read-only, as on a device where components run as another
user, so writing into them fails here as it would there (root excepted).
"""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from pathlib import Path

import yaml

from . import semver
from .recipes import Artifact, Recipe, RecipeError, load_recipe_dir, parse_recipe

ARTIFACT_DIR_IS_PARENT = (
    "Requested artifacts directory path is parent of kernel artifacts directory path. Specify another path to avoid recursive copy"
)


class StoreError(Exception):
    """A deployment input the store cannot take, with the reason."""


class ComponentStore:
    def __init__(self, packages: Path) -> None:
        self.packages = packages
        self.recipes_dir = packages / "recipes"
        self.artifacts_dir = packages / "artifacts"
        self.unarchived_dir = packages / "artifacts-unarchived"
        for folder in (self.recipes_dir, self.artifacts_dir, self.unarchived_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self._recipes: dict[tuple[str, str], Recipe] = {}
        self._load_stored_recipes()

    def _load_stored_recipes(self) -> None:
        for path in self.recipes_dir.glob("*.recipe.yaml"):
            try:
                recipe = parse_recipe(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))
            except (RecipeError, yaml.YAMLError, OSError):
                continue
            self._recipes[(recipe.name, recipe.version)] = recipe

    # -- import ------------------------------------------------------------------------

    def import_recipes(self, recipe_dir: Path) -> list[Recipe]:
        if not recipe_dir.is_dir():
            raise StoreError(f"Recipe directory {recipe_dir} does not exist")
        try:
            found = load_recipe_dir(recipe_dir)
        except RecipeError as exc:
            raise StoreError(f"Error copying recipes and artifacts. Unable to parse a recipe due to: {exc}") from None
        for recipe in found.values():
            self._recipes[(recipe.name, recipe.version)] = recipe
            path = self.recipes_dir / f"{recipe.name}@{recipe.version}.recipe.yaml"
            path.write_text(yaml.safe_dump(_recipe_document(recipe), sort_keys=False), encoding="utf-8")
        return list(found.values())

    def import_artifacts(self, artifact_dir: Path) -> None:
        if not artifact_dir.is_dir():
            raise StoreError(f"Artifact directory {artifact_dir} does not exist")
        source = artifact_dir.resolve()
        if self.artifacts_dir.resolve().is_relative_to(source):
            raise StoreError(ARTIFACT_DIR_IS_PARENT)
        for path in sorted(source.rglob("*")):
            target = self.artifacts_dir / path.relative_to(source)
            if path.is_dir():
                if target.exists():
                    _make_writable(target)
                target.mkdir(parents=True, exist_ok=True)
            elif path.is_file():
                if target.parent.exists():
                    _make_writable(target.parent)
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists():
                    _make_writable(target)
                    target.unlink()
                shutil.copy2(path, target)

    # -- lookup ------------------------------------------------------------------------

    def recipe(self, name: str, version: str) -> Recipe | None:
        return self._recipes.get((name, version))

    def versions(self, name: str) -> list[str]:
        """Stored versions of a component, newest first."""
        found = [version for (stored, version) in self._recipes if stored == name]
        return sorted(found, key=semver.Version.parse, reverse=True)

    def artifact_path(self, name: str, version: str) -> Path:
        return self.artifacts_dir / name / version

    def unarchived_path(self, name: str, version: str) -> Path:
        return self.unarchived_dir / name / version

    def work_path(self, root: Path, name: str) -> Path:
        return root / "work" / name

    # -- preparing a component version ---------------------------------------------------

    def prepare_artifacts(self, name: str, version: str, artifacts: tuple[Artifact, ...]) -> None:
        """Check every artifact is present, unpack the ZIPs and set permissions."""
        folder = self.artifact_path(name, version)
        folder.mkdir(parents=True, exist_ok=True)
        _make_writable(folder)
        unarchived = self.unarchived_path(name, version)
        unarchived.mkdir(parents=True, exist_ok=True)
        _make_writable(unarchived)
        for artifact in artifacts:
            if artifact.uri.lower().startswith("docker:"):
                raise StoreError(
                    f"Component {name}-v{version} has the Docker image artifact {artifact.uri}: the local nucleus does not pull "
                    "images. Pull it yourself (docker pull) and drop the docker: artifact from the recipe to test locally"
                )
            path = folder / artifact.file_name
            if not path.is_file():
                raise StoreError(
                    f"Artifact {artifact.uri} of {name}-v{version} is not in {folder}: the local nucleus does not download artifacts; "
                    f"put the file in ARTIFACT_DIR/{name}/{version}/"
                )
            mode = _artifact_mode(artifact)
            if artifact.unarchive == "ZIP":
                target = unarchived / path.stem
                _unzip(path, target, mode)
            _set_mode(path, mode)
        for read_only in (folder, unarchived):
            os.chmod(read_only, 0o555)

    def recipes(self) -> list[Recipe]:
        return list(self._recipes.values())


def _recipe_document(recipe: Recipe) -> dict[str, object]:
    return {
        "RecipeFormatVersion": "2020-01-25",
        "ComponentName": recipe.name,
        "ComponentVersion": recipe.version,
        "ComponentDescription": recipe.description,
        "ComponentPublisher": recipe.publisher,
        "ComponentConfiguration": {"DefaultConfiguration": recipe.default_configuration},
        "ComponentDependencies": {
            name: {"VersionRequirement": dep.version_requirement, "DependencyType": "HARD" if dep.hard else "SOFT"}
            for name, dep in recipe.dependencies.items()
        },
        "Manifests": [
            {
                "Platform": manifest.platform,
                "Lifecycle": manifest.lifecycle,
                "Artifacts": [
                    {"URI": a.uri, "Unarchive": a.unarchive, "Permission": {"Read": a.read, "Execute": a.execute}}
                    for a in manifest.artifacts
                ],
            }
            for manifest in recipe.manifests
        ],
        "Lifecycle": recipe.lifecycle,
    }


def _artifact_mode(artifact: Artifact) -> int:
    """File mode from a recipe's Permission, as the nucleus maps it (models/Permission.java)."""
    executes = artifact.execute in ("OWNER", "ALL")
    mode = stat.S_IRUSR
    if executes:
        mode |= stat.S_IXUSR | stat.S_IXGRP
    if artifact.read in ("OWNER", "ALL") or executes:
        mode |= stat.S_IRGRP
    if artifact.read == "ALL" or artifact.execute == "ALL":
        mode |= stat.S_IROTH
    if artifact.execute == "ALL":
        mode |= stat.S_IXOTH
    return mode


def _set_mode(path: Path, mode: int) -> None:
    os.chmod(path, mode)


def _make_tree_writable(root: Path) -> None:
    for folder, _dirs, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


def _make_writable(path: Path) -> None:
    current = path.stat().st_mode
    os.chmod(path, current | stat.S_IWUSR | (stat.S_IXUSR if path.is_dir() else 0))


def _unzip(archive: Path, target: Path, mode: int) -> None:
    if target.exists():
        _make_tree_writable(target)
        shutil.rmtree(target)
    target.mkdir(parents=True)
    try:
        with zipfile.ZipFile(archive) as bundle:
            for member in bundle.infolist():
                destination = (target / member.filename).resolve()
                if not destination.is_relative_to(target.resolve()):
                    raise StoreError(f"{archive.name}: entry {member.filename} would be extracted outside {target}")
                bundle.extract(member, target)
    except zipfile.BadZipFile as exc:
        raise StoreError(f"{archive.name} cannot be unarchived: {exc}") from None
    directory_mode = 0o555
    for folder, _dirs, files in os.walk(target, topdown=False):
        for name in files:
            os.chmod(os.path.join(folder, name), mode)
        os.chmod(folder, directory_mode)
