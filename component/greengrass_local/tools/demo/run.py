"""`mlfeedback demo`: the whole feedback loop on one machine, with nothing to configure.

A local S3-compatible server (moto), the local nucleus, community.greengrass.MLFeedback
packed from this checkout, and a client component that sends samples with the
v1 SDK. Prints what was uploaded where, what was dropped and why, and the
messages on the status, prediction and metrics topics.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from ml_feedback import messages

from ...deployment.lifecycle import State
from ...nucleus import LocalNucleus
from ...services.deployments import DeploymentRequest
from ..packaging import pack

COMPONENT = "community.greengrass.MLFeedback"
CLIENT = "mlfeedback.DemoClient"
OBSERVER = "mlfeedback.DemoObserver"
CLIENT_SCRIPT = Path(__file__).with_name("client.py")

FEEDBACK_MAP: dict[str, dict[str, Any]] = {
    "LeastConfidence": {"s3-bucket-name": "demo-least-confidence", "s3-prefix": "line-3", "content-type": "image/png", "file-ext": "png",
                        "sampling-strategy": {"strategy-name": "LEAST_CONFIDENCE", "threshold": 0.6}},
    "Margin": {"s3-bucket-name": "demo-margin", "s3-prefix": "line-3", "content-type": "image/png", "file-ext": "png",
               "sampling-strategy": {"strategy-name": "MARGIN", "threshold": 0.1}},
    "Entropy": {"s3-bucket-name": "demo-entropy", "s3-prefix": "line-3", "content-type": "image/png", "file-ext": "png",
                "sampling-strategy": {"strategy-name": "ENTROPY", "threshold": 0.8}},
    "Random": {"s3-bucket-name": "demo-random", "content-type": "image/png", "file-ext": "png",
               "sampling-strategy": {"strategy-name": "RANDOM_SAMPLING", "rate": 0.5}},
    "Everything": {"s3-bucket-name": "demo-everything", "s3-prefix": "DeviceA", "content-type": "application/octet-stream"},
    "MissingBucket": {"s3-bucket-name": "demo-bucket-nobody-created", "content-type": "image/png"},
}  # fmt: skip
# (config id, number of classes) for each sample; the last one names no configuration at all.
PLAN = [*[(config, 3) for config in ("LeastConfidence", "Margin", "Entropy", "Random") for _ in range(8)],
        *[("Everything", 4)] * 4, *[("MissingBucket", 2)] * 2, ("UnknownConfig", 2), ("Margin", 1)]  # fmt: skip


class DemoError(Exception):
    pass


def project_root() -> Path:
    root = Path(__file__).resolve().parents[4]
    if not (root / "gdk-config.json").exists() or not (root / "recipes").is_dir():
        raise DemoError(f"mlfeedback demo runs from a source checkout (pip install -e .); no gdk-config.json in {root}")
    return root


def _recipe(
    name: str, lifecycle: dict[str, Any], access: dict[str, Any], dependencies: dict[str, Any] | None = None, artifacts: list[str] = ()
) -> dict[str, Any]:  # type: ignore[assignment]
    document: dict[str, Any] = {
        "RecipeFormatVersion": "2020-01-25",
        "ComponentName": name,
        "ComponentVersion": "1.0.0",
        "ComponentConfiguration": {"DefaultConfiguration": {"accessControl": access}},
        "Manifests": [{"Platform": {"os": "linux"}, "Lifecycle": lifecycle, "Artifacts": [{"URI": f"s3://demo/{a}"} for a in artifacts]}],
    }
    if dependencies:
        document["ComponentDependencies"] = dependencies
    return document


def prepare_project(folder: Path) -> tuple[Path, Path]:
    root = project_root()
    recipes, artifacts = folder / "recipes", folder / "artifacts"
    recipes.mkdir(parents=True)
    shutil.copy(root / "recipes" / f"{COMPONENT}-1.0.0.yaml", recipes)
    pack(root, artifacts)
    client_folder = artifacts / CLIENT / "1.0.0"
    client_folder.mkdir(parents=True)
    shutil.copy(CLIENT_SCRIPT, client_folder / "client.py")
    pubsub = "aws.greengrass.ipc.pubsub"
    client = _recipe(
        CLIENT,
        {
            "Setenv": {"PYTHONPATH": f"{{{COMPONENT}:artifacts:decompressedPath}}/{COMPONENT}/component", "DEMO_PLAN": json.dumps(PLAN)},
            "Run": f"{{{COMPONENT}:work:path}}/python -u {{artifacts:path}}/client.py",
        },
        {pubsub: {"demo:1": {"operations": ["aws.greengrass#PublishToTopic"], "resources": [messages.FEEDBACK_REQUEST_TOPIC]}}},
        {COMPONENT: {"VersionRequirement": "^1.0.0"}},
        ["client.py"],
    )
    observer = _recipe(OBSERVER, {}, {pubsub: {"demo:2": {"operations": ["aws.greengrass#SubscribeToTopic"], "resources": ["*"]}}})
    for document in (client, observer):
        (recipes / f"{document['ComponentName']}-1.0.0.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return recipes, artifacts


class Collector:
    """The demo's eyes: an IPC client subscribed to the status, prediction and metrics topics."""

    def __init__(self, socket_path: str, token: str) -> None:
        from awsiot.greengrasscoreipc import connect
        from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

        self.client = GreengrassCoreIPCClientV2(client=connect(ipc_socket=socket_path, authtoken=token))
        self.lock = threading.Lock()
        self.topics: dict[str, list[dict[str, Any]]] = {
            messages.STATUS_TOPIC: [],
            messages.PREDICTION_TOPIC: [],
            messages.METRICS_TOPIC: [],
        }
        for topic, sink in self.topics.items():
            self.client.subscribe_to_topic(
                topic=topic, on_stream_event=lambda event, sink=sink: self._keep(sink, event.json_message.message)
            )

    def _keep(self, sink: list[dict[str, Any]], message: dict[str, Any]) -> None:
        with self.lock:
            sink.append(message)

    def snapshot(self, topic: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.topics[topic])


