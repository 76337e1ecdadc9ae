"""The inference router: request -> validate -> backend -> reply (SPEC §5).

`accept()` runs on the IPC thread and never waits: it parses the request,
admits it into the service's bounded worker pool or answers `Throttling` at
once. Each service has its own workers (`MaxConcurrency`) and waiting room
(`QueueSize`), so one slow model does not hold up the others. A successful
real-time result of a service with `MLFeedbackConnectorConfigId` is handed to
the feedback service, the request body as model input.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .. import messages
from ..config import ComponentConfig
from ..inputs import InputRefused, read_input
from ..messages import FeedbackRequest, InferenceRequest, NewId, ReplyableProblem, RequestProblem, parse_inference_request
from .backend import Backend, BackendError, Invocation
from .config import HTTP, PYTHON, SAGEMAKER, ServiceConfig
from .watchdog import Watchdog

log = logging.getLogger("ml_feedback.inference")
Publish = Callable[[str, dict[str, Any]], None]
# A backend that bounds its own calls gets this much longer before the router gives up on it.
SAFETY_MARGIN_SECONDS = 30.0


class _Reply:
    """A request's answer, sent once: after a Timeout reply, a late result is dropped.

    Its deadline runs from admission: `TimeoutSeconds` bounds the wait for a
    worker and the call together.
    """

    def __init__(self, publish: Publish, request: InferenceRequest, timeout: float) -> None:
        self._publish, self._request = publish, request
        self._lock = threading.Lock()
        self.expires = time.monotonic() + timeout
        self.started = False
        self.finished = False

    def start(self) -> bool:
        """A worker picks the request up; False when it already got its answer."""
        with self._lock:
            self.started = not self.finished
            return self.started

    def expire_waiting(self, message: str) -> None:
        with self._lock:
            if self.started or self.finished:
                return
            self.finished = True
        self._publish(self._request.reply_topic, messages.reply_error(self._request.request_id, messages.TIMEOUT, message))

    def send(self, message: dict[str, Any], final: bool = True) -> bool:
        with self._lock:
            if self.finished:
                return False
            self.finished = final
        self._publish(self._request.reply_topic, message)
        return True

    def fail(self, code: str, message: str) -> bool:
        return self.send(messages.reply_error(self._request.request_id, code, message))


def default_backend(service: ServiceConfig, config: ComponentConfig) -> Backend:
    if service.backend == SAGEMAKER:
        from .sagemaker import SageMakerBackend

        return SageMakerBackend(service, config.s3_endpoint_url)
    if service.backend == HTTP:
        from .modelserver import ModelServerBackend

        return ModelServerBackend(service)
    assert service.backend == PYTHON
    from .pymodel import PythonBackend

    return PythonBackend(service)


@dataclass(eq=False)
class _Service:
    config: ServiceConfig
    backend: Backend
    pool: ThreadPoolExecutor
    in_process: int = 0


def _retire(service: _Service) -> None:
    """Let a replaced service finish what it has, then release its backend's connections."""
    service.pool.shutdown(wait=True)
    try:
        service.backend.close()
    except Exception:
        log.exception("closing the retired inference service %s failed", service.config.name)


