"""Stress: `kill -9` of the component at a random moment while it uploads, repeated; counts what each request got.

    python bench/kill_during_drain.py [--trials 10] [--count 200]

Each trial: a fresh local nucleus and moto S3 (own process), COUNT requests
sent at once, the component killed at a random moment while it is uploading
(S3 healthy, statuses flowing), restarted by the nucleus, and then every
request's statuses and objects are counted. Printed per trial: statuses
missing, statuses given twice, objects without a success, requests with two
objects. The test suite kills at a moment with no status in flight (S3
hung), which is deterministic; this shows how often a kill lands inside the
window between handing a status to IPC and marking the sample done.
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "component"), str(REPO / "tests"), str(REPO / "tests" / "e2e")]

from test_delivery import BUCKET, Device  # noqa: E402

from ml_feedback.outbox.spool import peek  # noqa: E402


def received(device: Device, ids: list[str]) -> set[str]:
    """Requests the component has answered or holds on disk."""
    return set(device.statuses(ids)) | {record.request_id for record in peek(device.spool)}


def trial(folder: Path, count: int, rng: random.Random) -> dict[str, int]:
    device = Device(folder, {"RequestLimit": 999})
    device.s3.start(buckets=(BUCKET,))
    try:
        device.boot()
        ids = device.send(count)
        target = rng.randint(count // 4, count * 8 // 10)
        assert device.observer is not None
        # Killed only once every request is received (answered or on disk): messages still in the socket die with the process.
        device.observer.wait(lambda: received(device, ids) == set(ids), 60, "every request received")
        device.observer.wait(lambda: len(device.statuses(ids)) >= target, 60, f"{target} statuses")
        on_disk = {record.request_id for record in peek(device.spool)}
        device.kill_component()
        try:
            device.observer.wait(lambda: len(device.statuses(ids)) >= count, 60, "every request answered")
        except AssertionError:
            missing = set(ids) - set(device.statuses(ids))
            still = {record.request_id for record in peek(device.spool)}
            print(f"unanswered {len(missing)}: on disk at the kill {len(missing & on_disk)}, on disk now {len(missing & still)}")
            print("\n".join(line[:400] for line in device.log().splitlines()[-40:] if "stdout" in line or "stderr" in line))
            raise
        time.sleep(1)  # a second status would come now
        counts = device.statuses(ids)
        keys = collections.Counter(device.s3.keys(BUCKET))
        reported = collections.Counter(
            s["response"]["s3_response"]["key"] for s in device.observer.statuses if s["response"]["status"] == "success"
        )
        return {
            "killed after": target,
            "missing": sum(1 for request_id in ids if counts[request_id] == 0),
            "twice": sum(1 for n in counts.values() if n > 1),
            "objects without success": sum(1 for key in keys if key not in reported),
            "objects": sum(keys.values()),
        }
    finally:
        device.shutdown()
        device.s3.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    totals: collections.Counter[str] = collections.Counter()
    with tempfile.TemporaryDirectory(prefix="ggk") as folder:
        for number in range(args.trials):
            result = trial(Path(folder) / f"t{number}", args.count, rng)
            totals.update({key: value for key, value in result.items() if key != "killed after"})
            print(f"trial {number + 1}: " + ", ".join(f"{key} {value}" for key, value in result.items()), flush=True)
    print(
        f"{args.trials} kills, {args.trials * args.count} requests: {totals['missing']} without a status, "
        f"{totals['twice']} answered twice, {totals['objects without success']} objects without a success, "
        f"{totals['objects']} objects in all"
    )


if __name__ == "__main__":
    main()
