"""Model input read from a local file (ModelInputPath, BodyPath), only inside ModelInputDirectories.

Directories are resolved on every request, so a directory that is a symlink
can be moved without a restart; a path that resolves outside them, through
`..` or a symlink, is refused.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import BinaryIO

from .messages import shown


class InputRefused(Exception):
    """A path the component will not read; the message names the field and the reason."""


def open_input(field: str, path: str, directories: Sequence[str]) -> tuple[BinaryIO, int]:
    """The open file and its size; the caller closes it."""
    named = f"{field} {shown(path)}"
    try:
        real = os.path.realpath(path)
        allowed = [os.path.realpath(d) for d in directories]
        inside = any(os.path.commonpath([real, d]) == d for d in allowed)
    except ValueError as exc:  # a NUL byte, or paths that cannot be compared
        raise InputRefused(f"{named} is not a usable path ({exc})") from None
    if not inside:
        raise InputRefused(f"{named} is not under ModelInputDirectories ({', '.join(directories) or 'none configured'})")
    try:
        handle = open(real, "rb")  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        raise InputRefused(f"{named} cannot be read: {exc.strerror}") from None
    try:
        return handle, os.fstat(handle.fileno()).st_size
    except OSError as exc:
        handle.close()
        raise InputRefused(f"{named} cannot be read: {exc.strerror}") from None


def read_input(field: str, path: str, directories: Sequence[str]) -> bytes:
    handle, _size = open_input(field, path, directories)
    with handle:
        return handle.read()
