"""Errors the SDK raises; like botocore's, they carry a code and a message."""

from __future__ import annotations


class ParamValidationError(ValueError):
    """Arguments rejected before anything is sent, in botocore's words."""

    def __init__(self, report: list[str]) -> None:
        self.report = report
        super().__init__("Parameter validation failed:\n" + "\n".join(report))
