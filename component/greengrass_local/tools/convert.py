"""`mlfeedback convert-v1`: a v1 connector definition -> this component's v2 configuration.

The ML Feedback connector's two parameters carry over unchanged (the
component takes v1's forms, the JSON string included). Every other connector
is named with the reason it was not converted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

COMPONENT = "community.greengrass.MLFeedback"
COMPONENT_VERSION = "1.0.0"
ML_FEEDBACK_ARN = re.compile(r"^arn:aws[a-z-]*:greengrass:[^:]*::/connectors/MLFeedback/versions/\d+$")
PARAMETERS = ("FeedbackConfigurationMap", "RequestLimit")
NOT_CONVERTED = {  # by connector name prefix (ImageClassificationx86-64, ObjectDetectionAarch64JTX2, ...)
    "ImageClassification": "runs a SageMaker Neo model on the core; use an inference backend (InferenceServices) for the model instead",
    "ObjectDetection": "runs a SageMaker Neo model on the core; use an inference backend (InferenceServices) for the model instead",
}


class ConversionError(ValueError):
    pass


@dataclass
class Conversion:
    merge: dict[str, Any]
    skipped: list[str] = field(default_factory=list)

    def update_config(self) -> dict[str, Any]:
        """The `--update-config` document of greengrass-cli and `mlfeedback local run`."""
        return {COMPONENT: {"MERGE": self.merge}}

    def deployment_components(self) -> dict[str, Any]:
        """The `components` of `aws greengrassv2 create-deployment` (configurationUpdate.merge is a JSON string)."""
        return {COMPONENT: {"componentVersion": COMPONENT_VERSION, "configurationUpdate": {"merge": json.dumps(self.merge)}}}


def connectors_of(document: Any) -> list[dict[str, Any]]:
    """The connectors of any shape the AWS CLI takes or prints for a connector definition."""
    for wrapper in ("InitialVersion", "Definition"):
        if isinstance(document, dict) and isinstance(document.get(wrapper), dict):
            document = document[wrapper]
    if isinstance(document, dict):
        document = document.get("Connectors")
    if not isinstance(document, list):
        raise ConversionError('expected a connector definition: {"Connectors": [...]} (or InitialVersion / Definition holding one)')
    return [c for c in document if isinstance(c, dict)]


def convert(document: Any) -> Conversion:
    from ml_feedback.config import ConfigError, parse_config

    merge: dict[str, Any] | None = None
    skipped: list[str] = []
    for connector in connectors_of(document):
        name = str(connector.get("Id", "?"))
        arn = str(connector.get("ConnectorArn", ""))
        if not ML_FEEDBACK_ARN.match(arn):
            kind = arn.split("/connectors/")[-1].split("/")[0] if "/connectors/" in arn else arn or "no ConnectorArn"
            reason = next(
                (why for prefix, why in NOT_CONVERTED.items() if kind.startswith(prefix)),
                f"{COMPONENT} replaces only the ML Feedback connector",
            )
            skipped.append(f"{name} ({arn or 'no ConnectorArn'}): not converted: {reason}")
            continue
        if merge is not None:
            skipped.append(f"{name} ({arn}): not converted: a core runs one {COMPONENT}; the first ML Feedback connector was converted")
            continue
        parameters = connector.get("Parameters") or {}
        unknown = sorted(set(parameters) - set(PARAMETERS))
        if unknown:
            raise ConversionError(f"{name}: unknown ML Feedback connector parameter(s) {', '.join(unknown)}")
        merge = {key: parameters[key] for key in PARAMETERS if key in parameters}
        try:
            parse_config(merge)
        except ConfigError as error:
            raise ConversionError(f"{name}: the connector's parameters are not valid: {error}") from None
    if merge is None:
        raise ConversionError(
            f"no ML Feedback connector (ConnectorArn arn:aws:greengrass:REGION::/connectors/MLFeedback/versions/N) in the definition; {len(skipped)} other connector(s)"
        )
    return Conversion(merge, skipped)
