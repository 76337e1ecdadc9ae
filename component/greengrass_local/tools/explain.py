"""What to tell a user about a failed deployment, beyond the nucleus's own cause.

The deployment's failure cause stays the nucleus's text, word for word, because
IPC clients read it. But "Service X in broken state after deployment" hides the
reason in X's log, and the offline-resolution text talks about an AWS account the
emulator never asks. The lines here add what the user needs next: the reason the
component gave, the log to read, the versions that do exist.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

BROKEN = re.compile(r"^Service (\S+) in broken state after deployment$")
NO_VERSION = re.compile(r"Component (\S+) version constraints: (.*)\.$")
LOG_LINE = re.compile(r"^\S+ \[(?P<level>\w+)\] \([^)]*\) [^:]+: (?P<event>stdout|stderr)\. (?P<text>.*?)(?:\. \{[^{}]*\})?$")
PYTHON_ERROR = re.compile(r"^(?:ERROR|CRITICAL)\s+[\w.]+:\s*")
EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit)\b")
MOST_REASONS = 3


def failure_lines(cause: str, logs_dir: Path, versions: Callable[[str], list[str]]) -> list[str]:
    """Lines that follow `deployment failed: CAUSE`; empty when the cause says it all."""
    broken = BROKEN.match(cause)
    if broken:
        name = broken.group(1)
        log_path = logs_dir / f"{name}.log"
        reasons = component_reasons(log_path)
        lines = [f"{name}: {reason}" for reason in reasons] or [f"{name} logged no error before it broke"]
        return [*lines, f"{name}'s log: {log_path}"]
    missing = NO_VERSION.search(cause)
    if missing:
        name, constraints = missing.groups()
        found = versions(name)
        if found:
            return [
                f"{name}: no stored version satisfies {constraints}; this device has {', '.join(found)}. "
                f"Deploy one of them (--merge {name}={found[0]}) or add the recipe of the version you want with --recipe-dir"
            ]
        return [f"{name}: no recipe of it on this device; add one with --recipe-dir (a folder holding its recipe file)"]
    return []


def component_reasons(log_path: Path) -> list[str]:
    """The last distinct errors a component wrote: its ERROR log lines, else the exceptions on its stderr, else its stderr."""
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    errors: list[str] = []
    exceptions: list[str] = []
    stderr: list[str] = []
    for line in text.splitlines():
        parsed = LOG_LINE.match(line)
        if parsed is None:
            continue
        message = parsed.group("text").strip()
        if parsed.group("level") == "ERROR" or PYTHON_ERROR.match(message):
            errors.append(PYTHON_ERROR.sub("", message))
        elif parsed.group("event") == "stderr":
            (exceptions if EXCEPTION.match(message) else stderr).append(message)
    return _last_distinct(errors or exceptions or stderr, MOST_REASONS)


def _last_distinct(lines: list[str], count: int) -> list[str]:
    """The last `count` different lines, in the order they were last written."""
    seen: dict[str, int] = {}
    for index, line in enumerate(lines):
        seen[line] = index
    return sorted(seen, key=seen.__getitem__)[-count:]
