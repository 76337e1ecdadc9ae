"""Component recipes: parse, pick the manifest for this platform, fill variables.

Pure apart from `load_recipe_file`. Recipe keys are matched case-insensitively,
as the nucleus's Jackson mapper does; configuration keys keep their case.
"""

from __future__ import annotations

import json
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import semver
from .configtree import KeyNotFound, get_path, parse_pointer

RECIPE_SUFFIXES = (".yaml", ".yml", ".json")
LIFECYCLE_STEPS = ("setenv", "bootstrap", "install", "startup", "run", "shutdown", "recover")


class RecipeError(ValueError):
    """A recipe that cannot be used, with the reason."""


@dataclass(frozen=True)
class Dependency:
    version_requirement: str = "*"
    hard: bool = True


@dataclass(frozen=True)
class Artifact:
    uri: str
    unarchive: str = "NONE"
    execute: str = "NONE"
    read: str = "OWNER"

    @property
    def file_name(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Manifest:
    platform: dict[str, str]
    lifecycle: dict[str, Any]
    artifacts: tuple[Artifact, ...] = ()


@dataclass(frozen=True)
class Recipe:
    name: str
    version: str
    default_configuration: dict[str, Any] = field(default_factory=dict)
    dependencies: dict[str, Dependency] = field(default_factory=dict)
    manifests: tuple[Manifest, ...] = ()
    lifecycle: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    publisher: str = ""

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"


def _ci(mapping: Any, key: str, default: Any = None) -> Any:
    """Case-insensitive lookup of a recipe key."""
    if not isinstance(mapping, dict):
        return default
    if key in mapping:
        return mapping[key]
    lowered = key.lower()
    for candidate, value in mapping.items():
        if isinstance(candidate, str) and candidate.lower() == lowered:
            return value
    return default


def _lower_keys(mapping: Any) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in mapping.items()} if isinstance(mapping, dict) else {}


def parse_recipe(document: Any, source: str = "recipe") -> Recipe:
    if not isinstance(document, dict):
        raise RecipeError(f"{source}: a recipe must be a mapping")
    name = _ci(document, "ComponentName")
    version = _ci(document, "ComponentVersion")
    if not isinstance(name, str) or not name:
        raise RecipeError(f"{source}: ComponentName is required")
    if not isinstance(version, str) or not semver.is_version(version):
        raise RecipeError(f"{source}: ComponentVersion must be a semantic version, got {version!r}")
    configuration = _ci(_ci(document, "ComponentConfiguration", {}), "DefaultConfiguration", {}) or {}
    if not isinstance(configuration, dict):
        raise RecipeError(f"{source}: ComponentConfiguration.DefaultConfiguration must be an object")
    dependencies: dict[str, Dependency] = {}
    for dep_name, spec in (_ci(document, "ComponentDependencies", {}) or {}).items():
        requirement = str(_ci(spec, "VersionRequirement", "*") or "*")
        kind = str(_ci(spec, "DependencyType", "HARD") or "HARD").upper()
        try:
            semver.satisfies("0.0.0", requirement)
        except ValueError as exc:
            raise RecipeError(f"{source}: ComponentDependencies.{dep_name}.VersionRequirement: {exc}") from None
        dependencies[str(dep_name)] = Dependency(requirement, kind != "SOFT")
    manifests = tuple(_parse_manifest(m, source) for m in (_ci(document, "Manifests", []) or []))
    lifecycle = _ci(document, "Lifecycle", {}) or {}
    return Recipe(
        name=name,
        version=version,
        default_configuration=configuration,
        dependencies=dependencies,
        manifests=manifests,
        lifecycle=lifecycle if isinstance(lifecycle, dict) else {},
        description=str(_ci(document, "ComponentDescription", "") or ""),
        publisher=str(_ci(document, "ComponentPublisher", "") or ""),
    )


def _parse_manifest(document: Any, source: str) -> Manifest:
    if not isinstance(document, dict):
        raise RecipeError(f"{source}: each manifest must be a mapping")
    platform_spec = {k: str(v) for k, v in _lower_keys(_ci(document, "Platform", {})).items()}
    artifacts = []
    for entry in _ci(document, "Artifacts", []) or []:
        uri = _ci(entry, "URI")
        if not isinstance(uri, str) or not uri:
            raise RecipeError(f"{source}: every artifact needs a URI")
        permission = _ci(entry, "Permission", {}) or {}
        artifacts.append(
            Artifact(
                uri=uri,
                unarchive=str(_ci(entry, "Unarchive", "NONE") or "NONE").upper(),
                execute=str(_ci(permission, "Execute", "NONE") or "NONE").upper(),
                read=str(_ci(permission, "Read", "OWNER") or "OWNER").upper(),
            )
        )
    lifecycle = _ci(document, "Lifecycle", None)
    return Manifest(platform_spec, lifecycle if isinstance(lifecycle, dict) else {}, tuple(artifacts))


def load_recipe_file(path: Path) -> Recipe:
    try:
        text = path.read_text(encoding="utf-8")
        document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise RecipeError(f"{path}: cannot be parsed: {exc}") from None
    return parse_recipe(document, str(path))


