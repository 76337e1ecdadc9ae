"""One IPC connection per process, shared by every client the SDK hands out."""

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

            _client = GreengrassCoreIPCClientV2()
        return _client
