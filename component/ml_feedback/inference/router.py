"""The inference router: request -> validate -> backend -> reply (SPEC §5).

`accept()` runs on the IPC thread and never waits: it parses the request,
admits it into the service's bounded worker pool or answers `Throttling` at
once. Each service has its own workers (`MaxConcurrency`) and waiting room
(`QueueSize`), so one slow model does not hold up the others. A successful
real-time result of a service with `MLFeedbackConnectorConfigId` is handed to
the feedback service, the request body as model input.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .. import messages
from ..config import ComponentConfig
from ..messages import InferenceRequest, ReplyableProblem, RequestProblem, parse_inference_request
from .backend import Backend, BackendError, Invocation
from .config import HTTP, PYTHON, SAGEMAKER, ServiceConfig
from .watchdog import Watchdog

log = logging.getLogger("ml_feedback.inference")
Publish = Callable[[str, dict[str, Any]], None]
# A backend that bounds its own calls gets this much longer before the router gives up on it.
SAFETY_MARGIN_SECONDS = 30.0


class _Reply:
    """A request's answer, sent once: after a Timeout reply, a late result is dropped."""

    def __init__(self, publish: Publish, request: InferenceRequest) -> None:
        self._publish, self._request = publish, request
        self._lock = threading.Lock()
        self.finished = False

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
    lock: threading.Lock = field(default_factory=threading.Lock)