def load_recipe_dir(directory: Path) -> dict[tuple[str, str], Recipe]:
    """Every recipe under `directory`, keyed by its own (name, version), as greengrass-cli reads them."""
    recipes: dict[tuple[str, str], Recipe] = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.suffix.lower() in RECIPE_SUFFIXES and path.stat().st_size > 0:
            recipe = load_recipe_file(path)
            recipes[(recipe.name, recipe.version)] = recipe
    return recipes


# -- platform ---------------------------------------------------------------------

_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "aarch64", "arm64": "aarch64", "i386": "x86", "i686": "x86"}


def current_platform() -> dict[str, str]:
    system = platform.system().lower()
    machine = platform.machine().lower()
    arch = _ARCHITECTURES.get(machine, "arm" if machine.startswith("arm") else machine)
    return {"os": "darwin" if system == "darwin" else system, "architecture": arch}


def _platform_value_matches(key: str, expected: str, actual: str | None) -> bool:
    if expected == "*" or (key in ("os", "architecture") and expected in ("all", "any")):
        return True
    if not actual:
        return False
    if len(expected) > 1 and expected.startswith("/") and expected.endswith("/"):
        return re.fullmatch(expected[1:-1], actual) is not None
    return expected[:1].isalnum() and expected == actual


def platform_matches(spec: dict[str, str], actual: dict[str, str]) -> bool:
    return all(_platform_value_matches(key, value, actual.get(key)) for key, value in spec.items())


def select_manifest(recipe: Recipe, actual: dict[str, str]) -> Manifest:
    """The first manifest whose Platform matches, as the nucleus picks it.

    A manifest's own Lifecycle replaces the top-level one; without one the
    top-level Lifecycle applies (Selections are not supported).
    """
    if not recipe.manifests:
        raise RecipeError(f"Recipe file {recipe.key}.yaml is missing manifests")
    for manifest in recipe.manifests:
        if platform_matches(manifest.platform, actual):
            return Manifest(manifest.platform, manifest.lifecycle or recipe.lifecycle, manifest.artifacts)
    raise RecipeError(
        f"Failed to find usable recipe for current platform: {_java_map(actual)}, "
        f"for package: '{recipe.name}-v{recipe.version}' in the local package store"
    )


def _java_map(mapping: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in mapping.items()) + "}"


def lifecycle_steps(lifecycle: dict[str, Any]) -> dict[str, Any]:
    """The lifecycle keyed by lower-cased step name."""
    return _lower_keys(lifecycle)


# -- variables --------------------------------------------------------------------

_SAME_COMPONENT = re.compile(r"\{([.\w-]+):([^:}]*)\}")
_CROSS_COMPONENT = re.compile(r"\{([.\w-]+):([.\w-]+):([^:}]*)\}")


@dataclass(frozen=True)
class ComponentPaths:
    """What recipe variables of one component resolve to."""

    artifacts: str
    decompressed: str
    work: str
    configuration: dict[str, Any]


@dataclass(frozen=True)
class Variables:
    """Everything `{...}` placeholders of one component can refer to."""

    own: ComponentPaths
    dependencies: dict[str, ComponentPaths]
    root_path: str
    thing_name: str


def _configuration_text(configuration: dict[str, Any], pointer: str) -> str | None:
    try:
        value = get_path(configuration, parse_pointer(pointer))
    except (KeyNotFound, ValueError):
        return None
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _lookup(paths: ComponentPaths, namespace: str, key: str) -> str | None:
    if namespace == "artifacts":
        return {"path": paths.artifacts, "decompressedPath": paths.decompressed}.get(key)
    if namespace == "work":
        return paths.work if key == "path" else None
    if namespace == "configuration":
        return _configuration_text(paths.configuration, key)
    return None


def interpolate(text: str, variables: Variables, *, configuration: bool = True) -> str:
    """Fill `{artifacts:path}` and friends the way the nucleus does.

    Anything unknown or missing stays as written; `{Dep:ns:key}` resolves only
    for direct dependencies. `configuration=False` leaves `{configuration:...}`
    alone: the nucleus fills only system variables into component configuration.
    """

    def same(match: re.Match[str]) -> str:
        namespace, key = match.groups()
        if namespace == "configuration" and not configuration:
            return match.group(0)
        if namespace == "kernel" and key == "rootPath":
            return variables.root_path
        if namespace == "iot" and key == "thingName":
            return variables.thing_name
        value = _lookup(variables.own, namespace, key)
        return match.group(0) if value is None else value

    def cross(match: re.Match[str]) -> str:
        owner, namespace, key = match.groups()
        if namespace == "configuration" and not configuration:
            return match.group(0)
        paths = variables.dependencies.get(owner)
        value = None if paths is None else _lookup(paths, namespace, key)
        return match.group(0) if value is None else value

    return _CROSS_COMPONENT.sub(cross, _SAME_COMPONENT.sub(same, text))


def interpolate_tree(node: Any, variables: Variables, *, configuration: bool = True) -> Any:
    """Interpolate every string in a lifecycle (scripts, Setenv, Skipif, nested maps) or a configuration; keys stay."""
    if isinstance(node, str):
        return interpolate(node, variables, configuration=configuration)
    if isinstance(node, dict):
        return {key: interpolate_tree(value, variables, configuration=configuration) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(value, variables, configuration=configuration) for value in node]
    return node
