from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.harness import NucleusThread, Project


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temporary folder with a short path: Unix socket paths are limited to 108 bytes."""
    with tempfile.TemporaryDirectory(prefix="gg") as folder:
        yield Path(folder)


@pytest.fixture
def project(short_tmp: Path) -> Project:
    return Project(short_tmp / "project")


@pytest.fixture
def nucleus(short_tmp: Path) -> Iterator[NucleusThread]:
    with NucleusThread(short_tmp / "root") as running:
        yield running
