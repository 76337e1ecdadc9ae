"""Device shadows, as the aws.greengrass.ShadowManager component keeps them, in ROOT/work/aws.greengrass.ShadowManager.

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

A device keeps shadows in a local database under the component's work folder,
so they outlive a restart. Here they are in `shadows.json` there, rewritten
whole after each update or delete (a temporary file, then os.replace, so a
crash leaves the old or the new file, never half of one): documents, and the
version of every shadow, deleted ones too, since the next update continues
from it. A file that cannot be read is moved aside, said in one ERROR line,
and the stand-in starts without shadows rather than refusing to start.

`shadowDocumentSizeLimitBytes`, the one configuration key honoured, is read
from the component's configuration at each update, as the component applies
a configuration change at once (ShadowDocSizeConfiguration.java).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..authorization import Authorizer
from ..deployment.configtree import find_key
from ..wire.errors import ConflictError, InvalidArgumentsError, ResourceNotFoundError
from ..wire.server import Call, Operation

log = logging.getLogger("greengrass_local.shadows")

SHADOW_MANAGER = "aws.greengrass.ShadowManager"
NAME_PATTERN = "[a-zA-Z0-9:_-]+"
MAX_THING_NAME_LENGTH = 128
MAX_SHADOW_NAME_LENGTH = 64
MAX_DOCUMENT_BYTES = 8 * 1024  # the component's default shadowDocumentSizeLimitBytes (Constants.DEFAULT_DOCUMENT_SIZE)
LARGEST_DOCUMENT_LIMIT = 30 * 1024  # Constants.MAX_SHADOW_DOCUMENT_SIZE
DOCUMENT_SIZE_LIMIT_KEY = "shadowDocumentSizeLimitBytes"
SHADOWS_FILE = Path("work") / SHADOW_MANAGER / "shadows.json"
MAX_DEPTH = 6
MAX_CLIENT_TOKEN_LENGTH = 64
DEFAULT_PAGE_SIZE = 25

Publish = Callable[[str, bytes], None]


def topic_prefix(thing: str, shadow: str) -> str:
    return f"$aws/things/{thing}/shadow" + (f"/name/{shadow}" if shadow else "")


def _coerce_int(value: Any) -> int:
    """The nucleus's Coerce.toInt: a boolean is 1 or 0, a number truncates, a numeric string parses, anything else is 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return int(value)
    if value is not None:
        with contextlib.suppress(ValueError, OverflowError):
            return int(str(value).strip())
    return 0


def document_size_limit(configuration: dict[str, Any] | None) -> int:
    """The largest desired + reported size a shadow may have under this ShadowManager configuration.

    ShadowDocSizeConfiguration.getMaxShadowDocSizeFromConfig: missing or 0 is the default 8 KiB; a value
    below 0 or above 30 KiB is refused with the component's text (ValueError).
    """
    key = find_key(configuration or {}, DOCUMENT_SIZE_LIMIT_KEY)
    limit = _coerce_int((configuration or {})[key]) if key is not None else MAX_DOCUMENT_BYTES
    if limit == 0:
        return MAX_DOCUMENT_BYTES
    if limit > LARGEST_DOCUMENT_LIMIT or limit < 0:
        raise ValueError(
            f"Maximum shadow size provided {limit} is either less than 0 or exceeds default maximum shadow size of {LARGEST_DOCUMENT_LIMIT}"
        )
    return limit


class ShadowsFileError(ValueError):
    """The shadows file is not one this stand-in wrote."""


