"""The running component: IPC subscriptions, live configuration, and the two services behind them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from .config import ComponentConfig, ConfigError, parse_config
from .feedback import FeedbackService
from .inference.router import InferenceRouter
from .ipc import IpcBus, Message, Subscription
from .ipc_publish import JsonText
from .uploader import PartUploader, Uploader
from .worksummary import WorkSummary

log = logging.getLogger("ml_feedback")
BUDGET_FILE = "sampling-budgets.json"  # in the work folder: a restart must not hand out a fresh budget
# The nucleus sends SIGKILL 5 s after SIGTERM: finish what is in process within that.
STOP_GRACE_SECONDS = 4.0
# With a spool, what is not uploaded yet stays there: stopping needs only the time to finish writing it.
SPOOLED_STOP_SECONDS = 2.0


class IpcPublisher:
    """Status and prediction to IoT Core (QoS 1) and, unless `LocalStatusAndPrediction` is false, local pub/sub; metrics to
    local pub/sub unless `PublishMetrics` is false.

    Every request's final status passes here, whichever path decided it: here it is counted for the work summary.
    """

    def __init__(self, bus: IpcBus, config: Callable[[], ComponentConfig], work: WorkSummary | None = None) -> None:
        self._bus, self._config = bus, config
        self._work = work

    def status(self, message: dict[str, Any]) -> list[Future[Any]]:
        if self._work is not None:
            self._work.count(message["response"]["status"])
        return self._both(self._config().topics.status, message)

    def prediction(self, message: dict[str, Any]) -> list[Future[Any]]:
        return self._both(self._config().topics.prediction, message)

    def _both(self, topic: str, message: dict[str, Any]) -> list[Future[Any]]:
        """To IoT Core, and to local pub/sub unless `LocalStatusAndPrediction` is false."""
        text = JsonText.of(message)  # once for both destinations
        published = [self._bus.publish_iot_core(topic, text)]
        if self._config().local_status_and_prediction:
            published.append(self._bus.publish_local(topic, text))
        return published

    def metric(self, message: dict[str, Any]) -> None:
        config = self._config()
        if config.publish_metrics:
            self._bus.publish_local(config.topics.metrics, message)


def default_uploader(config: ComponentConfig) -> Uploader:
    from .uploader import S3Uploader

    return S3Uploader(config.s3_endpoint_url, max_connections=config.upload_workers + 2)


def outbox_uploader(config: ComponentConfig) -> PartUploader:
    """awscrt's HTTP client where it matches boto3 in this environment, boto3 otherwise (see the README)."""
    from .s3_crt import CrtS3Uploader, unsupported_reason

    reason = unsupported_reason()
    if reason is None:
        return CrtS3Uploader(config.s3_endpoint_url, max_connections=config.upload_workers + 2)
    from .uploader import S3Uploader

    log.info("uploading with boto3, not awscrt: %s", reason)
    return S3Uploader(config.s3_endpoint_url, max_connections=config.upload_workers + 2, outbox=True)


def spool_path(work_dir: Path, config: ComponentConfig) -> Path:
    """`SpoolDirectory`, relative to the component's work folder unless absolute."""
    return work_dir / config.delivery.spool_directory


