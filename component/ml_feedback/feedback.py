"""The feedback service: request -> throttle -> validate -> sample -> upload -> publish.

The v1 connector's semantics and order (SPEC §4.2). `accept()` runs on the IPC
thread and never blocks: it either takes a request into the bounded worker
pool or answers `Queue.Full` at once. `process()` is the per-request pipeline;
S3 and the outgoing messages come in through the `Uploader` and `Outbox` it
is given, so the whole pipeline runs in unit tests without I/O.
"""

from __future__ import annotations

import datetime
import logging
import random
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, Protocol

from . import messages
from .config import ComponentConfig, FeedbackConfig
from .inputs import InputRefused, open_input
from .messages import FeedbackRequest, RequestProblem, parse_feedback_request
from .sampling import prediction_problem, should_upload
from .uploader import UploadError

log = logging.getLogger("ml_feedback.feedback")
# A request as it arrives over IPC (JSON text or bytes, or a JsonMessage's dict), or one the inference service made.
Incoming = bytes | str | dict[str, Any] | FeedbackRequest


class Uploader(Protocol):
    def put(self, bucket: str, key: str, body: bytes | BinaryIO, content_type: str, metadata: dict[str, str]) -> dict[str, Any]: ...


class Outbox(Protocol):
    """Where the service's messages go (IoT Core and local pub/sub, or a list in tests)."""

    def status(self, message: dict[str, Any]) -> None: ...
    def prediction(self, message: dict[str, Any]) -> None: ...
    def metric(self, message: dict[str, Any]) -> None: ...


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _new_id() -> str:
    return str(uuid.uuid4())


