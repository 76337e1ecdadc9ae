"""The demo's client component: sends feedback samples with the v1 SDK, as a v1 Lambda function did."""

import json
import os
import random
import sys

import greengrass_machine_learning_sdk as ml

plan = json.loads(os.environ["DEMO_PLAN"])
rng = random.Random(7)
client = ml.client("feedback")
sent = {}
for index, (config_id, classes) in enumerate(plan):
    weights = [rng.random() ** 3 for _ in range(classes)]
    prediction = [round(w / sum(weights), 4) for w in weights]
    client.publish(
        ConfigId=config_id,
        ModelInput=rng.randbytes(10 * 1024) if hasattr(rng, "randbytes") else os.urandom(10 * 1024),
        ModelPrediction=prediction,
        Metadata={"sample": index, "camera": "line-3"},
    )
    sent[client.last_request_id] = config_id
with open("demo-requests.json", "w") as handle:
    json.dump(sent, handle)
print(f"sent {len(plan)} feedback requests", flush=True)
sys.exit(0)
