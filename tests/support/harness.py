"""Test harness: a LocalNucleus on a background event loop, and recipe builders.

Tests stay synchronous (as component code is) and talk to the nucleus through
`NucleusThread`. Components are real: a recipe and an artifact on disk, a
process started by the emulator, the official IPC client inside it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import yaml

from greengrass_local.deployment.lifecycle import State
from greengrass_local.nucleus import LocalNucleus
from greengrass_local.services.deployments import DeploymentRecord, DeploymentRequest

SUPPORT_DIR = Path(__file__).resolve().parent
T = TypeVar("T")


def component_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a user gets from an activated venv: `python3` is this interpreter."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(SUPPORT_DIR), env.get("PYTHONPATH", "")] if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


class Project:
    """A recipe folder and an artifact folder, as a user lays them out for greengrass-cli."""

    def __init__(self, base: Path) -> None:
        self.recipes = base / "recipes"
        self.artifacts = base / "artifacts"
        self.recipes.mkdir(parents=True, exist_ok=True)
        self.artifacts.mkdir(parents=True, exist_ok=True)

    def component(
        self,
        name: str,
        *,
        version: str = "1.0.0",
        script: str | None = None,
        lifecycle: dict[str, Any] | None = None,
        pubsub: dict[str, list[str]] | None = None,
        mqttproxy: dict[str, list[str]] | None = None,
        configuration: dict[str, Any] | None = None,
        dependencies: dict[str, dict[str, str]] | None = None,
        artifacts: dict[str, bytes | str] | None = None,
        extra_artifacts: list[dict[str, Any]] | None = None,
    ) -> Path:
        """Write a recipe (and its artifacts); `script` becomes main.py run by `Run`.

        `pubsub` / `mqttproxy` map operation names to the resources the
        component may use them on.
        """
        folder = self.artifacts / name / version
        folder.mkdir(parents=True, exist_ok=True)
        files = dict(artifacts or {})
        if script is not None:
            files["main.py"] = textwrap.dedent(script)
        recipe_artifacts = list(extra_artifacts or [])
        for file_name, content in files.items():
            path = folder / file_name
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
            recipe_artifacts.append({"URI": f"s3://test-bucket/{name}/{version}/{file_name}"})
        config = dict(configuration or {})
        access: dict[str, Any] = {}
        for service, grants in (("aws.greengrass.ipc.pubsub", pubsub), ("aws.greengrass.ipc.mqttproxy", mqttproxy)):
            if grants:
                access[service] = {
                    f"{name}:{service}:{index}": {"operations": [f"aws.greengrass#{op}"], "resources": resources}
                    for index, (op, resources) in enumerate(grants.items())
                }
        if access:
            config["accessControl"] = access
        if lifecycle is None:
            lifecycle = {"Run": "python3 -u {artifacts:path}/main.py"} if script is not None else {}
        recipe: dict[str, Any] = {
            "RecipeFormatVersion": "2020-01-25",
            "ComponentName": name,
            "ComponentVersion": version,
            "ComponentConfiguration": {"DefaultConfiguration": config},
            "Manifests": [{"Platform": {"os": "linux"}, "Lifecycle": lifecycle, "Artifacts": recipe_artifacts}],
        }
        if dependencies:
            recipe["ComponentDependencies"] = dependencies
        path = self.recipes / f"{name}-{version}.yaml"
        path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
        return path


class NucleusThread:
    """A LocalNucleus running on its own event loop thread."""

    def __init__(self, root: Path, **options: Any) -> None:
        self.root = root
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nucleus", daemon=True)
        options.setdefault("environment", component_environment())
        self.nucleus = LocalNucleus(root, **options)

    def __enter__(self) -> NucleusThread:
        self._thread.start()
        self.call(self.nucleus.start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call(self.nucleus.stop(), timeout=60)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def run(self, function: Callable[[], T]) -> T:
        """Call a plain function on the nucleus's loop (nucleus state is not thread-safe)."""

        async def wrapper() -> T:
            return function()

        return self.call(wrapper())

    def deploy(
        self, project: Project | None = None, *, merge: dict[str, str] | None = None, timeout: float = 60, **request: Any
    ) -> DeploymentRecord:
        if project is not None:
            request.setdefault("recipe_dir", project.recipes)
            request.setdefault("artifact_dir", project.artifacts)

        async def go() -> DeploymentRecord:
            record = self.nucleus.deployments.submit(DeploymentRequest(add=dict(merge or {}), **request))
            await asyncio.wait_for(record.done.wait(), timeout)
            return record

        return self.call(go(), timeout + 5)

    def state(self, name: str) -> State | None:
        return self.run(lambda: self.nucleus.state(name))

    def wait_for_state(self, name: str, *states: State, timeout: float = 30) -> State | None:
        async def go() -> bool:
            return await self.nucleus.changes.wait_until(lambda: self.nucleus.state(name) in states, timeout)

        self.call(go(), timeout + 5)
        return self.state(name)

    def token(self, name: str) -> str:
        return self.run(lambda: self.nucleus.token_for(name))

    def client(self, name: str, **kwargs: Any) -> Any:
        """An official V2 client authenticated as component `name` (for observing from the test)."""
        from awsiot.greengrasscoreipc import connect
        from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

        return GreengrassCoreIPCClientV2(client=connect(ipc_socket=self.nucleus.socket_path, authtoken=self.token(name)), **kwargs)

    def results(self, name: str, timeout: float = 30, until: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        """The results.json a test component wrote into its work folder (once `until` holds, if given)."""
        path = self.root / "work" / name / "results.json"
        deadline = time.monotonic() + timeout
        while True:
            if path.exists():
                results = json.loads(path.read_text())
                if until is None or until(results):
                    return results
            if time.monotonic() > deadline:
                tail = self.log(name)[-3000:] or "(no log)"
                seen = path.read_text() if path.exists() else "no results"
                raise AssertionError(f"{name}: expected results not written within {timeout} s ({seen}); its log ends with:\n{tail}")
            time.sleep(0.02)

    def log(self, name: str) -> str:
        path = self.root / "logs" / f"{name}.log"
        return path.read_text() if path.exists() else ""
