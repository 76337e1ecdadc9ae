from __future__ import annotations

import pytest

from greengrass_local.topics import has_wildcard, iot_core_topic_problem, local_filter_matches, mqtt_filter_matches


@pytest.mark.parametrize(
    ("topic_filter", "topic", "local", "mqtt"),
    [
        ("a/b", "a/b", True, True),
        ("a/+", "a/b", True, True),
        ("a/+", "a/b/c", False, False),
        ("a/#", "a/b/c", True, True),
        ("a/#", "a", False, True),  # the nucleus's local pub/sub differs from MQTT here
        ("#", "a/b", True, True),
        ("+/+", "a/b", True, True),
        ("a/+/c", "a/b/d", False, False),
    ],
)
def test_filter_matching(topic_filter, topic, local, mqtt):
    assert local_filter_matches(topic_filter, topic) is local
    assert mqtt_filter_matches(topic_filter, topic) is mqtt


def test_wildcards_are_whole_levels_only():
    assert has_wildcard("a/+/b") and has_wildcard("a/#") and has_wildcard("#")
    assert not has_wildcard("a/b+") and not has_wildcard("a/#/b") and not has_wildcard("a/*")


def test_iot_core_limits():
    assert iot_core_topic_problem("", is_filter=False) == "Topic must not be empty"
    assert iot_core_topic_problem("a/+", is_filter=False) == "Publish topics must not contain wildcard characters of '#' or '+'"
    assert iot_core_topic_problem("a/+", is_filter=True) is None
    assert iot_core_topic_problem("/".join("abcdefgh"), is_filter=False) is None
    assert "7 forward slashes" in iot_core_topic_problem("/".join("abcdefghi"), is_filter=False)
    assert "256 bytes" in iot_core_topic_problem("x" * 257, is_filter=False)
    assert iot_core_topic_problem("$aws/rules/my_rule/" + "/".join("abcdefgh"), is_filter=False) is None
