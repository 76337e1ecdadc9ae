"""Component management over IPC: list, details, restart, stop, pause, resume, metrics.

Three owners on a device, three authorizations, reproduced with their texts:

- greengrass-cli's server (CLIEventStreamAgent.java) serves ListComponents,
  GetComponentDetails, RestartComponent and StopComponent. A component needs
  an `aws.greengrass.Cli` policy whose resource is the target component
  (`*` for ListComponents); greengrass-cli itself is always allowed. The
  component name is checked before the authorization.
- the nucleus's lifecycle service (LifecycleIPCEventStreamAgent.java) serves
  PauseComponent and ResumeComponent under `aws.greengrass.ipc.lifecycle`.
  Only a RUNNING generic component can be paused; the nucleus freezes its
  cgroup, the emulator stops each lifecycle process group with SIGSTOP
  (processes that left their group with setsid are not reached) and resumes
  with SIGCONT, also before any shutdown of a paused component.
- the nucleus's component metric service
  (ComponentMetricIPCEventStreamAgent.java) serves PutComponentMetric: only
  components whose name starts with `aws.` may call it, each metric name
  needs an `aws.greengrass.ipc.componentmetric` policy (StreamManager is
  exempt). The emulator has no telemetry: it writes each metric to
  greengrass.log.

The built-in components (the nucleus, greengrass-cli, the token exchange
service, the stand-ins of AWS-provided components) are not processes here:
details report them RUNNING, restart and stop answer FAILED with a message,
pause and resume refuse them as the nucleus refuses its plugins. A stand-in
deployed as a root component is listed with the version and configuration it
was deployed with, as a device lists its plugins.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from ..authorization import qualify
from ..deployment.lifecycle import State
from ..wire.errors import InvalidArgumentsError, ResourceNotFoundError, ServiceError, UnauthorizedError
from ..wire.server import Call, Operation
from .deployments import BUILTIN_COMPONENTS
from .host import Host
from .nucleus_config import NUCLEUS, NUCLEUS_VERSION

log = logging.getLogger("greengrass_local.components")

LIFECYCLE_SERVICE = "aws.greengrass.ipc.lifecycle"
METRIC_SERVICE = "aws.greengrass.ipc.componentmetric"
STREAM_MANAGER = "aws.greengrass.StreamManager"
SUCCEEDED, FAILED = "SUCCEEDED", "FAILED"
MAX_METRIC_NAME_BYTES = 32
# TelemetryUnit, which a metric's unit must name once non-alphanumerics are dropped, in any case.
TELEMETRY_UNITS = ("Bytes", "BytesPerSecond", "Count", "CountPerSecond", "Megabytes", "None", "Percent", "Seconds")
INVALID_METRIC = "Invalid argument found in PutComponentMetricRequest"
NO_METRICS = "Null or Empty list of metrics found in PutComponentMetricRequest"


class ComponentService:
    def __init__(self, nucleus: Host) -> None:
        self._nucleus = nucleus

    def operations(self) -> list[Operation]:
        return [
            Operation("ListComponents", self.list_components),
            Operation("GetComponentDetails", self.get_component_details),
            Operation("RestartComponent", self.restart_component),
            Operation("StopComponent", self.stop_component),
            Operation("PauseComponent", self.pause_component),
            Operation("ResumeComponent", self.resume_component),
            Operation("PutComponentMetric", self.put_component_metric),
        ]

    # -- what the nucleus knows of a component ----------------------------------------------

    def _configuration(self, name: str) -> dict[str, Any]:
        config = self._nucleus.config
        return config.get(name) if config.has(name) else {}

    def _details(self, name: str) -> dict[str, Any]:
        deployed = self._nucleus.components.get(name)
        if deployed is not None:
            return {
                "componentName": name,
                "version": deployed.version,
                "state": deployed.runner.state.value,
                "configuration": self._configuration(name),
            }
        if name in BUILTIN_COMPONENTS:
            details: dict[str, Any] = {"componentName": name, "state": State.RUNNING.value, "configuration": self._configuration(name)}
            if name == NUCLEUS:
                details["version"] = NUCLEUS_VERSION
            return details
        log.error("Did not find the component with the given name in Greengrass. {ComponentName=%s}", name)
        raise ResourceNotFoundError(f"Component with name {name} not found in Greengrass")

    # -- greengrass-cli's operations ----------------------------------------------------------

    def list_components(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        """Every deployed component with its version, state and configuration.

        The built-in components are left out, although a device lists them: `local deploy` reads this list to
        warn about names that are not deployed.
        """
        self._nucleus.check_cli_access(call.component, call.operation, "*")
        return {"components": [self._details(name) for name in sorted(self._nucleus.components)]}

    def _cli_target(self, call: Call, request: dict[str, Any]) -> str:
        name = request.get("componentName")
        if not isinstance(name, str) or not name:
            raise InvalidArgumentsError("Component name cannot be empty")
        self._nucleus.check_cli_access(call.component, call.operation, name)
        return name

    def get_component_details(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        return {"componentDetails": self._details(self._cli_target(call, request))}

    def restart_component(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        """SUCCEEDED means the restart was requested (GreengrassService.requestRestart); a BROKEN component stays
        BROKEN until a deployment, as on a device."""
        name = self._cli_target(call, request)
        deployed = self._nucleus.components.get(name)
        if deployed is None or name in BUILTIN_COMPONENTS:
            self._details(name)  # ResourceNotFoundError unless built in
            return {"restartStatus": FAILED, "message": f"The local nucleus does not restart its built-in {name}"}
        runner = deployed.runner
        if runner.closed:
            return {"restartStatus": FAILED}
        if runner.state is State.BROKEN:
            log.error("service is broken. Deployment is needed. {serviceName=%s}", name)
        log.info("Restart requested over IPC. {serviceName=%s, requestedBy=%s}", name, call.component)
        runner.request_restart()
        return {"restartStatus": SUCCEEDED}

    def stop_component(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        """The component runs Shutdown and stays FINISHED until RestartComponent or a deployment changes it."""
        name = self._cli_target(call, request)
        deployed = self._nucleus.components.get(name)
        if deployed is None or name in BUILTIN_COMPONENTS:
            self._details(name)
            return {"stopStatus": FAILED, "message": f"The local nucleus does not stop its built-in {name}"}
        log.info("Stop requested over IPC. {serviceName=%s, requestedBy=%s}", name, call.component)
        deployed.runner.request_stop()
        return {"stopStatus": SUCCEEDED}

    # -- the lifecycle service: pause and resume ----------------------------------------------

    def _lifecycle_target(self, call: Call, request: dict[str, Any], verb: str) -> Any:
        if self._nucleus.platform.get("os") != "linux":
            raise ServiceError("Pause/resume component not supported on this platform.")
        name = request.get("componentName")
        if not isinstance(name, str) or not name:
            raise InvalidArgumentsError("Component name is required.")
        self._nucleus.authorizer.check(call.component, LIFECYCLE_SERVICE, call.operation, name)
        if name in BUILTIN_COMPONENTS:  # deployed as a root or not: a plugin, not a generic component
            raise InvalidArgumentsError(f"Only generic components can be {verb}.")
        deployed = self._nucleus.components.get(name)
        if deployed is None:
            raise ResourceNotFoundError(None)  # the nucleus sends it without a message
        return deployed.runner

    def pause_component(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        runner = self._lifecycle_target(call, request, "paused")
        if runner.state is not State.RUNNING:
            raise InvalidArgumentsError(f"Component {runner.name} is not running")
        runner.pause()
        return {}

    def resume_component(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        runner = self._lifecycle_target(call, request, "resumed")
        if not runner.paused:
            raise InvalidArgumentsError(f"Component {runner.name} is not paused")
        runner.resume()
        return {}

    # -- the component metric service -----------------------------------------------------------

    def put_component_metric(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        component, operation = call.component, qualify(call.operation)
        if not component.startswith("aws."):
            raise UnauthorizedError(f"Principal {component} is not authorized to perform {METRIC_SERVICE}:{operation} ")
        metrics = request.get("metrics")
        if not isinstance(metrics, list) or not metrics:
            raise InvalidArgumentsError(NO_METRICS)
        for metric in metrics:
            name, unit, value = _field(metric, "name"), _field(metric, "unit"), _field(metric, "value")
            if not isinstance(name, str) or not name or len(name.encode()) > MAX_METRIC_NAME_BYTES or not unit:
                raise InvalidArgumentsError(INVALID_METRIC)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                # The nucleus unboxes a missing value and fails with a NullPointerException, a ServiceError.
                raise ServiceError(f"{INVALID_METRIC}: metric {name} has no value")
            if value < 0:
                raise InvalidArgumentsError(INVALID_METRIC)
            if component != STREAM_MANAGER:
                self._nucleus.authorizer.check(component, METRIC_SERVICE, operation, name)
        for metric in metrics:
            unit = _telemetry_unit(str(metric["unit"]))
            log.info(
                "component-metric. The local nucleus has no telemetry; not sent. "
                "{namespace=%s, name=%s, unit=%s, value=%s, aggregation=Sum}",
                component,
                metric["name"],
                unit,
                float(metric["value"]),
            )
        return {}


def _field(metric: Any, key: str) -> Any:
    return metric.get(key) if isinstance(metric, dict) else None


def _telemetry_unit(unit: str) -> str:
    wanted = re.sub(r"[^A-Za-z0-9]", "", unit).lower()
    for candidate in TELEMETRY_UNITS:
        if candidate.lower() == wanted:
            return candidate
    raise InvalidArgumentsError("Invalid telemetry unit: No matching TelemetryUnit type found")
