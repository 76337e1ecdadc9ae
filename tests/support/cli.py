"""Run the `mlfeedback` command as a user does: a separate process, with the component environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.harness import component_environment


def mlfeedback(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "mlfeedback"
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "greengrass_local.tools.cli", *args]


def run_cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(mlfeedback(*args), capture_output=True, text=True, timeout=timeout, env=env or component_environment())


def local_args(action: str, root: Path, recipe_dir: Path, artifact_dir: Path, *rest: str) -> list[str]:
    """`mlfeedback local run|deploy` arguments for one root, recipe folder and artifact folder; `rest` follows."""
    return ["local", action, "--root", str(root), "--recipe-dir", str(recipe_dir), "--artifact-dir", str(artifact_dir), *rest]
