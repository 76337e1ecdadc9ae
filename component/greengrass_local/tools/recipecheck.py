"""`mlfeedback recipe check`: what GDK and the nucleus would reject, before a deployment does.

Four checks, each problem as `file: path.to.key: reason`:

1. GDK's recipe schema, applied as GDK applies it (every key lower-cased,
   Draft 7); paths are reported in the recipe's own spelling.
2. Lifecycle step names and step keys: neither schema checks them, and the
   nucleus silently ignores a misspelt `Runn:`.
3. `accessControl`: the services and operations the nucleus registers
   (AuthorizationHandler.java), policy fields, resource syntax.
4. For community.greengrass.MLFeedback, the component's own configuration rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..authorization import resource_problem
from ..deployment.recipes import RECIPE_SUFFIXES

STEPS = ("Setenv", "Bootstrap", "Install", "Startup", "Run", "Shutdown", "Recover", "Uninstall")
STEP_KEYS = ("Script", "RequiresPrivilege", "Skipif", "Timeout", "Setenv")
POLICY_KEYS = ("policyDescription", "operations", "resources")
# Authorization destinations and their operations, as the nucleus registers them.
IPC_SERVICES: dict[str, tuple[str, ...]] = {
    "aws.greengrass.ipc.pubsub": ("PublishToTopic", "SubscribeToTopic"),
    "aws.greengrass.ipc.mqttproxy": ("PublishToIoTCore", "SubscribeToIoTCore"),
    "aws.greengrass.SecretManager": ("GetSecretValue",),
    "aws.greengrass.ShadowManager": ("GetThingShadow", "UpdateThingShadow", "DeleteThingShadow", "ListNamedShadowsForThing"),
    "aws.greengrass.ipc.lifecycle": ("PauseComponent", "ResumeComponent"),
    "aws.greengrass.clientdevices.Auth": (
        "SubscribeToCertificateUpdates",
        "VerifyClientDeviceIdentity",
        "GetClientDeviceAuthToken",
        "AuthorizeClientDeviceAction",
    ),
    "aws.greengrass.Cli": (
        "GetComponentDetails",
        "ListComponents",
        "RestartComponent",
        "StopComponent",
        "CreateLocalDeployment",
        "GetLocalDeploymentStatus",
        "ListLocalDeployments",
        "CreateDebugPassword",
    ),
    "aws.greengrass.ipc.componentmetric": ("PutComponentMetric",),
}
TES_SERVICE, TES_OPERATION = "aws.greengrass.TokenExchangeService", "getCredentials"
ML_FEEDBACK = "community.greengrass.MLFeedback"


@dataclass(frozen=True)
class Problem:
    file: str
    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.reason}"


def load_schema(name: str) -> dict[str, Any]:
    text = resources.files("greengrass_local.tools").joinpath("schemas", name).read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def lower_keys(node: Any) -> Any:
    """GDK lower-cases every key, recursively, before it validates (values untouched)."""
    if isinstance(node, dict):
        return {str(k).lower(): lower_keys(v) for k, v in node.items()}
    if isinstance(node, list):
        return [lower_keys(v) for v in node]
    return node


def spelt(document: Any, lowered_path: list[Any]) -> str:
    """A schema error's path in the recipe's own key spelling."""
    parts: list[str] = []
    node = document
    for part in lowered_path:
        if isinstance(node, dict):
            key = next((k for k in node if str(k).lower() == part), part)
            parts.append(str(key))
            node = node.get(key)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            parts.append(str(part))
            node = node[part]
        else:
            parts.append(str(part))
    return ".".join(parts) or "(recipe)"


def _ci(mapping: Any, key: str) -> tuple[str, Any] | None:
    if not isinstance(mapping, dict):
        return None
    for candidate, value in mapping.items():
        if str(candidate).lower() == key.lower():
            return str(candidate), value
    return None


def schema_problems(document: Any, file: str) -> list[Problem]:
    from jsonschema import Draft7Validator

    validator = Draft7Validator(load_schema("gdk-recipe_schema.json"))
    problems = []
    for error in sorted(validator.iter_errors(lower_keys(document)), key=lambda e: list(map(str, e.absolute_path))):
        problems.append(Problem(file, spelt(document, list(error.absolute_path)), f"schema: {error.message}"))
    return problems


def lifecycle_problems(lifecycle: Any, where: str, file: str) -> list[Problem]:
    if not isinstance(lifecycle, dict):
        return []
    problems = []
    names = {step.lower(): step for step in STEPS}
    for key, value in lifecycle.items():
        step = names.get(str(key).lower())
        if step is None:
            problems.append(Problem(file, f"{where}.{key}", f"unknown lifecycle step (steps: {', '.join(STEPS)})"))
            continue
        if step == "Setenv":
            if not isinstance(value, dict):
                problems.append(Problem(file, f"{where}.{key}", "Setenv must map variable names to values"))
            continue
        if isinstance(value, dict):
            keys = {k.lower(): k for k in STEP_KEYS}
            for field in value:
                if str(field).lower() not in keys:
                    problems.append(Problem(file, f"{where}.{key}.{field}", f"unknown step key (keys: {', '.join(STEP_KEYS)})"))
            if _ci(value, "Script") is None:
                problems.append(Problem(file, f"{where}.{key}", "a step written as a mapping needs Script"))
        elif not isinstance(value, str):
            problems.append(Problem(file, f"{where}.{key}", "a step is a script or a mapping with Script"))
    present = {str(k).lower() for k in lifecycle}
    if {"startup", "run"} <= present:
        problems.append(Problem(file, where, "Startup and Run together: the nucleus ignores Run when Startup exists"))
    return problems


def access_control_problems(access: Any, where: str, file: str) -> list[Problem]:
    if isinstance(access, str):
        try:
            access = json.loads(access)
        except ValueError as exc:
            return [Problem(file, where, f"not an object nor a JSON string holding one ({exc})")]
    if not isinstance(access, dict):
        return [Problem(file, where, "must map IPC services to policies")]
    problems = []
    for service, policies in access.items():
        at = f"{where}.{service}"
        if service == TES_SERVICE:
            operations: tuple[str, ...] = (TES_OPERATION,)
        elif service in IPC_SERVICES:
            operations = tuple(f"aws.greengrass#{op}" for op in IPC_SERVICES[service])
        else:
            problems.append(
                Problem(file, at, f"not an IPC service the nucleus authorizes (services: {', '.join([*IPC_SERVICES, TES_SERVICE])})")
            )
            continue
        if not isinstance(policies, dict) or not policies:
            problems.append(Problem(file, at, "must map policy ids to {operations, resources}"))
            continue
        for policy_id, policy in policies.items():
            problems.extend(_policy_problems(policy, f"{at}.{policy_id}", operations, file))
    return problems


def _policy_problems(policy: Any, at: str, operations: tuple[str, ...], file: str) -> list[Problem]:
    if not isinstance(policy, dict):
        return [Problem(file, at, "a policy must be an object with operations and resources")]
    problems = []
    for field in policy:
        if str(field).lower() not in {k.lower() for k in POLICY_KEYS}:
            problems.append(Problem(file, f"{at}.{field}", f"unknown policy key (keys: {', '.join(POLICY_KEYS)})"))
    found = _ci(policy, "operations")
    if found is None or not isinstance(found[1], list) or not found[1]:
        problems.append(Problem(file, f"{at}.operations", "a non-empty list is required (the nucleus skips a policy without operations)"))
    else:
        for index, operation in enumerate(found[1]):
            if operation != "*" and operation not in operations:
                problems.append(
                    Problem(
                        file,
                        f"{at}.operations.{index}",
                        f"{operation!r} is not an operation of this service ({', '.join(operations)} or *)",
                    )
                )
    found = _ci(policy, "resources")
    if found is None or not isinstance(found[1], list) or not found[1]:
        problems.append(Problem(file, f"{at}.resources", "a non-empty list is required (a policy without resources allows nothing)"))
    else:
        for index, resource in enumerate(found[1]):
            problem = resource_problem(resource) if isinstance(resource, str) else "must be a string"
            if problem:
                problems.append(Problem(file, f"{at}.resources.{index}", problem))
    return problems


def component_problems(configuration: Any, where: str, file: str) -> list[Problem]:
    from ml_feedback.config import ConfigError, parse_config

    if not isinstance(configuration, dict):
        return []
    try:
        parse_config(configuration)
    except ConfigError as error:
        return [Problem(file, f"{where}.{problem.split(': ', 1)[0]}", problem.split(": ", 1)[1]) for problem in error.problems]
    return []


def check_document(document: Any, file: str) -> list[Problem]:
    if not isinstance(document, dict):
        return [Problem(file, "(recipe)", "a recipe must be a mapping")]
    problems = schema_problems(document, file)
    top = _ci(document, "Lifecycle")
    manifests = _ci(document, "Manifests")
    uses_selections = any(_ci(m, "Selections") for m in (manifests[1] if manifests and isinstance(manifests[1], list) else []))
    if top is not None and not uses_selections:
        problems += lifecycle_problems(top[1], top[0], file)
    if manifests is not None and isinstance(manifests[1], list):
        for index, manifest in enumerate(manifests[1]):
            lifecycle = _ci(manifest, "Lifecycle")
            if lifecycle is not None:
                problems += lifecycle_problems(lifecycle[1], f"{manifests[0]}.{index}.{lifecycle[0]}", file)
    configuration = _ci(document, "ComponentConfiguration")
    defaults = _ci(configuration[1], "DefaultConfiguration") if configuration else None
    if defaults is not None and isinstance(defaults[1], dict):
        where = f"{configuration[0]}.{defaults[0]}"  # type: ignore[index]
        access = _ci(defaults[1], "accessControl")
        if access is not None:
            problems += access_control_problems(access[1], f"{where}.{access[0]}", file)
        name = _ci(document, "ComponentName")
        if name is not None and name[1] == ML_FEEDBACK:
            problems += component_problems(defaults[1], where, file)
    return problems


def check_file(path: Path) -> list[Problem]:
    try:
        text = path.read_text(encoding="utf-8")
        document = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        return [Problem(str(path), "(recipe)", f"cannot be parsed: {exc}")]
    return check_document(document, str(path))


def recipe_files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in RECIPE_SUFFIXES and p.stat().st_size > 0)
        else:
            found.append(path)
    return found
