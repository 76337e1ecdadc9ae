"""Local deployments, as `greengrass-cli deployment create` makes them.

A deployment imports recipes and artifacts, resolves the versions of the root
components and their dependencies, computes each component's configuration
(running config, RESET, defaults for what is missing, MERGE), asks components
that subscribed to validate a changed configuration, then installs, starts or
restarts what changed, waits until it is RUNNING or FINISHED, and removes what
is no longer wanted. Validation onwards runs inside the component-update window
(services/updates.py): subscribers are asked first and may defer. Statuses and
failure texts follow the nucleus and the CLI server (DeploymentService,
DefaultDeploymentTask, CLIEventStreamAgent).

The nucleus and the stand-ins of AWS-provided components (services/standins.py)
are built in: no recipe in the store, no artifacts. Either can still be a root
component, to take a configuration: the nucleus at the version that runs, a
stand-in at the version the root pins, which every dependent's requirement
must then accept.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from ..deployment import semver
from ..deployment.configtree import changed_paths, resolve_deployment_configuration
from ..deployment.lifecycle import READY_FOR_DEPENDENTS, SETTLED, State
from ..deployment.recipes import ComponentPaths, Recipe, RecipeError, Variables, interpolate_tree, select_manifest
from ..deployment.runner import ComponentRunner, RunSpec
from ..deployment.store import ARTIFACT_DIR_IS_PARENT, StoreError
from ..wire.errors import InvalidArgumentsError, InvalidArtifactsDirectoryPathError, ResourceNotFoundError
from ..wire.gson import as_doubles
from ..wire.server import Call, Operation
from .configuration import REJECTED, ValidationFailed
from .host import DeployedComponent, Host
from .nucleus_config import NUCLEUS, NUCLEUS_VERSION, interpolation_enabled, nucleus_recipe, with_device_defaults
from .standins import (
    CLOUDWATCH,
    STANDIN_COMPONENTS,
    VERSIONS,
    ConfigurationNotes,
    StandinRunner,
    check_configuration,
    check_root_version,
    note_dependency,
    note_root,
    standin_recipe,
)

log = logging.getLogger("greengrass_local.deployment")
T = TypeVar("T")

QUEUED, IN_PROGRESS, SUCCEEDED, FAILED, CANCELED = "QUEUED", "IN_PROGRESS", "SUCCEEDED", "FAILED", "CANCELED"
# Components the device provides itself; recipes may depend on them.
BUILTIN_COMPONENTS = ("aws.greengrass.Nucleus", "aws.greengrass.TokenExchangeService", "aws.greengrass.Cli", *STANDIN_COMPONENTS)
LOCAL_GROUP = "LOCAL_DEPLOYMENT"
SETTLE_SECONDS = 0.5
# How often stop() repeats its cancellation while the worker runs on (a cancellation swallowed on the way).
RECANCEL_SECONDS = 0.1
INVALID_ID = "Invalid deploymentId format received. DeploymentId is a UUID"
ALREADY_FINISHED = "Cancellation request is not processed because deployment is already finished"


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


def no_available_version(cause: str) -> DeploymentFailed:
    """The nucleus's failure when no version of a component can satisfy the deployment."""
    return DeploymentFailed(cause, stack=("DEPLOYMENT_FAILURE", "NO_AVAILABLE_COMPONENT_VERSION"), types=("REQUEST_ERROR",))


def _constraints(requirements: list[tuple[str, str]]) -> str:
    return ", ".join(f"{who} requires {requirement}" for who, requirement in requirements)


@dataclass(frozen=True)
class _Plan:
    recipe: Recipe
    configuration: dict[str, Any]


