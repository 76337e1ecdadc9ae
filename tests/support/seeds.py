"""Documents quoted from the seed documents (../shared/seeds), kept in the repo so tests run on a clean clone."""

from __future__ import annotations

import json

# Seed 001, "Create Connector Example (AWS CLI)": the --initial-version document of create-connector-definition.
CREATE_CONNECTOR_DEFINITION = json.loads(
    '{\n    "Connectors": [\n        {\n            "Id": "MyMLFeedbackConnector",\n            "ConnectorArn": "arn:aws:greengrass:region::/connectors/MLFeedback/versions/1",\n            "Parameters": {\n                "FeedbackConfigurationMap": "{  \\"RandomSamplingConfiguration\\": {  \\"s3-bucket-name\\": \\"my-aws-bucket-random-sampling\\",  \\"content-type\\": \\"image/png\\",  \\"file-ext\\": \\"png\\",  \\"sampling-strategy\\": {  \\"strategy-name\\": \\"RANDOM_SAMPLING\\",  \\"rate\\": 0.5  } },  \\"LeastConfidenceConfiguration\\": {  \\"s3-bucket-name\\": \\"my-aws-bucket-least-confidence-sampling\\",  \\"content-type\\": \\"image/png\\",  \\"file-ext\\": \\"png\\",  \\"sampling-strategy\\": {  \\"strategy-name\\": \\"LEAST_CONFIDENCE\\",  \\"threshold\\": 0.4  } } }", \n                "RequestLimit": "10"\n            }\n        }\n    ]\n}'
)

# Its FeedbackConfigurationMap: a JSON string, as v1 took it.
SEED_MAP_STRING: str = CREATE_CONNECTOR_DEFINITION["Connectors"][0]["Parameters"]["FeedbackConfigurationMap"]
