"""Benchmark: what the sampling decision costs per request, next to one IPC request measured in the same run (issue 10, item 7).

    python bench/selection.py [--rounds 5] [--round-seconds 0.12] [--publishes 2000] [--ipc-size 10240] [--input-size 10240]
                              [--fill-through-decide]

Per request, the component's intake thread parses the request (`parse_feedback_request` on the JSON bytes
the SDK publishes as a BinaryMessage: Embedding and Fingerprint parsing included), checks it against its
configuration's strategies (`Selector.prepare`: a detector's boxes are read here) and decides
(`Selector.decide`: memory scans, the budget's file write when a sample is counted). Those three calls are
timed here, each one with time.perf_counter around it, request after request as the intake thread makes
them, on one `Selector` holding every configuration (built by `parse_config` from a
FeedbackConfigurationMap, as the component builds them) with its budget file in a temporary folder. Freeing
a request once decided (a detector's 1,000 parsed objects) is counted in its parse: it undoes what the parse
built, and left to Python it would land inside the next request's prepare, where the name holding it is
rebound. Each case is warmed up, then runs ROUNDS rounds of about ROUND_SECONDS each; the figure is the median round's
mean. Nothing is asserted on time; a case whose decisions are not the ones it is meant to measure (a
"novel" request dropped, say) stops the bench, since its figures would be another case's.

Cases (ModelInput is INPUT_SIZE random bytes in every request):
- DETECTION_UNCERTAINTY and DETECTION_COUNT on 1,000 detections, as a list of objects (label, score,
  box) and as SageMaker's {"prediction": [[class_id, score, xmin, ymin, xmax, ymax], ...]}, with and
  without a `labels` filter;
- NOVELTY on 512-number embeddings against a full 10,000-entry window, filled first with 10,000 random
  embeddings as selected samples. The threshold is 0.1, not 0: random 512-number directions lie about
  1.0 apart, so a threshold of 0 or 0.1 selects the same 10,000 (--fill-through-decide checks that every
  one is), but only with 0.1 is a "near" request (a remembered embedding plus 1 % noise, cosine distance
  ~1e-4) reliably dropped; with 0, whether a copy counts as near depends on float32 rounding. Near and
  novel requests both compare with the whole window; a novel one also replaces the oldest row;
- NEAR_DUPLICATE with 10,000 fingerprints within window-seconds, each request far from all of them (a
  random 64-bit hash: none near, the whole history is compared);
- the list [LEAST_CONFIDENCE (threshold 1: always passes on), NEAR_DUPLICATE] on a 1,000-class prediction,
  its own history also full;
- a budget: RANDOM_SAMPLING rate 1 with a sampling-budget that has room (each sample counted: the budget
  file rewritten and renamed) and one that is spent (max-bytes 1: every sample is over it, dropped, nothing written);
- v1's strategies as the reference: LEAST_CONFIDENCE, MARGIN and ENTROPY on a 1,000-class probability
  vector, RANDOM_SAMPLING (no budget).

The IPC baseline: the local nucleus emulator runs in this process on its own event-loop thread (as
tests/support/harness.NucleusThread), with a trivial component (no lifecycle) allowed to publish and
subscribe on one topic. The official awsiotsdk GreengrassCoreIPCClientV2 in this process, authenticated as
that component, subscribes once (callbacks on the client's own thread, counting only), and a second client
makes PUBLISHES sequential `publish_to_topic` calls of an IPC_SIZE-byte JsonMessage (after 200 to warm
up), in rounds: one before the first case and one after each case, so that a shared machine's drift
reaches both sides of a ratio. A case's ratio is its cost over the mean of the IPC rounds just before
and just after it; the headline IPC figure is the median round's mean, with the rounds' range. The
emulator is Python and shares this process (and its GIL) with the client: that is the cost of one IPC
request on this machine as the tests run it, not the Java nucleus's.

The memories are filled by `Selector.prepare` and then what `decide` does with a selected sample
(`_Memory.remember`): filling through `decide` compares each fill with every one before it, which is
quadratic (about 40 s on a slow 2-core machine); --fill-through-decide does it that way, and checks
every fill is selected.

numpy's BLAS runs on one thread, as in the component, unless OPENBLAS_NUM_THREADS is set: with a thread
per core a NOVELTY comparison takes less wall time, and the CPU column shows what that costs (OpenBLAS's
threads spin after each call). The CPU column is this process's CPU time per request over each round.

Also printed: the NOVELTY window's numpy array size, this process's peak RSS (the emulator, every window
and history included), the load average and the CPU time the hypervisor stole during the run, and where
the parse time of the two largest request shapes goes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "component"))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the component runs (ml_feedback/__main__.py), unless set here too

import numpy  # noqa: E402

from greengrass_local.nucleus import LocalNucleus  # noqa: E402
from greengrass_local.services.deployments import DeploymentRequest  # noqa: E402
from ml_feedback import messages  # noqa: E402
from ml_feedback.config import FeedbackConfig, parse_config  # noqa: E402
from ml_feedback.messages import FeedbackRequest, parse_feedback_request, strict_base64, strict_json, text_nests_deeper  # noqa: E402
from ml_feedback.numbers import non_finite  # noqa: E402
from ml_feedback.sampling import detections  # noqa: E402
from ml_feedback.selection import Selector  # noqa: E402

BUCKET = "bench-bucket"
BOXES = 1000
CLASSES = 1000
DIMENSION = 512
WINDOW = 10_000
HISTORY = 10_000
LABELS = ["person", "car", "bicycle", "dog", "cat", "bus", "truck", "bird", "horse", "sheep"]
LABEL_FILTER = ["person", "car", 0, 1]  # names for the object shape, class ids for SageMaker's
BASELINE_COMPONENT = "bench.SelectionBaseline"
BASELINE_TOPIC = "bench/selection/ipc"
LIMIT_MS = 1.0
MIN_PER_ROUND = 5
NEAR_DUPLICATE_KEYS = {"strategy-name": "NEAR_DUPLICATE", "max-distance": 6, "window-seconds": 3600}
STRATEGIES: dict[str, Any] = {
    "DetUncertainty": {"strategy-name": "DETECTION_UNCERTAINTY", "low": 0.3, "high": 0.7},
    "DetUncertaintyLabels": {"strategy-name": "DETECTION_UNCERTAINTY", "low": 0.3, "high": 0.7, "labels": LABEL_FILTER},
    "DetCount": {"strategy-name": "DETECTION_COUNT", "min-score": 0.5, "more-than": 10},
    "DetCountLabels": {"strategy-name": "DETECTION_COUNT", "min-score": 0.5, "more-than": 10, "labels": LABEL_FILTER},
    "Novelty": {"strategy-name": "NOVELTY", "threshold": 0.1, "window": WINDOW},
    "NearDuplicate": NEAR_DUPLICATE_KEYS,
    "LeastConfidenceNearDuplicate": [{"strategy-name": "LEAST_CONFIDENCE", "threshold": 1.0}, NEAR_DUPLICATE_KEYS],
    "Budget": {"strategy-name": "RANDOM_SAMPLING", "rate": 1},
    "BudgetSpent": {"strategy-name": "RANDOM_SAMPLING", "rate": 1},
    "Random": {"strategy-name": "RANDOM_SAMPLING", "rate": 1},
    "LeastConfidence": {"strategy-name": "LEAST_CONFIDENCE", "threshold": 0.5},
    "Margin": {"strategy-name": "MARGIN", "threshold": 0.1},
    "Entropy": {"strategy-name": "ENTROPY", "threshold": 1.0},
}
BUDGETS = {"Budget": {"max-samples": 10**9, "per": "day"}, "BudgetSpent": {"max-bytes": 1, "per": "day"}}


def feedback_map() -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for config_id, strategy in STRATEGIES.items():
        entry: dict[str, Any] = {"s3-bucket-name": BUCKET, "content-type": "image/jpeg", "sampling-strategy": strategy}
        if config_id in BUDGETS:
            entry["sampling-budget"] = BUDGETS[config_id]
        entries[config_id] = entry
    return entries


# -- requests ------------------------------------------------------------------------------------


class Requests:
    """The request documents, as the SDK publishes them: `json.dumps(...).encode()` of messages.feedback_request."""

    def __init__(self, input_size: int, seed: int = 7) -> None:
        self.random = random.Random(seed)
        self.numpy = numpy.random.default_rng(seed)
        self.model_input = self.numpy.bytes(input_size)
        self.probabilities = self._probabilities(CLASSES)
        self.small = self._probabilities(10)

    def _probabilities(self, classes: int) -> list[float]:
        # A softmax output as float32, the way a model hands it on.
        return self.numpy.dirichlet(numpy.full(classes, 0.5)).astype(numpy.float32).tolist()

    def encoded(self, config_id: str, prediction: Any, embedding: list[float] | None = None, fingerprint: int | None = None) -> bytes:
        document = messages.feedback_request(
            config_id, self.model_input, prediction, None, str(uuid.uuid4()), embedding=embedding, fingerprint=fingerprint
        )
        return json.dumps(document, allow_nan=False).encode("utf-8")

    def objects(self) -> list[dict[str, Any]]:
        rows = self.numpy.random((BOXES, 5)).astype(numpy.float32).tolist()
        return [{"label": self.random.choice(LABELS), "score": row[0], "box": row[1:]} for row in rows]

    def sagemaker(self) -> dict[str, Any]:
        rows = self.numpy.random((BOXES, 5)).astype(numpy.float32).tolist()
        return {"prediction": [[float(self.random.randrange(len(LABELS))), *row] for row in rows]}

    def embedding(self) -> numpy.ndarray:
        return self.numpy.standard_normal(DIMENSION).astype(numpy.float32)

    def fingerprint(self) -> int:
        return self.random.getrandbits(64)


# -- the decision, timed -------------------------------------------------------------------------


@dataclass
class Case:
    strategy: str  # what the final verdict groups by
    label: str
    config_id: str
    make: Callable[[], bytes]  # one request's JSON bytes (not timed)
    expect: bool  # whether every request of this case is selected
    size: int = 0
    rounds: list[tuple[float, float, float]] = field(default_factory=list)  # seconds per request: parse, prepare, decide
    cpu: list[float] = field(default_factory=list)  # this process's CPU seconds per request, each round (BLAS threads included)
    per_round: int = 0
    ipc_ms: float = 0.0  # one IPC request, from the rounds just before and just after this case

    def median(self, index: int | None = None) -> float:
        values = [sum(r) if index is None else r[index] for r in self.rounds]
        return statistics.median(values) * 1000


def timed(selector: Selector, target: FeedbackConfig, batch: list[bytes], expect: bool, label: str) -> tuple[float, float, float]:
    """Mean seconds per request of each step, the steps made request after request as the intake thread makes them."""
    clock = time.perf_counter
    draw = random.random
    parse = prepare = decide = 0.0
    for raw in batch:
        t0 = clock()
        request = parse_feedback_request(raw, "unused")
        t1 = clock()
        prepared = selector.prepare(target, request)
        t2 = clock()
        decision = selector.decide(target, prepared, len(request.model_input or b""), draw())
        t3 = clock()
        if decision.selected != expect:
            raise SystemExit(
                f"{label}: a request was {'dropped' if expect else 'selected'} ({decision.reason}); the figures would be another case's"
            )
        del request, prepared  # freeing the parsed document is the other half of its parse
        t4 = clock()
        parse += (t1 - t0) + (t4 - t3)
        prepare += t2 - t1
        decide += t3 - t2
    count = len(batch)
    return parse / count, prepare / count, decide / count


def measure(selector: Selector, targets: dict[str, FeedbackConfig], case: Case, rounds: int, round_seconds: float) -> None:
    target = targets[case.config_id]
    warmup = [case.make() for _ in range(3)]
    case.size = len(warmup[0])
    timed(selector, target, warmup, case.expect, case.label)
    # Fresh requests again: a selected one is remembered, so sent twice it would be a near one the second time.
    estimate = sum(timed(selector, target, [case.make() for _ in range(3)], case.expect, case.label))
    case.per_round = max(MIN_PER_ROUND, min(5000, int(round_seconds / max(estimate, 1e-7))))
    for _ in range(rounds):
        batch = [case.make() for _ in range(case.per_round)]
        started = time.process_time()
        case.rounds.append(timed(selector, target, batch, case.expect, case.label))
        case.cpu.append((time.process_time() - started) / len(batch))


def fill(selector: Selector, target: FeedbackConfig, count: int, request: Callable[[int], FeedbackRequest], through_decide: bool) -> float:
    """`count` requests remembered as selected samples of `target`; seconds taken.

    Through prepare + decide (each must be selected), or, by default, prepare and then what decide does with
    a selected sample (`_Memory.remember`, private): the same memory without decide's scan of the memory
    filled so far, which makes a fill quadratic (tens of seconds on a slow machine).
    """
    started = time.perf_counter()
    memory = selector._memory(target)
    for index in range(count):
        prepared = selector.prepare(target, request(index))
        if not through_decide:
            memory.remember(prepared, time.time())  # the Selector's clock is time.time
            continue
        decision = selector.decide(target, prepared, 1, 0.0)
        if not decision.selected:
            raise SystemExit(f"filling {target.config_id}: request {index} was dropped ({decision.reason}); the memory would not be full")
    fingerprints = 0 if memory.fingerprints is None else int((memory.fingerprints.times > float("-inf")).sum())
    if memory is not selector._memory(target) or (memory.filled, fingerprints) not in ((count, 0), (0, count)):
        raise SystemExit(f"filling {target.config_id}: the memory holds {memory.filled} embeddings, {fingerprints} fingerprints")
    return time.perf_counter() - started


# -- the IPC baseline ----------------------------------------------------------------------------


class Emulator:
    """The local nucleus on its own event-loop thread in this process."""

    def __init__(self, root: Path) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nucleus", daemon=True)
        self.nucleus = LocalNucleus(root, environment=dict(os.environ))

    def call(self, coroutine: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def __enter__(self) -> Emulator:
        self._thread.start()
        self.call(self.nucleus.start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call(self.nucleus.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    def deploy(self, recipes: Path, name: str) -> str:
        async def go() -> str:
            record = self.nucleus.deployments.submit(DeploymentRequest(recipe_dir=recipes, add={name: "1.0.0"}))
            await asyncio.wait_for(record.done.wait(), 60)
            return record.status

        return self.call(go(), 65)

    def token(self, name: str) -> str:
        async def go() -> str:
            return self.nucleus.token_for(name)

        return self.call(go())


class IpcBaseline:
    """One subscriber, one publisher, both the official client in this process, authenticated as a trivial component."""

    def __init__(self, emulator: Emulator, folder: Path, size: int) -> None:
        from awsiot.greengrasscoreipc import connect
        from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

        recipes = folder / "recipes"
        recipes.mkdir(parents=True)
        grant = {"operations": ["aws.greengrass#PublishToTopic", "aws.greengrass#SubscribeToTopic"], "resources": [BASELINE_TOPIC]}
        recipe = {
            "RecipeFormatVersion": "2020-01-25",
            "ComponentName": BASELINE_COMPONENT,
            "ComponentVersion": "1.0.0",
            "ComponentConfiguration": {"DefaultConfiguration": {"accessControl": {"aws.greengrass.ipc.pubsub": {"bench:1": grant}}}},
            "Manifests": [{"Platform": {"os": "linux"}, "Lifecycle": {}}],
        }
        (recipes / "baseline.yaml").write_text(yaml.safe_dump(recipe))
        status = emulator.deploy(recipes, BASELINE_COMPONENT)
        if status != "SUCCEEDED":
            raise SystemExit(f"the baseline component's deployment ended {status}")
        socket, token = emulator.nucleus.socket_path, emulator.token(BASELINE_COMPONENT)
        self.subscriber = GreengrassCoreIPCClientV2(client=connect(ipc_socket=socket, authtoken=token), executor=None)
        self.publisher = GreengrassCoreIPCClientV2(client=connect(ipc_socket=socket, authtoken=token))
        self.received = 0
        self._arrived = threading.Condition()
        self.subscriber.subscribe_to_topic(topic=BASELINE_TOPIC, on_stream_event=self._on_message)
        filler = max(0, (size - 60) * 3 // 4)
        self.message = {"RequestId": str(uuid.uuid4()), "data": base64.b64encode(os.urandom(filler)).decode("ascii")}
        self.size = len(json.dumps(self.message))
        self.sent = 0
        self.rounds: list[float] = []

    def _on_message(self, _event: object) -> None:
        with self._arrived:
            self.received += 1
            self._arrived.notify_all()

    def publishes(self, count: int, recorded: bool = True) -> None:
        """`count` sequential publish_to_topic round trips; then waits (untimed) until the subscriber has them all."""
        from awsiot.greengrasscoreipc.model import JsonMessage, PublishMessage

        publish = self.publisher.publish_to_topic
        message = PublishMessage(json_message=JsonMessage(message=self.message))
        started = time.perf_counter()
        for _ in range(count):
            publish(topic=BASELINE_TOPIC, publish_message=message)
        seconds = time.perf_counter() - started
        self.sent += count
        with self._arrived:
            if not self._arrived.wait_for(lambda: self.received >= self.sent, 30):
                raise SystemExit(f"the subscriber got {self.received} of {self.sent} messages")
        if recorded:
            self.rounds.append(seconds / count)

    def close(self) -> None:
        self.publisher.close()
        self.subscriber.close()


# -- where parse time goes -----------------------------------------------------------------------


def per_call(function: Callable[[], object], seconds: float = 0.05) -> float:
    """Median ms per call of `function` over 3 runs of about `seconds`."""
    start = time.perf_counter()
    function()
    count = max(5, int(seconds / max(time.perf_counter() - start, 1e-7)))
    results = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(count):
            function()
        results.append((time.perf_counter() - start) / count)
    return statistics.median(results) * 1000


def breakdown(label: str, raw: bytes, with_detections: bool) -> str:
    document = strict_json(raw)
    parts = [
        ("json.loads", lambda: strict_json(raw)),
        ("text_nests_deeper", lambda: text_nests_deeper(raw)),
        ("non_finite(ModelPrediction)", lambda: non_finite(document["ModelPrediction"], "ModelPrediction")),
        ("strict_base64(ModelInput)", lambda: strict_base64(document["ModelInput"])),
    ]
    if with_detections:
        parts.append(("sampling.detections (prepare)", lambda: detections(document["ModelPrediction"])))
    return f"  {label}: " + ", ".join(f"{name} {per_call(function):.3f}" for name, function in parts) + " (ms)"


# -- the machine ---------------------------------------------------------------------------------


def cpu_times() -> tuple[int, int]:
    """(all jiffies, stolen jiffies) from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[:8]), fields[7]


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# -- main ----------------------------------------------------------------------------------------