async def run_demo(keep: Path | None) -> int:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise DemoError("mlfeedback demo needs the local extra: pip install -e '.[local]'") from None
    import boto3

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    credentials = {
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="demo", aws_secret_access_key="demo")
    for config in FEEDBACK_MAP.values():
        if config["s3-bucket-name"] != "demo-bucket-nobody-created":
            s3.create_bucket(Bucket=config["s3-bucket-name"])
    folder = Path(tempfile.mkdtemp(prefix="mlfb-"))
    root = keep or folder / "root"
    environment = {**os.environ, **credentials, "AWS_ENDPOINT_URL_S3": endpoint}
    environment["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environment.get("PATH", "")])
    nucleus = LocalNucleus(root, environment=environment)
    collector = None
    try:
        recipes, artifacts = prepare_project(folder / "project")
        await nucleus.start()
        print(
            f"local S3-compatible endpoint: {endpoint} (moto)\nlocal Greengrass nucleus: {root} (IPC socket ipc.socket, logs in logs/)",
            flush=True,
        )
        configuration = {COMPONENT: {"MERGE": {"FeedbackConfigurationMap": FEEDBACK_MAP, "RequestLimit": "100"}}}
        first = nucleus.deployments.submit(
            DeploymentRequest(recipes, artifacts, {COMPONENT: "1.0.0", OBSERVER: "1.0.0"}, configuration=configuration)
        )
        await first.done.wait()
        if first.status != "SUCCEEDED":
            raise DemoError(f"deploying {COMPONENT} failed: {first.failure_cause} (see {root / 'logs'})")
        print(f"{COMPONENT} 1.0.0: {nucleus.state(COMPONENT).value}; deploying the client, which sends {len(PLAN)} samples", flush=True)  # type: ignore[union-attr]
        collector = await asyncio.to_thread(Collector, nucleus.socket_path, nucleus.token_for(OBSERVER))
        second = nucleus.deployments.submit(DeploymentRequest(None, None, {CLIENT: "1.0.0"}))
        done = await _poll(
            lambda: nucleus.state(CLIENT) in (State.FINISHED, State.BROKEN) and len(collector.snapshot(messages.STATUS_TOPIC)) >= len(PLAN),
            120,
        )
        await second.done.wait()
        if not done:
            raise DemoError(f"the demo did not finish in 120 s (see {root / 'logs'})")
        report(collector, s3, json.loads((root / "work" / CLIENT / "demo-requests.json").read_text()))
        return 0
    finally:
        if collector is not None:
            collector.client.close()
        await nucleus.stop()
        server.stop()
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)


