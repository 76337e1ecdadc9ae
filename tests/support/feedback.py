"""End-to-end support: a local S3 server, the packed component, and an observer on the topics."""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from greengrass_local.tools.packaging import pack
from ml_feedback import messages

REPO = Path(__file__).resolve().parents[2]
COMPONENT = "community.greengrass.MLFeedback"
COMPONENT_RECIPE = REPO / "recipes" / f"{COMPONENT}-1.0.0.yaml"
OBSERVER = "test.Observer"


class S3Server:
    """moto's S3 in server mode on a free loopback port: boto3 speaks real HTTP to it."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        # In-process moto servers share one backend: start every server empty.
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=10).close()

    def environment(self) -> dict[str, str]:
        """What a component needs to reach this server through boto3's own settings."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )

    def stop(self) -> None:
        self._server.stop()


def add_component(project: Any, artifacts_from: Path | None = None) -> None:
    """Put the component's recipe and its packed artifact into a test project."""
    shutil.copy(COMPONENT_RECIPE, project.recipes / COMPONENT_RECIPE.name)
    pack(REPO, artifacts_from or project.artifacts)


def add_observer(project: Any, extra_publish: list[str] | None = None) -> None:
    """A component identity for the test process: it sends requests and watches every output topic."""
    project.component(
        OBSERVER,
        pubsub={
            "PublishToTopic": [messages.FEEDBACK_REQUEST_TOPIC, messages.INFERENCE_REQUEST_TOPIC, *(extra_publish or [])],
            "SubscribeToTopic": ["*"],
        },
    )


class Observer:
    """Sends feedback requests and collects status, prediction and metric messages."""

    def __init__(self, nucleus: Any) -> None:
        from awsiot.greengrasscoreipc.model import BinaryMessage, JsonMessage, PublishMessage

        self._message_types = (BinaryMessage, JsonMessage, PublishMessage)
        self.client = nucleus.client(OBSERVER)
        self.statuses: list[dict[str, Any]] = []
        self.predictions: list[dict[str, Any]] = []
        self.metrics: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        for topic, sink in (
            (messages.STATUS_TOPIC, self.statuses),
            (messages.PREDICTION_TOPIC, self.predictions),
            (messages.METRICS_TOPIC, self.metrics),
        ):
            self.client.subscribe_to_topic(topic=topic, on_stream_event=self._collector(sink))

    def _collector(self, sink: list[dict[str, Any]]) -> Callable[[Any], None]:
        def collect(event: Any) -> None:
            with self._lock:
                sink.append(event.json_message.message)

        return collect

    def send(
        self, config_id: str, model_input: bytes, prediction: Any, metadata: dict[str, Any] | None = None, request_id: str | None = None
    ) -> str:
        request_id = request_id or str(uuid.uuid4())
        self.send_raw(messages.feedback_request(config_id, model_input, prediction, metadata, request_id))
        return request_id

    def send_raw(self, document: dict[str, Any] | bytes, topic: str = messages.FEEDBACK_REQUEST_TOPIC) -> None:
        binary, json_message, publish = self._message_types
        message = (
            publish(binary_message=binary(message=document))
            if isinstance(document, bytes)
            else publish(json_message=json_message(message=document))
        )
        self.client.publish_to_topic(topic=topic, publish_message=message)

    def status(self, request_id: str, timeout: float = 20) -> dict[str, Any]:
        return self.wait(lambda: next((s for s in self.statuses if s.get("id") == request_id), None), timeout, f"status of {request_id}")

    def wait(self, find: Callable[[], Any], timeout: float = 20, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = find()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; statuses so far: {self.statuses[-5:]}")
            time.sleep(0.02)

    def metric_names(self) -> list[str]:
        with self._lock:
            return [m["request"]["metricData"]["metricName"] for m in self.metrics]

    def close(self) -> None:
        self.client.close()


def configuration_update(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {COMPONENT: {"MERGE": values}}


def recipe_defaults() -> dict[str, Any]:
    return yaml.safe_load(COMPONENT_RECIPE.read_text())["ComponentConfiguration"]["DefaultConfiguration"]


def restart_component(stack: Any) -> str:
    """SIGTERM, as the nucleus sends it to stop a component, then wait for the new process; returns the old process's last log."""
    from greengrass_local.deployment.lifecycle import State

    nucleus = stack.nucleus.nucleus
    log_file = stack.root / "logs" / f"{COMPONENT}.log"
    offset = len(log_file.read_text())
    old = stack.nucleus.run(lambda: nucleus.components[COMPONENT].runner.pids())
    stack.nucleus.run(lambda: nucleus.components[COMPONENT].runner.request_restart())

    def running_again() -> bool:
        pids = stack.nucleus.run(lambda: nucleus.components[COMPONENT].runner.pids())
        return bool(pids) and pids != old and stack.nucleus.state(COMPONENT) is State.RUNNING

    stack.observer.wait(running_again, 30, "the component RUNNING again after SIGTERM")
    stack.observer.wait(lambda: "work summary at stop: " in log_file.read_text()[offset:], 10, "the stopped run's work summary")
    return log_file.read_text()[offset:]


def stop_summaries(log: str) -> list[str]:
    """The stop lines as the component logged them; the nucleus adds its own context after them ('. {scriptName=...}')."""
    return re.findall(r"INFO ml_feedback: (work summary at stop: .*?)\. \{scriptName=", log)
