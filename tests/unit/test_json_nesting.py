"""How deep a request's JSON text nests, found before it is parsed: brackets inside strings do not count."""

from __future__ import annotations

import json
import random

import pytest

from ml_feedback.messages import _JSON_STRING, MAX_NESTING, outside_strings, text_nests_deeper


def test_the_text_outside_strings_is_the_regular_expressions_on_random_texts():
    generator = random.Random(20261202)
    alphabet = b'"""\\[]{}a ,:'
    for _ in range(50_000):
        raw = bytes(generator.choice(alphabet) for _ in range(generator.randrange(0, 40)))
        assert outside_strings(raw) == _JSON_STRING.sub(b"", raw), raw


def nested(depth: int, inside: object = 1) -> bytes:
    value = inside
    for _ in range(depth - 1):
        value = [value]
    return json.dumps({"ModelPrediction": value}).encode()


@pytest.mark.parametrize(
    ("text", "deeper"),
    [
        (nested(MAX_NESTING), False),  # the document's own object and MAX_NESTING - 1 lists
        (nested(MAX_NESTING + 1), True),
        (nested(MAX_NESTING, "[[[[{{{{"), False),  # brackets in a string are text
        (nested(MAX_NESTING, 'say "[[[[" \\ ]]'), False),  # escaped quotes and a backslash: the slow path
        (nested(MAX_NESTING + 1, 'say "]]]]"'), True),
        (b'{"a": "unterminated [' + b"[" * MAX_NESTING, True),  # an odd number of quotes: the slow path
        (json.dumps([{"label": "person", "score": 0.5, "box": [0, 0, 1, 1]}] * 1000).encode(), False),
    ],
)
def test_nesting_is_counted_outside_strings(text: bytes, deeper: bool):
    assert text_nests_deeper(text) is deeper
    assert text_nests_deeper(text.decode("utf-8")) is deeper
