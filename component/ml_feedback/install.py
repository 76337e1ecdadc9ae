"""The recipe's Install step: `python3 -m ml_feedback.install WORK_DIR`.

Makes `WORK_DIR/python`, the interpreter the component (and client components)
run with, and does the least work that gets there:

1. nothing, when the environment recorded in `WORK_DIR/environment.json` was
   made for these same requirements and this same Python (a re-run takes
   well under a second);
2. a wrapper around the Python running this step, when that Python already
   has every runtime dependency at a suitable version;
3. otherwise a virtual environment in `WORK_DIR/venv`, filled by pip from
   `MLFEEDBACK_WHEELHOUSE` (offline) when set, else from the package index.

Everything goes into the work folder: artifact folders are read-only, and no
root access is needed. The versions of the device's packages (DEVICE_PACKAGES)
are read from the artifact's own pyproject.toml, their single definition. Standard library only: this runs
before the dependencies exist.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import venv
from importlib import metadata
from pathlib import Path

MINIMUM_PYTHON = (3, 10)
PROJECT_ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE_VARIABLE = "MLFEEDBACK_WHEELHOUSE"


# What the component and the SDK import on a device; the rest of `dependencies` serves the local tooling.
DEVICE_PACKAGES = ("awsiotsdk", "awscrt", "boto3", "numpy")  # numpy: NOVELTY and the SDK's fingerprint(), imported only there
DEVICE_IMPORTS = "import awsiot.greengrasscoreipc.clientv2, awscrt, boto3, numpy"


def requirements(pyproject: Path) -> list[str]:
    """The device's entries of pyproject.toml's `dependencies = [...]` (read without tomllib, for Python 3.10)."""
    text = pyproject.read_text(encoding="utf-8")
    block = re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.MULTILINE | re.DOTALL)
    if block is None:
        raise SystemExit(f"no dependencies list in {pyproject}")
    listed = re.findall(r"\"([^\"]+)\"", block.group(1))
    return [entry for entry in listed if re.split(r"[\s<>=!~;\[]", entry, maxsplit=1)[0].lower() in DEVICE_PACKAGES]


def _version_key(text: str) -> tuple[int, ...]:
    """The release numbers of a version: 2.0.0rc1 and 2.0.0+local are (2, 0, 0)."""
    release = re.match(r"\d+(\.\d+)*", text.strip())
    return tuple(int(part) for part in release.group(0).split(".")[:4]) if release else ()


def unmet(requirement: str) -> str | None:
    """Why the running Python does not satisfy `requirement`, or None."""
    match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)\s*(.*)$", requirement)
    assert match, requirement
    name, specifiers = re.sub(r"\[.*\]", "", match.group(1)), match.group(2)
    try:
        installed = metadata.version(name)
    except metadata.PackageNotFoundError:
        return f"{name} is not installed"
    have = _version_key(installed)
    for spec in filter(None, (s.strip() for s in specifiers.split(","))):
        op, wanted = re.match(r"^(>=|<=|==|!=|>|<|~=)\s*(.+)$", spec).groups()  # type: ignore[union-attr]
        want = _version_key(wanted)
        ok = {
            ">=": have >= want,
            "<=": have <= want,
            ">": have > want,
            "<": have < want,
            "==": have[: len(want)] == want,
            "!=": have[: len(want)] != want,
            "~=": have >= want and have[: len(want) - 1] == want[:-1],
        }[op]
        if not ok:
            return f"{name} {installed} does not satisfy {spec}"
    return None


def fingerprint(wanted: list[str]) -> str:
    source = json.dumps([wanted, sys.version, sys.executable, os.environ.get(WHEELHOUSE_VARIABLE, "")])
    return hashlib.sha256(source.encode()).hexdigest()


def _imports_work(python: str) -> bool:
    """Checked on every Install: a package removed since the last one would otherwise go unnoticed."""
    if not python or not Path(python).exists():
        return False
    return subprocess.run([python, "-c", DEVICE_IMPORTS], capture_output=True).returncode == 0


def write_wrapper(work: Path, python: str) -> Path:
    wrapper = work / "python"
    temporary = work / "python.tmp"
    temporary.write_text(f'#!/bin/sh\nexec "{python}" "$@"\n', encoding="utf-8")
    temporary.chmod(0o755)
    os.replace(temporary, wrapper)
    return wrapper


def build_venv(work: Path, wanted: list[str]) -> str:
    target = work / "venv"
    print(f"creating a virtual environment in {target}", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(target)
    python = str(target / "bin" / "python")
    command = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", *wanted]
    wheelhouse = os.environ.get(WHEELHOUSE_VARIABLE)
    if wheelhouse:
        command[4:4] = ["--no-index", "--find-links", wheelhouse]
    subprocess.run(command, check=True)
    return python


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python3 -m ml_feedback.install WORK_DIR", file=sys.stderr)
        return 2
    if sys.version_info[:2] < MINIMUM_PYTHON:
        print(
            f"community.greengrass.MLFeedback needs Python {'.'.join(map(str, MINIMUM_PYTHON))} or newer, found {sys.version.split()[0]}",
            file=sys.stderr,
        )
        return 1
    work = Path(argv[0])
    work.mkdir(parents=True, exist_ok=True)
    wanted = requirements(PROJECT_ROOT / "pyproject.toml")
    state_file = work / "environment.json"
    current = fingerprint(wanted)
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    if state.get("fingerprint") == current and (work / "python").exists() and _imports_work(state.get("python", "")):
        print(f"environment up to date: {state['python']}", flush=True)
        return 0
    missing = [reason for reason in map(unmet, wanted) if reason]
    if missing:
        print("installing the runtime dependencies: " + "; ".join(missing), flush=True)
        python = build_venv(work, wanted)
    else:
        python = sys.executable
        print(f"using {python}: it has every runtime dependency", flush=True)
    write_wrapper(work, python)
    state_file.write_text(json.dumps({"fingerprint": current, "python": python, "requirements": wanted}), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
