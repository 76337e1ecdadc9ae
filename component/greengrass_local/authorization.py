"""`accessControl` policies, evaluated the way the nucleus does. Pure.

A component's policies live in its own configuration under `accessControl`:
service -> policy id -> {operations, resources}. The nucleus has two matchers
(authorization/WildcardTrie.java):

- standard (local pub/sub, CLI): `*` is a glob that also crosses `/`; `+` and
  `#` are ordinary characters, so subscribing to `a/+` needs a resource that
  matches the text `a/+`;
- MQTT style (IoT Core, `aws.greengrass.ipc.mqttproxy`): `*` is a glob, a whole
  level `+` matches one level, a trailing `/#` (or `#` alone) matches the rest,
  and `a/#` covers `a` itself.

`${*}`, `${$}` and `${?}` stand for literal characters; a bare `?` makes the
resource invalid, and it is ignored.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .wire.errors import UnauthorizedError

log = logging.getLogger("greengrass_local.authorization")

PUBSUB_SERVICE = "aws.greengrass.ipc.pubsub"
MQTTPROXY_SERVICE = "aws.greengrass.ipc.mqttproxy"
CLI_SERVICE = "aws.greengrass.Cli"
ANY = "*"
EMPTY_RESOURCE = "Resource cannot be empty"


@dataclass(frozen=True)
class Policy:
    policy_id: str
    operations: tuple[str, ...]
    resources: tuple[str, ...]


def resource_problem(resource: str) -> str | None:
    """Why the nucleus would refuse a policy resource, or None."""
    if resource == "":
        return EMPTY_RESOURCE
    stripped = re.sub(r"\$\{[*$?]\}", "", resource)
    if "${" in stripped:
        return "Resource contains an invalid escape sequence. You can use ${*}, ${$}, or ${?}"
    if "?" in stripped:
        return "Resource contains invalid character: '?'. Use an escape sequence: ${?}. The '?' character isn't supported as a wildcard"
    return None


def policies_for(access_control: Any, service: str) -> list[Policy]:
    """The usable policies of one service in an `accessControl` value (object or JSON string)."""
    if isinstance(access_control, str):
        try:
            access_control = json.loads(access_control)
        except ValueError:
            return []
    if not isinstance(access_control, dict):
        return []
    by_id = access_control.get(service)
    if not isinstance(by_id, dict):
        return []
    policies = []
    for policy_id, body in by_id.items():
        fields = {str(k).lower(): v for k, v in body.items()} if isinstance(body, dict) else {}
        operations = fields.get("operations")
        resources = fields.get("resources") or []
        if not isinstance(operations, list) or not operations or not isinstance(resources, list):
            continue
        usable = []
        for resource in map(str, resources):
            problem = resource_problem(resource)
            if problem:
                log.warning("ignoring resource %r of policy %s: %s", resource, policy_id, problem)
            else:
                usable.append(resource)
        policies.append(Policy(str(policy_id), tuple(map(str, operations)), tuple(usable)))
    return policies


_ESCAPE = re.compile(r"\$\{([*$?])\}")


@lru_cache(maxsize=4096)
def _pattern(resource: str, mqtt: bool) -> re.Pattern[str]:
    tokens: list[str] = []
    levels = resource.split("/")
    for index, level in enumerate(levels):
        last = index == len(levels) - 1
        if mqtt and level == "+":
            tokens.append("[^/]*")
        elif mqtt and level == "#" and last:
            if index == 0:
                tokens.append(".*")
            else:
                tokens[-1] = tokens[-1].removesuffix("/")
                tokens.append("(?:/.*)?")
                continue
        else:
            tokens.append(_glob_level(level))
        if not last:
            tokens.append("/")
    return re.compile("".join(tokens), re.DOTALL)


def _glob_level(level: str) -> str:
    parts = []
    for index, piece in enumerate(_ESCAPE.split(level)):
        if index % 2:
            parts.append(re.escape(piece))
        else:
            parts.append(".*".join(re.escape(chunk) for chunk in piece.split("*")))
    return "".join(parts)


def resource_matches(pattern: str, resource: str, *, mqtt: bool) -> bool:
    return pattern in (ANY, resource) or _pattern(pattern, mqtt).fullmatch(resource) is not None


def is_allowed(policies: Iterable[Policy], operation: str, resource: str, *, mqtt: bool) -> bool:
    qualified = qualify(operation)
    for policy in policies:
        if ANY not in policy.operations and qualified not in policy.operations:
            continue
        if any(resource_matches(pattern, resource, mqtt=mqtt) for pattern in policy.resources):
            return True
    return False


def qualify(operation: str) -> str:
    return operation if "#" in operation else f"aws.greengrass#{operation}"


def denial_message(component: str, service: str, operation: str, resource: str) -> str:
    return f"Principal {component} is not authorized to perform {service}:{qualify(operation)} on resource {resource}"


DECISIONS_KEPT = 4096


class Authorizer:
    """Checks a caller against the `accessControl` in its current configuration."""

    def __init__(self, access_control_of: Callable[[str], Any]) -> None:
        self._access_control_of = access_control_of
        self._parsed: dict[tuple[str, str], tuple[Any, list[Policy]]] = {}
        self._decided: dict[tuple[str, str, str, str], tuple[Any, bool]] = {}

    def _policies(self, component: str, service: str) -> list[Policy]:
        """Parsed once per configuration object: configurations are replaced, never changed in place."""
        access_control = self._access_control_of(component)
        cached = self._parsed.get((component, service))
        if cached is not None and cached[0] is access_control:
            return cached[1]
        policies = policies_for(access_control, service)
        self._parsed[(component, service)] = (access_control, policies)
        return policies

    def allowed(self, component: str, service: str, operation: str, resource: str) -> bool:
        """Decided once per configuration object and request: a component publishes to the same few topics all the time."""
        access_control = self._access_control_of(component)
        key = (component, service, operation, resource)
        decided = self._decided.get(key)
        if decided is not None and decided[0] is access_control:
            return decided[1]
        allowed = is_allowed(self._policies(component, service), operation, resource, mqtt=service == MQTTPROXY_SERVICE)
        if len(self._decided) >= DECISIONS_KEPT:
            self._decided.clear()
        self._decided[key] = (access_control, allowed)
        return allowed

    def check(self, component: str, service: str, operation: str, resource: str) -> None:
        """Raise the nucleus's UnauthorizedError unless a policy allows this."""
        if resource == "":
            raise UnauthorizedError(EMPTY_RESOURCE)
        if not self.allowed(component, service, operation, resource):
            raise UnauthorizedError(denial_message(component, service, operation, resource))
