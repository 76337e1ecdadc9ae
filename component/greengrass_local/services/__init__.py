"""The nucleus's services: one module per IPC service, each with its operations.

`pubsub`, `iotcore`, `configuration`, `deployments`, `components`, `updates`,
`secrets` and `shadows` serve the IPC operations; `standins` plays the
AWS-provided components recipes depend on; `nucleus_config` is the nucleus as a
component (its configuration, its recipe, effectiveConfig.yaml). Services that
manage components are written against `host.Host`, what they need from the
nucleus, so none imports the nucleus that wires them.

May import `wire`, `deployment`, `authorization` and `topics`; never
`nucleus.py` or `tools/`.
"""
