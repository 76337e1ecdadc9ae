"""Lifecycle rules of the nucleus that need no processes: states, steps, errors.

Facts (nucleus Lifecycle.java / GenericExternalService.java): default step
timeouts, the states a component may report, Skipif syntax, and the rule that
three errors from the same state, each within an hour of the previous one,
make a component BROKEN.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .recipes import lifecycle_steps


class State(str, Enum):
    NEW = "NEW"
    INSTALLED = "INSTALLED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    FINISHED = "FINISHED"
    ERRORED = "ERRORED"
    BROKEN = "BROKEN"


READY_FOR_DEPENDENTS = (State.RUNNING, State.FINISHED)
SETTLED = (State.RUNNING, State.FINISHED, State.BROKEN)

DEFAULT_TIMEOUTS = {"bootstrap": 120.0, "install": 120.0, "startup": 120.0, "shutdown": 15.0, "recover": 60.0}
MAXIMUM_CONTINUAL_ERRORS = 3
ERROR_RESET_SECONDS = 3600.0
COUNTED_STATES = (State.NEW, State.STARTING, State.RUNNING)

# States a component may report, by the state it is in (Lifecycle.java).
REPORTABLE = {
    State.NEW: (State.ERRORED,),
    State.STARTING: (State.RUNNING, State.ERRORED, State.FINISHED),
    State.RUNNING: (State.ERRORED, State.FINISHED),
    State.STOPPING: (State.ERRORED, State.FINISHED),
}


class StepError(ValueError):
    """A lifecycle step that is written wrong (the component goes ERRORED)."""


@dataclass(frozen=True)
class Step:
    name: str
    script: str
    timeout: float | None
    setenv: dict[str, str] = field(default_factory=dict)
    skipif: str | None = None
    requires_privilege: bool = False


def _lower(mapping: Any) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in mapping.items()} if isinstance(mapping, dict) else {}


def _timeout(value: Any, step: str) -> float | None:
    if value is None:
        return DEFAULT_TIMEOUTS.get(step)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise StepError(f"Timeout of {step} must be a number of seconds, got {value!r}") from None
    return seconds


def parse_step(lifecycle: dict[str, Any], name: str) -> Step | None:
    """The named step of an (interpolated) lifecycle, or None when it has none."""
    raw = lifecycle_steps(lifecycle).get(name)
    if raw is None:
        return None
    if isinstance(raw, str):
        return Step(name, raw, DEFAULT_TIMEOUTS.get(name))
    if not isinstance(raw, dict):
        raise StepError(f"lifecycle step {name} must be a script or a mapping")
    fields = _lower(raw)
    script = fields.get("script")
    if not isinstance(script, str):
        raise StepError("Missing script")
    setenv = {str(k): _env_text(v) for k, v in _lower(fields).get("setenv", {}).items()} if isinstance(fields.get("setenv"), dict) else {}
    skipif = fields.get("skipif")
    return Step(
        name=name,
        script=script,
        timeout=_timeout(fields.get("timeout"), name),
        setenv=setenv,
        skipif=str(skipif) if skipif is not None else None,
        requires_privilege=str(fields.get("requiresprivilege", "false")).lower() == "true",
    )


def lifecycle_setenv(lifecycle: dict[str, Any]) -> dict[str, str]:
    setenv = lifecycle_steps(lifecycle).get("setenv")
    return {str(k): _env_text(v) for k, v in setenv.items()} if isinstance(setenv, dict) else {}


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


_SKIPIF = re.compile(r"^(!?)(exists|onpath) +(.+)$")


def should_skip(skipif: str, path: str | None = None) -> bool:
    """Evaluate `Skipif: onpath X | exists P`, with an optional leading `!`."""
    match = _SKIPIF.match(skipif.strip())
    if not match:
        raise StepError("Invalid format for skipif")
    negate, test, target = match.groups()
    target = target.strip()
    result = shutil.which(target, path=path) is not None if test == "onpath" else os.path.exists(os.path.expanduser(target))
    return result != bool(negate)


class ErrorCounter:
    """Counts ERRORED reports per state; the third in a row within the window means BROKEN."""

    def __init__(self, reset_seconds: float = ERROR_RESET_SECONDS) -> None:
        self._errors: dict[State, list[float]] = {}
        self._reset_seconds = reset_seconds

    def record_error(self, state: State, now: float) -> bool:
        """Note an error while in `state`; True when this one makes the component BROKEN."""
        if state not in COUNTED_STATES:
            return False
        times = self._errors.setdefault(state, [])
        if times and now - times[-1] >= self._reset_seconds:
            times.clear()
        times.append(now)
        return len(times) >= MAXIMUM_CONTINUAL_ERRORS

    def record_success(self, state: State) -> None:
        """A non-error report in `state` ends its run of errors."""
        self._errors.pop(state, None)