class FeedbackService:
    def __init__(
        self,
        config: ComponentConfig,
        uploader_for: Callable[[ComponentConfig], Uploader],
        outbox: Outbox,
        *,
        clock: Callable[[], datetime.datetime] = _utc_now,
        draw: Callable[[], float] = random.random,
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        self._uploader_for = uploader_for
        self._outbox = outbox
        self._clock, self._draw, self._new_id = clock, draw, new_id
        self._lock = threading.Lock()
        self._in_process = 0
        self._idle = threading.Condition(self._lock)
        self._config = config
        self._uploader = uploader_for(config)
        self._pool = ThreadPoolExecutor(max_workers=config.upload_workers, thread_name_prefix="feedback")

    @property
    def config(self) -> ComponentConfig:
        return self._config

    def update_config(self, config: ComponentConfig) -> None:
        """Apply a new configuration to every request not yet started."""
        old = self._config
        uploader = self._uploader
        if (config.s3_endpoint_url, config.upload_workers) != (old.s3_endpoint_url, old.upload_workers):
            uploader = self._uploader_for(config)
        with self._lock:
            self._config, self._uploader = config, uploader
            if config.upload_workers != old.upload_workers:
                previous, self._pool = self._pool, ThreadPoolExecutor(max_workers=config.upload_workers, thread_name_prefix="feedback")
                previous.shutdown(wait=False)

    # -- intake (IPC thread) ------------------------------------------------------------------

    def accept(self, raw: Incoming) -> bool:
        """Take a request, or refuse it with Queue.Full when RequestLimit are already in process."""
        with self._lock:
            config = self._config
            refused = self._in_process >= config.request_limit
            if not refused:
                # Submitted under the lock: update_config cannot shut this pool down in between.
                try:
                    self._pool.submit(self._run, raw, config, self._uploader)
                except RuntimeError:
                    log.warning("[RequestId: %s] not taken: the component is stopping", _request_id_of(raw))
                    return False
                self._in_process += 1
        if refused:
            request_id = _request_id_of(raw) or self._new_id()
            log.warning("[RequestId: %s] refused: %d requests already in process", request_id, config.request_limit)
            self._outbox.status(messages.status_fail(request_id, messages.QUEUE_FULL, messages.queue_full_message(config.request_limit)))
            self._outbox.metric(messages.metric(messages.ERROR_REQUEST_THROTTLED, config.metrics_namespace))
            return False
        return True

    def _run(self, raw: Incoming, config: ComponentConfig, uploader: Uploader) -> None:
        new_id = self._new_id()
        try:
            self.process(raw, config, uploader, new_id)
        except Exception as error:
            # Never a silent drop (SPEC §4.2): a fault of ours still gets a status.
            request_id = _request_id_of(raw) or new_id
            log.exception("[RequestId: %s] feedback request failed unexpectedly", request_id)
            self._outbox.status(
                messages.status_fail(request_id, messages.INTERNAL_ERROR, messages.internal_error_message(request_id, error))
            )
            self._outbox.metric(messages.metric(messages.ERROR_INTERNAL, config.metrics_namespace))
        finally:
            with self._lock:
                self._in_process -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every accepted request is finished (used at shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_process == 0, timeout)

    def close(self) -> None:
        """Stop taking work; requests still in process finish on their own (call wait_idle first to wait)."""
        self._pool.shutdown(wait=False)

    # -- the pipeline (worker thread) -------------------------------------------------------------

    def process(
        self,
        raw: Incoming,
        config: ComponentConfig,
        uploader: Uploader,
        new_id: str | None = None,
    ) -> None:
        """One request, start to finish; `new_id` is the RequestId of a request that has none."""
        outbox, namespace = self._outbox, config.metrics_namespace
        try:
            request = raw if isinstance(raw, FeedbackRequest) else parse_feedback_request(raw, new_id or self._new_id())
            target = config.feedback.get(request.config_id)
            if target is None:
                known = ", ".join(sorted(config.feedback)) or "none"
                raise RequestProblem(
                    messages.UNKNOWN_CONFIG_ID,
                    f"ConfigId {messages.shown(request.config_id)} is not in the FeedbackConfigurationMap (configured: {known})",
                    request.request_id,
                )
            problem = prediction_problem(target.strategy, request.prediction)
            if problem:
                raise RequestProblem(messages.INVALID_MODEL_PREDICTION, problem, request.request_id)
            body, size = self._model_input(request, config)
        except RequestProblem as problem:
            log.warning("[RequestId: %s] %s: %s", problem.request_id, problem.code, problem.reason)
            outbox.status(
                messages.status_fail(problem.request_id, problem.code, messages.invalid_request_message(problem.request_id, problem.reason))
            )
            outbox.metric(messages.metric(messages.ERROR_INVALID_REQUEST, namespace))
            return
        request_id = request.request_id
        try:
            outbox.metric(messages.metric(messages.SAMPLE_SIZE, namespace, size, messages.BYTES))
            if not should_upload(target.strategy, request.prediction, self._draw()):
                outbox.status(messages.status_dropped(request_id))
                outbox.metric(messages.metric(messages.SAMPLE_NOT_USED, namespace))
                return
            self._upload(request_id, request.prediction, request.metadata, body, target, config, uploader)
        finally:
            if not isinstance(body, bytes):
                body.close()

    def _upload(
        self,
        request_id: str,
        prediction: Any,
        request_metadata: dict[str, Any],
        body: bytes | BinaryIO,
        target: FeedbackConfig,
        config: ComponentConfig,
        uploader: Uploader,
    ) -> None:
        outbox, namespace = self._outbox, config.metrics_namespace
        metadata = {**request_metadata, "publish-ts": messages.publish_timestamp(self._clock())}
        key = target.object_key(self._new_id())
        try:
            response = uploader.put(target.bucket, key, body, target.content_type, messages.s3_metadata(metadata))
        except UploadError as failure:
            log.warning("[RequestId: %s] upload to s3://%s/%s failed: %s", request_id, target.bucket, key, failure.message)
            outbox.status(
                messages.status_fail(request_id, failure.code, messages.upload_failure_message(request_id, failure.code, failure.message))
            )
            outbox.metric(messages.metric(messages.SAMPLE_UPLOAD_FAILURE, namespace))
            return
        s3_response = {**messages.json_safe(response), "bucket": target.bucket, "key": key}
        outbox.status(messages.status_success(request_id, s3_response))
        outbox.metric(messages.metric(messages.SAMPLE_UPLOAD_SUCCESS, namespace))
        outbox.prediction(messages.prediction_message(target.bucket, key, prediction, target.config_id, metadata))
        outbox.metric(messages.metric(messages.SAMPLE_AND_PREDICTION_PUBLISHED, namespace))

    def _model_input(self, request: FeedbackRequest, config: ComponentConfig) -> tuple[bytes | BinaryIO, int]:
        if request.model_input is not None:
            return request.model_input, len(request.model_input)
        try:
            return open_input("ModelInputPath", str(request.model_input_path), config.model_input_directories)
        except InputRefused as refused:
            raise RequestProblem(messages.INVALID_MODEL_INPUT, str(refused), request.request_id) from None


def _request_id_of(raw: Incoming) -> str | None:
    return raw.request_id if isinstance(raw, FeedbackRequest) else messages.request_id_of(raw)