class InferenceRouter:
    def __init__(
        self,
        config: ComponentConfig,
        publish: Publish,
        feedback: Callable[[dict[str, Any]], object] | None = None,
        backend_for: Callable[[ServiceConfig, ComponentConfig], Backend] = default_backend,
    ) -> None:
        self._publish = publish
        self._feedback = feedback
        self._backend_for = backend_for
        self._services: dict[str, _Service] = {}
        self._watchdog = Watchdog()
        self._config = config
        self.update_config(config)

    def update_config(self, config: ComponentConfig) -> None:
        """Start new or changed services; a removed or replaced one finishes what it has."""
        retired = []
        services = {}
        for name, service in config.inference_services.items():
            current = self._services.get(name)
            if current is not None and current.config == service and config.s3_endpoint_url == self._config.s3_endpoint_url:
                services[name] = current
                continue
            if current is not None:
                retired.append(current)
            pool = ThreadPoolExecutor(max_workers=service.max_concurrency, thread_name_prefix=f"inference-{name}")
            services[name] = _Service(service, self._backend_for(service, config), pool)
            log.info("inference service %s: %s backend, timeout %g s", name, service.backend, service.timeout)
        retired += [s for name, s in self._services.items() if name not in services]
        self._services, self._config = services, config
        for service in retired:
            service.pool.shutdown(wait=False)

    # -- intake (IPC thread) -----------------------------------------------------------------

    def accept(self, raw: bytes | str | dict[str, Any]) -> None:
        config = self._config
        try:
            request = parse_inference_request(raw, str(uuid.uuid4()), config.topics.inference_response_prefix)
        except ReplyableProblem as problem:
            self._reply_error(problem.reply_topic, problem.request_id, problem.code, problem.reason)
            return
        except RequestProblem as problem:
            log.warning("[RequestId: %s] inference request dropped, no usable ReplyTopic: %s", problem.request_id, problem.reason)
            return
        service = self._services.get(request.service_name)
        if service is None:
            known = ", ".join(sorted(self._services)) or "none configured"
            self._reply_error(
                request.reply_topic,
                request.request_id,
                messages.UNKNOWN_SERVICE,
                f"No inference service named {request.service_name!r} (services: {known})",
            )
            return
        limit = service.config.max_concurrency + service.config.queue_size
        with service.lock:
            admitted = service.in_process < limit
            if admitted:
                service.in_process += 1
        if not admitted:
            self._reply_error(
                request.reply_topic,
                request.request_id,
                messages.THROTTLING,
                f"Service {service.config.name} is busy: {limit} requests in process (MaxConcurrency {service.config.max_concurrency}, QueueSize {service.config.queue_size})",
            )
            return
        service.pool.submit(self._run, service, request, config)

    def _run(self, service: _Service, request: InferenceRequest, config: ComponentConfig) -> None:
        try:
            self.process(service, request, config)
        except Exception as exc:
            log.exception("[RequestId: %s] inference failed unexpectedly", request.request_id)
            _Reply(self._publish, request).fail(messages.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
        finally:
            with service.lock:
                service.in_process -= 1

    # -- one request (service worker thread) -------------------------------------------------------

    def process(self, service: _Service, request: InferenceRequest, config: ComponentConfig) -> None:
        settings = service.config
        reply = _Reply(self._publish, request)
        mode = request.invocation_mode or settings.invocation_mode
        if settings.algo_type and request.algo_type and request.algo_type != settings.algo_type:
            reply.fail(
                messages.VALIDATION_ERROR, f"AlgoType {request.algo_type!r} does not match service {settings.name} ({settings.algo_type})"
            )
            return
        if not settings.supports(mode):
            reply.fail(
                messages.VALIDATION_ERROR,
                f"InvocationMode {mode} is not supported by the {settings.backend} backend of service {settings.name}",
            )
            return
        if service.backend.enforces_timeout:
            deadline, message = (
                settings.timeout + SAFETY_MARGIN_SECONDS,
                f"{settings.name}: the backend did not answer within {settings.timeout + SAFETY_MARGIN_SECONDS:g} s",
            )
        else:
            deadline, message = settings.timeout, f"{settings.name}: the model did not return within {settings.timeout:g} s"
        token = self._watchdog.watch(deadline, lambda: reply.fail(messages.TIMEOUT, message))
        try:
            body = request.body if request.body is not None else _read_body(str(request.body_path), config)
            call = Invocation(body, {**settings.defaults, **request.fields}, request.request_id)
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
        except BackendError as failure:
            log.warning("[RequestId: %s] %s: %s: %s", request.request_id, settings.name, failure.code, failure.message)
            reply.fail(failure.code, failure.message)
        finally:
            self._watchdog.cancel(token)
            if not reply.finished:
                log.error("[RequestId: %s] %s: no reply was sent", request.request_id, settings.name)

    def _stream(self, service: _Service, call: Invocation, request: InferenceRequest, reply: _Reply) -> None:
        sequence = 0

        def on_part(part: bytes) -> None:
            nonlocal sequence
            reply.send(messages.reply_stream_part(request.request_id, part, sequence), final=False)
            sequence += 1

        content_type = service.backend.invoke_stream(call, on_part)
        reply.send(messages.reply_stream_done(request.request_id, content_type))

    def _hand_to_feedback(self, settings: ServiceConfig, call: Invocation, result: bytes) -> None:
        """The result as a prediction for the feedback service, traceable to this inference."""
        try:
            document = json.loads(result)
            prediction = document[settings.feedback_prediction_field] if settings.feedback_prediction_field else document
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("[RequestId: %s] %s: result not handed to feedback, no prediction in it: %s", call.request_id, settings.name, exc)
            return
        metadata = {"RequestId": call.request_id, "InferenceService": settings.name}
        if "InferenceId" in call.fields:
            metadata["InferenceId"] = call.fields["InferenceId"]
        if self._feedback is not None and settings.feedback_config_id:
            self._feedback(messages.feedback_request(settings.feedback_config_id, call.body, prediction, metadata, call.request_id))

    def _reply_error(self, reply_topic: str, request_id: str, code: str, message: str) -> None:
        self._publish(reply_topic, messages.reply_error(request_id, code, message))

    def close(self) -> None:
        for service in self._services.values():
            service.pool.shutdown(wait=False)
            service.backend.close()


def _read_body(path: str, config: ComponentConfig) -> bytes:
    real = os.path.realpath(path)
    allowed = [os.path.realpath(d) for d in config.model_input_directories]
    if not any(os.path.commonpath([real, d]) == d for d in allowed):
        raise BackendError(
            messages.VALIDATION_ERROR,
            f"BodyPath {path} is not under ModelInputDirectories ({', '.join(config.model_input_directories) or 'none configured'})",
        )
    try:
        with open(real, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise BackendError(messages.VALIDATION_ERROR, f"BodyPath {path} cannot be read: {exc.strerror}") from None
