"""The local Greengrass nucleus emulator and the `mlfeedback` tooling, in layers.

From the bottom up; a layer imports only the layers below it:

- `wire/`: bytes to IPC operations and back (event-stream codec, RPC state
  machine, socket shell, modeled errors). Imports nothing else of the package.
- `deployment/`: what a component is on disk and how it runs (recipes, the
  component store, lifecycle rules, the lifecycle runner, log files). Imports
  nothing else of the package.
- `authorization.py`, `topics.py`: the nucleus's rules for `accessControl`
  policies and topic filters. Pure; they import only `wire`.
- `services/`: the nucleus's services, one module per IPC service, written
  against `services/host.py` (what they need from the nucleus). Import
  `wire`, `deployment` and the rules, never `nucleus.py` or `tools/`.
- `nucleus.py`: `LocalNucleus`, which wires the services to the socket and runs
  the deployed components.
- `tools/`: the `mlfeedback` command line and what only it uses (recipe check,
  v1 converter, pack, the demo). May import anything; nothing here imports it.
"""
