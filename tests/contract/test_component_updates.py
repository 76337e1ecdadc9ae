"""SubscribeToComponentUpdates and DeferComponentUpdate around a local deployment of a new version."""

from __future__ import annotations

from greengrass_local.deployment.lifecycle import State

# Each preUpdateEvent is recorded with the version test.Target runs at that moment (it writes it into its work folder).
# The first one is answered with a deferral (after a try with a wrong deploymentId), later ones with recheckAfterMs=0.
WATCHER = """
import os, threading, uuid
from ipc_probe import client, outcome, save

c = client()
events, lock = [], threading.Lock()

def running():
    path = os.path.join("..", "test.Target", "version")
    return open(path).read().strip() if os.path.exists(path) else None

def on_event(event):
    with lock:
        if event.pre_update_event is not None:
            pre = event.pre_update_event
            events.append(["pre", pre.deployment_id, pre.is_ggc_restarting, running()])
            if sum(e[0] == "pre" for e in events) == 1:
                outcome("wrong_id", lambda: c.defer_component_update(deployment_id=str(uuid.uuid4()), recheck_after_ms=500))
                outcome("defer", lambda: c.defer_component_update(deployment_id=pre.deployment_id, message="busy", recheck_after_ms=500))
                outcome("twice", lambda: c.defer_component_update(deployment_id=pre.deployment_id, recheck_after_ms=500))
            else:
                outcome("proceed", lambda: c.defer_component_update(deployment_id=pre.deployment_id, recheck_after_ms=0))
        if event.post_update_event is not None:
            events.append(["post", event.post_update_event.deployment_id, None, running()])
        save(events=events)

outcome("no_update_pending_unsubscribed", lambda: c.defer_component_update(deployment_id=str(uuid.uuid4()), recheck_after_ms=1))
outcome("subscribe", lambda: c.subscribe_to_component_updates(on_stream_event=on_event))
outcome("no_update_pending", lambda: c.defer_component_update(deployment_id=str(uuid.uuid4()), recheck_after_ms=1))
outcome("null_id", lambda: c.defer_component_update(recheck_after_ms=1))
save(events=events)
threading.Event().wait()
"""


def _target(project, version: str) -> None:
    project.component("test.Target", version=version, lifecycle={"Run": f"echo {version} > version; exec sleep 600"})


def test_a_subscriber_is_asked_before_and_told_after_a_new_version_and_its_deferral_is_honoured(nucleus, project):
    _target(project, "1.0.0")
    _target(project, "2.0.0")
    project.component("test.Watcher", script=WATCHER)
    first = nucleus.deploy(project, merge={"test.Target": "1.0.0", "test.Watcher": "1.0.0"})
    assert first.status == "SUCCEEDED", first.details
    r = nucleus.results("test.Watcher", until=lambda r: "null_id" in r)
    # LifecycleIPCEventStreamAgent: no authorization; the subscription is checked before the deploymentId.
    assert r["no_update_pending_unsubscribed"] == ["InvalidArgumentsError", "Component is not subscribed to component update events"]
    assert r["subscribe"] == ["ok", {}]
    assert r["no_update_pending"] == ["ServiceError", "Time limit to respond to PreComponentUpdateEvent exceeded"]
    assert r["null_id"] == ["InvalidArgumentsError", "Cannot defer the update, the deployment ID provided was null"]
    # Subscribed while the first deployment settled: at most it hears that one is over.
    assert all(e[:2] == ["post", first.deployment_id] for e in r["events"])

    update = nucleus.deploy(merge={"test.Target": "2.0.0"})
    assert update.status == "SUCCEEDED", update.details
    deployment = update.deployment_id
    r = nucleus.results("test.Watcher", until=lambda r: ["post", deployment] in [e[:2] for e in r["events"]])
    # Asked, deferred while 1.0.0 still ran, asked again after recheckAfterMs, then told once 2.0.0 runs.
    assert [e for e in r["events"] if e[1] == deployment] == [
        ["pre", deployment, False, "1.0.0"],
        ["pre", deployment, False, "1.0.0"],
        ["post", deployment, None, "2.0.0"],
    ]
    assert r["wrong_id"] == ["ServiceError", "Time limit to respond to PreComponentUpdateEvent exceeded"]
    assert r["defer"] == ["ok", {}]
    assert r["twice"] == ["ServiceError", "Time limit to respond to PreComponentUpdateEvent exceeded"]
    assert r["proceed"] == ["ok", {}]
    assert nucleus.state("test.Target") is State.RUNNING
    assert nucleus.run(lambda: nucleus.nucleus.components["test.Target"].version) == "2.0.0"


