"""Component update notices: SubscribeToComponentUpdates and DeferComponentUpdate.

As LifecycleIPCEventStreamAgent.java and UpdateSystemPolicyService.java do it:
no authorization on either operation; before a deployment changes anything,
every subscription gets a `preUpdateEvent` (deploymentId, isGgcRestarting) and
the deployment waits until each has answered with DeferComponentUpdate or the
policy timeout has passed. If any answer asks for `recheckAfterMs` > 0, the
deployment sleeps that long (the largest asked) and asks again, as often as
components defer. After the update (or when it is dropped) every subscription
gets a `postUpdateEvent`.

A device skips this for local deployments (DeploymentDocumentConverter gives them
SKIP_NOTIFY_COMPONENTS); the local nucleus has only local deployments, so it
treats them as a cloud deployment with the default component update policy
(NOTIFY_COMPONENTS, timeout 60 s), which is what a component meets in production.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from ..wire.errors import InvalidArgumentsError, ResourceNotFoundError, ServiceError
from ..wire.server import Call, Operation, Stream

log = logging.getLogger("greengrass_local.updates")

# ComponentUpdatePolicy's default Timeout: how long a deployment waits for answers to one preUpdateEvent.
DEFAULT_TIMEOUT_SECONDS = 60.0
NOT_SUBSCRIBED = "Component is not subscribed to component update events"
NULL_DEPLOYMENT_ID = "Cannot defer the update, the deployment ID provided was null"
TIME_LIMIT_EXCEEDED = "Time limit to respond to PreComponentUpdateEvent exceeded"
NOT_FOUND = "Component with given name not found currently in Greengrass"


@dataclass(frozen=True)
class Deferral:
    deployment_id: str
    recheck_after_ms: int | None
    message: str | None


class ComponentUpdates:
    def __init__(self, known: Callable[[str], bool], timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self._known = known
        self.timeout = timeout
        self._listeners: dict[str, list[Stream]] = {}
        # (component, deploymentId) -> the answer awaited for the latest preUpdateEvent sent to that component
        self._pending: dict[tuple[str, str], asyncio.Future[Deferral]] = {}

    def operations(self) -> list[Operation]:
        return [
            Operation("SubscribeToComponentUpdates", self.subscribe_to_component_updates, "ComponentUpdatePolicyEvents"),
            Operation("DeferComponentUpdate", self.defer_component_update),
        ]

    # -- used by deployments ---------------------------------------------------------------

    @asynccontextmanager
    async def update_window(self, deployment_id: str, ggc_restarting: bool = False) -> AsyncIterator[None]:
        """Ask subscribers before the body runs (honouring deferrals); tell them after, however it ends."""
        try:  # a deployment cancelled while components defer it is dropped, and they are told (discardPendingUpdateAction)
            await self.wait_for_deferrals(deployment_id, ggc_restarting)
            yield
        finally:
            self.send_post_update(deployment_id)

    async def wait_for_deferrals(self, deployment_id: str, ggc_restarting: bool = False) -> None:
        """Returns when no subscriber asks for more time; cancellable, like the whole deployment."""
        try:
            while True:
                answers = self._send_pre_update(deployment_id, ggc_restarting)
                if not answers:
                    return
                done, _ = await asyncio.wait(answers, timeout=self.timeout)
                recheck_ms = 0
                for answer in done:
                    deferral = answer.result()
                    if deferral.recheck_after_ms is None:
                        log.warning("Deferral request contains null value, ignoring...")
                    elif deferral.recheck_after_ms > recheck_ms:
                        recheck_ms = deferral.recheck_after_ms
                        log.info(
                            "Update of deployment %s deferred for %s millis with message %s", deployment_id, recheck_ms, deferral.message
                        )
                if len(done) < len(answers):
                    log.info("Not every subscriber answered the preUpdateEvent of deployment %s within %s s", deployment_id, self.timeout)
                if recheck_ms <= 0:
                    return
                await asyncio.sleep(recheck_ms / 1000)
        finally:
            self._pending.clear()

    def send_post_update(self, deployment_id: str) -> None:
        for streams in list(self._listeners.values()):
            for stream in list(streams):
                stream.send_json({"postUpdateEvent": {"deploymentId": deployment_id}})

    def _send_pre_update(self, deployment_id: str, ggc_restarting: bool) -> list[asyncio.Future[Deferral]]:
        self._pending.clear()
        loop = asyncio.get_running_loop()
        answers = []
        event = {"preUpdateEvent": {"deploymentId": deployment_id, "isGgcRestarting": ggc_restarting}}
        for component, streams in list(self._listeners.items()):
            for stream in list(streams):
                # One answer is taken per component: with two subscriptions, the earlier one's wait runs to the timeout.
                answer: asyncio.Future[Deferral] = loop.create_future()
                self._pending[(component, deployment_id)] = answer
                if not stream.send_json(event):
                    self._pending.pop((component, deployment_id), None)
                    continue
                answers.append(answer)
        return answers

    def subscriber_count(self) -> int:
        return sum(len(streams) for streams in self._listeners.values())

    # -- IPC operations ------------------------------------------------------------------

    def subscribe_to_component_updates(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        component = call.component
        if not self._known(component):
            raise ResourceNotFoundError(NOT_FOUND, resourceType="Component", resourceName=component)
        assert call.stream is not None
        stream = call.stream
        self._listeners.setdefault(component, []).append(stream)

        def forget() -> None:
            streams = self._listeners.get(component, [])
            if stream in streams:
                streams.remove(stream)
            if not streams:
                self._listeners.pop(component, None)

        stream.on_close(forget)
        return {}

    def defer_component_update(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        component = call.component
        if component not in self._listeners:
            raise InvalidArgumentsError(NOT_SUBSCRIBED)
        deployment_id = request.get("deploymentId")
        if deployment_id is None:
            raise InvalidArgumentsError(NULL_DEPLOYMENT_ID)
        answer = self._pending.pop((component, str(deployment_id)), None)
        if answer is None:
            raise ServiceError(TIME_LIMIT_EXCEEDED)
        recheck = request.get("recheckAfterMs")
        message = request.get("message")
        if not answer.done():
            answer.set_result(Deferral(str(deployment_id), None if recheck is None else int(recheck), message))
        return {}
