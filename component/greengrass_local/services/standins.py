"""Local stand-ins for AWS-provided components that recipes depend on.

A recipe may depend on aws.greengrass.SecretManager, ShadowManager,
Cloudwatch, DiskSpooler or LogManager at any version: the local nucleus
provides them itself (built in, always RUNNING) and logs which version it
plays, the highest one it knows that satisfies the requirement. SecretManager
and ShadowManager answer their IPC operations (services/secrets.py,
services/shadows.py); Cloudwatch reads `cloudwatch/metric/put` and logs what it
would send; DiskSpooler and LogManager have no effect.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ..deployment import semver
from .pubsub import PubSub, _Subscription

log = logging.getLogger("greengrass_local.standins")

SECRET_MANAGER = "aws.greengrass.SecretManager"
SHADOW_MANAGER = "aws.greengrass.ShadowManager"
CLOUDWATCH = "aws.greengrass.Cloudwatch"
DISK_SPOOLER = "aws.greengrass.DiskSpooler"
LOG_MANAGER = "aws.greengrass.LogManager"
CLOUDWATCH_TOPIC = "cloudwatch/metric/put"

# Versions each stand-in may play (released versions; the newest first).
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
    ),
    SHADOW_MANAGER: ("2.3.11", "2.3.10", "2.3.9", "2.3.8", "2.3.1", "2.3.0", "2.2.4", "2.2.0", "2.1.1", "2.1.0", "2.0.6", "2.0.0"),
    CLOUDWATCH: ("3.1.0", "3.0.0", "2.1.1", "2.1.0", "2.0.0"),
    DISK_SPOOLER: ("1.0.4", "1.0.3", "1.0.2", "1.0.1", "1.0.0"),
    LOG_MANAGER: ("2.3.9", "2.3.8", "2.3.7", "2.3.0", "2.2.8", "2.2.0", "2.1.0", "2.0.0"),
}
STANDIN_COMPONENTS = tuple(VERSIONS)
NO_EFFECT = {
    DISK_SPOOLER: "MQTT messages are not spooled: IoT Core is the local loopback or broker",
    LOG_MANAGER: "no logs are uploaded: they stay in ROOT/logs",
}


def played_version(name: str, requirement: str) -> str:
    """The highest known version that satisfies `requirement`, else the requirement's own lowest version."""
    for version in VERSIONS[name]:
        try:
            if semver.satisfies(version, requirement):
                return version
        except ValueError:
            break
    return VERSIONS[name][0]


def note_dependency(name: str, dependent: str, requirement: str) -> None:
    version = played_version(name, requirement)
    why = NO_EFFECT.get(name)
    log.info(
        "%s is a local stand-in; it plays %s for %s (requires %s)%s",
        name,
        version,
        dependent,
        requirement or "*",
        f"; accepted, it has no effect here: {why}" if why else "",
    )


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
