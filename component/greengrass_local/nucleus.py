"""The local nucleus: IPC server, services and component lifecycles wired together.

`LocalNucleus` is what `mlfeedback local run` starts and what tests start in
process. It serves IPC on ROOT/ipc.socket, runs components deployed from a
recipe folder and an artifact folder, and writes ROOT/logs. The services it
wires (pub/sub, IoT Core, configuration, deployments) know nothing of each
other; this module owns who is deployed and in which state.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import secrets
import socket
import string
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .authorization import CLI_SERVICE, Authorizer, qualify
from .deployment.lifecycle import READY_FOR_DEPENDENTS, State
from .deployment.logs import ComponentLog, open_greengrass_log
from .deployment.recipes import current_platform
from .deployment.runner import ComponentRunner, RunSpec
from .deployment.store import ComponentStore
from .services.components import ComponentService
from .services.configuration import ConfigStore
from .services.deployments import BUILTIN_COMPONENTS, DeploymentService
from .services.host import DeployedComponent, StateChanges
from .services.iotcore import IoTCore, MqttBridge, Transport
from .services.nucleus_config import EFFECTIVE_CONFIG, NUCLEUS, NUCLEUS_VERSION, dump_effective_config, initial_configuration
from .services.pubsub import BINARY_MESSAGE, PubSub
from .services.secrets import SecretManager
from .services.shadows import SHADOW_MANAGER, SHADOWS_FILE, Shadows
from .services.standins import Cloudwatch
from .services.updates import ComponentUpdates
from .wire.errors import ResourceNotFoundError, ServiceError
from .wire.server import Call, IpcServer, Operation

log = logging.getLogger("greengrass_local.nucleus")

EMULATED_NUCLEUS_VERSION = NUCLEUS_VERSION
CLI_PRINCIPAL = "greengrass-cli#local"
SOCKET_PATH_LIMIT = 108


class RootInUse(Exception):
    """Another nucleus serves this root: a second one would take its socket and run the same components' work folders."""


def _socket_answers(path: str) -> bool:
    target = os.path.realpath(path)
    if not os.path.exists(target):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(target)
        except OSError:
            return False
    return True


# Operations whose handlers only plugin components register on a device (aws.greengrass.clientdevices.Auth,
# aws.greengrass.LocalDebugConsole): without them the nucleus answers with its default handler's error.
PROVIDED_BY_PLUGINS = (
    "AuthorizeClientDeviceAction",
    "GetClientDeviceAuthToken",
    "SubscribeToCertificateUpdates",
    "VerifyClientDeviceIdentity",
    "CreateDebugPassword",
)


def _not_supported_by_greengrass(call: Call, request: dict[str, Any]) -> dict[str, Any]:
    """The nucleus's DefaultOperationHandler (ipc/common/DefaultOperationHandler.java), word for word."""
    raise ServiceError(f"Operation {qualify(call.operation)} is not supported by Greengrass")


