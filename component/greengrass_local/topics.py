"""Topic filters and topic rules as the nucleus applies them. Pure functions.

Local pub/sub and IoT Core both use MQTT's `+` (one whole level) and `#` (the
last level: everything below). One difference: in local pub/sub `a/#` does not
match `a` itself (SubscriptionTrie.java), while an MQTT broker, and so IoT
Core, does.
"""

from __future__ import annotations

MAX_IOT_TOPIC_SLASHES = 7
MAX_IOT_TOPIC_BYTES = 256


def has_wildcard(topic_filter: str) -> bool:
    levels = topic_filter.split("/")
    return "+" in levels or levels[-1] == "#"


def filter_matches(topic_filter: str, topic: str, *, hash_matches_parent: bool) -> bool:
    if topic_filter == topic:
        return True
    pattern = topic_filter.split("/")
    levels = topic.split("/")
    for index, part in enumerate(pattern):
        if part == "#" and index == len(pattern) - 1:
            return index < len(levels) or (hash_matches_parent and index == len(levels))
        if index >= len(levels):
            return False
        if part != "+" and part != levels[index]:
            return False
    return len(pattern) == len(levels)


def local_filter_matches(topic_filter: str, topic: str) -> bool:
    return filter_matches(topic_filter, topic, hash_matches_parent=False)


def mqtt_filter_matches(topic_filter: str, topic: str) -> bool:
    return filter_matches(topic_filter, topic, hash_matches_parent=True)


def iot_core_topic_problem(topic: str, *, is_filter: bool) -> str | None:
    """AWS IoT Core's topic limits, in the nucleus's words (IotCoreTopicValidator.java)."""
    if not topic:
        return "Topic must not be empty"
    if not is_filter and ("#" in topic or "+" in topic):
        return "Publish topics must not contain wildcard characters of '#' or '+'"
    checked = topic
    if topic.startswith("$aws/rules/"):
        checked = topic.split("/", 3)[3] if topic.count("/") >= 3 else ""
    if checked.count("/") > MAX_IOT_TOPIC_SLASHES:
        return f"The request topic must have no more than {MAX_IOT_TOPIC_SLASHES} forward slashes (/)"
    if len(checked.encode("utf-8")) > MAX_IOT_TOPIC_BYTES:
        return (
            f"The topic size of request must be no larger than {MAX_IOT_TOPIC_BYTES} bytes of UTF-8 encoded characters. "
            "This excludes the first 3 mandatory segments for Basic Ingest topics ($AWS/rules/rule-name/)"
        )
    return None
