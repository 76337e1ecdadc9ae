"""Log files in the nucleus's text format.

`ROOT/logs/greengrass.log` holds the emulator's own events and
`ROOT/logs/NAME.log` each component's output, line by line, as
`2024-05-01T10:00:00.123Z [INFO] (Copier) NAME: stdout. text. {k=v, ...}`.
"""

from __future__ import annotations

import datetime
import logging
import threading
from pathlib import Path

GREENGRASS_LOG = "greengrass.log"


def timestamp(now: datetime.datetime | None = None) -> str:
    moment = (now or datetime.datetime.now(datetime.timezone.utc)).astimezone(datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def format_line(level: str, thread: str, logger: str, event: str, message: str, context: dict[str, str]) -> str:
    parts = [part for part in (event, message) if part]
    if context:
        parts.append("{" + ", ".join(f"{k}={v}" for k, v in context.items()) + "}")
    return f"{timestamp()} [{level}] ({thread}) {logger}: {'. '.join(parts)}"


class ComponentLog:
    """Appends one component's lines to ROOT/logs/NAME.log; safe from any thread."""

    def __init__(self, path: Path, component: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.component = component
        self._file = path.open("a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()

    def write(self, level: str, event: str, message: str, context: dict[str, str], thread: str = "Copier") -> None:
        line = format_line(level, thread, self.component, event, message, context)
        with self._lock:
            if not self._file.closed:
                self._file.write(line + "\n")

    def close(self) -> None:
        with self._lock:
            self._file.close()


class NucleusFormatter(logging.Formatter):
    """Python log records in the nucleus's line format, for greengrass.log."""

    def format(self, record: logging.LogRecord) -> str:
        level = {"WARNING": "WARN", "CRITICAL": "ERROR"}.get(record.levelname, record.levelname)
        moment = datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
        line = f"{timestamp(moment)} [{level}] ({record.threadName}) {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def open_greengrass_log(log_dir: Path, level: int = logging.INFO) -> logging.Handler:
    log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_dir / GREENGRASS_LOG, encoding="utf-8")
    handler.setFormatter(NucleusFormatter())
    handler.setLevel(level)
    return handler
