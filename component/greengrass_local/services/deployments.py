"""Local deployments, as `greengrass-cli deployment create` makes them.

A deployment imports recipes and artifacts, resolves the versions of the root
components and their dependencies, computes each component's configuration
(running config, RESET, defaults for what is missing, MERGE), asks components
that subscribed to validate a changed configuration, then installs, starts or
restarts what changed, waits until it is RUNNING or FINISHED, and removes what
is no longer wanted. Statuses and failure texts follow the nucleus and the CLI
server (DeploymentService, DefaultDeploymentTask, CLIEventStreamAgent).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import semver
from ..configtree import changed_paths, resolve_deployment_configuration
from ..errors import InvalidArgumentsError, InvalidArtifactsDirectoryPathError, ResourceNotFoundError
from ..gson import as_doubles
from ..lifecycle import READY_FOR_DEPENDENTS, SETTLED, State
from ..logs import ComponentLog
from ..recipes import ComponentPaths, Manifest, Recipe, RecipeError, Variables, interpolate_tree, select_manifest
from ..runner import ComponentRunner, RunSpec
from ..server import Call, Operation
from ..store import ARTIFACT_DIR_IS_PARENT, StoreError
from .configuration import REJECTED, ValidationFailed

if TYPE_CHECKING:
    from ..nucleus import LocalNucleus

log = logging.getLogger("greengrass_local.deployment")

QUEUED, IN_PROGRESS, SUCCEEDED, FAILED = "QUEUED", "IN_PROGRESS", "SUCCEEDED", "FAILED"
# Components the device provides itself; recipes may depend on them.
BUILTIN_COMPONENTS = ("aws.greengrass.Nucleus", "aws.greengrass.TokenExchangeService", "aws.greengrass.Cli")
LOCAL_GROUP = "LOCAL_DEPLOYMENT"
SETTLE_SECONDS = 0.5
INVALID_ID = "Invalid deploymentId format received. DeploymentId is a UUID"


@dataclass
class DeployedComponent:
    """One component version the nucleus runs."""

    recipe: Recipe
    manifest: Manifest
    runner: ComponentRunner
    log: ComponentLog

    @property
    def version(self) -> str:
        return self.recipe.version


@dataclass(frozen=True)
class DeploymentRequest:
    recipe_dir: Path | None = None
    artifact_dir: Path | None = None
    add: dict[str, str] = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    configuration: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class DeploymentRecord:
    deployment_id: str
    status: str = QUEUED
    created_ms: float = field(default_factory=lambda: time.time() * 1000)
    details: dict[str, Any] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def created_on(self) -> str:
        moment = datetime.datetime.fromtimestamp(self.created_ms / 1000, datetime.timezone.utc)
        return moment.strftime("%d-%m-%Y %H:%M:%S UTC")

    @property
    def failure_cause(self) -> str:
        return str((self.details or {}).get("deploymentFailureCause", ""))

    def summary(self, with_details: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"deploymentId": self.deployment_id, "status": self.status, "createdOn": self.created_on}
        if with_details and self.details is not None:
            body["deploymentStatusDetails"] = self.details
        return body


class DeploymentFailed(Exception):
    def __init__(
        self,
        cause: str,
        detailed: str = "FAILED_ROLLBACK_NOT_REQUESTED",
        stack: tuple[str, ...] = ("DEPLOYMENT_FAILURE",),
        types: tuple[str, ...] = (),
    ) -> None:
        super().__init__(cause)
        self.cause, self.detailed, self.stack, self.types = cause, detailed, list(stack), list(types)


@dataclass(frozen=True)
class _Plan:
    recipe: Recipe
    configuration: dict[str, Any]


class DeploymentService:
    def __init__(self, nucleus: LocalNucleus) -> None:
        self._nucleus = nucleus
        self.records: dict[str, DeploymentRecord] = {}
        self._queue: asyncio.Queue[tuple[DeploymentRecord, DeploymentRequest]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self.listeners: list[Callable[[DeploymentRecord], None]] = []

    def operations(self) -> list[Operation]:
        return [
            Operation("CreateLocalDeployment", self.create_local_deployment),
            Operation("GetLocalDeploymentStatus", self.get_local_deployment_status),
            Operation("ListLocalDeployments", self.list_local_deployments),
        ]

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.ensure_future(self._work())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None

    def submit(self, request: DeploymentRequest) -> DeploymentRecord:
        assert self._queue is not None, "the nucleus is not started"
        record = DeploymentRecord(str(uuid.uuid4()))
        self.records[record.deployment_id] = record
        self._queue.put_nowait((record, request))
        return record

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            record, request = await self._queue.get()
            record.status, record.details = IN_PROGRESS, {}
            log.info("Deployment %s started", record.deployment_id)
            try:
                await self._deploy(record.deployment_id, request)
            except DeploymentFailed as failure:
                record.status = FAILED
                record.details = {
                    "detailedDeploymentStatus": failure.detailed,
                    "deploymentErrorStack": failure.stack,
                    "deploymentErrorTypes": failure.types,
                    "deploymentFailureCause": failure.cause,
                }
                log.error("Deployment %s failed: %s", record.deployment_id, failure.cause)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("Deployment %s failed unexpectedly", record.deployment_id)
                record.status = FAILED
                record.details = {"detailedDeploymentStatus": "FAILED_ROLLBACK_NOT_REQUESTED", "deploymentFailureCause": str(exc)}
            else:
                record.status = SUCCEEDED
                record.details = {"detailedDeploymentStatus": "SUCCESSFUL"}
                log.info("Deployment %s succeeded", record.deployment_id)
            record.done.set()
            for listener in list(self.listeners):
                listener(record)

    # -- the deployment ------------------------------------------------------------------

    async def _deploy(self, deployment_id: str, request: DeploymentRequest) -> None:
        nucleus = self._nucleus
        store = nucleus.store
        try:
            if request.recipe_dir is not None:
                store.import_recipes(request.recipe_dir)
            if request.artifact_dir is not None:
                store.import_artifacts(request.artifact_dir)
        except StoreError as exc:
            raise DeploymentFailed(str(exc)) from None
        roots = {name: version for name, version in nucleus.roots.items() if name not in request.remove}
        roots.update(request.add)
        versions = self._resolve_versions(roots)
        plans = self._plan(versions, roots, request)
        await self._validate(deployment_id, plans)
        for name, plan in plans.items():
            deployed = nucleus.components.get(name)
            if deployed is None or deployed.version != plan.recipe.version:
                manifest = select_manifest(plan.recipe, nucleus.platform)
                try:
                    store.prepare_artifacts(name, plan.recipe.version, manifest.artifacts)
                except StoreError as exc:
                    raise DeploymentFailed(str(exc)) from None
        nucleus.roots = roots
        updated = await self._apply(plans)
        await self._wait_until_settled(updated)
        broken = [name for name in updated if nucleus.state(name) is State.BROKEN]
        if broken:
            raise DeploymentFailed(
                f"Service {broken[0]} in broken state after deployment",
                stack=("DEPLOYMENT_FAILURE", "COMPONENT_UPDATE_ERROR", "COMPONENT_BROKEN"),
                types=("USER_COMPONENT_ERROR",),
            )
        obsolete = [name for name in nucleus.components if name not in plans]
        await nucleus.stop_components(obsolete)
        for name in obsolete:
            nucleus.components.pop(name).log.close()
            nucleus.config.remove(name)

    async def _wait_until_settled(self, names: list[str]) -> None:
        """Until every component is RUNNING or FINISHED for a moment, or one is BROKEN.

        The nucleus polls every second, so a component that crashes at once is
        seen restarting, not RUNNING; the quiet period stands in for that poll.
        """
        changes = self._nucleus.changes
        state = self._nucleus.state
        while True:
            await changes.wait_until(lambda: all(state(name) in SETTLED for name in names))
            if any(state(name) is State.BROKEN for name in names):
                return
            unsettled = await changes.wait_until(lambda: not all(state(name) in READY_FOR_DEPENDENTS for name in names), SETTLE_SECONDS)
            if not unsettled:
                return

    def _resolve_versions(self, roots: dict[str, str]) -> dict[str, Recipe]:
        """The version of every component to run: roots as pinned, dependencies by requirement."""
        nucleus = self._nucleus
        running = {name: deployed.version for name, deployed in nucleus.components.items()}
        choice: dict[str, str] = {}
        for _ in range(20):
            requirements: dict[str, list[tuple[str, str]]] = {name: [(LOCAL_GROUP, f"={version}")] for name, version in roots.items()}
            order = list(roots)
            resolved: dict[str, Recipe] = {}
            for name in order:
                version = self._pick(name, requirements[name], running.get(name), choice.get(name))
                recipe = nucleus.store.recipe(name, version)
                assert recipe is not None
                resolved[name] = recipe
                for dependency, spec in recipe.dependencies.items():
                    if dependency in BUILTIN_COMPONENTS:
                        continue
                    requirements.setdefault(dependency, []).append((name, spec.version_requirement))
                    if dependency not in order:
                        order.append(dependency)
            stable = {name: recipe.version for name, recipe in resolved.items()}
            if all(all(semver.satisfies(stable[n], req) for _, req in reqs) for n, reqs in requirements.items()) and stable == choice:
                return resolved
            choice = {name: self._pick(name, requirements[name], running.get(name), None) for name in requirements}
        raise DeploymentFailed("Could not settle on component versions that satisfy every requirement")

    def _pick(self, name: str, requirements: list[tuple[str, str]], running: str | None, preferred: str | None) -> str:
        def fits(version: str) -> bool:
            return all(semver.satisfies(version, requirement) for _, requirement in requirements)

        store = self._nucleus.store
        for candidate in (preferred, running):
            if candidate and store.recipe(name, candidate) and fits(candidate):
                return candidate
        for version in store.versions(name):
            if fits(version):
                return version
        constraints = ", ".join(f"{who} requires {requirement}" for who, requirement in requirements)
        raise DeploymentFailed(
            "Device is configured to run offline and no local component version satisfies the requirements. "
            f"Check whether the version constraints conflict and that the component exists in your AWS account with a version "
            f"that satisfies all constraints. Component {name} version constraints: {constraints}.",
            stack=("DEPLOYMENT_FAILURE", "NO_AVAILABLE_COMPONENT_VERSION"),
            types=("REQUEST_ERROR",),
        )

    def _plan(self, versions: dict[str, Recipe], roots: dict[str, str], request: DeploymentRequest) -> dict[str, _Plan]:
        nucleus = self._nucleus
        plans: dict[str, _Plan] = {}
        for name, recipe in versions.items():
            try:
                select_manifest(recipe, nucleus.platform)
            except RecipeError as exc:
                raise DeploymentFailed(str(exc), stack=("DEPLOYMENT_FAILURE", "COMPONENT_RECIPE_NOT_FOUND")) from None
            update = request.configuration.get(name, {}) if name in roots else {}
            reset = _ci(update, "RESET") or []
            merge = _ci(update, "MERGE") or {}
            if not isinstance(reset, list) or not isinstance(merge, dict):
                raise DeploymentFailed(f'Configuration update for {name} must be {{"MERGE": {{...}}, "RESET": [...]}}')
            current = nucleus.config.get(name) if nucleus.config.has(name) else None
            try:
                configuration = resolve_deployment_configuration(
                    current, recipe.default_configuration, [str(p) for p in reset], as_doubles(merge)
                )
            except ValueError as exc:
                raise DeploymentFailed(f"Configuration update for {name} is not valid: {exc}") from None
            plans[name] = _Plan(recipe, configuration)
        return plans

    async def _validate(self, deployment_id: str, plans: dict[str, _Plan]) -> None:
        nucleus = self._nucleus
        asked = []
        for name, plan in plans.items():
            deployed = nucleus.components.get(name)
            if deployed is None or deployed.version != plan.recipe.version or deployed.runner.state not in (State.RUNNING, State.STARTING):
                continue
            if changed_paths(nucleus.config.get(name), plan.configuration) and nucleus.config.wants_validation(name):
                asked.append((name, nucleus.config.validate(name, plan.configuration, deployment_id)))
        try:
            reports = await asyncio.gather(*(pending for _, pending in asked))
        except ValidationFailed as exc:
            raise DeploymentFailed(
                str(exc), detailed="FAILED_NO_STATE_CHANGE", stack=("DEPLOYMENT_FAILURE", "COMPONENT_CONFIGURATION_NOT_VALID")
            ) from None
        rejected = [(name, message) for (name, _), (status, message) in zip(asked, reports, strict=False) if status == REJECTED]
        if rejected:
            cause = "Components reported that their to-be-deployed configuration is invalid"
            cause += "".join(f" {{ name = {name}, message = {message} }}" for name, message in rejected)
            raise DeploymentFailed(
                cause, detailed="FAILED_NO_STATE_CHANGE", stack=("DEPLOYMENT_FAILURE", "COMPONENT_CONFIGURATION_NOT_VALID")
            )

    async def _apply(self, plans: dict[str, _Plan]) -> list[str]:
        """Write configurations, then (re)start what changed; returns the names started or restarted."""
        nucleus = self._nucleus
        for name, plan in plans.items():
            nucleus.config.replace(name, plan.configuration)
        updated = []
        for name, plan in plans.items():
            spec = self._run_spec(name, plan, plans)
            deployed = nucleus.components.get(name)
            if deployed is not None:
                unchanged = deployed.version == plan.recipe.version and deployed.runner.spec == spec
                if unchanged and deployed.runner.state is not State.BROKEN:
                    continue
                await nucleus.stop_components([name])
                deployed.log.close()
            self._launch(name, plan, spec)
            updated.append(name)
        return updated

    def _run_spec(self, name: str, plan: _Plan, plans: dict[str, _Plan]) -> RunSpec:
        nucleus = self._nucleus
        manifest = select_manifest(plan.recipe, nucleus.platform)

        def paths(component: str, other: _Plan) -> ComponentPaths:
            version = other.recipe.version
            return ComponentPaths(
                artifacts=str(nucleus.store.artifact_path(component, version)),
                decompressed=str(nucleus.store.unarchived_path(component, version)),
                work=str(nucleus.root / "work" / component),
                configuration=other.configuration,
            )

        variables = Variables(
            own=paths(name, plan),
            dependencies={dep: paths(dep, plans[dep]) for dep in plan.recipe.dependencies if dep in plans},
            root_path=str(nucleus.root),
            thing_name=nucleus.thing_name,
        )
        return RunSpec(
            name=name,
            version=plan.recipe.version,
            lifecycle=interpolate_tree(manifest.lifecycle, variables),
            environment=nucleus.environment(name),
            work_dir=nucleus.root / "work" / name,
            hard_dependencies=tuple(dep for dep, spec in plan.recipe.dependencies.items() if spec.hard),
        )

    def _launch(self, name: str, plan: _Plan, spec: RunSpec) -> None:
        nucleus = self._nucleus
        component_log = nucleus.component_log(name)
        runner = ComponentRunner(
            spec, component_log, dependencies_ready=lambda: nucleus.dependencies_ready(spec), on_state=nucleus.on_state
        )
        manifest = select_manifest(plan.recipe, nucleus.platform)
        nucleus.components[name] = DeployedComponent(plan.recipe, manifest, runner, component_log)
        runner.start()

    # -- IPC (the aws.greengrass.Cli operations) ------------------------------------------

    def create_local_deployment(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        self._nucleus.check_cli_access(call.component, call.operation, "*")
        group = request.get("groupName")
        if isinstance(group, str) and ":" in group:
            raise InvalidArgumentsError("Thing group name cannot contain colon characters")
        artifacts = request.get("artifactsDirectoryPath")
        if artifacts and self._nucleus.store.artifacts_dir.resolve().is_relative_to(Path(artifacts).expanduser().resolve()):
            raise InvalidArtifactsDirectoryPathError(ARTIFACT_DIR_IS_PARENT)
        recipes = request.get("recipeDirectoryPath")
        record = self.submit(
            DeploymentRequest(
                recipe_dir=Path(recipes).expanduser() if recipes else None,
                artifact_dir=Path(artifacts).expanduser() if artifacts else None,
                add={str(k): str(v) for k, v in (request.get("rootComponentVersionsToAdd") or {}).items()},
                remove=tuple(str(name) for name in request.get("rootComponentsToRemove") or ()),
                configuration=dict(request.get("componentToConfiguration") or {}),
            )
        )
        return {"deploymentId": record.deployment_id}

    def _record(self, deployment_id: Any) -> DeploymentRecord:
        try:
            uuid.UUID(str(deployment_id))
        except ValueError:
            raise InvalidArgumentsError(INVALID_ID) from None
        record = self.records.get(str(deployment_id))
        if record is None:
            raise ResourceNotFoundError("Cannot find deployment", resourceType="LocalDeployment", resourceName=str(deployment_id))
        return record

    def get_local_deployment_status(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        deployment_id = request.get("deploymentId")
        self._nucleus.check_cli_access(call.component, call.operation, str(deployment_id))
        return {"deployment": self._record(deployment_id).summary(with_details=True)}

    def list_local_deployments(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        self._nucleus.check_cli_access(call.component, call.operation, "*")
        return {"localDeployments": [record.summary(with_details=False) for record in self.records.values()]}


def _ci(mapping: dict[str, Any], key: str) -> Any:
    for candidate, value in mapping.items():
        if str(candidate).upper() == key:
            return value
    return None
