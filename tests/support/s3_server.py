"""moto's S3 server as a process of its own, its buckets there before its port opens.

    python s3_server.py PORT [BUCKET ...]

Real S3 keeps its buckets through an outage; a restarted moto would have
none until the test made them, and a component that reconnects at once
would meet `NoSuchBucket` in between. Request lines go to standard error.
"""

from __future__ import annotations

import signal
import sys

from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends
from moto.server import ThreadedMotoServer


def main() -> None:
    port, buckets = int(sys.argv[1]), sys.argv[2:]
    for bucket in buckets:
        s3_backends[DEFAULT_ACCOUNT_ID]["aws"].create_bucket(bucket, "us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=True)
    server.start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.stop()


if __name__ == "__main__":
    main()
