"""Runs one component's lifecycle processes the way the nucleus does.

Install runs in the foreground; Startup or Run in the background; Shutdown
when the component stops. Each step is `sh -c SCRIPT` in ROOT/work/NAME with
the emulator's environment, the Greengrass variables and the recipe's Setenv.
Output goes line by line to ROOT/logs/NAME.log. Errors restart the component
until the third in a row makes it BROKEN.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .lifecycle import REPORTABLE, ErrorCounter, State, Step, StepError, lifecycle_setenv, parse_step, should_skip
from .logs import ComponentLog

log = logging.getLogger("greengrass_local.lifecycle")

KILL_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to run one component version."""

    name: str
    version: str
    lifecycle: dict[str, Any]
    environment: dict[str, str]
    work_dir: Path
    hard_dependencies: tuple[str, ...] = ()


class StepProcess:
    """One `sh -c` process of a lifecycle step, with its output pumped to the log."""

    def __init__(self, process: asyncio.subprocess.Process, pumps: list[asyncio.Task[None]]) -> None:
        self.process = process
        self._pumps = pumps

    @classmethod
    async def start(
        cls, step: Step, spec: RunSpec, component_log: ComponentLog, script_name: str, state: Callable[[], State]
    ) -> StepProcess:
        env = {**spec.environment, **lifecycle_setenv(spec.lifecycle), **step.setenv}
        spec.work_dir.mkdir(parents=True, exist_ok=True)
        component_log.write(
            "INFO",
            "shell-runner-start",
            "",
            {"scriptName": script_name, "serviceName": spec.name, "currentState": state().value, "command": f'["{step.script}"]'},
        )
        process = await asyncio.create_subprocess_exec(
            "sh",
            "-c",
            step.script,
            cwd=str(spec.work_dir),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        pumps = []
        for stream, level, event in ((process.stdout, "INFO", "stdout"), (process.stderr, "WARN", "stderr")):
            assert stream is not None
            pumps.append(asyncio.ensure_future(_pump(stream, component_log, level, event, script_name, spec.name, state)))
        return cls(process, pumps)

    async def wait(self) -> int:
        code = await self.process.wait()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        return code

    async def kill(self) -> None:
        """SIGTERM to the whole process group, SIGKILL after a grace period."""
        if self.process.returncode is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), KILL_GRACE_SECONDS)
            except asyncio.TimeoutError:
                _signal_group(self.process.pid, signal.SIGKILL)
                await self.process.wait()
        _signal_group(self.process.pid, signal.SIGKILL)  # leftovers of a finished shell
        for pump in self._pumps:
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        transport = getattr(self.process, "_transport", None)
        if transport is not None:
            transport.close()  # else Python 3.10 closes it at garbage collection, maybe after the loop


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def _pump(
    stream: asyncio.StreamReader, component_log: ComponentLog, level: str, event: str, script: str, name: str, state: Callable[[], State]
) -> None:
    pending = b""
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.replace(b"\r", b"\n").split(b"\n")
        for line in lines:
            _log_line(component_log, level, event, line, script, name, state)
    if pending:
        _log_line(component_log, level, event, pending, script, name, state)


def _log_line(component_log: ComponentLog, level: str, event: str, raw: bytes, script: str, name: str, state: Callable[[], State]) -> None:
    text = raw.decode("utf-8", "replace").strip()
    if text:
        component_log.write(level, event, text, {"scriptName": script, "serviceName": name, "currentState": state().value})


