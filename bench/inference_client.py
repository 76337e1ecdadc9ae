"""The inference benchmark's client component: COUNT calls through the SDK, and COUNT direct calls of the same model."""

import json
import os
import sys
import time

import bench_models

import greengrass_machine_learning_sdk as ml

count, size, warmup = (int(arg) for arg in sys.argv[1:4])
body = os.urandom(size)
client = ml.client("inference")


def through_component():
    response = client.invoke_inference_service(AlgoType="echo", ServiceName="echo", ContentType="application/octet-stream", Body=body)
    assert response["Body"].read() == body


def direct():
    result, _ = bench_models.echo(body, "application/octet-stream", None)
    assert result == body


def timings(call, number):
    samples = []
    for _ in range(number):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


timings(through_component, warmup)
ipc = timings(through_component, count)
baseline = timings(direct, count)
with open("latency.json", "w") as handle:
    json.dump({"ipc": ipc, "direct": baseline}, handle)
