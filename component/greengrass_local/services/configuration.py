"""Component configuration over IPC, and its validation during deployments.

Behaviour and texts follow ConfigStoreIPCEventStreamAgent.java: no
authorization on configuration operations, keys matched case-insensitively,
`_`-prefixed keys hidden, one update event per changed node with its key path
relative to the configuration root, and UpdateConfiguration refused when its
timestamp is older than what it would overwrite.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from ..deployment.configtree import KeyNotFound, KeyPath, changed_paths, find_key, get_path, merged, resolve_path
from ..wire.errors import FailedUpdateConditionCheckError, InvalidArgumentsError, ResourceNotFoundError, ServiceError
from ..wire.gson import as_doubles
from ..wire.server import Call, Operation, Stream

KEY_NOT_FOUND = "Key not found"
VALIDATION_TIMEOUT_SECONDS = 20.0
ACCEPTED = "ACCEPTED"
REJECTED = "REJECTED"


@dataclass(eq=False)
class _UpdateSubscription:
    component: str
    key_path: KeyPath
    stream: Stream


@dataclass
class _Component:
    tree: dict[str, Any] = field(default_factory=dict)
    modtimes: dict[KeyPath, float] = field(default_factory=dict)  # leaf path (casefolded) -> ms


def _folded(key_path: KeyPath) -> KeyPath:
    return tuple(key.casefold() for key in key_path)


def _leaf_paths(node: Any, prefix: KeyPath = ()) -> list[KeyPath]:
    if isinstance(node, dict) and node:
        return [path for key, value in node.items() for path in _leaf_paths(value, (*prefix, key))]
    return [prefix]


def _visible(node: Any) -> Any:
    """The nucleus's view of a subtree: `_` keys hidden, keys sorted case-insensitively."""
    if not isinstance(node, dict):
        return node
    return {k: _visible(node[k]) for k in sorted(node, key=lambda k: str(k).casefold()) if not str(k).startswith("_")}


class ValidationFailed(Exception):
    """A component rejected, or did not answer, a proposed configuration."""


