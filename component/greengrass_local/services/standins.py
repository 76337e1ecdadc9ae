"""Local stand-ins for AWS-provided components: as dependencies, and as root components with a configuration.

A recipe may depend on aws.greengrass.SecretManager, ShadowManager,
Cloudwatch, DiskSpooler or LogManager at any version: the local nucleus
provides them itself (built in, always RUNNING) and logs which version it
plays, the highest one it knows that satisfies the requirement. SecretManager
and ShadowManager answer their IPC operations (services/secrets.py,
services/shadows.py); Cloudwatch reads `cloudwatch/metric/put` and logs what it
would send; DiskSpooler and LogManager have no effect.

A deployment may also name a stand-in as a root component
(`--merge aws.greengrass.ShadowManager=2.3.9`), which is how component READMEs
tell users to configure them. Then it is deployed as on a device: at the
version pinned (there is nothing to download, so any version is accepted, and
one the stand-in does not know of is said in the log), with a configuration
that deployments merge and reset like any component's and that other
components read with GetConfiguration. It has no artifacts and no process:
`StandinRunner` keeps it RUNNING. Most keys are stored and not acted on; the
stand-in says which, once per change, since a user who set `synchronize`
expects a cloud sync that does not happen. ShadowManager honours
`shadowDocumentSizeLimitBytes` (services/shadows.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..deployment import semver
from ..deployment.configtree import find_key
from ..deployment.lifecycle import State
from ..deployment.logs import ComponentLog
from ..deployment.recipes import Manifest, Recipe
from ..deployment.runner import ComponentRunner, RunSpec
from .pubsub import PubSub, _Subscription
from .shadows import DOCUMENT_SIZE_LIMIT_KEY, document_size_limit

log = logging.getLogger("greengrass_local.standins")

SECRET_MANAGER = "aws.greengrass.SecretManager"
SHADOW_MANAGER = "aws.greengrass.ShadowManager"
CLOUDWATCH = "aws.greengrass.Cloudwatch"
DISK_SPOOLER = "aws.greengrass.DiskSpooler"
LOG_MANAGER = "aws.greengrass.LogManager"
CLOUDWATCH_TOPIC = "cloudwatch/metric/put"

# Versions each stand-in may play (released versions; the newest first). The newest of each stays what a
# dependency's requirement has been played at so far; the ones below are the component repositories' release tags.
VERSIONS: dict[str, tuple[str, ...]] = {
    SECRET_MANAGER: (
        "2.2.2",
        "2.2.1",
        "2.2.0",
        "2.1.9",
        "2.1.8",
        "2.1.7",
        "2.1.6",
        "2.1.5",
        "2.1.4",
        "2.1.3",
        "2.1.2",
        "2.1.1",
        "2.1.0",
        "2.0.9",
        "2.0.8",
        "2.0.7",
        "2.0.6",
        "2.0.5",
    ),
    SHADOW_MANAGER: (
        "2.3.11",
        "2.3.10",
        "2.3.9",
        "2.3.8",
        "2.3.7",
        "2.3.6",
        "2.3.5",
        "2.3.4",
        "2.3.3",
        "2.3.2",
        "2.3.1",
        "2.3.0",
        "2.2.4",
        "2.2.3",
        "2.2.2",
        "2.2.1",
        "2.2.0",
        "2.1.1",
        "2.1.0",
        "2.0.6",
        "2.0.5",
        "2.0.4",
        "2.0.3",
        "2.0.2",
        "2.0.1",
        "2.0.0",
    ),
    CLOUDWATCH: ("3.1.0", "3.0.0", "2.1.1", "2.1.0", "2.0.0"),
    DISK_SPOOLER: ("1.0.4", "1.0.3", "1.0.2", "1.0.1", "1.0.0"),
    LOG_MANAGER: ("2.3.9", "2.3.8", "2.3.7", "2.3.0", "2.2.8", "2.2.0", "2.1.0", "2.0.0"),
}
STANDIN_COMPONENTS = tuple(VERSIONS)
NO_EFFECT = {
    DISK_SPOOLER: "MQTT messages are not spooled: IoT Core is the local loopback or broker",
    LOG_MANAGER: "no logs are uploaded: they stay in ROOT/logs",
}
# Why a stand-in stores a configuration key without acting on it, and the keys it does act on.
NOT_ACTED_ON = {
    SECRET_MANAGER: "secrets come from `local run --secrets FILE`, not from AWS Secrets Manager",
    SHADOW_MANAGER: "there is no cloud shadow service to synchronize with, and local requests are not rate-limited",
    CLOUDWATCH: "metrics are logged to greengrass.log, not sent to CloudWatch",
    **NO_EFFECT,
}
ACTED_ON: dict[str, tuple[str, ...]] = {SHADOW_MANAGER: (DOCUMENT_SIZE_LIMIT_KEY,)}


def played_version(name: str, requirement: str) -> str:
    """The highest known version that satisfies `requirement`, else the requirement's own lowest version."""
    for version in VERSIONS[name]:
        try:
            if semver.satisfies(version, requirement):
                return version
        except ValueError:
            break
    return VERSIONS[name][0]