class InferenceRouter:
    def __init__(
        self,
        config: ComponentConfig,
        publish: Publish,
        feedback: Callable[[FeedbackRequest], object] | None = None,
        backend_for: Callable[[ServiceConfig, ComponentConfig], Backend] = default_backend,
    ) -> None:
        self._publish = publish
        self._feedback = feedback
        self._backend_for = backend_for
        # Guards the service table and every service's in_process; held while submitting, so a
        # pool is never shut down between choosing it and submitting to it.
        self._lock = threading.Lock()
        self._services: dict[str, _Service] = {}
        self._watchdog = Watchdog()
        self._config = config
        self.update_config(config)

    def update_config(self, config: ComponentConfig) -> None:
        """Start new or changed services; a removed or replaced one finishes what it has."""
        services = {}
        current_services, same_endpoint = self._services, config.s3_endpoint_url == self._config.s3_endpoint_url
        for name, service in config.inference_services.items():
            current = current_services.get(name)
            if current is not None and current.config == service and same_endpoint:
                services[name] = current
                continue
            pool = ThreadPoolExecutor(max_workers=service.max_concurrency, thread_name_prefix=f"inference-{name}")
            services[name] = _Service(service, self._backend_for(service, config), pool)
            log.info("inference service %s: %s backend, timeout %g s", name, service.backend, service.timeout)
        with self._lock:
            retired = [s for name, s in self._services.items() if services.get(name) is not s]
            self._services, self._config = services, config
        for service in retired:
            threading.Thread(target=_retire, args=(service,), name=f"retire-{service.config.name}", daemon=True).start()

    # -- intake (IPC thread) -----------------------------------------------------------------

    def accept(self, raw: bytes | str | dict[str, Any]) -> None:
        config = self._config
        try:
            request = parse_inference_request(raw, NewId(_new_uuid), config.topics.inference_response_prefix)
        except ReplyableProblem as problem:
            self._reply_error(problem.reply_topic, problem.request_id, problem.code, problem.reason)
            return
        except RequestProblem as problem:
            log.warning("[RequestId: %s] inference request dropped, no usable ReplyTopic: %s", problem.request_id, problem.reason)
            return
        refusal = self._admit(request, config)
        if refusal is not None:
            self._reply_error(request.reply_topic, request.request_id, *refusal)

    def _admit(self, request: InferenceRequest, config: ComponentConfig) -> tuple[str, str] | None:
        """Queue the request on its service; the error code and message when it cannot be."""
        with self._lock:
            service = self._services.get(request.service_name)
            if service is None:
                known = ", ".join(sorted(self._services)) or "none configured"
                return messages.UNKNOWN_SERVICE, f"No inference service named {messages.shown(request.service_name)} (services: {known})"
            settings = service.config
            if settings.algo_type and request.algo_type and request.algo_type != settings.algo_type:
                return (
                    messages.VALIDATION_ERROR,
                    f"AlgoType {messages.shown(request.algo_type)} does not match service {settings.name} ({settings.algo_type})",
                )
            problem = settings.mode_problem(request.invocation_mode or settings.invocation_mode)
            if problem:
                return messages.VALIDATION_ERROR, problem
            limit = settings.max_concurrency + settings.queue_size
            if service.in_process >= limit:
                return (
                    messages.THROTTLING,
                    f"Service {settings.name} is busy: {limit} requests in process "
                    f"(MaxConcurrency {settings.max_concurrency}, QueueSize {settings.queue_size})",
                )
            reply = _Reply(self._publish, request, settings.timeout)
            try:
                service.pool.submit(self._run, service, request, config, reply)
            except RuntimeError:
                return messages.SERVICE_UNAVAILABLE, "the component is stopping"
            queued = service.in_process >= settings.max_concurrency
            service.in_process += 1
        if queued:
            waiting = f"{settings.name}: no worker was free within {settings.timeout:g} s (MaxConcurrency {settings.max_concurrency})"
            self._watchdog.watch(settings.timeout, lambda: reply.expire_waiting(waiting))
        return None

    def _run(self, service: _Service, request: InferenceRequest, config: ComponentConfig, reply: _Reply) -> None:
        try:
            self.process(service, request, config, reply)
        except Exception as exc:
            log.exception("[RequestId: %s] inference failed unexpectedly", request.request_id)
            reply.fail(messages.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                service.in_process -= 1

    # -- one request (service worker thread) -------------------------------------------------------

    def process(self, service: _Service, request: InferenceRequest, config: ComponentConfig, reply: _Reply) -> None:
        settings = service.config
        if not reply.start():
            log.warning("[RequestId: %s] %s: timed out waiting for a worker, not invoked", request.request_id, settings.name)
            return
        remaining = reply.expires - time.monotonic()
        if service.backend.enforces_timeout:
            limit = remaining + SAFETY_MARGIN_SECONDS
            message = f"{settings.name}: the backend did not answer within {settings.timeout + SAFETY_MARGIN_SECONDS:g} s"
        else:
            limit, message = remaining, f"{settings.name}: the model did not return within {settings.timeout:g} s"
        token = self._watchdog.watch(max(limit, 0.0), lambda: reply.fail(messages.TIMEOUT, message))
        try:
            body = (
                request.body if request.body is not None else read_input("BodyPath", str(request.body_path), config.model_input_directories)
            )
            call = Invocation(body, {**settings.defaults, **request.fields}, request.request_id)
            mode = request.invocation_mode or settings.invocation_mode
            if mode == messages.ASYNC:
                queued = service.backend.invoke_async(call)
                reply.send(messages.reply_async(request.request_id, queued.inference_id, queued.output_location, queued.failure_location))
            elif mode == messages.STREAM:
                self._stream(service, call, request, reply)
            else:
                result = service.backend.invoke(call)
                answer = messages.reply_real_time(
                    request.request_id, result.content_type, result.body, result.invoked_variant, result.custom_attributes
                )
                if not reply.send(answer):
                    log.warning(
                        "[RequestId: %s] %s: the result came after the Timeout reply and was dropped", request.request_id, settings.name
                    )
                elif settings.feedback_config_id:
                    self._hand_to_feedback(settings, call, result.body)
        except InputRefused as refused:
            reply.fail(messages.VALIDATION_ERROR, str(refused))
        except BackendError as failure:
            log.warning("[RequestId: %s] %s: %s: %s", request.request_id, settings.name, failure.code, failure.message)
            reply.fail(failure.code, failure.message)
        finally:
            self._watchdog.cancel(token)

    def _stream(self, service: _Service, call: Invocation, request: InferenceRequest, reply: _Reply) -> None:
        sequence = 0

        def on_part(part: bytes) -> None:
            nonlocal sequence
            reply.send(messages.reply_stream_part(request.request_id, part, sequence), final=False)
            sequence += 1

        content_type = service.backend.invoke_stream(call, on_part)
        reply.send(messages.reply_stream_done(request.request_id, content_type))

    def _hand_to_feedback(self, settings: ServiceConfig, call: Invocation, result: bytes) -> None:
        """The result as a prediction for the feedback service, traceable to this inference.

        A problem here is logged, never turned into an inference error: the caller already has its answer.
        """
        if self._feedback is None or settings.feedback_config_id is None:
            return
        try:
            document = messages.strict_json(result)
            prediction = document[settings.feedback_prediction_field] if settings.feedback_prediction_field else document
            if not isinstance(prediction, (list, dict)):
                raise TypeError(f"the prediction is a {type(prediction).__name__}, not a list or an object")
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("[RequestId: %s] %s: result not handed to feedback, no prediction in it: %s", call.request_id, settings.name, exc)
            return
        metadata = {"RequestId": call.request_id, "InferenceService": settings.name}
        if "InferenceId" in call.fields:
            metadata["InferenceId"] = call.fields["InferenceId"]
        try:
            self._feedback(FeedbackRequest(settings.feedback_config_id, call.body, None, prediction, metadata, call.request_id))
        except Exception:
            log.exception("[RequestId: %s] %s: handing the result to feedback failed", call.request_id, settings.name)

    def _reply_error(self, reply_topic: str, request_id: str, code: str, message: str) -> None:
        self._publish(reply_topic, messages.reply_error(request_id, code, message))

    def close(self) -> None:
        with self._lock:
            services, self._services = list(self._services.values()), {}
        for service in services:
            service.pool.shutdown(wait=False)
            service.backend.close()


def _new_uuid() -> str:
    return str(uuid.uuid4())
