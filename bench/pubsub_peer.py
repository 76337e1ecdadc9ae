"""One side of the pub/sub benchmark, run as a Greengrass component (or over a raw relay).

argv: publish|subscribe COUNT SIZE. With BENCH_RELAY set, the same traffic goes
over a plain Unix socket relay (length-prefixed frames) instead of IPC: the
baseline.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import threading
import time


def save(**fields: object) -> None:
    with open("bench.json.tmp", "w") as handle:
        json.dump(fields, handle)
    os.replace("bench.json.tmp", "bench.json")


def ipc_publish(count: int, size: int) -> None:
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
    from awsiot.greengrasscoreipc.model import BinaryMessage, PublishMessage

    client = GreengrassCoreIPCClientV2()
    payload = os.urandom(size)
    window: list = []
    cpu, started = time.process_time(), time.time()
    for _ in range(count):
        window.append(
            client.publish_to_topic_async(topic="bench/data", publish_message=PublishMessage(binary_message=BinaryMessage(message=payload)))
        )
        if len(window) >= 64:
            window.pop(0).result()
    for future in window:
        future.result()
    save(started=started, cpu=time.process_time() - cpu)


def ipc_subscribe(count: int, size: int) -> None:
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

    client = GreengrassCoreIPCClientV2(executor=None)
    received = [0]
    done = threading.Event()
    cpu = [0.0]

    def on_message(event: object) -> None:
        if received[0] == 0:
            cpu[0] = time.process_time()
        received[0] += 1
        if received[0] == count:
            done.set()

    client.subscribe_to_topic(topic="bench/data", on_stream_event=on_message)
    client.update_state(state="RUNNING")
    done.wait(600)
    save(finished=time.time(), received=received[0], cpu=time.process_time() - cpu[0])


def relay_publish(count: int, size: int) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(os.environ["BENCH_RELAY"])
    sock.sendall(b"P")
    frame = struct.pack(">I", size) + os.urandom(size)
    cpu, started = time.process_time(), time.time()
    for _ in range(count):
        sock.sendall(frame)
    sock.shutdown(socket.SHUT_WR)
    sock.recv(1)
    save(started=started, cpu=time.process_time() - cpu)


def relay_subscribe(count: int, size: int) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(os.environ["BENCH_RELAY"])
    sock.sendall(b"S")
    open("ready", "w").close()
    buffer, received, cpu = bytearray(), 0, None
    while received < count:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        if cpu is None:
            cpu = time.process_time()
        buffer += chunk
        while len(buffer) >= 4:
            (length,) = struct.unpack_from(">I", buffer)
            if len(buffer) < 4 + length:
                break
            del buffer[: 4 + length]
            received += 1
    save(finished=time.time(), received=received, cpu=time.process_time() - (cpu or 0.0))


if __name__ == "__main__":
    role, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    relay = bool(os.environ.get("BENCH_RELAY"))
    {
        ("publish", False): ipc_publish,
        ("subscribe", False): ipc_subscribe,
        ("publish", True): relay_publish,
        ("subscribe", True): relay_subscribe,
    }[(role, relay)](count, size)
