"""Device shadows, as the aws.greengrass.ShadowManager component keeps them: in memory here.

GetThingShadow, UpdateThingShadow, DeleteThingShadow and ListNamedShadowsForThing
with the component's checks, order and texts (ipc/*RequestHandler.java,
util/Validator.java, model/ErrorMessage.java, util/JsonUtil.java): names are
validated, the caller is authorized under `aws.greengrass.ShadowManager` on
`$aws/things/THING/shadow[/name/NAME]` (the thing name for
ListNamedShadowsForThing), then the document is checked and merged with the
AWS IoT shadow semantics: `null` removes a field, objects merge, anything else
replaces; `version` counts updates and a request's `version` must equal it
(`ConflictError: Version conflict`); the delta is what desired has and
reported does not.

Accepted, delta, documents and rejected messages go where the component sends
them, to local pub/sub, and also to the local IoT Core side (loopback, broker
or the transport a test gives), standing in for the cloud shadow service.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from ..authorization import Authorizer
from ..wire.errors import ConflictError, InvalidArgumentsError, ResourceNotFoundError
from ..wire.server import Call, Operation

log = logging.getLogger("greengrass_local.shadows")

SHADOW_MANAGER = "aws.greengrass.ShadowManager"
NAME_PATTERN = "[a-zA-Z0-9:_-]+"
MAX_THING_NAME_LENGTH = 128
MAX_SHADOW_NAME_LENGTH = 64
MAX_DOCUMENT_BYTES = 8 * 1024  # the component's default shadowDocumentSizeLimitBytes
MAX_DEPTH = 6
MAX_CLIENT_TOKEN_LENGTH = 64
DEFAULT_PAGE_SIZE = 25

Publish = Callable[[str, bytes], None]


def topic_prefix(thing: str, shadow: str) -> str:
    return f"$aws/things/{thing}/shadow" + (f"/name/{shadow}" if shadow else "")


class Shadows:
    def __init__(self, authorizer: Authorizer, publishers: list[Publish] | None = None) -> None:
        self._authorizer = authorizer
        self.publishers: list[Publish] = list(publishers or [])
        self._documents: dict[tuple[str, str], dict[str, Any]] = {}
        self._versions: dict[tuple[str, str], int] = {}  # survives a delete, as in the service

    def operations(self) -> list[Operation]:
        return [
            Operation("GetThingShadow", self.get_thing_shadow),
            Operation("UpdateThingShadow", self.update_thing_shadow),
            Operation("DeleteThingShadow", self.delete_thing_shadow),
            Operation("ListNamedShadowsForThing", self.list_named_shadows_for_thing),
        ]

    # -- IPC -------------------------------------------------------------------------------

    def get_thing_shadow(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        thing, shadow = _names(request)
        self._authorize(call, thing, shadow)
        document = self._documents.get((thing, shadow))
        if document is None:
            self._reject(thing, shadow, "get", 404, "No shadow found", None)
            raise ResourceNotFoundError("No shadow found", resourceType="shadow")
        body = _get_view(document)
        self._publish(thing, shadow, "get/accepted", body)
        return {"payload": _encode(body)}

    def update_thing_shadow(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        thing, shadow = _names(request)
        raw = _decode(request.get("payload"))
        if not raw:
            raise self._invalid(thing, shadow, None, "Missing update payload")
        self._authorize(call, thing, shadow)
        try:
            update = json.loads(raw)
        except ValueError as exc:
            raise self._invalid(thing, shadow, None, f"Invalid JSON: {exc}") from None
        if not isinstance(update, dict):
            raise self._invalid(thing, shadow, None, "Invalid JSON: the document must be an object")
        token = update.get("clientToken")
        if token is not None and (not isinstance(token, str) or len(token) > MAX_CLIENT_TOKEN_LENGTH):
            raise self._invalid(thing, shadow, None, "Invalid clientToken")
        state = update.get("state")
        if not isinstance(state, dict):
            raise self._invalid(thing, shadow, token, "State node must be an object")
        state.pop("delta", None)
        if _depth(state) > MAX_DEPTH + 1:
            raise self._invalid(thing, shadow, token, f"JSON contains too many levels of nesting; maximum is {MAX_DEPTH}")
        current = self._documents.get((thing, shadow))
        requested_version = update.get("version")
        if requested_version is not None:
            if not isinstance(requested_version, int) or isinstance(requested_version, bool):
                raise self._invalid(thing, shadow, token, "Invalid version")
            if current is None and requested_version != 1:
                raise self._invalid(thing, shadow, token, "Invalid version")
            if current is not None and current["version"] != requested_version:
                log.warning("Conflicting version in shadow update message. {thing name=%s, shadow name=%s}", thing, shadow)
                self._reject(thing, shadow, "update", 409, "Version conflict", token)
                raise ConflictError("Version conflict")

        now = int(time.time())
        previous = copy.deepcopy(current)
        document = copy.deepcopy(current) if current else {"state": {}, "metadata": {}}
        request_metadata: dict[str, Any] = {}
        for section in ("desired", "reported"):
            if section not in state:
                continue
            patch = state[section]
            request_metadata[section] = _metadata_of(patch, now)
            if patch is None:
                document["state"].pop(section, None)
                document["metadata"].pop(section, None)
            elif isinstance(patch, dict):
                target = document["state"].setdefault(section, {})
                meta = document["metadata"].setdefault(section, {})
                _merge(target, meta, patch, now)
            else:
                raise self._invalid(thing, shadow, token, "State node must be an object")
        size = sum(len(_compact(document["state"][s])) for s in ("desired", "reported") if document["state"].get(s) is not None)
        if size > MAX_DOCUMENT_BYTES:
            raise self._invalid(thing, shadow, token, "The payload exceeds the maximum size allowed")
        document["version"] = self._versions.get((thing, shadow), 0) + 1
        document["timestamp"] = now
        self._versions[(thing, shadow)] = document["version"]
        self._documents[(thing, shadow)] = document

        accepted: dict[str, Any] = {"state": state, "metadata": request_metadata, "version": document["version"], "timestamp": now}
        if token is not None:
            accepted["clientToken"] = token
        self._publish(thing, shadow, "update/accepted", accepted)
        self._publish(thing, shadow, "update/documents", _documents_message(previous, document, now, token))
        delta = _delta(document["state"].get("desired"), document["state"].get("reported"))
        if delta and state.get("desired") is not None:
            message = {
                "version": document["version"],
                "timestamp": now,
                "state": delta,
                "metadata": _restrict(document["metadata"].get("desired", {}), delta),
            }
            if token is not None:
                message["clientToken"] = token
            self._publish(thing, shadow, "update/delta", message)
        log.info("Shadow updated. {thing name=%s, shadow name=%s, version=%s}", thing, shadow, document["version"])
        return {"payload": _encode(accepted)}

    def delete_thing_shadow(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        thing, shadow = _names(request)
        self._authorize(call, thing, shadow)
        document = self._documents.pop((thing, shadow), None)
        if document is None:
            self._reject(thing, shadow, "delete", 404, "No shadow found", None)
            raise ResourceNotFoundError("No shadow found", resourceType="shadow")
        body = {"version": document["version"], "timestamp": int(time.time())}
        self._publish(thing, shadow, "delete/accepted", body)
        log.info("Shadow deleted. {thing name=%s, shadow name=%s, version=%s}", thing, shadow, document["version"])
        return {"payload": _encode(body)}

    def list_named_shadows_for_thing(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        thing = _thing_name(request.get("thingName"))
        self._authorizer.check(call.component, SHADOW_MANAGER, call.operation, thing)
        page_size = request.get("pageSize")
        page_size = DEFAULT_PAGE_SIZE if page_size is None else page_size
        if not isinstance(page_size, int) or not 1 <= page_size <= 100:
            raise InvalidArgumentsError("pageSize argument must be between 1 and 100")
        offset = 0
        token = request.get("nextToken")
        if token:
            try:
                offset = int(json.loads(base64.b64decode(str(token)))["offset"])
            except (ValueError, KeyError, TypeError, binascii.Error):
                raise InvalidArgumentsError("Invalid nextToken") from None
        names = sorted(shadow for (owner, shadow) in self._documents if owner == thing and shadow)
        page = names[offset : offset + page_size]
        response: dict[str, Any] = {"results": page, "timestamp": time.time()}
        if offset + page_size < len(names):
            response["nextToken"] = base64.b64encode(json.dumps({"offset": offset + page_size}).encode()).decode()
        return response

    # -- helpers ---------------------------------------------------------------------------

    def _authorize(self, call: Call, thing: str, shadow: str) -> None:
        if call.component == SHADOW_MANAGER:
            return
        self._authorizer.check(call.component, SHADOW_MANAGER, call.operation, topic_prefix(thing, shadow))

    def _publish(self, thing: str, shadow: str, suffix: str, body: dict[str, Any]) -> None:
        topic = f"{topic_prefix(thing, shadow)}/{suffix}"
        payload = _compact(body)
        for publish in self.publishers:
            try:
                publish(topic, payload)
            except Exception as exc:  # a subscriber's trouble is not the caller's
                log.warning("publishing %s failed: %s", topic, exc)

    def _reject(self, thing: str, shadow: str, operation: str, code: int, message: str, token: str | None) -> None:
        body: dict[str, Any] = {"code": code, "message": message, "timestamp": int(time.time())}
        if token is not None:
            body["clientToken"] = token
        self._publish(thing, shadow, f"{operation}/rejected", body)

    def _invalid(self, thing: str, shadow: str, token: str | None, message: str) -> InvalidArgumentsError:
        self._reject(thing, shadow, "update", 413 if "exceeds" in message else 400, message, token)
        return InvalidArgumentsError(message)


def _names(request: dict[str, Any]) -> tuple[str, str]:
    thing = _thing_name(request.get("thingName"))
    shadow = request.get("shadowName") or ""
    if shadow:
        if len(shadow) > MAX_SHADOW_NAME_LENGTH:
            raise InvalidArgumentsError(f"ShadowName has a maximum length of {MAX_SHADOW_NAME_LENGTH}")
        if not re.fullmatch(NAME_PATTERN, shadow):
            raise InvalidArgumentsError(f"ShadowName must match pattern {NAME_PATTERN}")
    return thing, str(shadow)


def _thing_name(thing: Any) -> str:
    if not thing:
        raise InvalidArgumentsError("ThingName is missing")
    thing = str(thing)
    if len(thing) > MAX_THING_NAME_LENGTH:
        raise InvalidArgumentsError(f"ThingName has a maximum length of {MAX_THING_NAME_LENGTH}")
    if not re.fullmatch(NAME_PATTERN, thing):
        raise InvalidArgumentsError(f"ThingName must match pattern {NAME_PATTERN}")
    return thing


def _decode(payload: Any) -> bytes:
    if payload is None:
        return b""
    try:
        return base64.b64decode(str(payload), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgumentsError("payload must be base64") from None


def _compact(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _encode(body: dict[str, Any]) -> str:
    return base64.b64encode(_compact(body)).decode("ascii")


def _depth(node: Any) -> int:
    if isinstance(node, dict):
        return 1 + max((_depth(v) for v in node.values()), default=0)
    if isinstance(node, list):
        return 1 + max((_depth(v) for v in node), default=0)
    return 0


def _metadata_of(value: Any, now: int) -> Any:
    if isinstance(value, dict):
        return {key: _metadata_of(child, now) for key, child in value.items()}
    if isinstance(value, list):
        return [_metadata_of(child, now) for child in value]
    return {"timestamp": now}


def _merge(target: dict[str, Any], meta: dict[str, Any], patch: dict[str, Any], now: int) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
            meta.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            child_meta = meta.get(key) if isinstance(meta.get(key), dict) else {}
            meta[key] = child_meta
            _merge(target[key], child_meta, value, now)
        else:
            target[key] = copy.deepcopy(value)
            meta[key] = _metadata_of(value, now)


def _delta(desired: Any, reported: Any) -> dict[str, Any]:
    if not isinstance(desired, dict):
        return {}
    reported = reported if isinstance(reported, dict) else {}
    delta: dict[str, Any] = {}
    for key, wanted in desired.items():
        if key not in reported:
            delta[key] = copy.deepcopy(wanted)
        elif isinstance(wanted, dict) and isinstance(reported[key], dict):
            inner = _delta(wanted, reported[key])
            if inner:
                delta[key] = inner
        elif wanted != reported[key]:
            delta[key] = copy.deepcopy(wanted)
    return delta


def _restrict(metadata: Any, shape: Any) -> Any:
    if not isinstance(shape, dict) or not isinstance(metadata, dict):
        return metadata
    return {key: _restrict(metadata.get(key), value) for key, value in shape.items() if key in metadata}


def _get_view(document: dict[str, Any]) -> dict[str, Any]:
    state = copy.deepcopy(document["state"])
    delta = _delta(state.get("desired"), state.get("reported"))
    if delta:
        state["delta"] = delta
    return {"state": state, "metadata": copy.deepcopy(document["metadata"]), "version": document["version"], "timestamp": int(time.time())}


def _documents_message(previous: dict[str, Any] | None, current: dict[str, Any], now: int, token: str | None) -> dict[str, Any]:
    def view(document: dict[str, Any] | None) -> dict[str, Any] | None:
        if document is None:
            return None
        return {"state": copy.deepcopy(document["state"]), "metadata": copy.deepcopy(document["metadata"]), "version": document["version"]}

    message: dict[str, Any] = {"previous": view(previous), "current": view(current), "timestamp": now}
    if token is not None:
        message["clientToken"] = token
    return message