class LocalNucleus:
    """IoT Core traffic goes to `iot_core` when given (an in-process stand-in for the cloud), else to the
    MQTT broker at `mqtt_broker`, else to a loopback that SubscribeToIoTCore clients see."""

    def __init__(
        self,
        root: Path,
        *,
        mqtt_broker: tuple[str, int] | None = None,
        iot_core: Transport | None = None,
        thing_name: str = "local-greengrass-core",
        region: str | None = None,
        platform: dict[str, str] | None = None,
        environment: dict[str, str] | None = None,
        secrets: dict[str, Any] | None = None,
    ) -> None:
        self.root = root.resolve()
        self.thing_name = thing_name
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.platform = platform or current_platform()
        self.base_environment = dict(os.environ if environment is None else environment)
        self.logs_dir = self.root / "logs"
        self.store = ComponentStore(self.root / "packages")
        self.config = ConfigStore()
        self.config.replace(NUCLEUS, initial_configuration(self.region))  # aws.greengrass.Nucleus is a component too
        self.authorizer = Authorizer(lambda component: self.config.get(component).get("accessControl"))
        self.pubsub = PubSub(self.authorizer)
        if iot_core is not None and mqtt_broker is not None:
            raise ValueError("give the nucleus an MQTT broker or an IoT Core transport, not both")
        if mqtt_broker is not None:
            iot_core = MqttBridge(*mqtt_broker)
        self.iotcore = IoTCore(self.authorizer, iot_core)
        self.secrets = SecretManager(self.authorizer, secrets, self.region)  # aws.greengrass.SecretManager stand-in
        self.shadows = Shadows(  # aws.greengrass.ShadowManager, its shadows kept in its work folder as on a device
            self.authorizer,
            [self.iotcore.publish_from_nucleus, self._shadow_to_pubsub],
            path=self.root / SHADOWS_FILE,
            configuration=lambda: self.config.get(SHADOW_MANAGER) if self.config.has(SHADOW_MANAGER) else None,
        )
        self.cloudwatch = Cloudwatch(self.pubsub)
        self.updates = ComponentUpdates(lambda component: component in self.components)
        self.deployments = DeploymentService(self)
        self.deployments.listeners.append(lambda _record: self.write_effective_config())
        self.components: dict[str, DeployedComponent] = {}
        self.roots: dict[str, str] = {}
        self.changes = StateChanges()
        self.state_listeners: list[Callable[[str, State, State], None]] = []
        self._principals: dict[str, str] = {}
        self._tokens: dict[str, str] = {}
        self._log_handler: logging.Handler | None = None
        self._socket_dir: str | None = None
        self.socket_path = str(self.root / "ipc.socket")
        operations: dict[str, Operation] = {}
        self.component_service = ComponentService(self)
        services = (self.pubsub, self.iotcore, self.config, self.deployments, self.component_service, self.updates)
        for service in (*services, self.secrets, self.shadows):
            operations.update({operation.name: operation for operation in service.operations()})
        operations["UpdateState"] = Operation("UpdateState", self.update_state)
        for name in PROVIDED_BY_PLUGINS:
            operations[name] = Operation(name, _not_supported_by_greengrass)
        self.server = IpcServer(self._listen_path(), self.authenticate, operations)

    # -- start and stop ------------------------------------------------------------------

    def _listen_path(self) -> str:
        """Where the server binds: ROOT/ipc.socket, or a short path it links to when that is too long."""
        if len(self.socket_path) < SOCKET_PATH_LIMIT:
            return self.socket_path
        self._socket_dir = tempfile.mkdtemp(prefix="gg-")
        return os.path.join(self._socket_dir, "ipc.socket")

    @property
    def component_socket_path(self) -> str:
        """AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT: relative when the absolute path is too long."""
        return self.socket_path if self._socket_dir is None else "../../ipc.socket"

    async def start(self) -> None:
        if _socket_answers(self.socket_path):
            raise RootInUse(
                f"another local nucleus is running on {self.root} ({self.socket_path} answers); stop it first "
                "(Ctrl-C in its terminal) or give this one another --root"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "work").mkdir(exist_ok=True)
        self._log_handler = open_greengrass_log(self.logs_dir)
        logging.getLogger("greengrass_local").addHandler(self._log_handler)
        logging.getLogger("greengrass_local").setLevel(logging.INFO)
        self.shadows.load()  # after the log opens: a corrupt file is reported there
        await self.iotcore.start()
        await self.server.start()
        if self._socket_dir is not None:
            if os.path.lexists(self.socket_path):
                os.unlink(self.socket_path)
            os.symlink(self.server.socket_path, self.socket_path)
        self._write_cli_token()
        self.deployments.start()
        self.write_effective_config()
        log.info("Launched local nucleus. {root=%s, socket=%s}", self.root, self.socket_path)

    async def stop(self) -> None:
        """Stop every component (dependents before their dependencies), then the services."""
        await self.deployments.stop()
        await self.stop_components(list(self.components))
        await self.iotcore.stop()
        await self.server.stop()
        if self._socket_dir is not None:
            for path in (self.socket_path, self._socket_dir):
                with contextlib.suppress(OSError):
                    os.unlink(path) if path == self.socket_path else os.rmdir(path)
        self.write_effective_config()
        log.info("Shutdown completed.")
        if self._log_handler is not None:
            logging.getLogger("greengrass_local").removeHandler(self._log_handler)
            self._log_handler.close()

    async def stop_components(self, names: list[str]) -> None:
        remaining = {name for name in names if name in self.components}
        while remaining:
            layer = [
                name
                for name in remaining
                if not any(name in self.components[other].recipe.dependencies for other in remaining if other != name)
            ]
            layer = layer or list(remaining)
            await asyncio.gather(*(self.components[name].runner.stop() for name in layer))
            for name in layer:
                remaining.discard(name)

    # -- identities --------------------------------------------------------------------

    def authenticate(self, token: str | None) -> str | None:
        return self._principals.get(token) if token else None

    def token_for(self, component: str) -> str:
        token = self._tokens.get(component)
        if token is None:
            token = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16))
            self._tokens[component] = token
            self._principals[token] = component
        return token

    def _write_cli_token(self) -> None:
        """Where `mlfeedback local deploy` finds its credentials, like greengrass-cli's cli_ipc_info."""
        token = "greengrass-cli#" + secrets.token_hex(16)
        self._principals[token] = CLI_PRINCIPAL
        folder = self.root / "cli_ipc_info"
        folder.mkdir(exist_ok=True)
        path = folder / "shared_config"
        path.write_text(json.dumps({"cli_auth_token": token, "socket_path": self.socket_path}), encoding="utf-8")
        os.chmod(path, 0o600)

    def check_cli_access(self, principal: str, operation: str, resource: str) -> None:
        if principal == CLI_PRINCIPAL or principal.startswith("greengrass-cli#") or principal == "aws.greengrass.Cli":
            return
        self.authorizer.check(principal, CLI_SERVICE, operation, resource)

    def cli_token_path(self) -> Path:
        return self.root / "cli_ipc_info" / "shared_config"

    def write_effective_config(self) -> None:
        """ROOT/config/effectiveConfig.yaml: at start, after each deployment and at stop (a device: start and stop)."""
        try:
            dump_effective_config(self)
        except OSError as exc:
            log.error("effective-config-dump-error. {file=%s, error=%s}", self.root / EFFECTIVE_CONFIG, exc)

    # -- what components see --------------------------------------------------------------

    def environment(self, component: str) -> dict[str, str]:
        """The emulator's own environment with the nucleus's variables on top (ShellRunner + root setenv)."""
        token = self.token_for(component)
        env = dict(self.base_environment)
        env.update(
            {
                "SVCUID": token,
                "AWS_CONTAINER_AUTHORIZATION_TOKEN": token,
                "GG_ROOT_CA_PATH": "",
                "AWS_IOT_THING_NAME": self.thing_name,
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "GGC_VERSION": EMULATED_NUCLEUS_VERSION,
                "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH": self.socket_path,
                "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": self.component_socket_path,
            }
        )
        return env

    def state(self, component: str) -> State | None:
        if component in BUILTIN_COMPONENTS:
            return State.RUNNING
        deployed = self.components.get(component)
        return deployed.runner.state if deployed else None

    def dependencies_ready(self, spec: RunSpec) -> bool:
        return all(self.state(name) in READY_FOR_DEPENDENTS for name in spec.hard_dependencies)

    def on_state(self, runner: ComponentRunner, old: State, new: State) -> None:
        for deployed in self.components.values():
            deployed.runner.poke()
        for listener in list(self.state_listeners):
            listener(runner.name, old, new)
        self.changes.notify()

    def component_log(self, component: str) -> ComponentLog:
        return ComponentLog(self.logs_dir / f"{component}.log", component)

    def _shadow_to_pubsub(self, topic: str, payload: bytes) -> None:
        self.pubsub.deliver(SHADOW_MANAGER, topic, BINARY_MESSAGE, base64.b64encode(payload).decode("ascii"))

    # -- IPC: UpdateState ---------------------------------------------------------------------

    def update_state(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        deployed = self.components.get(call.component)
        if deployed is None:
            raise ResourceNotFoundError("Component with given name not found", resourceType="Component", resourceName=call.component)
        try:
            reported = State(str(request.get("state")))
        except ValueError:
            raise ServiceError(f"Invalid state {request.get('state')}; a component may report RUNNING or ERRORED") from None
        deployed.runner.report_state(reported)
        return {}
