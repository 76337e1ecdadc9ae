"""StateChanges, the wait every deployment makes on component states, with a real event loop."""

from __future__ import annotations

import asyncio

import pytest

from greengrass_local.services.host import StateChanges


def test_a_cancellation_that_arrives_with_the_change_it_waits_for_is_not_lost():
    """The nucleus stopping while a component changes state: Python 3.10's wait_for returned as if nothing
    had been cancelled, the deployment ran on, and `local run` never finished stopping."""

    async def scenario() -> None:
        changes = StateChanges()
        waiting = asyncio.ensure_future(changes.wait_until(lambda: False, timeout=30))
        await asyncio.sleep(0)  # now waiting for a change
        changes.notify()  # a component changed state ...
        waiting.cancel()  # ... and, in the same pass of the loop, the nucleus is told to stop
        done, _ = await asyncio.wait({waiting}, timeout=5)
        assert done, "the cancelled wait went on waiting"
        assert waiting.cancelled()

    asyncio.run(scenario())


@pytest.mark.parametrize(("condition", "expected"), [(lambda: False, False), (lambda: True, True)])
def test_a_wait_with_a_timeout_answers_the_condition(condition, expected):
    async def scenario() -> bool:
        return await StateChanges().wait_until(condition, timeout=0.05)

    assert asyncio.run(scenario()) is expected