class ConfigStore:
    def __init__(self) -> None:
        self._components: dict[str, _Component] = {}
        self._update_subscriptions: list[_UpdateSubscription] = []
        self._validators: dict[str, Stream] = {}
        self._pending_reports: dict[tuple[str, str], asyncio.Future[tuple[str, str]]] = {}

    def operations(self) -> list[Operation]:
        return [
            Operation("GetConfiguration", self.get_configuration),
            Operation("UpdateConfiguration", self.update_configuration),
            Operation("SubscribeToConfigurationUpdate", self.subscribe_to_configuration_update, "ConfigurationUpdateEvents"),
            Operation(
                "SubscribeToValidateConfigurationUpdates",
                self.subscribe_to_validate_configuration_updates,
                "ValidateConfigurationUpdateEvents",
            ),
            Operation("SendConfigurationValidityReport", self.send_configuration_validity_report),
        ]

    # -- used by the nucleus -------------------------------------------------------

    def has(self, component: str) -> bool:
        return component in self._components

    def get(self, component: str) -> dict[str, Any]:
        entry = self._components.get(component)
        return entry.tree if entry else {}

    def replace(self, component: str, tree: dict[str, Any]) -> list[KeyPath]:
        """Install a component's whole configuration (a deployment); notifies subscribers."""
        entry = self._components.setdefault(component, _Component())
        return self._commit(component, entry, tree, time.time() * 1000)

    def remove(self, component: str) -> None:
        self._components.pop(component, None)

    def wants_validation(self, component: str) -> bool:
        stream = self._validators.get(component)
        return stream is not None and not stream.closed

    async def validate(
        self, component: str, proposed: dict[str, Any], deployment_id: str, timeout: float = VALIDATION_TIMEOUT_SECONDS
    ) -> tuple[str, str]:
        """Ask a subscribed component about a proposed configuration; returns (status, message)."""
        stream = self._validators.get(component)
        if stream is None or stream.closed:
            return ACCEPTED, ""
        key = (component, deployment_id)
        future: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()
        self._pending_reports[key] = future
        try:
            if not stream.send_json({"validateConfigurationUpdateEvent": {"configuration": proposed, "deploymentId": deployment_id}}):
                raise ValidationFailed(f"Error requesting validation from component {component}")
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise ValidationFailed("Error while waiting for validation report for one or more components:null") from None
        finally:
            self._pending_reports.pop(key, None)

    def _commit(self, component: str, entry: _Component, tree: dict[str, Any], modtime: float) -> list[KeyPath]:
        changed = changed_paths(entry.tree, tree)
        entry.tree = tree
        for path in changed:
            folded = _folded(path)
            for stale in [p for p in entry.modtimes if p[: len(folded)] == folded]:
                del entry.modtimes[stale]
            try:
                subtree = get_path(tree, path)
            except KeyNotFound:
                continue
            for leaf in _leaf_paths(subtree, path):
                entry.modtimes[_folded(leaf)] = modtime
        self._notify(component, changed)
        return changed

    def _notify(self, component: str, changed: list[KeyPath]) -> None:
        for subscription in list(self._update_subscriptions):
            if subscription.component != component:
                continue
            watched = _folded(subscription.key_path)
            for path in changed:
                folded = _folded(path)
                if folded[: len(watched)] == watched or watched[: len(folded)] == folded:
                    event = {"configurationUpdateEvent": {"componentName": component, "keyPath": list(path)}}
                    subscription.stream.send_json(event)

    # -- IPC operations ----------------------------------------------------------------

    def _entry(self, component: str) -> _Component:
        entry = self._components.get(component)
        if entry is None:
            raise ResourceNotFoundError(KEY_NOT_FOUND)
        return entry

    def get_configuration(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        component = request.get("componentName") or call.component
        entry = self._entry(component)
        key_path = tuple(request.get("keyPath") or ())
        try:
            actual = resolve_path(entry.tree, key_path)
        except KeyNotFound:
            raise ResourceNotFoundError(KEY_NOT_FOUND) from None
        value = get_path(entry.tree, actual)
        if not isinstance(value, dict):
            value = {actual[-1]: value}
        return {"componentName": component, "value": _visible(value)}

    def update_configuration(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        timestamp = request.get("timestamp")
        if timestamp is None:
            raise InvalidArgumentsError("Timestamp is required")
        value = request.get("valueToMerge")
        if value is None:
            raise InvalidArgumentsError("ValueToMerge is required")
        if not isinstance(value, dict):
            raise InvalidArgumentsError("ValueToMerge must be an object")
        key_path = tuple(str(k) for k in request.get("keyPath") or ())
        touched = key_path[:1] if key_path else tuple(value)
        if any(str(k).casefold() == "accesscontrol" for k in touched):
            raise InvalidArgumentsError("Config update is not allowed for following fields [accessControl]")
        entry = self._components.get(call.component)
        if entry is None:
            raise ServiceError(f"Component config not found for component {call.component}")
        proposed_ms = float(timestamp) * 1000
        update = self._newer_leaves(entry, key_path, as_doubles(value), proposed_ms)
        tree = entry.tree
        if update is not None:
            tree = merged(tree, update)
        self._commit(call.component, entry, tree, proposed_ms)
        newest = max((t for p, t in entry.modtimes.items() if p[: len(key_path)] == _folded(key_path)), default=0.0)
        if proposed_ms < newest:
            raise FailedUpdateConditionCheckError("Proposed timestamp is older than the config's latest modified timestamp")
        return {}

    def _newer_leaves(self, entry: _Component, key_path: KeyPath, value: dict[str, Any], proposed_ms: float) -> dict[str, Any] | None:
        """The update as a tree from the root, without leaves newer than the proposal."""
        node: Any = entry.tree
        spelt: list[str] = []
        for index, key in enumerate(key_path):
            found = find_key(node, key) if isinstance(node, dict) else None
            if found is not None and not isinstance(node[found], dict) and index < len(key_path) - 1:
                raise ServiceError(f"{found} in {'.'.join([*spelt, found])} is already a leaf, cannot become a container")
            spelt.append(found or key)
            node = node.get(found) if isinstance(node, dict) and found is not None else None

        def keep(subtree: dict[str, Any], prefix: KeyPath) -> dict[str, Any]:
            kept: dict[str, Any] = {}
            for key, item in subtree.items():
                path = (*prefix, key)
                if isinstance(item, dict) and item:
                    kept[key] = keep(item, path)
                elif entry.modtimes.get(_folded(path), 0.0) <= proposed_ms:
                    kept[key] = item
            return kept

        base = tuple(spelt)
        if isinstance(node, dict) or node is None:
            update: Any = keep(value, base)
        else:  # a leaf at key_path becomes a container holding the value
            update = value
        for key in reversed(base):
            update = {key: update}
        return update if update else None

    def subscribe_to_configuration_update(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        component = request.get("componentName") or call.component
        entry = self._entry(component)
        key_path = tuple(request.get("keyPath") or ())
        if key_path:
            try:
                key_path = resolve_path(entry.tree, key_path)
            except KeyNotFound:
                raise ResourceNotFoundError(KEY_NOT_FOUND) from None
        assert call.stream is not None
        subscription = _UpdateSubscription(component, key_path, call.stream)
        self._update_subscriptions.append(subscription)
        call.stream.on_close(
            lambda: self._update_subscriptions.remove(subscription) if subscription in self._update_subscriptions else None
        )
        return {}

    def subscribe_to_validate_configuration_updates(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        assert call.stream is not None
        stream = call.stream
        current = self._validators.get(call.component)
        if current is None or current.closed:
            self._validators[call.component] = stream

        def forget() -> None:
            # The nucleus drops the component's listener when any of its streams closes.
            self._validators.pop(call.component, None)

        stream.on_close(forget)
        return {}

    def send_configuration_validity_report(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        report = request.get("configurationValidityReport") or {}
        deployment_id = report.get("deploymentId")
        if deployment_id is None:
            raise InvalidArgumentsError("Cannot accept configuration validity report, the deployment ID provided was null")
        future = self._pending_reports.get((call.component, deployment_id))
        if future is None or future.done():
            raise InvalidArgumentsError("Validation request either timed out or was never made")
        status = report.get("status")
        if status not in (ACCEPTED, REJECTED):
            raise InvalidArgumentsError(f"Invalid configuration validity status {status}")
        future.set_result((status, report.get("message") or ""))
        return {}
