from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.feedback import COMPONENT, OBSERVER, Observer, S3Server, add_component, add_observer, configuration_update
from support.harness import NucleusThread, Project, component_environment
from support.mqtt import Mosquitto, PlainMqttClient

# test_feedback moves the request topic here and back.
MOVED_FEEDBACK_TOPIC = "ml/feedback/line-2"

BUCKETS = ("fb-least-confidence", "fb-margin", "fb-entropy", "fb-random-none", "fb-random-all", "fb-everything", "fb-burst")

# The module's feedback configurations (the v1 JSON-string form is covered by test_migration).
FEEDBACK_MAP = {
    "LeastConfidence": {
        "s3-bucket-name": "fb-least-confidence",
        "content-type": "image/png",
        "file-ext": "png",
        "sampling-strategy": {"strategy-name": "LEAST_CONFIDENCE", "threshold": 0.6},
    },
    "Margin": {
        "s3-bucket-name": "fb-margin",
        "content-type": "image/png",
        "file-ext": "png",
        "sampling-strategy": {"strategy-name": "MARGIN", "threshold": 0.02},
    },
    "Entropy": {
        "s3-bucket-name": "fb-entropy",
        "content-type": "image/png",
        "file-ext": "png",
        "sampling-strategy": {"strategy-name": "ENTROPY", "threshold": 0.75},
    },
    "RandomNone": {
        "s3-bucket-name": "fb-random-none",
        "content-type": "image/png",
        "sampling-strategy": {"strategy-name": "RANDOM_SAMPLING", "rate": 0},
    },
    "RandomAll": {
        "s3-bucket-name": "fb-random-all",
        "content-type": "image/png",
        "sampling-strategy": {"strategy-name": "RANDOM_SAMPLING", "rate": 1},
    },
    "Everything": {
        "s3-bucket-name": "fb-everything",
        "s3-prefix": "DeviceA/line-3",
        "content-type": "application/json",
        "file-ext": "json",
    },
    "Burst": {"s3-bucket-name": "fb-burst", "content-type": "application/octet-stream"},
    "NoBucket": {"s3-bucket-name": "fb-does-not-exist", "content-type": "text/plain"},
}


@dataclass
class FeedbackStack:
    nucleus: NucleusThread
    observer: Observer
    s3: Any
    cloud: PlainMqttClient
    project: Project
    root: Path

    def objects(self, bucket: str) -> list[str]:
        return [item["Key"] for item in self.s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(s3_server: S3Server) -> Iterator[FeedbackStack]:
    with tempfile.TemporaryDirectory(prefix="gge") as folder:
        base = Path(folder)
        broker = Mosquitto(base)
        try:
            s3 = s3_server.client()
            for bucket in BUCKETS:
                s3.create_bucket(Bucket=bucket)
            project = Project(base / "project")
            add_component(project)
            add_observer(project, extra_publish=[MOVED_FEEDBACK_TOPIC])
            cloud = PlainMqttClient(broker.port)
            cloud.subscribe("feedback/message/#")
            environment = component_environment(s3_server.environment())
            with NucleusThread(base / "root", environment=environment, mqtt_broker=("127.0.0.1", broker.port)) as nucleus:
                settings = {"FeedbackConfigurationMap": FEEDBACK_MAP, "RequestLimit": "10"}
                record = nucleus.deploy(
                    project, merge={COMPONENT: "1.0.0", OBSERVER: "1.0.0"}, configuration=configuration_update(settings), timeout=120
                )
                assert record.status == "SUCCEEDED", record.details
                observer = Observer(nucleus)
                yield FeedbackStack(nucleus, observer, s3, cloud, project, base / "root")
                observer.close()
            cloud.close()
        finally:
            broker.stop()
