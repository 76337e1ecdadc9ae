"""The wire: IPC bytes in, operations out, and back.

`eventstream` is the frame codec, `rpc` the event-stream RPC state machine
(frames in, events out, no sockets), `server` the asyncio shell that owns the
sockets and dispatches operations to handlers. `errors` are the modeled IPC
errors a handler raises and the server serializes; `gson` reads JSON numbers
as the nucleus does.

Imports nothing of greengrass_local outside `wire`: no service, no deployment.
"""
