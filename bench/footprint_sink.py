"""The footprint benchmark's IPC ceiling: a component that only subscribes to a topic and counts what arrives.

argv: TOPIC. For N = 0, 1, ... the bench writes on-N.json, {"count": C}; the sink subscribes to TOPIC with
awsiotsdk's GreengrassCoreIPCClientV2 (callbacks on the client's own thread, as the component has them),
writes subscribed-N.json, counts messages without reading them, and at the C-th writes sink-N.json (when it
arrived), then unsubscribes. It exits when the bench writes `stop`, or after 10 minutes without a batch.
"""

import contextlib
import json
import os
import sys
import threading
import time

from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

IDLE_SECONDS = 600
BATCH_SECONDS = 300

topic = sys.argv[1]
client = GreengrassCoreIPCClientV2(executor=None)


def save(name, **fields):
    with open(f"{name}.tmp", "w") as handle:
        json.dump(fields, handle)
    os.replace(f"{name}.tmp", name)


def order(batch):
    deadline = time.monotonic() + IDLE_SECONDS
    while time.monotonic() < deadline and not os.path.exists("stop"):
        if os.path.exists(f"on-{batch}.json"):
            with open(f"on-{batch}.json") as handle:
                return json.load(handle)
        time.sleep(0.005)
    return None


def count_messages(batch, count):
    received = [0]
    finished = [0.0]
    done = threading.Event()

    def on_message(_event):
        received[0] += 1
        if received[0] == count:
            finished[0] = time.time()
            done.set()

    _response, operation = client.subscribe_to_topic(topic=topic, on_stream_event=on_message)
    save(f"subscribed-{batch}.json")
    done.wait(BATCH_SECONDS)
    closed = operation.close()  # the bench sees the subscription end in the nucleus's own table
    with contextlib.suppress(Exception):
        closed.result(10)
    save(f"sink-{batch}.json", finished=finished[0], received=received[0])


batch = 0
while (work := order(batch)) is not None:
    count_messages(batch, work["count"])
    batch += 1
