"""What the nucleus's services need from the nucleus: its parts, and the components it runs.

The services that manage components (deployments, component management) are
written against `Host`; `LocalNucleus` provides it. So no service imports the
nucleus that wires the services together, and each can be read on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..authorization import Authorizer
from ..deployment.lifecycle import State
from ..deployment.logs import ComponentLog
from ..deployment.recipes import Manifest, Recipe
from ..deployment.runner import ComponentRunner, RunSpec
from ..deployment.store import ComponentStore
from .configuration import ConfigStore
from .standins import Cloudwatch
from .updates import ComponentUpdates


@dataclass
class DeployedComponent:
    """One component version the nucleus runs."""

    recipe: Recipe
    manifest: Manifest
    runner: ComponentRunner
    log: ComponentLog

    @property
    def version(self) -> str:
        return self.recipe.version


class StateChanges:
    """Lets coroutines wait until some condition on component states holds."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_until(self, condition: Callable[[], bool], timeout: float | None = None) -> bool:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not condition():
            waiter = loop.create_future()
            self._waiters.append(waiter)
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            # asyncio.wait, not wait_for: on Python 3.10 wait_for swallows a cancellation that comes in the loop
            # pass that resolves the waiter, so a deployment cancelled by the nucleus stopping would run on.
            done, _ = await asyncio.wait({waiter}, timeout=remaining)
            if not done:
                return condition()
        return True


class Host(Protocol):
    root: Path
    thing_name: str
    region: str
    platform: dict[str, str]
    store: ComponentStore
    config: ConfigStore
    updates: ComponentUpdates
    authorizer: Authorizer
    cloudwatch: Cloudwatch
    components: dict[str, DeployedComponent]
    roots: dict[str, str]
    changes: StateChanges

    def state(self, component: str) -> State | None: ...
    def dependencies_ready(self, spec: RunSpec) -> bool: ...
    def on_state(self, runner: ComponentRunner, old: State, new: State) -> None: ...
    def component_log(self, component: str) -> ComponentLog: ...
    def environment(self, component: str) -> dict[str, str]: ...
    def check_cli_access(self, principal: str, operation: str, resource: str) -> None: ...
    async def stop_components(self, names: list[str]) -> None: ...
