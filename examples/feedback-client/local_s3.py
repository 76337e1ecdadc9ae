"""Make, then show, the buckets that v1-connector-parameters.json names, on a local S3-compatible server.

    python3 examples/feedback-client/local_s3.py create   # before the component starts
    python3 examples/feedback-client/local_s3.py show     # after the client sent its sample

It talks to AWS_ENDPOINT_URL_S3, as any boto3 program does, and refuses to run without it,
so it never makes buckets in a real AWS account.
"""

import json
import os
import sys
import time
from pathlib import Path

import boto3

PARAMETERS = Path(__file__).with_name("v1-connector-parameters.json")
WAIT_SECONDS = 10


def bucket_names() -> list[str]:
    merge = json.loads(PARAMETERS.read_text())["community.greengrass.MLFeedback"]["MERGE"]
    configurations = json.loads(merge["FeedbackConfigurationMap"])
    return sorted({configuration["s3-bucket-name"] for configuration in configurations.values()})


def main(action: str) -> int:
    if not os.environ.get("AWS_ENDPOINT_URL_S3"):
        print("set AWS_ENDPOINT_URL_S3 to your local S3 server first, e.g. http://127.0.0.1:5055", file=sys.stderr)
        return 2
    s3 = boto3.client("s3", region_name=os.environ.get("AWS_REGION", "us-east-1"))
    if action == "create":
        for bucket in bucket_names():
            s3.create_bucket(Bucket=bucket)
            print(f"created {bucket}")
        return 0
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        found = [(bucket, item) for bucket in bucket_names() for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for bucket, item in found:
        head = s3.head_object(Bucket=bucket, Key=item["Key"])
        print(f"s3://{bucket}/{item['Key']}  {item['Size']} bytes, {head['ContentType']}, metadata {head['Metadata']}")
    if not found:
        print(f"no object in {', '.join(bucket_names())} after {WAIT_SECONDS} s", file=sys.stderr)
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "show"))