async def _poll(condition: Any, timeout: float) -> bool:
    """Statuses arrive on the IPC client's thread, so look every 50 ms."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def report(collector: Collector, s3: Any, sent: dict[str, str]) -> None:
    """`sent`: request id -> configuration id, as the client recorded them."""
    statuses = collector.snapshot(messages.STATUS_TOPIC)
    predictions = collector.snapshot(messages.PREDICTION_TOPIC)
    metrics = collector.snapshot(messages.METRICS_TOPIC)
    by_config: dict[str, Counter[str]] = {config_id: Counter() for config_id, _classes in PLAN}
    for status in statuses:
        by_config[sent.get(status["id"], "?")][status["response"]["status"]] += 1
    print(f"\n{'configuration':<16} {'strategy':<28} {'sent':>4} {'uploaded':>8} {'dropped':>7} {'failed':>6}")
    for config_id, counts in by_config.items():
        strategy = FEEDBACK_MAP.get(config_id, {}).get("sampling-strategy")
        label = "(not configured)" if config_id not in FEEDBACK_MAP else "every sample" if strategy is None else _strategy_label(strategy)
        print(
            f"{config_id:<16} {label:<28} {sum(counts.values()):>4} {counts[messages.SUCCESS]:>8} {counts[messages.SAMPLE_DROPPED]:>7} {counts[messages.FAIL]:>6}"
        )
    print("\nuploaded (first 6):")
    for prediction in predictions[:6]:
        bucket, key = prediction["source-ref"][5:].split("/", 1)
        head = s3.head_object(Bucket=bucket, Key=key)
        print(f"  {prediction['source-ref']}  {head['ContentLength']} bytes, {head['ContentType']}, metadata {head['Metadata']}")
    print(
        f"  ... {len(predictions)} objects in all; each also has a message on {messages.PREDICTION_TOPIC}" if len(predictions) > 6 else ""
    )
    failures = [s for s in statuses if s["response"]["status"] == messages.FAIL]
    print("not uploaded because of an error:")
    for status in failures:
        print(f"  {status['response']['error']}: {status['response']['error_message']}")
    counts = Counter(m["request"]["metricData"]["metricName"] for m in metrics)
    print(
        f"\nmessages: {len(statuses)} on {messages.STATUS_TOPIC}, {len(predictions)} on {messages.PREDICTION_TOPIC}, {len(metrics)} on {messages.METRICS_TOPIC}"
    )
    print("metrics: " + ", ".join(f"{name} {count}" for name, count in sorted(counts.items())))
    success = next((s for s in statuses if s["response"]["status"] == messages.SUCCESS), None)
    if success and predictions:
        print(f"\na status message:\n{json.dumps(success, indent=2)}\na prediction message:\n{json.dumps(predictions[0], indent=2)}")


def _strategy_label(strategy: dict[str, Any]) -> str:
    name = strategy["strategy-name"]
    if name == "RANDOM_SAMPLING":
        return f"{name} rate {strategy['rate']}"
    comparison = ">" if name == "ENTROPY" else "<="
    return f"{name} {comparison} {strategy['threshold']}"
