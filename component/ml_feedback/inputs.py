"""Model input read from a local file (ModelInputPath, BodyPath), only inside ModelInputDirectories.

Directories are resolved on every request, so a directory that is a symlink
can be moved without a restart; a path that resolves outside them, through
`..` or a symlink, is refused.
"""

from __future__ import annotations

import errno
import os
import stat
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
        # Without waiting: a request's file is opened on the thread that reads requests, and opening a FIFO would
        # block it until some writer came along.
        descriptor = os.open(real, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise InputRefused(f"{named} cannot be read: {exc.strerror}") from None
    try:
        info = os.fstat(descriptor)
        if stat.S_ISDIR(info.st_mode):
            raise InputRefused(f"{named} cannot be read: {os.strerror(errno.EISDIR)}")
        if not stat.S_ISREG(info.st_mode):
            raise InputRefused(f"{named} cannot be read: not a regular file (a FIFO, socket or device)")
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb"), info.st_size
    except InputRefused:
        os.close(descriptor)
        raise
    except OSError as exc:
        os.close(descriptor)
        raise InputRefused(f"{named} cannot be read: {exc.strerror}") from None


def read_input(field: str, path: str, directories: Sequence[str]) -> bytes:
    handle, _size = open_input(field, path, directories)
    with handle:
        return handle.read()
