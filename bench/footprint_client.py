"""The footprint benchmark's client component: batches of feedback requests sent with the v1 SDK, each when the bench says go.

argv: SIZE. For N = 0, 1, ... the bench writes go-N.json, {"count": C, "config": ID, "seconds": S}; the client
sends C requests (ConfigId ID, the same SIZE-byte ModelInput, ModelPrediction [0.5, 0.5], Metadata {"n": index}),
one `publish` after the other as fast as each returns, or spread evenly over S seconds when S > 0, then writes
round-N.json: when it started and finished. It exits when the bench writes `stop`, or after 10 minutes without a batch.
"""

import json
import os
import sys
import time

import greengrass_machine_learning_sdk as ml

IDLE_SECONDS = 600

size = int(sys.argv[1])
client = ml.client("feedback")
payload = os.urandom(size)


def order(batch):
    """The bench's go-N.json, or None when told to stop (or left idle too long)."""
    deadline = time.monotonic() + IDLE_SECONDS
    while time.monotonic() < deadline and not os.path.exists("stop"):
        if os.path.exists(f"go-{batch}.json"):
            with open(f"go-{batch}.json") as handle:
                return json.load(handle)
        time.sleep(0.005)
    return None


def send(config_id, count, seconds):
    begin = time.monotonic()
    for index in range(count):
        if seconds > 0:
            delay = begin + seconds * index / count - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        client.publish(ConfigId=config_id, ModelInput=payload, ModelPrediction=[0.5, 0.5], Metadata={"n": index})


batch = 0
while (work := order(batch)) is not None:
    started = time.time()
    send(work["config"], work["count"], work["seconds"])
    with open(f"round-{batch}.json.tmp", "w") as handle:
        json.dump({"started": started, "finished": time.time()}, handle)
    os.replace(f"round-{batch}.json.tmp", f"round-{batch}.json")
    batch += 1
