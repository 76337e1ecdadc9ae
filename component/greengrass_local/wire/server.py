"""The asyncio shell around `rpc.ServerConnection`: sockets in, operations out.

One `IpcConnection` per client socket. It authenticates the CONNECT token,
dispatches each new stream to the registered operation handler and keeps the
`Stream` objects of streaming operations until either side ends them. All
protocol rules live in `rpc`; all Greengrass semantics live in the handlers.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from . import rpc
from .errors import IpcError, ServiceError

log = logging.getLogger("greengrass_local.ipc")

REFUSED_CLOSE_DELAY = 1.0
# A connection that has not sent an accepted CONNECT this long after it opened is closed. The
# official client sends CONNECT as soon as the socket connects; a peer that does not is not an
# IPC client and must not hold a socket and a buffer (see rpc.PRE_CONNECT_MAX_FRAME_BYTES) forever.
CONNECT_TIMEOUT_SECONDS = 5.0
Response = dict[str, Any]
Handler = Callable[["Call", dict[str, Any]], "Response | Awaitable[Response]"]


@dataclass(frozen=True)
class Operation:
    """One IPC operation: its handler and, for streaming ones, the event shape."""

    name: str
    handler: Handler
    event_shape: str | None = None

    @property
    def response_type(self) -> str:
        return f"aws.greengrass#{self.name}Response"


class Stream:
    """The server end of a streaming operation (a subscription)."""

    def __init__(self, connection: IpcConnection, stream_id: int, event_type: str) -> None:
        self._connection = connection
        self.stream_id = stream_id
        self._event_type = f"aws.greengrass#{event_type}"
        self._pending: list[bytes] | None = []  # events held until the response is out
        self._on_close: list[Callable[[], None]] = []
        self.closed = False

    def send(self, payload: bytes) -> bool:
        if self.closed:
            return False
        if self._pending is not None:
            self._pending.append(payload)
            return True
        return self._connection.send_event(self.stream_id, self._event_type, payload)

    def send_json(self, document: dict[str, Any]) -> bool:
        return self.send(json.dumps(document).encode())

    def on_close(self, callback: Callable[[], None]) -> None:
        if self.closed:
            callback()
        else:
            self._on_close.append(callback)

    def close(self) -> None:
        """End the stream from the server side (the client sees on_stream_closed)."""
        if not self.closed:
            self._connection.terminate_stream(self.stream_id)
            self._closed()

    def _activated(self) -> None:
        pending, self._pending = self._pending or [], None
        for payload in pending:
            self.send(payload)

    def _closed(self) -> None:
        if self.closed:
            return
        self.closed = True
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("stream close callback failed")


@dataclass
class Call:
    """What a handler knows about the request it serves."""

    component: str
    operation: str
    stream: Stream | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class IpcConnection(asyncio.Protocol):
    def __init__(
        self,
        authenticate: Callable[[str | None], str | None],
        operations: dict[str, Operation],
        on_lost: Callable[[IpcConnection], None] | None = None,
    ) -> None:
        self._authenticate = authenticate
        self._operations = operations
        self._on_lost = on_lost
        self._rpc = rpc.ServerConnection()
        self._streams: dict[int, Stream] = {}
        self._pending: set[asyncio.Future[None]] = set()
        self._transport: asyncio.Transport | None = None
        self._flush_scheduled = False
        self._connect_deadline: asyncio.TimerHandle | None = None
        self.component: str | None = None

    # -- asyncio.Protocol ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._connect_deadline = asyncio.get_running_loop().call_later(CONNECT_TIMEOUT_SECONDS, self._connect_timed_out)

    def data_received(self, data: bytes) -> None:
        for event in self._rpc.receive_data(data):
            self._on_event(event)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._connect_deadline is not None:
            self._connect_deadline.cancel()
        self._rpc.connection_lost()
        streams, self._streams = self._streams, {}
        for stream in streams.values():
            stream._closed()
        self._transport = None
        if self._on_lost is not None:
            self._on_lost(self)
        if self.component:
            log.debug("%s disconnected", self.component)

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _connect_timed_out(self) -> None:
        # A refused or terminated connection (CLOSED) is already being closed after its last answer.
        if self._rpc.state is rpc.ConnectionState.AWAITING_CONNECT:
            log.warning("closing IPC connection: no CONNECT within %.0f s of opening it", CONNECT_TIMEOUT_SECONDS)
            self.abort()

    # -- events from the client ------------------------------------------------

    def _on_event(self, event: rpc.Event) -> None:
        if isinstance(event, rpc.ConnectRequested):
            self.component = self._authenticate(event.auth_token)
            if self.component is None:
                self._rpc.reject()
                self._on_event(rpc.ConnectionRefused("unknown auth token"))
            else:
                self._rpc.accept()
        elif isinstance(event, rpc.ConnectionRefused):
            log.warning("IPC connection refused: %s", event.reason)
            self._flush()
            # The client hangs up itself once it reads the refusal; closing first would race it.
            asyncio.get_running_loop().call_later(REFUSED_CLOSE_DELAY, self._close_after_flush)
        elif isinstance(event, rpc.OperationRequested):
            self._start_operation(event)
        elif isinstance(event, rpc.StreamClosedByClient):
            stream = self._streams.pop(event.stream_id, None)
            if stream is not None:
                stream._closed()
        elif isinstance(event, rpc.ConnectionTerminated):
            log.warning("closing IPC connection of %s: %s", self.component or "an unauthenticated client", event.reason)
            self._close_after_flush()

    def _start_operation(self, event: rpc.OperationRequested) -> None:
        assert self.component is not None
        name = event.operation.rpartition("#")[2]
        operation = self._operations.get(name)
        if operation is None:
            self._fail(event.stream_id, ServiceError(f"Operation {event.operation} is not supported by the local nucleus emulator"))
            return
        try:
            request = json.loads(event.payload)
            if not isinstance(request, dict):
                raise ValueError("the payload is not a JSON object")
        except ValueError as exc:
            # The nucleus answers an unparsable request with a bare text error, not a modeled one.
            log.warning("%s sent a %s request that cannot be deserialized: %s", self.component, name, exc)
            self._rpc.send_unmodeled_error(event.stream_id, "text/plain", b"InternalServerError")
            return
        stream = None
        if operation.event_shape is not None:
            stream = Stream(self, event.stream_id, operation.event_shape)
            self._streams[event.stream_id] = stream
        call = Call(self.component, name, stream)
        try:
            result = operation.handler(call, request)
        except Exception as exc:
            self._finish(operation, call, event.stream_id, error=exc)
            return
        if not isinstance(result, dict) and inspect.isawaitable(result):
            task = asyncio.ensure_future(self._await_result(operation, call, event.stream_id, result))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        else:
            self._finish(operation, call, event.stream_id, response=result)

    async def _await_result(self, operation: Operation, call: Call, stream_id: int, pending: Awaitable[Response]) -> None:
        try:
            response = await pending
        except Exception as exc:
            self._finish(operation, call, stream_id, error=exc)
        else:
            self._finish(operation, call, stream_id, response=response)
        self._schedule_flush()

    def _finish(
        self, operation: Operation, call: Call, stream_id: int, *, response: Response | None = None, error: BaseException | None = None
    ) -> None:
        if error is not None:
            if not isinstance(error, IpcError):
                log.error("%s failed for %s", operation.name, call.component, exc_info=error)
                error = ServiceError(f"{operation.name} failed: {error}")
            self._fail(stream_id, error)
            return
        streaming = call.stream is not None
        payload = json.dumps(response).encode() if response else b"{}"
        sent = self._rpc.respond(stream_id, operation.response_type, payload, terminate=not streaming)
        if streaming and call.stream is not None:
            if sent:
                call.stream._activated()
            else:
                self._streams.pop(stream_id, None)
                call.stream._closed()

    def _fail(self, stream_id: int, error: IpcError) -> None:
        self._rpc.send_error(stream_id, error.model_type, error.payload())
        stream = self._streams.pop(stream_id, None)
        if stream is not None:
            stream._closed()

    # -- output ----------------------------------------------------------------

    def send_event(self, stream_id: int, model_type: str, payload: bytes) -> bool:
        if not self._rpc.send_event(stream_id, model_type, payload):
            return False
        self._schedule_flush()
        return True

    def terminate_stream(self, stream_id: int) -> None:
        self._streams.pop(stream_id, None)
        if self._rpc.terminate(stream_id):
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled and self._transport is not None:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self._rpc.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _close_after_flush(self) -> None:
        self._flush()
        if self._transport is not None:
            self._transport.close()


class IpcServer:
    """Listens on the nucleus's Unix socket and serves every connection."""

    def __init__(self, socket_path: str, authenticate: Callable[[str | None], str | None], operations: dict[str, Operation]) -> None:
        self.socket_path = socket_path
        self._authenticate = authenticate
        self._operations = operations
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[IpcConnection] = set()

    async def start(self) -> None:
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(self._new_connection, self.socket_path)
        os.chmod(self.socket_path, 0o600)

    def _new_connection(self) -> IpcConnection:
        connection = IpcConnection(self._authenticate, self._operations, on_lost=self._connections.discard)
        self._connections.add(connection)
        return connection

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for connection in list(self._connections):
                connection.abort()
            await self._server.wait_closed()
            self._server = None
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