SILENT = """
import threading
from ipc_probe import client, outcome, save

c = client()
events = []
def on_event(event):
    if event.pre_update_event is not None:
        events.append(["pre", event.pre_update_event.deployment_id])
    else:
        events.append(["post", event.post_update_event.deployment_id])
    save(events=events)
outcome("subscribe", lambda: c.subscribe_to_component_updates(on_stream_event=on_event))
save(events=events)
threading.Event().wait()
"""


def test_a_subscriber_that_does_not_answer_holds_the_update_until_the_policy_timeout(nucleus, project):
    _target(project, "1.0.0")
    _target(project, "2.0.0")
    project.component("test.Silent", script=SILENT)
    assert nucleus.deploy(project, merge={"test.Target": "1.0.0", "test.Silent": "1.0.0"}).status == "SUCCEEDED"
    assert nucleus.results("test.Silent", until=lambda r: "subscribe" in r)["subscribe"] == ["ok", {}]
    assert nucleus.run(lambda: nucleus.nucleus.updates.timeout) == 60  # ComponentUpdatePolicy's default
    nucleus.run(lambda: setattr(nucleus.nucleus.updates, "timeout", 0.5))

    update = nucleus.deploy(merge={"test.Target": "2.0.0"})
    assert update.status == "SUCCEEDED", update.details
    r = nucleus.results("test.Silent", until=lambda r: ["post", update.deployment_id] in r["events"])
    assert [e[0] for e in r["events"] if e[1] == update.deployment_id] == ["pre", "post"]
    # Once the deployment went on without an answer, a late one is refused.
    late = nucleus.client("test.Silent")
    try:
        late.defer_component_update(deployment_id=update.deployment_id, recheck_after_ms=1000)
    except Exception as exc:
        assert type(exc).__name__ == "ServiceError"
        assert exc.message == "Time limit to respond to PreComponentUpdateEvent exceeded"
    else:
        raise AssertionError("a late deferral was accepted")
    finally:
        late.close()


def test_a_deployment_cancelled_while_deferred_does_not_update_and_subscribers_are_told(nucleus, project):
    _target(project, "1.0.0")
    _target(project, "2.0.0")
    project.component("test.Silent", script=SILENT)
    assert nucleus.deploy(project, merge={"test.Target": "1.0.0", "test.Silent": "1.0.0"}).status == "SUCCEEDED"
    assert nucleus.results("test.Silent", until=lambda r: "subscribe" in r)["subscribe"] == ["ok", {}]

    record = nucleus.run(lambda: nucleus.nucleus.deployments.submit(_request({"test.Target": "2.0.0"})))
    nucleus.results("test.Silent", until=lambda r: ["pre", record.deployment_id] in r["events"])
    nucleus.run(lambda: nucleus.nucleus.deployments.cancel(record))
    r = nucleus.results("test.Silent", until=lambda r: ["post", record.deployment_id] in r["events"])
    assert [e[0] for e in r["events"] if e[1] == record.deployment_id] == ["pre", "post"]
    assert record.status == "CANCELED"
    assert nucleus.run(lambda: nucleus.nucleus.components["test.Target"].version) == "1.0.0"


def _request(add: dict[str, str]):
    from greengrass_local.services.deployments import DeploymentRequest

    return DeploymentRequest(add=add)
