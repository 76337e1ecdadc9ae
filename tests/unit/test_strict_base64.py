"""ModelInput is decoded as `base64.b64decode(validate=True)` decodes it: same bytes, same refusals, same texts."""

from __future__ import annotations

import base64
import os

import pytest

from ml_feedback.messages import strict_base64

CANONICAL = base64.b64encode(os.urandom(10240)).decode("ascii")


def _outcome(decode, text: str) -> tuple[str, object]:
    try:
        return "decoded", decode(text)
    except ValueError as error:
        return type(error).__name__, str(error)


@pytest.mark.parametrize(
    "text",
    [CANONICAL, CANONICAL[:-1], CANONICAL + "!", "YQ==", "YR==", "YQ", "YQ=", " YQ==", "YQ==\n", "ab=c", "é", "", "YWJj"],
    ids=[
        "10 KiB",
        "cut",
        "junk",
        "a",
        "non-zero pad bits",
        "no padding",
        "short padding",
        "space",
        "newline",
        "= inside",
        "non-ASCII",
        "empty",
        "abc",
    ],
)
def test_the_same_bytes_and_errors_as_the_standard_library(text):
    assert _outcome(strict_base64, text) == _outcome(lambda t: base64.b64decode(t, validate=True), text)