class DeploymentService:
    def __init__(self, nucleus: Host) -> None:
        self._nucleus = nucleus
        self.records: dict[str, DeploymentRecord] = {}
        self._queue: asyncio.Queue[tuple[DeploymentRecord, DeploymentRequest]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self.listeners: list[Callable[[DeploymentRecord], None]] = []
        self._running: tuple[DeploymentRecord, asyncio.Task[None]] | None = None
        self._applying = False
        self._cancel_pending = False
        self._standin_notes = ConfigurationNotes()

    def operations(self) -> list[Operation]:
        return [
            Operation("CreateLocalDeployment", self.create_local_deployment),
            Operation("GetLocalDeploymentStatus", self.get_local_deployment_status),
            Operation("ListLocalDeployments", self.list_local_deployments),
            Operation("CancelLocalDeployment", self.cancel_local_deployment),
        ]

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.ensure_future(self._work())

    async def stop(self) -> None:
        """End the worker, whatever it is doing: the nucleus stops only after this returns.

        The cancellation is repeated until the worker has ended, since an await on the way may swallow
        one (on Python 3.10, `asyncio.wait_for` does when its future resolves in the same loop pass).
        """
        if self._worker is not None:
            while not self._worker.done():
                self._worker.cancel()
                await asyncio.wait({self._worker}, timeout=RECANCEL_SECONDS)
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
            if record.status == CANCELED:  # cancelled while queued: it never runs
                continue
            record.status, record.details = IN_PROGRESS, {}
            log.info("Deployment %s started", record.deployment_id)
            try:
                await self._run(record, request)
            except _Cancelled:
                continue  # cancel() reported it
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

    async def _run(self, record: DeploymentRecord, request: DeploymentRequest) -> None:
        """The deployment as a task cancel() can end; raises _Cancelled when it did."""
        task = asyncio.ensure_future(self._deploy(record.deployment_id, request))
        self._running, self._cancel_pending = (record, task), False
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:  # the nucleus stops
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise
        finally:
            self._running = None
        if record.status == CANCELED:
            if not task.cancelled() and task.exception() is not None:
                log.info("Deployment %s was cancelled; it ended with: %s", record.deployment_id, task.exception())
            raise _Cancelled
        task.result()

    def cancel(self, record: DeploymentRecord) -> None:
        """CANCELED at once (DeploymentService.cancelCurrentDeployment): a queued deployment never runs; one in
        progress stops where it is, except that components being stopped or started finish that step first."""
        if record.status == IN_PROGRESS:
            log.warning(
                "Cancelling deployment, changes may already have been applied. Make a new deployment to revert the update. "
                "{deploymentId=%s}",
                record.deployment_id,
            )
            running = self._running
            if running is not None and running[0] is record:
                if self._applying:
                    self._cancel_pending = True
                else:
                    running[1].cancel()
        record.status, record.details = CANCELED, {}
        log.info("Deployment %s was cancelled", record.deployment_id)
        record.done.set()
        for listener in list(self.listeners):
            listener(record)

    async def _uncancellable(self, step: Awaitable[T]) -> T:
        """Components being stopped and started: a cancellation takes effect once this step is done."""
        self._applying = True
        try:
            result = await step
        finally:
            self._applying = False
        if self._cancel_pending:
            raise asyncio.CancelledError
        return result

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
        for name, plan in plans.items():
            deployed = nucleus.components.get(name)
            built_in = name == NUCLEUS or name in STANDIN_COMPONENTS  # no artifacts to prepare
            if not built_in and (deployed is None or deployed.version != plan.recipe.version):
                manifest = select_manifest(plan.recipe, nucleus.platform)
                try:
                    store.prepare_artifacts(name, plan.recipe.version, manifest.artifacts)
                except StoreError as exc:
                    raise DeploymentFailed(str(exc)) from None
        # DeploymentConfigMerger: the update waits for a disruptable moment (components may defer it), then
        # validates and applies; subscribers hear when it is over, whatever the outcome.
        async with nucleus.updates.update_window(deployment_id):
            await self._update(deployment_id, plans, roots)

    async def _update(self, deployment_id: str, plans: dict[str, _Plan], roots: dict[str, str]) -> None:
        nucleus = self._nucleus
        await self._validate(deployment_id, plans)
        nucleus.roots = roots
        updated = await self._uncancellable(self._apply(plans))
        await self._wait_until_settled(updated)
        broken = [name for name in updated if nucleus.state(name) is State.BROKEN]
        if broken:
            raise DeploymentFailed(
                f"Service {broken[0]} in broken state after deployment",
                stack=("DEPLOYMENT_FAILURE", "COMPONENT_UPDATE_ERROR", "COMPONENT_BROKEN"),
                types=("USER_COMPONENT_ERROR",),
            )
        obsolete = [name for name in nucleus.components if name not in plans]
        await self._uncancellable(self._remove(obsolete))

    async def _remove(self, obsolete: list[str]) -> None:
        nucleus = self._nucleus
        await nucleus.stop_components(obsolete)
        for name in obsolete:
            nucleus.components.pop(name).log.close()
            nucleus.config.remove(name)
            self._standin_notes.forget(name)

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
        played: set[tuple[str, str]] = set()
        for _ in range(20):
            requirements: dict[str, list[tuple[str, str]]] = {name: [(LOCAL_GROUP, f"={version}")] for name, version in roots.items()}
            order = list(roots)
            resolved: dict[str, Recipe] = {}
            for name in order:
                version = self._pick(name, requirements[name], running.get(name), choice.get(name))
                if name == NUCLEUS:
                    recipe: Recipe | None = nucleus_recipe()
                elif name in STANDIN_COMPONENTS:
                    recipe = standin_recipe(name, version)
                else:
                    recipe = nucleus.store.recipe(name, version)
                assert recipe is not None
                resolved[name] = recipe
                for dependency, spec in recipe.dependencies.items():
                    if dependency in BUILTIN_COMPONENTS:
                        if dependency in STANDIN_COMPONENTS and dependency in roots:  # deployed at the root's version
                            requirements[dependency].append((name, spec.version_requirement))
                        if dependency in STANDIN_COMPONENTS and (dependency, name) not in played:
                            played.add((dependency, name))
                            note_dependency(dependency, name, spec.version_requirement, roots.get(dependency))
                            if dependency == CLOUDWATCH:
                                nucleus.cloudwatch.activate()
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
        if name == NUCLEUS:
            return self._pick_nucleus(requirements)
        if name in STANDIN_COMPONENTS:
            return self._pick_standin(name, requirements)

        def fits(version: str) -> bool:
            return all(semver.satisfies(version, requirement) for _, requirement in requirements)

        store = self._nucleus.store
        for candidate in (preferred, running):
            if candidate and store.recipe(name, candidate) and fits(candidate):
                return candidate
        for version in store.versions(name):
            if fits(version):
                return version
        raise no_available_version(
            "Device is configured to run offline and no local component version satisfies the requirements. "
            f"Check whether the version constraints conflict and that the component exists in your AWS account with a version "
            f"that satisfies all constraints. Component {name} version constraints: {_constraints(requirements)}."
        )

    @staticmethod
    def _pick_nucleus(requirements: list[tuple[str, str]]) -> str:
        """The nucleus is a root like any component (to take configuration), at the version that runs: this one."""
        wrong = [(who, requirement) for who, requirement in requirements if not semver.satisfies(NUCLEUS_VERSION, requirement)]
        if wrong:
            raise no_available_version(
                f"The local nucleus is {NUCLEUS} {NUCLEUS_VERSION} and cannot be replaced by another version. "
                f"Deploy {NUCLEUS}={NUCLEUS_VERSION} to change its configuration. Component {NUCLEUS} version constraints: {_constraints(wrong)}."
            )
        return NUCLEUS_VERSION

    @staticmethod
    def _pick_standin(name: str, requirements: list[tuple[str, str]]) -> str:
        """A stand-in that is a root plays the version the root pins, if every dependent accepts it.

        Nothing is downloaded, so a version the stand-in does not know of is played too (note_root says so).
        """
        version = next(requirement.lstrip("=") for who, requirement in requirements if who == LOCAL_GROUP)
        problem = check_root_version(name, version)
        if problem is not None:
            raise no_available_version(problem)
        if any(not semver.satisfies(version, requirement) for _who, requirement in requirements):
            raise no_available_version(
                f"{name} is a local stand-in deployed at {version}, the version its root component pins, and not every "
                f"dependent accepts that version. Pin one they all accept. Version constraints on {name}: {_constraints(requirements)}."
            )
        return version

    def _plan(self, versions: dict[str, Recipe], roots: dict[str, str], request: DeploymentRequest) -> dict[str, _Plan]:
        nucleus = self._nucleus
        plans: dict[str, _Plan] = {}
        for name in request.configuration:
            if name not in roots:
                version = NUCLEUS_VERSION if name == NUCLEUS else VERSIONS[name][0] if name in VERSIONS else "VERSION"
                log.warning(
                    "Configuration update for %s ignored: a deployment configures only its root components, as on a device. "
                    "Add %s=%s to the deployment's components (--merge) to configure it",
                    name,
                    name,
                    version,
                )
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
            if name == NUCLEUS:
                configuration = with_device_defaults(configuration, nucleus.region)
            try:
                check_configuration(name, configuration)
            except ValueError as exc:
                log.error("%s stand-in cannot run with this configuration: %s", name, exc)
                raise DeploymentFailed(
                    f"Configuration update for {name} is not valid: {exc}",
                    detailed="FAILED_NO_STATE_CHANGE",
                    stack=("DEPLOYMENT_FAILURE", "COMPONENT_CONFIGURATION_NOT_VALID"),
                ) from None
            plans[name] = _Plan(recipe, configuration)
        # KernelConfigResolver: the nucleus's new configuration decides, else the one it runs with.
        if interpolation_enabled(plans[NUCLEUS].configuration if NUCLEUS in plans else nucleus.config.get(NUCLEUS)):
            plans = {
                name: replace(
                    plan, configuration=interpolate_tree(plan.configuration, self._variables(name, plan, plans), configuration=False)
                )
                for name, plan in plans.items()
            }
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
            if name == NUCLEUS:  # the emulator itself: configured, never launched
                continue
            if name in STANDIN_COMPONENTS:
                if await self._apply_standin(name, plan):
                    updated.append(name)
                continue
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

    async def _apply_standin(self, name: str, plan: _Plan) -> bool:
        """A root stand-in: in place at its version (no process), its configuration noted; True when (re)placed."""
        nucleus = self._nucleus
        deployed = nucleus.components.get(name)
        placed = deployed is None or deployed.version != plan.recipe.version
        if placed:
            if deployed is not None:
                await nucleus.stop_components([name])
                deployed.log.close()
            note_root(name, plan.recipe.version)
            runner = StandinRunner(name, plan.recipe.version, nucleus.root / "work" / name, nucleus.on_state)
            component_log = nucleus.component_log(name)
            nucleus.components[name] = DeployedComponent(plan.recipe, plan.recipe.manifests[0], runner, component_log)
            runner.start()
            if name == CLOUDWATCH:
                nucleus.cloudwatch.activate()
        self._standin_notes.note(name, plan.configuration, nucleus.components[name].log)
        return placed

    def _variables(self, name: str, plan: _Plan, plans: dict[str, _Plan]) -> Variables:
        """What `{...}` in a component's lifecycle or configuration refers to."""
        nucleus = self._nucleus

        def paths(component: str, other: _Plan) -> ComponentPaths:
            version = other.recipe.version
            return ComponentPaths(
                artifacts=str(nucleus.store.artifact_path(component, version)),
                decompressed=str(nucleus.store.unarchived_path(component, version)),
                work=str(nucleus.root / "work" / component),
                configuration=other.configuration,
            )

        dependencies = {dep: paths(dep, plans[dep]) for dep in plan.recipe.dependencies if dep in plans}
        if NUCLEUS in plan.recipe.dependencies and NUCLEUS not in plans:  # the device resolves it as a dependency
            dependencies[NUCLEUS] = paths(NUCLEUS, _Plan(nucleus_recipe(), nucleus.config.get(NUCLEUS)))
        return Variables(
            own=paths(name, plan),
            dependencies=dependencies,
            root_path=str(nucleus.root),
            thing_name=nucleus.thing_name,
        )

    def _run_spec(self, name: str, plan: _Plan, plans: dict[str, _Plan]) -> RunSpec:
        nucleus = self._nucleus
        manifest = select_manifest(plan.recipe, nucleus.platform)
        return RunSpec(
            name=name,
            version=plan.recipe.version,
            lifecycle=interpolate_tree(manifest.lifecycle, self._variables(name, plan, plans)),
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

    def cancel_local_deployment(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        """greengrass-cli's CancelLocalDeploymentHandler: the id is checked first, then authorization on "*"."""
        deployment_id = request.get("deploymentId")
        try:
            uuid.UUID(str(deployment_id))
        except ValueError:
            raise InvalidArgumentsError(INVALID_ID) from None
        self._nucleus.check_cli_access(call.component, call.operation, "*")
        record = self.records.get(str(deployment_id))
        if record is None:
            raise ResourceNotFoundError(
                f"Cannot find the deployment id provided {deployment_id}", resourceType="LocalDeployment", resourceName=str(deployment_id)
            )
        if record.status not in (QUEUED, IN_PROGRESS):
            return {"message": ALREADY_FINISHED}
        self.cancel(record)
        return {"message": f"Cancel request submitted. Deployment ID: {deployment_id}"}


class _Cancelled(Exception):
    """The deployment was cancelled (CancelLocalDeployment); its record says so already."""


def _ci(mapping: dict[str, Any], key: str) -> Any:
    for candidate, value in mapping.items():
        if str(candidate).upper() == key:
            return value
    return None
