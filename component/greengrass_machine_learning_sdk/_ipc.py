"""One IPC connection per process, shared by every client the SDK hands out.

Its callbacks run in order on the IPC client's own thread (`executor=None`):
the SDK only resolves futures there, never waits, and replies stay in order.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_client: Any = None


def ipc_client() -> Any:
    global _client
    with _lock:
        if _client is None:
            from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

            _client = GreengrassCoreIPCClientV2(executor=None)
        return _client