class MLFeedbackComponent:
    def __init__(
        self,
        bus: IpcBus,
        config: ComponentConfig,
        uploader_for: Callable[[ComponentConfig], Uploader] = default_uploader,
        *,
        work_dir: Path | None = None,
    ) -> None:
        """`work_dir`: the component's work folder, home of the spool; without it samples are never spooled."""
        self._bus = bus
        self._spool_path = None if work_dir is None else spool_path(work_dir, config)
        self.work = WorkSummary()
        self.feedback = FeedbackService(
            config,
            uploader_for,
            IpcPublisher(bus, lambda: self.feedback.config, self.work),
            spool_directory=self._spool_path,
            outbox_uploader_for=outbox_uploader,
            budget_file=None if work_dir is None else work_dir / BUDGET_FILE,
        )
        self.inference = InferenceRouter(config, bus.publish_local, feedback=self.feedback.accept)
        self._subscriptions: dict[str, tuple[str, Subscription]] = {}
        self._control: list[Subscription] = []

    @property
    def config(self) -> ComponentConfig:
        return self.feedback.config

    def start(self) -> None:
        """Resume the spool, subscribe to requests and configuration; the caller reports RUNNING afterwards."""
        if self.feedback.durable is not None:
            self.feedback.durable.start()
        self._subscribe(self.config)
        self._control.append(self._bus.on_configuration_change(self.apply))
        self._control.append(self._bus.on_validate(self.validate))

    def _subscribe(self, config: ComponentConfig) -> list[Subscription]:
        """Open the subscriptions `config` needs that are not open yet; returns the ones they replace.

        New before old, so no request is missed while a topic changes; if any
        subscribe fails (say the accessControl policy was not changed with the
        topic), the ones just opened are closed and the old ones stay.
        """
        wanted: dict[str, tuple[str, Callable[[Message], None]]] = {
            "feedback": (config.topics.feedback_requests, self.feedback.accept),
            "inference": (config.topics.inference_requests, self.inference.accept),
        }
        opened: dict[str, tuple[str, Subscription]] = {}
        try:
            for purpose, (topic, handler) in wanted.items():
                current = self._subscriptions.get(purpose)
                if current is None or current[0] != topic:
                    opened[purpose] = (topic, self._bus.subscribe(topic, handler))
        except Exception:
            for _, subscription in opened.values():
                subscription.close()
            raise
        replaced = [self._subscriptions[purpose][1] for purpose in opened if purpose in self._subscriptions]
        for purpose, (topic, _) in opened.items():
            log.info("listening for %s requests on %s", purpose, topic)
        self._subscriptions.update(opened)
        return replaced

    def validate(self, raw: dict[str, Any]) -> str | None:
        """A deployment's proposed configuration: the reason to reject it, or None."""
        try:
            parse_config(raw)
        except ConfigError as error:
            log.warning("rejecting a proposed configuration: %s", error)
            return f"Invalid configuration for community.greengrass.MLFeedback: {error}"
        return None

    def apply(self, raw: dict[str, Any]) -> None:
        try:
            config = parse_config(raw)
        except ConfigError as error:
            for problem in error.problems:
                log.error("configuration change ignored, keeping the previous one: %s", problem)
            return
        if config == self.config:
            return
        try:
            replaced = self._subscribe(config)
        except Exception as error:
            reason = getattr(error, "message", None) or error
            log.error("configuration change ignored, keeping the previous one: cannot subscribe to its request topics: %s", reason)
            return
        if self._spool_path is not None and config.delivery.spool_directory != self.config.delivery.spool_directory:
            log.warning(
                "SpoolDirectory %s takes effect at the next start of the component; the spool stays in %s until then",
                config.delivery.spool_directory,
                self._spool_path,
            )
        self.feedback.update_config(config)
        self.inference.update_config(config)
        for subscription in replaced:
            subscription.close()
        log.info(
            "configuration applied: %d feedback configuration(s), RequestLimit %d, %d inference service(s)",
            len(config.feedback),
            config.request_limit,
            len(config.inference_services),
        )

    def log_work_summary(self) -> None:
        """Called every few seconds (the main loop): logs the work summary when one is due, at most once a minute."""
        line = self.work.due(self._waiting())
        if line is not None:
            log.info("%s", line)

    def _waiting(self) -> int | None:
        durable = self.feedback.durable
        return None if durable is None else durable.waiting()[0]

    def stop(self, timeout: float = STOP_GRACE_SECONDS) -> None:
        """Intake stops; requests in process get `timeout` to finish (to be spooled, with a spool); waiting samples stay."""
        deadline = time.monotonic() + timeout
        for subscription in [*(s for _, s in self._subscriptions.values()), *self._control]:
            subscription.close()
        self._subscriptions.clear()
        durable = self.feedback.durable
        intake = min(timeout, SPOOLED_STOP_SECONDS) if durable is not None and self.config.delivery.spooled else timeout
        if not self.feedback.wait_idle(intake):
            log.warning("stopping with feedback requests still in process")
        self.feedback.close()
        self.inference.close()
        if durable is not None:
            waiting, _bytes = durable.waiting()
            durable.stop(min(0.5, max(0.0, deadline - time.monotonic())))  # an attempt still running is repeated after the next start
            if waiting:
                log.info("stopping with %d samples waiting in the spool; they are uploaded after the next start", waiting)
        log.info("%s", self.work.final(self._waiting()))  # after the last statuses: what a stop let finish counts too


def load_config(raw: dict[str, Any]) -> ComponentConfig | None:
    try:
        return parse_config(raw)
    except ConfigError as error:
        for problem in error.problems:
            log.error("invalid configuration: %s", problem)
        return None