class ComponentRunner:
    """The lifecycle of one component version, as an asyncio task.

    `start()` begins Install -> Startup/Run; `stop()` runs Shutdown and ends
    every process. The component may move itself with `report_state()` (IPC
    UpdateState). `on_state` hears every transition.
    """

    def __init__(
        self,
        spec: RunSpec,
        component_log: ComponentLog,
        *,
        dependencies_ready: Callable[[], bool],
        on_state: Callable[[ComponentRunner, State, State], None],
        error_reset_seconds: float | None = None,
    ) -> None:
        self.spec = spec
        self._log = component_log
        self._dependencies_ready = dependencies_ready
        self._on_state = on_state
        self.state = State.NEW
        self.status_reason = ""
        self._errors = ErrorCounter() if error_reset_seconds is None else ErrorCounter(error_reset_seconds)
        self._processes: list[StepProcess] = []
        self._wake = asyncio.Event()
        self._reported: State | None = None
        self._stop_requested = False
        self._restart_requested = False
        self._finish_requested = False  # StopComponent: Shutdown, then FINISHED until a restart
        self.paused = False
        self._task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def pids(self) -> list[int]:
        """Process ids of the steps running now (for benchmarks and diagnostics)."""
        return [p.process.pid for p in self._processes if p.process.returncode is None]

    # -- control -----------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._main())

    def poke(self) -> None:
        """Something this component may be waiting for changed (e.g. a dependency's state)."""
        self._wake.set()

    def request_restart(self) -> None:
        self._restart_requested = True
        self._finish_requested = False
        self.poke()

    # -- RestartComponent, StopComponent, PauseComponent, ResumeComponent ---------------

    @property
    def closed(self) -> bool:
        """Stopped for good (removed, or the nucleus stops): a restart request is refused, as Lifecycle.requestRestart does."""
        return self._stop_requested

    def request_stop(self) -> None:
        """StopComponent (GreengrassService.requestStop): Shutdown, then FINISHED until a restart request."""
        self._restart_requested = False
        self._finish_requested = True
        self.poke()

    def pause(self) -> None:
        """PauseComponent: SIGSTOP every step's process group (the nucleus freezes the component's cgroup)."""
        if not self.paused:
            for pid in self.pids():
                _signal_group(pid, signal.SIGSTOP)
            self.paused = True
            log.info("Paused component. {serviceName=%s}", self.name)

    def resume(self) -> None:
        """ResumeComponent, and before any shutdown (GenericExternalService resumes a paused component first)."""
        if self.paused:
            self.paused = False
            for pid in self.pids():
                _signal_group(pid, signal.SIGCONT)
            log.info("Resumed component. {serviceName=%s}", self.name)

    async def stop(self) -> None:
        self._stop_requested = True
        self.poke()
        if self.state in (State.NEW, State.ERRORED):
            # An Install (NEW) or a Recover (ERRORED) in progress is ended, not waited out (120 s and 60 s by default).
            await asyncio.gather(*(process.kill() for process in list(self._processes)), return_exceptions=True)
        if self._task is not None:
            await asyncio.shield(self._task)

    def report_state(self, reported: State) -> bool:
        """A state the component reports over IPC; False when the nucleus would ignore it."""
        if reported not in REPORTABLE.get(self.state, ()):
            log.warning("Invalid reported state %s from %s in state %s", reported.value, self.name, self.state.value)
            return False
        self._reported = reported
        self.poke()
        return True

    # -- the state machine ---------------------------------------------------------

    def _set(self, state: State, reason: str = "") -> None:
        old, self.state = self.state, state
        if state is not State.ERRORED:
            self._errors.record_success(old)
        if reason:
            self.status_reason = reason
        if old is not state:
            log.info("service-set-state. {serviceName=%s, currentState=%s, newState=%s}", self.name, old.value, state.value)
            self._on_state(self, old, state)

    async def _main(self) -> None:
        try:
            await self._lifecycle()
        except Exception:
            log.exception("lifecycle of %s failed", self.name)
            self._set(State.BROKEN, "the emulator failed to run the lifecycle")
        finally:
            await self._kill_all()

    async def _lifecycle(self) -> None:
        while not self._stop_requested:
            if self.state in (State.NEW,):
                ok, reason = await self._install()
                if self._stop_requested:
                    break
                if ok:
                    self._set(State.INSTALLED)
                elif await self._errored(State.NEW, reason):
                    return
                else:
                    self._set(State.NEW)  # install is retried
                continue
            if self.state in (State.INSTALLED, State.FINISHED):
                if self.state is State.FINISHED and not self._restart_requested:
                    await self._wait(lambda: self._restart_requested)
                    continue
                self._restart_requested = False
                await self._wait(lambda: self._dependencies_ready() or self._finish_requested)
                if self._stop_requested:
                    break
                if self._finish_requested:  # StopComponent before it started
                    self._finish_requested = False
                    self._set(State.FINISHED)
                    continue
                self._set(State.STARTING)
                outcome, reason = await self._start_and_supervise()
                if outcome is State.ERRORED:
                    if await self._errored(State.RUNNING if self._was_running else State.STARTING, reason):
                        return
                    await self._shutdown()
                    self._set(State.INSTALLED)
                elif outcome is State.FINISHED:
                    await self._shutdown()
                    self._set(State.FINISHED)
                elif outcome is State.INSTALLED:  # restart requested while running
                    await self._shutdown()
                    self._set(State.INSTALLED)
                continue
            return
        if self.state in (State.STARTING, State.RUNNING):
            await self._shutdown()
        if self.state is not State.BROKEN:
            self._set(State.FINISHED)

    async def _wait(self, condition: Callable[[], bool]) -> None:
        while not condition() and not self._stop_requested:
            self._wake.clear()
            await self._wake.wait()

    async def _errored(self, state: State, reason: str) -> bool:
        """Record an error in `state`; True when the component is now BROKEN."""
        broken = self._errors.record_error(state, time.monotonic())
        self.state = state  # the error belongs to the state it happened in
        if broken:
            if state in (State.STARTING, State.RUNNING):
                await self._shutdown()
            await self._kill_all()
            self._set(State.BROKEN, reason)
            log.error("service-errored. %s is BROKEN after %d errors: %s", self.name, 3, reason)
            return True
        self._set(State.ERRORED, reason)
        log.warning("service-errored. {serviceName=%s, reason=%s}", self.name, reason)
        await self._recover()
        return False

    # -- steps -------------------------------------------------------------------

    def _step(self, name: str) -> Step | None:
        return parse_step(self.spec.lifecycle, name)

    def _script_name(self, step: Step) -> str:
        return f"services.{self.name}.lifecycle.{step.name.capitalize()}"

    def _skipped(self, step: Step) -> bool:
        return step.skipif is not None and should_skip(step.skipif, self.spec.environment.get("PATH"))

    async def _install(self) -> tuple[bool, str]:
        try:
            step = self._step("install")
            if step is None or self._skipped(step):
                return True, ""
        except StepError as exc:
            return False, f"Install step is not valid: {exc}"
        code = await self._run_foreground(step)
        if code is None:
            return False, "Timeout in install"
        return code == 0, f"Script errored in install. The install script exited with code {code}."

    async def _run_foreground(self, step: Step) -> int | None:
        """Exit code of a step run to completion, or None when it timed out."""
        process = await StepProcess.start(step, self.spec, self._log, self._script_name(step), lambda: self.state)
        self._processes.append(process)
        try:
            if step.timeout is None:
                return await process.wait()
            try:
                return await asyncio.wait_for(asyncio.shield(process.wait()), step.timeout)
            except asyncio.TimeoutError:
                return None
        finally:
            await process.kill()
            self._processes.remove(process)

    _was_running = False

    async def _start_and_supervise(self) -> tuple[State, str]:
        """Run Startup or Run until the component finishes, errors or must restart."""
        self._was_running = False
        self._reported = None
        try:
            startup = self._step("startup")
            if startup is not None and self._skipped(startup):
                startup = None
            run = None if startup is not None else self._step("run")
            if run is not None and self._skipped(run):
                run = None
        except StepError as exc:
            return State.ERRORED, f"Lifecycle step is not valid: {exc}"
        step = startup or run
        if step is None:
            self._set(State.RUNNING)
            self._was_running = True
            return State.FINISHED, "Nothing done"
        process = await StepProcess.start(step, self.spec, self._log, self._script_name(step), lambda: self.state)
        self._processes.append(process)
        exit_code: asyncio.Task[int] = asyncio.ensure_future(process.wait())
        exit_code.add_done_callback(lambda _: self.poke())
        deadline = None
        if step is startup and step.timeout is not None:
            deadline = time.monotonic() + step.timeout
        elif step is run:
            self._set(State.RUNNING)
            self._was_running = True
            if step.timeout is not None:
                deadline = time.monotonic() + step.timeout
        label = step.name
        while True:
            if self._stop_requested:
                return State.FINISHED, ""
            if self._finish_requested:
                self._finish_requested = False
                return State.FINISHED, "stop requested"
            if self._restart_requested:
                return State.INSTALLED, "restart requested"
            reported, self._reported = self._reported, None
            if reported is State.ERRORED:
                return State.ERRORED, "The component reported ERRORED."
            if reported is State.FINISHED:
                return State.FINISHED, ""
            if reported is State.RUNNING and self.state is State.STARTING:
                self._set(State.RUNNING)
                self._was_running = True
                deadline = None
            if exit_code.done():
                code = exit_code.result()
                self._log.write(
                    "INFO",
                    "",
                    f"{label.capitalize()} script exited",
                    {"exitCode": str(code), "serviceName": self.name, "currentState": self.state.value},
                    "lifecycle",
                )
                if code != 0:
                    return State.ERRORED, f"The {label} script exited with code {code}."
                if step is run:
                    return State.FINISHED, "Service finished running"
                if self.state is State.STARTING:
                    self._set(State.RUNNING)
                    self._was_running = True
                    deadline = None
                # a Startup that exited 0 leaves the component RUNNING until told otherwise
                await self._wait(lambda: self._restart_requested or self._finish_requested or self._reported is not None)
                continue
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            if timeout == 0.0:
                return State.ERRORED, "startup timeout" if step is startup else "run timeout"
            self._wake.clear()
            if self._pending_signal():
                continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _pending_signal(self) -> bool:
        return self._stop_requested or self._restart_requested or self._finish_requested or self._reported is not None

    async def _shutdown(self) -> None:
        """Run the Shutdown step (bounded by its timeout), then end every process."""
        self.resume()
        previous = self.state
        if previous in (State.STARTING, State.RUNNING, State.ERRORED):
            self._set(State.STOPPING)
        try:
            step = self._step("shutdown")
            if step is not None and not self._skipped(step) and await self._run_foreground(step) is None:
                log.warning("Timeout in shutdown of %s", self.name)
        except StepError as exc:
            log.warning("shutdown step of %s is not valid: %s", self.name, exc)
        await self._kill_all()

    async def _recover(self) -> None:
        try:
            step = self._step("recover")
            if step is not None and not self._skipped(step) and await self._run_foreground(step) is None:
                log.warning("Error recovery handler timed out after %d seconds", int(step.timeout or 0))
        except StepError as exc:
            log.warning("recover step of %s is not valid: %s", self.name, exc)

    async def _kill_all(self) -> None:
        self.resume()
        processes, self._processes = self._processes, []
        await asyncio.gather(*(p.kill() for p in processes), return_exceptions=True)