def note_dependency(name: str, dependent: str, requirement: str, root_version: str | None = None) -> None:
    """Which version a dependency gets: the root's when the stand-in is deployed as one, else the best known."""
    version = root_version or played_version(name, requirement)
    why = NO_EFFECT.get(name)
    log.info(
        "%s is a local stand-in; it plays %s for %s (requires %s)%s",
        name,
        version,
        dependent,
        requirement or "*",
        f"; accepted, it has no effect here: {why}" if why else "",
    )


# -- as a root component ------------------------------------------------------------------------


def standin_recipe(name: str, version: str) -> Recipe:
    """A stand-in as the component store knows it: no artifacts, no lifecycle, no default configuration.

    The components' own recipes declare no DefaultConfiguration either (aws-greengrass-shadow-manager's
    recipe.yaml), so what a deployment merges is the whole configuration, as on a device.
    """
    return Recipe(
        name=name,
        version=version,
        manifests=(Manifest(platform={}, lifecycle={}),),
        description=f"Local stand-in for {name} (greengrass_local)",
        publisher="AWS",
    )


def check_root_version(name: str, version: str) -> str | None:
    """None when `version` can be played as a root; else why not. Not a known release is only a note."""
    if not semver.is_version(version):
        return f"{name}={version}: not a version (MAJOR.MINOR.PATCH)"
    return None


def note_root(name: str, version: str) -> None:
    known = VERSIONS[name]
    unknown = "" if version in known else f"; {version} is not among the releases it knows ({known[-1]} to {known[0]})"
    log.info("%s is a local stand-in; it plays %s as a root component%s", name, version, unknown)


def check_configuration(name: str, configuration: dict[str, Any]) -> None:
    """Raise ValueError with the component's own text for a value it would not start with.

    On a device ShadowManager errors (InvalidConfigurationException, then BROKEN); here the deployment fails first.
    """
    if name == SHADOW_MANAGER:
        document_size_limit(configuration)


