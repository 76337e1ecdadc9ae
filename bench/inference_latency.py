"""Benchmark: inference request -> reply round trip through IPC and the component, 10 KB bodies.

    python bench/inference_latency.py [--count 500] [--size 10240]

A client component calls `invoke_inference_service` (the v1 SDK) COUNT times
in a row on a `python` backend service whose model echoes the body; then,
in the same process, it calls the same model function directly COUNT times.
The difference of the two at each percentile is what IPC and the component
add to a call: printed as p50 / p99 in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "component"))

from greengrass_local.deployment.lifecycle import State  # noqa: E402
from greengrass_local.nucleus import LocalNucleus  # noqa: E402
from greengrass_local.services.deployments import DeploymentRequest  # noqa: E402
from greengrass_local.tools.packaging import pack  # noqa: E402
from ml_feedback import messages  # noqa: E402

COMPONENT, CLIENT = "community.greengrass.MLFeedback", "bench.InferenceClient"
BENCH = Path(__file__).resolve().parent


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(folder: Path, count: int, size: int) -> dict[str, list[float]]:
    recipes, artifacts = folder / "recipes", folder / "artifacts"
    recipes.mkdir(parents=True)
    shutil.copy(REPO / "recipes" / f"{COMPONENT}-1.0.0.yaml", recipes)
    pack(REPO, artifacts)
    (artifacts / CLIENT / "1.0.0").mkdir(parents=True)
    shutil.copy(BENCH / "inference_client.py", artifacts / CLIENT / "1.0.0")
    client = {
        "RecipeFormatVersion": "2020-01-25",
        "ComponentName": CLIENT,
        "ComponentVersion": "1.0.0",
        "ComponentDependencies": {COMPONENT: {"VersionRequirement": "^1.0.0"}},
        "ComponentConfiguration": {
            "DefaultConfiguration": {
                "accessControl": {
                    "aws.greengrass.ipc.pubsub": {
                        "bench:1": {"operations": ["aws.greengrass#PublishToTopic"], "resources": [messages.INFERENCE_REQUEST_TOPIC]},
                        "bench:2": {
                            "operations": ["aws.greengrass#SubscribeToTopic"],
                            "resources": [f"{messages.INFERENCE_RESPONSE_TOPIC_PREFIX}*"],
                        },
                    }
                }
            }
        },
        "Manifests": [
            {
                "Platform": {"os": "linux"},
                "Lifecycle": {
                    "Setenv": {"PYTHONPATH": f"{{{COMPONENT}:artifacts:decompressedPath}}/{COMPONENT}/component:{BENCH}"},
                    "Run": f"{{{COMPONENT}:work:path}}/python -u {{artifacts:path}}/inference_client.py {count} {size} 200",
                },
                "Artifacts": [{"URI": "s3://bench/inference_client.py"}],
            }
        ],
    }
    (recipes / "client.yaml").write_text(yaml.safe_dump(client))
    environment = dict(os.environ)
    environment["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environment.get("PATH", "")])
    nucleus = LocalNucleus(folder / "root", environment=environment)
    await nucleus.start()
    services = {"echo": {"Backend": "python", "Entrypoint": "bench_models:echo", "PythonPath": [str(BENCH)]}}
    try:
        record = nucleus.deployments.submit(
            DeploymentRequest(
                recipes,
                artifacts,
                {COMPONENT: "1.0.0", CLIENT: "1.0.0"},
                configuration={COMPONENT: {"MERGE": {"InferenceServices": services}}},
            )
        )
        await nucleus.changes.wait_until(lambda: nucleus.state(CLIENT) in (State.FINISHED, State.BROKEN), 600)
        await record.done.wait()
        if nucleus.state(CLIENT) is not State.FINISHED:
            raise SystemExit(f"the client failed; see {folder / 'root' / 'logs'}")
        result: dict[str, list[float]] = json.loads((folder / "root" / "work" / CLIENT / "latency.json").read_text())
    finally:
        await nucleus.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--size", type=int, default=10 * 1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ggl") as folder:
        result = asyncio.run(run(Path(folder), args.count, args.size))
    ipc, direct = result["ipc"], result["direct"]
    print(f"{args.count} sequential calls of {args.size} bytes, python backend (echo), {os.cpu_count()} cores")
    for label, samples in (("through IPC and the component", ipc), ("direct call, same process", direct)):
        print(
            f"{label:<30} p50 {percentile(samples, 0.5) * 1000:7.3f} ms   p99 {percentile(samples, 0.99) * 1000:7.3f} ms   mean {statistics.mean(samples) * 1000:7.3f} ms"
        )
    for label, fraction in (("p50", 0.5), ("p99", 0.99)):
        print(f"overhead {label}: {(percentile(ipc, fraction) - percentile(direct, fraction)) * 1000:.3f} ms")


if __name__ == "__main__":
    main()
