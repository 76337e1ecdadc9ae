"""The inference service: requests on local pub/sub, run on a SageMaker endpoint, a model server or a Python model."""
