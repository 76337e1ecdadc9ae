"""v1-style code: classify an image with the Greengrass ML SDK's invoke_inference_service."""

import json
import os

import greengrass_machine_learning_sdk as ml

client = ml.client("inference")
image = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample.jpg")
with open(image, "rb") as f:
    response = client.invoke_inference_service(
        AlgoType="image-classification",
        ServiceName=os.environ.get("SERVICE_NAME", "demo-classifier"),
        ContentType="image/jpeg",
        Accept="application/json",
        Body=f,
    )
probabilities = json.loads(response["Body"].read())
print(f"{response['ContentType']}: {probabilities}", flush=True)
