from __future__ import annotations

import pytest

from greengrass_local.authorization import (
    MQTTPROXY_SERVICE,
    PUBSUB_SERVICE,
    Authorizer,
    is_allowed,
    policies_for,
    resource_matches,
    resource_problem,
)
from greengrass_local.wire.errors import UnauthorizedError


@pytest.mark.parametrize(
    ("pattern", "resource", "allowed"),
    [
        ("a/b", "a/b", True),
        ("a/*", "a/b/c", True),  # '*' crosses '/'
        ("*", "anything/at/all", True),
        ("a/*/c", "a/x/y/c", True),
        ("a/#", "a/b", False),  # '#' is a plain character for pub/sub
        ("a/+", "a/b", False),
        ("a/+", "a/+", True),  # ... so a wildcard filter needs a literal match
        ("a/${*}", "a/*", True),
        ("a/${*}", "a/b", False),
    ],
)
def test_standard_matching(pattern, resource, allowed):
    assert resource_matches(pattern, resource, mqtt=False) is allowed


@pytest.mark.parametrize(
    ("pattern", "resource", "allowed"),
    [
        ("a/#", "a/b/c", True),
        ("a/#", "a", True),  # MQTT: '#' covers the parent level
        ("a/+/c", "a/b/c", True),
        ("a/+/c", "a/b/x/c", False),
        ("a/#", "a/+", True),  # a policy wider than the subscription filter
        ("#", "x/y", True),
        ("a/b#", "a/bc", False),  # '#' not a whole level: literal
        ("a/*/c", "a/b/q/c", True),
    ],
)
def test_mqtt_matching(pattern, resource, allowed):
    assert resource_matches(pattern, resource, mqtt=True) is allowed


def test_resources_with_bare_question_marks_or_bad_escapes_are_invalid():
    assert resource_problem("a/?") is not None and "${?}" in resource_problem("a/?")
    assert resource_problem("a/${x}") == "Resource contains an invalid escape sequence. You can use ${*}, ${$}, or ${?}"
    assert resource_problem("a/${?}") is None
    assert resource_problem("") == "Resource cannot be empty"


def test_policies_need_operations_and_skip_invalid_resources():
    access = {
        PUBSUB_SERVICE: {
            "p1": {"operations": ["aws.greengrass#PublishToTopic"], "resources": ["ok", "bad?"]},
            "p2": {"operations": [], "resources": ["x"]},
            "p3": "not a policy",
        }
    }
    (policy,) = policies_for(access, PUBSUB_SERVICE)
    assert policy.resources == ("ok",)


def test_access_control_may_be_a_json_string():
    access = '{"aws.greengrass.ipc.pubsub": {"p": {"operations": ["*"], "resources": ["t"]}}}'
    assert is_allowed(policies_for(access, PUBSUB_SERVICE), "SubscribeToTopic", "t", mqtt=False)


def test_authorizer_texts_and_operation_wildcard():
    configs = {
        "c.A": {PUBSUB_SERVICE: {"p": {"operations": ["*"], "resources": ["t/*"]}}},
        "c.B": {MQTTPROXY_SERVICE: {"p": {"operations": ["aws.greengrass#PublishToIoTCore"], "resources": ["x/#"]}}},
    }
    authorizer = Authorizer(lambda name: configs.get(name))
    authorizer.check("c.A", PUBSUB_SERVICE, "PublishToTopic", "t/1")
    with pytest.raises(UnauthorizedError) as denied:
        authorizer.check("c.A", PUBSUB_SERVICE, "PublishToTopic", "u")
    assert (
        denied.value.message
        == "Principal c.A is not authorized to perform aws.greengrass.ipc.pubsub:aws.greengrass#PublishToTopic on resource u"
    )
    with pytest.raises(UnauthorizedError, match="Resource cannot be empty"):
        authorizer.check("c.A", PUBSUB_SERVICE, "PublishToTopic", "")
    assert authorizer.allowed("c.B", MQTTPROXY_SERVICE, "PublishToIoTCore", "x")
    assert not authorizer.allowed("c.B", MQTTPROXY_SERVICE, "SubscribeToIoTCore", "x")


def test_a_decision_is_remembered_per_configuration_object_and_the_memory_is_bounded():
    from greengrass_local.authorization import DECISIONS_KEPT

    configs = {"c.A": {PUBSUB_SERVICE: {"p": {"operations": ["*"], "resources": ["t/1"]}}}}
    reads: list[str] = []
    authorizer = Authorizer(lambda name: reads.append(name) or configs.get(name))
    assert authorizer.allowed("c.A", PUBSUB_SERVICE, "PublishToTopic", "t/1")
    assert not authorizer.allowed("c.A", PUBSUB_SERVICE, "PublishToTopic", "t/2")
    configs["c.A"] = {PUBSUB_SERVICE: {"p": {"operations": ["*"], "resources": ["t/2"]}}}  # a deployment replaces the tree
    assert not authorizer.allowed("c.A", PUBSUB_SERVICE, "PublishToTopic", "t/1")
    assert authorizer.allowed("c.A", PUBSUB_SERVICE, "PublishToTopic", "t/2")
    for n in range(DECISIONS_KEPT + 10):
        assert not authorizer.allowed("c.A", PUBSUB_SERVICE, "PublishToTopic", f"other/{n}")
    assert len(authorizer._decided) <= DECISIONS_KEPT
    assert authorizer.allowed("c.A", PUBSUB_SERVICE, "PublishToTopic", "t/2")
    assert set(reads) == {"c.A"}