def cases(requests: Requests, near_bases: list[numpy.ndarray]) -> list[Case]:
    objects, sagemaker = requests.encoded("DetUncertainty", requests.objects()), requests.encoded("DetUncertainty", requests.sagemaker())
    objects_doc, sagemaker_doc = json.loads(objects), json.loads(sagemaker)

    def detection(config_id: str, document: dict[str, Any]) -> Callable[[], bytes]:
        raw = json.dumps({**document, "ConfigId": config_id}).encode("utf-8")
        return lambda: raw

    def fixed(config_id: str, prediction: Any) -> Callable[[], bytes]:
        raw = requests.encoded(config_id, prediction)
        return lambda: raw

    def novel() -> bytes:
        return requests.encoded("Novelty", requests.small, embedding=requests.embedding().tolist())

    def near() -> bytes:
        base = requests.random.choice(near_bases)
        noisy = base + requests.numpy.standard_normal(DIMENSION).astype(numpy.float32) * 0.01 * float(base.std())
        return requests.encoded("Novelty", requests.small, embedding=noisy.tolist())

    def far_fingerprint(config_id: str, prediction: Any) -> Callable[[], bytes]:
        return lambda: requests.encoded(config_id, prediction, fingerprint=requests.fingerprint())

    return [
        Case(
            "DETECTION_UNCERTAINTY",
            "DETECTION_UNCERTAINTY, 1,000 objects",
            "DetUncertainty",
            detection("DetUncertainty", objects_doc),
            True,
        ),
        Case(
            "DETECTION_UNCERTAINTY",
            "DETECTION_UNCERTAINTY, 1,000 objects, labels",
            "DetUncertaintyLabels",
            detection("DetUncertaintyLabels", objects_doc),
            True,
        ),
        Case(
            "DETECTION_UNCERTAINTY",
            "DETECTION_UNCERTAINTY, 1,000 SageMaker rows",
            "DetUncertainty",
            detection("DetUncertainty", sagemaker_doc),
            True,
        ),
        Case(
            "DETECTION_UNCERTAINTY",
            "DETECTION_UNCERTAINTY, 1,000 SageMaker rows, labels",
            "DetUncertaintyLabels",
            detection("DetUncertaintyLabels", sagemaker_doc),
            True,
        ),
        Case("DETECTION_COUNT", "DETECTION_COUNT, 1,000 objects", "DetCount", detection("DetCount", objects_doc), True),
        Case("DETECTION_COUNT", "DETECTION_COUNT, 1,000 objects, labels", "DetCountLabels", detection("DetCountLabels", objects_doc), True),
        Case("DETECTION_COUNT", "DETECTION_COUNT, 1,000 SageMaker rows", "DetCount", detection("DetCount", sagemaker_doc), True),
        Case(
            "DETECTION_COUNT",
            "DETECTION_COUNT, 1,000 SageMaker rows, labels",
            "DetCountLabels",
            detection("DetCountLabels", sagemaker_doc),
            True,
        ),
        Case("NOVELTY", f"NOVELTY {DIMENSION}-d, full {WINDOW:,} window, near", "Novelty", near, False),
        Case("NOVELTY", f"NOVELTY {DIMENSION}-d, full {WINDOW:,} window, novel", "Novelty", novel, True),
        Case(
            "NEAR_DUPLICATE",
            f"NEAR_DUPLICATE, {HISTORY:,} in window, none near",
            "NearDuplicate",
            far_fingerprint("NearDuplicate", requests.small),
            True,
        ),
        Case(
            "[LEAST_CONFIDENCE, NEAR_DUPLICATE]",
            f"[LEAST_CONFIDENCE {CLASSES:,}, NEAR_DUPLICATE {HISTORY:,}]",
            "LeastConfidenceNearDuplicate",
            far_fingerprint("LeastConfidenceNearDuplicate", requests.probabilities),
            True,
        ),
        Case(
            "RANDOM_SAMPLING + budget", "RANDOM_SAMPLING 1 + budget, counted (file write)", "Budget", fixed("Budget", requests.small), True
        ),
        Case("RANDOM_SAMPLING + budget", "RANDOM_SAMPLING 1 + budget, spent", "BudgetSpent", fixed("BudgetSpent", requests.small), False),
        Case("v1 RANDOM_SAMPLING", "v1 RANDOM_SAMPLING 1, no budget", "Random", fixed("Random", requests.small), True),
        Case(
            "v1 LEAST_CONFIDENCE",
            f"v1 LEAST_CONFIDENCE, {CLASSES:,} classes",
            "LeastConfidence",
            fixed("LeastConfidence", requests.probabilities),
            True,
        ),
        Case("v1 MARGIN", f"v1 MARGIN, {CLASSES:,} classes", "Margin", fixed("Margin", requests.probabilities), True),
        Case("v1 ENTROPY", f"v1 ENTROPY, {CLASSES:,} classes", "Entropy", fixed("Entropy", requests.probabilities), True),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--round-seconds", type=float, default=0.12)
    parser.add_argument("--publishes", type=int, default=2000, help="IPC round trips measured, spread over the run")
    parser.add_argument("--ipc-size", type=int, default=10 * 1024)
    parser.add_argument("--input-size", type=int, default=10 * 1024, help="ModelInput bytes in every feedback request")
    parser.add_argument(
        "--fill-through-decide", action="store_true", help="fill the memories through prepare + decide, checking each is selected (slow)"
    )
    args = parser.parse_args()
    began, cpu_before, load_before = time.perf_counter(), cpu_times(), load()
    requests = Requests(args.input_size)
    with tempfile.TemporaryDirectory(prefix="ggsel") as folder_name:
        folder = Path(folder_name)
        targets = dict(parse_config({"FeedbackConfigurationMap": feedback_map()}).feedback)
        selector = Selector(folder / "budgets.json")

        with Emulator(folder / "root") as emulator:
            baseline = IpcBaseline(emulator, folder, args.ipc_size)
            try:
                baseline.publishes(200, recorded=False)  # warm-up

                embeddings = [requests.embedding() for _ in range(WINDOW)]
                novelty_fill = fill(
                    selector,
                    targets["Novelty"],
                    WINDOW,
                    lambda i: FeedbackRequest("Novelty", b"x", None, requests.small, {}, f"fill-{i}", embeddings[i].tolist()),
                    args.fill_through_decide,
                )
                fingerprints = [requests.fingerprint() for _ in range(HISTORY)]
                history_fills = [
                    fill(
                        selector,
                        targets[config_id],
                        HISTORY,
                        lambda i, config_id=config_id: FeedbackRequest(
                            config_id, b"x", None, [0.5, 0.5], {}, f"fill-{i}", None, f"{fingerprints[i]:016x}"
                        ),
                        args.fill_through_decide,
                    )
                    for config_id in ("NearDuplicate", "LeastConfidenceNearDuplicate")
                ]
                # Near requests come from the newest half of the window: the novel case overwrites the oldest rows.
                measured = cases(requests, embeddings[WINDOW // 2 :])
                ipc_round = max(1, args.publishes // (len(measured) + 1))
                baseline.publishes(ipc_round)
                for case in measured:
                    measure(selector, targets, case, args.rounds, args.round_seconds)
                    baseline.publishes(ipc_round)
                    case.ipc_ms = (baseline.rounds[-2] + baseline.rounds[-1]) / 2 * 1000
            finally:
                baseline.close()

        window_bytes = selector._memories["Novelty"].embeddings.nbytes  # the bench looks inside: no public accessor
        objects_raw = measured[0].make()
        probabilities_raw = measured[-1].make()
        where = [
            breakdown(f"1,000 objects ({len(objects_raw):,} B)", objects_raw, True),
            breakdown(f"{CLASSES:,} probabilities ({len(probabilities_raw):,} B)", probabilities_raw, False),
        ]

    cpu_after = cpu_times()
    stolen = (cpu_after[1] - cpu_before[1]) / max(1, cpu_after[0] - cpu_before[0])
    ipc_ms = statistics.median(baseline.rounds) * 1000

    print(
        f"Sampling decision per request vs one IPC request, {os.cpu_count()} cores, Python {sys.version.split()[0]}, numpy {numpy.__version__}, "
        f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}"
    )
    print(
        f"IPC baseline: publish_to_topic round trip, {baseline.size:,}-byte JsonMessage, one subscriber, emulator in this process: "
        f"{ipc_ms:.3f} ms (median of {len(baseline.rounds)} rounds of {ipc_round}, spread over the run; "
        f"rounds from {min(baseline.rounds) * 1000:.3f} to {max(baseline.rounds) * 1000:.3f} ms)"
    )
    print(
        f"Memory filled first ({'prepare + decide, every one selected' if args.fill_through_decide else 'prepare + remember'}): "
        f"NOVELTY {WINDOW:,} x {DIMENSION} in {novelty_fill:.1f} s; "
        f"NEAR_DUPLICATE {HISTORY:,} in {history_fills[0]:.1f} s, the list's {HISTORY:,} in {history_fills[1]:.1f} s"
    )
    print(
        f"ModelInput {args.input_size:,} B in every request; median of {args.rounds} rounds; ms per request "
        "(CPU: this process's, parse + prepare + decide, every thread, as BLAS threads spinning after a NOVELTY comparison)"
    )
    print()
    header = f"{'case':<54} {'request':>9} {'n/round':>7} {'parse':>7} {'prepare':>8} {'decide':>7} {'total':>7} {'CPU':>6} {'IPC':>6} {'x IPC':>6}  <=1 ms"
    print(header)
    print("-" * len(header))
    for case in measured:
        total = case.median()
        print(
            f"{case.label:<54} {case.size / 1024:7.1f}KB {case.per_round:>7} {case.median(0):7.3f} {case.median(1):8.3f} {case.median(2):7.3f} "
            f"{total:7.3f} {statistics.median(case.cpu) * 1000:6.3f} {case.ipc_ms:6.3f} {total / case.ipc_ms:6.2f}  "
            f"{'yes' if total <= LIMIT_MS else 'NO'}"
        )
    print()
    print("Where parse time goes (each piece alone):")
    for line in where:
        print(line)
    print()
    print(f"NOVELTY window array: {window_bytes:,} bytes ({window_bytes / 2**20:.1f} MiB, float32 {WINDOW:,} x {DIMENSION})")
    print(
        f"Peak RSS of this process (emulator, clients, every memory): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB"
    )
    print(f"Machine: load average {load_before} at start, {load()} at end; CPU stolen by the hypervisor {stolen:.1%}")
    print(f"Run took {time.perf_counter() - began:.1f} s")
    print()
    for title, cost in (
        ("parse + prepare + decide", lambda case: case.median()),
        ("prepare + decide alone", lambda case: case.median(1) + case.median(2)),
    ):
        worst: dict[str, float] = {}
        for case in measured:
            worst[case.strategy] = max(worst.get(case.strategy, 0.0), cost(case))
        verdicts = ", ".join(f"{name} {'yes' if ms <= LIMIT_MS else 'NO'} ({ms:.3f})" for name, ms in worst.items())
        print(f"<= {LIMIT_MS:g} ms per request, {title}, worst case of each strategy (ms): {verdicts}")


if __name__ == "__main__":
    main()