class Shadows:
    def __init__(
        self,
        authorizer: Authorizer,
        publishers: list[Publish] | None = None,
        *,
        path: Path | None = None,
        configuration: Callable[[], dict[str, Any] | None] | None = None,
    ) -> None:
        """`path` is where shadows persist (None: in memory only); `configuration` reads the component's."""
        self._authorizer = authorizer
        self.publishers: list[Publish] = list(publishers or [])
        self.path = path
        self._configuration = configuration or (lambda: None)
        self._documents: dict[tuple[str, str], dict[str, Any]] = {}
        self._versions: dict[tuple[str, str], int] = {}  # survives a delete, as in the service

    # -- persistence -----------------------------------------------------------------------

    def load(self) -> None:
        """The shadows a previous run left; a file that cannot be read is moved aside and the stand-in starts empty."""
        self._documents, self._versions = {}, {}
        if self.path is None or not self.path.exists():
            return
        try:
            documents, versions = _parse_shadows_file(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            aside = _aside_path(self.path)
            try:
                os.replace(self.path, aside)
            except OSError as move_error:
                log.error(
                    "Shadows file is corrupt and could not be moved aside; starting with no shadows. {file=%s, error=%s, move error=%s}",
                    self.path,
                    exc,
                    move_error,
                )
                return
            log.error(
                "Shadows file is corrupt; moved it aside and starting with no shadows. {file=%s, moved to=%s, error=%s}",
                self.path,
                aside,
                exc,
            )
            return
        self._documents, self._versions = documents, versions
        if versions:
            log.info("Loaded %d shadow(s) from %s", len(documents), self.path)

    def _save(self) -> None:
        """The whole store, written to a temporary file and renamed over the old one."""
        if self.path is None:
            return
        entries = []
        for (thing, shadow), version in sorted(self._versions.items()):
            entries.append({"thingName": thing, "shadowName": shadow, "version": version, "document": self._documents.get((thing, shadow))})
        text = json.dumps({"shadows": entries}, separators=(",", ":"))
        temporary = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=".shadows.", dir=self.path.parent)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temporary, self.path)
        except OSError as exc:
            log.error("Could not save shadows; they are kept in memory. {file=%s, error=%s}", self.path, exc)
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)

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
        limit = self._size_limit()
        if size > limit:
            log.warning(
                "Requested update is too large. {thing name=%s, shadow name=%s, updatedShadowStateSize=%d, maxShadowStateSize=%d}",
                thing,
                shadow,
                size,
                limit,
            )
            raise self._invalid(thing, shadow, token, "The payload exceeds the maximum size allowed")
        document["version"] = self._versions.get((thing, shadow), 0) + 1
        document["timestamp"] = now
        self._versions[(thing, shadow)] = document["version"]
        self._documents[(thing, shadow)] = document
        self._save()

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
        self._save()
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

    def _size_limit(self) -> int:
        """The configured limit; a value the deployment should have refused falls back to the default."""
        try:
            return document_size_limit(self._configuration())
        except ValueError:
            return MAX_DOCUMENT_BYTES

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


def _aside_path(path: Path) -> Path:
    """Where a corrupt shadows file goes: next to it, named after the moment, never over an earlier one."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    candidate = path.with_name(f"{path.name}.corrupt-{stamp}")
    counter = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
        counter += 1
    return candidate


def _parse_shadows_file(text: str) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[tuple[str, str], int]]:
    """Documents and versions from a shadows file; ShadowsFileError (a ValueError) when it is not one."""
    body = json.loads(text)
    entries = body.get("shadows") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise ShadowsFileError('expected {"shadows": [...]}')
    documents: dict[tuple[str, str], dict[str, Any]] = {}
    versions: dict[tuple[str, str], int] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ShadowsFileError(f"shadow {index} is not an object")
        thing, shadow, version, document = entry.get("thingName"), entry.get("shadowName"), entry.get("version"), entry.get("document")
        if not isinstance(thing, str) or not thing or not isinstance(shadow, str):
            raise ShadowsFileError(f"shadow {index} has no thingName or shadowName")
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise ShadowsFileError(f"shadow {index} has no version")
        if document is not None:
            valid = (
                isinstance(document, dict)
                and isinstance(document.get("state"), dict)
                and isinstance(document.get("metadata"), dict)
                and document.get("version") == version
            )
            if not valid:
                raise ShadowsFileError(f"shadow {index} has a document without state, metadata or its version")
            documents[(thing, shadow)] = document
        versions[(thing, shadow)] = version
    return documents, versions


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
