"""The `http` backend: a local model server speaking the SageMaker container contract.

`POST {base}/invocations` with the body, `Content-Type`, `Accept` and
`X-Amzn-SageMaker-Custom-Attributes`. `GET {base}/ping` once when the service
starts, in the background, so the log tells at once whether its model server
is up; requests are sent either way (a server that starts later is used).
`base` is the service's `Url` without a trailing `/invocations` (the
configuration has made it so: `config.model_server_base_url`).
"""

from __future__ import annotations

import logging
import socket
import threading
import urllib.error
import urllib.request

from .. import messages
from .backend import BackendError, Invocation, RealTimeOnly, RealTimeResult
from .config import ServiceConfig

CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
PING_TIMEOUT_SECONDS = 5.0
log = logging.getLogger("ml_feedback.inference")


class ModelServerBackend(RealTimeOnly):
    enforces_timeout = True  # the socket timeout

    def __init__(self, service: ServiceConfig) -> None:
        self._service = service
        self._url = str(service.settings["Url"])  # the base URL
        threading.Thread(target=self._report_readiness, name=f"ping-{service.name}", daemon=True).start()

    def _report_readiness(self) -> None:
        name, url = self._service.name, self._url
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=PING_TIMEOUT_SECONDS) as response:
                log.info("inference service %s: the model server at %s is ready (GET /ping answered %d)", name, url, response.status)
        except urllib.error.HTTPError as error:
            log.warning("inference service %s: the model server at %s is not ready (GET /ping answered %d)", name, url, error.code)
        except (OSError, urllib.error.URLError) as error:
            reason = getattr(error, "reason", error)
            log.warning(
                "inference service %s: the model server at %s does not answer GET /ping (%s); requests get ServiceUnavailable until it does",
                name,
                url,
                reason,
            )

    def invoke(self, call: Invocation) -> RealTimeResult:
        headers = {"Content-Type": call.fields.get("ContentType", "application/octet-stream")}
        if "Accept" in call.fields:
            headers["Accept"] = call.fields["Accept"]
        if "CustomAttributes" in call.fields:
            headers[CUSTOM_ATTRIBUTES] = call.fields["CustomAttributes"]
        request = urllib.request.Request(f"{self._url}/invocations", data=call.body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._service.timeout) as response:
                return RealTimeResult(response.read(), response.headers.get("Content-Type"), None, response.headers.get(CUSTOM_ATTRIBUTES))
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")[:500]
            raise BackendError(messages.MODEL_ERROR, f"the model server answered {error.code}: {detail}") from error
        except TimeoutError as error:
            raise BackendError(
                messages.TIMEOUT, f"{self._service.name}: no answer from {self._url} within {self._service.timeout:g} s"
            ) from error
        except urllib.error.URLError as error:
            if isinstance(error.reason, (TimeoutError, socket.timeout)):
                raise BackendError(
                    messages.TIMEOUT, f"{self._service.name}: no answer from {self._url} within {self._service.timeout:g} s"
                ) from error
            raise BackendError(messages.SERVICE_UNAVAILABLE, f"the model server at {self._url} is not reachable: {error.reason}") from error
        except OSError as error:
            raise BackendError(messages.SERVICE_UNAVAILABLE, f"the model server at {self._url} is not reachable: {error}") from error