class ConfigurationNotes:
    """Tells which configuration keys a stand-in stores but does not act on, and what it does act on: once per change."""

    def __init__(self) -> None:
        self._said: dict[tuple[str, str], str] = {}

    def note(self, name: str, configuration: dict[str, Any], component_log: ComponentLog | None = None) -> None:
        acted = [key for key in ACTED_ON.get(name, ()) if find_key(configuration, key) is not None]
        ignored = sorted((str(key) for key in configuration if str(key) not in acted), key=str.casefold)
        lines: dict[str, str] = {}
        if ignored:
            lines["ignored"] = f"{name} stand-in stores but does not act on: {', '.join(ignored)} ({NOT_ACTED_ON[name]})"
        if acted:  # only ShadowManager's size limit so far
            limit = document_size_limit(configuration)
            lines["acted"] = (
                f"{name} stand-in acts on: {DOCUMENT_SIZE_LIMIT_KEY} (shadow updates may hold {limit} bytes of desired and reported state)"
            )
        for kind in ("ignored", "acted"):
            line = lines.get(kind, "")
            if self._said.get((name, kind), "") == line:
                continue
            self._said[(name, kind)] = line
            if line:
                log.info("%s", line)
                if component_log is not None:
                    component_log.write("INFO", "standin-configuration", line, {})

    def forget(self, name: str) -> None:
        for kind in ("ignored", "acted"):
            self._said.pop((name, kind), None)


class StandinRunner(ComponentRunner):
    """A root stand-in's place among the deployed components: RUNNING from the start, no process, no restart.

    It is built in, as the nucleus's plugins are; the services that do its work (shadows, secrets, Cloudwatch)
    run whether or not it is a root.
    """

    def __init__(self, name: str, version: str, work_dir: Path, on_state: Callable[[ComponentRunner, State, State], None]) -> None:
        spec = RunSpec(name=name, version=version, lifecycle={}, environment={}, work_dir=work_dir)
        super().__init__(spec, _NO_LOG, dependencies_ready=lambda: True, on_state=on_state)

    def start(self) -> None:
        self._set(State.RUNNING)

    def request_restart(self) -> None:
        return None

    def request_stop(self) -> None:
        return None

    async def stop(self) -> None:
        self._stop_requested = True
        self._set(State.FINISHED)


class _NoLog(ComponentLog):
    """StandinRunner never runs a step, so never writes a step's output."""

    def __init__(self) -> None:
        pass

    def write(self, level: str, event: str, message: str, context: dict[str, str], thread: str = "Copier") -> None:
        return None

    def close(self) -> None:
        return None


_NO_LOG = _NoLog()


class _Listener:
    """A pub/sub subscriber inside the emulator."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def send(self, payload: bytes) -> bool:
        self._handle(payload)
        return True

    def on_close(self, callback: Any) -> None:
        return None


class Cloudwatch:
    """aws.greengrass.Cloudwatch: reads `cloudwatch/metric/put` and logs each metric it would send."""

    def __init__(self, pubsub: PubSub) -> None:
        self._pubsub = pubsub
        self._listening = False

    def activate(self) -> None:
        if self._listening:
            return
        self._listening = True
        subscription = _Subscription(CLOUDWATCH, CLOUDWATCH_TOPIC, True, _Listener(self._on_message))  # type: ignore[arg-type]
        self._pubsub._exact[CLOUDWATCH_TOPIC].append(subscription)
        log.info("%s stand-in subscribed to %s; metrics are logged, not sent to CloudWatch", CLOUDWATCH, CLOUDWATCH_TOPIC)

    def _on_message(self, payload: bytes) -> None:
        try:
            message = json.loads(payload)
            body = message.get("jsonMessage") or message.get("binaryMessage") or {}
            request = body.get("message")
            if isinstance(request, str):  # a binary message: base64 of the JSON
                import base64

                request = json.loads(base64.b64decode(request))
            request = request["request"]
            namespace = request["namespace"]
            data = request["metricData"]
            metric = {
                "namespace": namespace,
                "metricName": data["metricName"],
                "value": data["value"],
                "unit": data.get("unit", "None"),
                "dimensions": {d.get("name"): d.get("value") for d in data.get("dimensions") or []},
                "timestamp": data.get("timestamp"),
            }
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("%s: ignoring a message on %s that is not a metric request: %s", CLOUDWATCH, CLOUDWATCH_TOPIC, exc)
            return
        fields = ", ".join(f"{key}={value}" for key, value in metric.items())
        log.info("cloudwatch-metric-put (would send to CloudWatch). {%s}", fields)
