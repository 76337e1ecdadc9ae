"""The benchmark's client component: WARMUP requests, then ROUNDS batches of COUNT, each when the bench says go.

After each batch it writes when it started and the CPU seconds sending took.
"""

import json
import os
import sys
import time

import greengrass_machine_learning_sdk as ml

warmup, rounds, count, size = (int(arg) for arg in sys.argv[1:5])
client = ml.client("feedback")
payload = os.urandom(size)


def send(number):
    for index in range(number):
        client.publish(ConfigId="Bench", ModelInput=payload, ModelPrediction=[0.5, 0.5], Metadata={"n": index})


send(warmup)
for batch in range(rounds):
    deadline = time.monotonic() + 300
    while not os.path.exists(f"go-{batch}") and time.monotonic() < deadline:
        time.sleep(0.005)
    started, cpu = time.time(), time.process_time()
    send(count)
    with open(f"round-{batch}.json.tmp", "w") as handle:
        json.dump({"started": started, "cpu": time.process_time() - cpu}, handle)
    os.replace(f"round-{batch}.json.tmp", f"round-{batch}.json")
