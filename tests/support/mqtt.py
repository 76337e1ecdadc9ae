"""A real MQTT broker (Debian's mosquitto) for tests, and a plain MQTT client to talk to it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mosquitto:
    """mosquitto on a free loopback port, configured not to drop messages of slow subscribers."""

    def __init__(self, folder: Path) -> None:
        executable = find_mosquitto()
        if executable is None:
            if os.environ.get("MLFEEDBACK_REQUIRE_BROKER"):
                pytest.fail("mosquitto is not installed but MLFEEDBACK_REQUIRE_BROKER is set")
            pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
        self.port = free_port()
        config = folder / "mosquitto.conf"
        config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n")
        self.process = subprocess.Popen([executable, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto did not start: {self.process.stderr.read() if self.process.stderr else ''}") from None
                time.sleep(0.02)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()


class PlainMqttClient:
    """An ordinary MQTT 3.1.1 client (awscrt, plain TCP): no Greengrass involved."""

    def __init__(self, port: int, client_id: str = "plain-test-client") -> None:
        from awscrt import io, mqtt

        event_loops = io.EventLoopGroup(1)
        bootstrap = io.ClientBootstrap(event_loops, io.DefaultHostResolver(event_loops))
        self._mqtt = mqtt
        self.connection = mqtt.Connection(
            client=mqtt.Client(bootstrap, None), host_name="127.0.0.1", port=port, client_id=client_id, clean_session=True
        )
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.connection.on_message(self._on_message)
        self.connection.connect().result(10)

    def _on_message(self, topic: str, payload: bytes, **_: Any) -> None:
        with self._lock:
            self.messages.append((topic, bytes(payload)))

    def subscribe(self, topic_filter: str) -> None:
        future, _ = self.connection.subscribe(topic_filter, self._mqtt.QoS.AT_LEAST_ONCE)
        future.result(10)

    def publish(self, topic: str, payload: bytes) -> None:
        future, _ = self.connection.publish(topic, payload, self._mqtt.QoS.AT_LEAST_ONCE)
        future.result(10)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            if time.monotonic() > deadline:
                return list(self.messages)
            time.sleep(0.01)

    def close(self) -> None:
        self.connection.disconnect().result(10)
