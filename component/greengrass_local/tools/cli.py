"""`mlfeedback`: the command line of the local tooling (SPEC §8).

Every command exits 0 on success and otherwise prints a one-line reason on
standard error and exits non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..deployment.lifecycle import State
from ..services.deployments import CANCELED, FAILED, SUCCEEDED, DeploymentRecord, DeploymentRequest
from ..services.nucleus_config import NUCLEUS

DEFAULT_ROOT = Path(".greengrass")


class CommandError(Exception):
    """A failure to report on one line of standard error."""


def parse_merge(values: list[str] | None) -> dict[str, str]:
    components: dict[str, str] = {}
    for value in values or []:
        name, sep, version = value.partition("=")
        if not sep or not name or not version:
            raise CommandError(f"--merge takes NAME=VERSION, got {value!r}")
        components[name] = version
    return components


def json_argument(value: str, name: str) -> Any:
    """An argument that is a JSON document inline or the path of a file holding one (greengrass-cli's convention)."""
    text = value
    if not value.lstrip().startswith("{"):
        try:
            text = Path(value).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"{name}: cannot read {value}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{name} is not valid JSON: {exc}") from None


def parse_update_config(value: str | None) -> dict[str, dict[str, Any]]:
    """`--update-config` as greengrass-cli takes it."""
    if not value:
        return {}
    document = json_argument(value, "--update-config")
    if not isinstance(document, dict) or not all(isinstance(v, dict) for v in document.values()):
        raise CommandError('--update-config must look like {"NAME": {"MERGE": {...}, "RESET": ["/path"]}}')
    return document


UPDATE_OPERATIONS = ("MERGE", "RESET")


def operation_warnings(update: dict[str, dict[str, Any]]) -> list[str]:
    """An `--update-config` operation other than MERGE or RESET: the nucleus passes over it without a word."""
    import difflib

    warnings = []
    for name, operations in update.items():
        for operation in operations:
            if operation in UPDATE_OPERATIONS:
                continue
            close = difflib.get_close_matches(str(operation).upper(), UPDATE_OPERATIONS, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]}?" if close else ""
            warnings.append(f"mlfeedback: warning: --update-config for {name}: {operation} is not MERGE or RESET and does nothing{hint}")
    return warnings


def component_warnings(update: dict[str, dict[str, Any]], deployed: list[str]) -> list[str]:
    """An `--update-config` entry for a component the deployment does not have: its configuration goes nowhere."""
    import difflib

    warnings = []
    for name in update:
        if name in deployed:
            continue
        close = difflib.get_close_matches(name, deployed, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else f" (deployed: {', '.join(deployed) or 'none'})"
        warnings.append(f"mlfeedback: warning: --update-config names {name}, which is not in the deployment{hint}")
    return warnings


def _warn(lines: list[str]) -> None:
    for line in lines:
        print(line, file=sys.stderr, flush=True)


def parse_broker(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise CommandError(f"--mqtt-broker takes HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


# -- local run ---------------------------------------------------------------------------------


async def run_local(args: argparse.Namespace) -> int:
    from ..nucleus import LocalNucleus, RootInUse

    update = parse_update_config(args.update_config)
    _warn(operation_warnings(update))
    request = DeploymentRequest(
        recipe_dir=Path(args.recipe_dir).resolve() if args.recipe_dir else None,
        artifact_dir=Path(args.artifact_dir).resolve() if args.artifact_dir else None,
        add=parse_merge(args.merge),
        configuration=update,
    )
    from ..services.secrets import SecretsError, load_secrets_file

    try:
        nucleus = LocalNucleus(
            Path(args.root),
            mqtt_broker=parse_broker(args.mqtt_broker),
            thing_name=args.thing_name,
            region=args.region or None,
            secrets=load_secrets_file(Path(args.secrets)) if args.secrets else None,
        )
    except SecretsError as error:
        raise CommandError(f"--secrets: {error}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    finished: asyncio.Future[int] = loop.create_future()
    if args.until_finished:
        watch_until_finished(nucleus, args.until_finished, finished)
    nucleus.deployments.listeners.append(lambda record: report_deployment(record, nucleus.logs_dir, nucleus.store.versions))
    try:
        await nucleus.start()
    except RootInUse as busy:
        raise CommandError(str(busy)) from None
    code = 0
    try:
        record = nucleus.deployments.submit(request)
        print(f"Local deployment submitted! Deployment Id: {record.deployment_id}", flush=True)
        await _wait_any(record.done.wait(), stop.wait(), finished)
        if finished.done() and not record.done.is_set():
            await _wait_any(record.done.wait(), stop.wait(), asyncio.sleep(10))
        if record.done.is_set():
            _warn(component_warnings(update, sorted([*nucleus.components, NUCLEUS])))
        if record.status == FAILED:
            code = 1
        elif args.until_finished and record.done.is_set() and args.until_finished not in nucleus.components:
            print(f"mlfeedback: {unknown_component(args.until_finished, sorted(nucleus.components), '--until-finished')}", file=sys.stderr)
            code = 2
        elif not finished.done() and not stop.is_set():
            _print_states(nucleus)
            print(f"IPC socket: {nucleus.socket_path}  logs: {nucleus.logs_dir}", flush=True)
            await _wait_any(stop.wait(), finished)
        if finished.done():
            code = finished.result()
            if code:
                print(
                    f"mlfeedback: {args.until_finished} did not finish successfully (see {nucleus.logs_dir / (args.until_finished + '.log')})",
                    file=sys.stderr,
                )
    finally:
        await nucleus.stop()
    return code


def report_deployment(record: DeploymentRecord, logs_dir: Path, versions: Callable[[str], list[str]]) -> None:
    """One line per finished deployment, the first and every later one (greengrass-cli or IPC made)."""
    print(f"{record.deployment_id}: {record.status}", flush=True)
    if record.status == FAILED:
        print_failure(record.failure_cause, logs_dir, versions)


def print_failure(cause: str, logs_dir: Path, versions: Callable[[str], list[str]]) -> None:
    from .explain import failure_lines

    print(f"mlfeedback: deployment failed: {cause}", file=sys.stderr)
    for line in failure_lines(cause, logs_dir, versions):
        print(f"mlfeedback: {line}", file=sys.stderr)
    sys.stderr.flush()


def unknown_component(name: str, deployed: list[str], option: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, deployed, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else f"it has {', '.join(deployed) or 'none'}"
    return f"{option} {name}: the deployment has no such component; {hint}"


def watch_until_finished(nucleus: Any, name: str, finished: asyncio.Future[int]) -> None:
    """Resolve `finished` with 0 when NAME's Run ends FINISHED, 1 when it errors or breaks."""

    def listener(component: str, old: State, new: State) -> None:
        if component != name or finished.done():
            return
        if new is State.FINISHED and old is State.STOPPING:
            finished.set_result(0)
        elif new in (State.ERRORED, State.BROKEN):
            finished.set_result(1)

    nucleus.state_listeners.append(listener)


async def _wait_any(*awaitables: Any) -> None:
    """Wait until one finishes; the caller then looks at what happened."""
    futures = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future, original in zip(futures, awaitables, strict=False):
            if future is not original:
                future.cancel()


def _print_states(nucleus: Any) -> None:
    for name, deployed in sorted(nucleus.components.items()):
        print(f"  {name} {deployed.version}: {deployed.runner.state.value}", flush=True)


# -- local deploy ------------------------------------------------------------------------------


def deploy_local(args: argparse.Namespace) -> int:
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

    update = parse_update_config(args.update_config)
    _warn(operation_warnings(update))
    root = Path(args.root)
    client = GreengrassCoreIPCClientV2(client=connect_cli(root), executor=None)
    try:
        response = client.create_local_deployment(
            recipe_directory_path=str(Path(args.recipe_dir).resolve()) if args.recipe_dir else None,
            artifacts_directory_path=str(Path(args.artifact_dir).resolve()) if args.artifact_dir else None,
            root_component_versions_to_add=parse_merge(args.merge) or None,
            root_components_to_remove=args.remove or None,
            component_to_configuration=update or None,
        )
        deployment_id = response.deployment_id
        print(f"Local deployment submitted! Deployment Id: {deployment_id}", flush=True)
        deadline = time.monotonic() + args.timeout
        while True:
            deployment = client.get_local_deployment_status(deployment_id=deployment_id).deployment
            if deployment.status in (SUCCEEDED, FAILED, CANCELED):
                break
            if time.monotonic() > deadline:
                raise CommandError(f"deployment {deployment_id} still {deployment.status} after {args.timeout:.0f} s")
            time.sleep(0.2)
        print(f"{deployment_id}: {deployment.status}", flush=True)
        if deployment.status == FAILED:
            cause = deployment.deployment_status_details.deployment_failure_cause if deployment.deployment_status_details else ""
            print_failure(cause or "", root / "logs", lambda name: _stored_versions(root, name))
            return 2
        if deployment.status == CANCELED:
            raise CommandError(f"deployment {deployment_id} was cancelled")
        deployed = sorted([NUCLEUS, *(component.component_name for component in client.list_components().components or [])])
        _warn(component_warnings(update, deployed))
        if args.until_finished:
            return wait_until_finished(client, args.until_finished, deadline, root / "logs")
        return 0
    finally:
        client.close()


def wait_until_finished(client: Any, name: str, deadline: float, logs_dir: Path) -> int:
    """0 once NAME's Run has FINISHED, 1 if it ERRORED or BROKE: `local run --until-finished` for a running nucleus."""
    while True:
        states = {component.component_name: component.state for component in client.list_components().components or []}
        if name not in states:
            raise CommandError(unknown_component(name, sorted(states), "--until-finished"))
        if states[name] == State.FINISHED.value:
            return 0
        if states[name] in (State.ERRORED.value, State.BROKEN.value):
            print(f"mlfeedback: {name} did not finish successfully (see {logs_dir / (name + '.log')})", file=sys.stderr)
            return 1
        if time.monotonic() > deadline:
            raise CommandError(f"{name} still {states[name]} after --timeout")
        time.sleep(0.2)


def connect_cli(root: Path) -> Any:
    """An IPC connection as greengrass-cli makes one: the token and socket the running nucleus left in ROOT."""
    from awsiot.greengrasscoreipc import connect

    info_path = root / "cli_ipc_info" / "shared_config"
    start = f"start one with `mlfeedback local run --root {root} ...`"
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise CommandError(f"no local nucleus is running on {root} (missing {info_path}); {start}") from None
    socket_path = str(info.get("socket_path"))
    try:
        return connect(ipc_socket=socket_path, authtoken=info.get("cli_auth_token"))
    except Exception as exc:
        if not Path(socket_path).exists() or "ECONNREFUSED" in str(exc) or "CONNECTION_REFUSED" in str(exc):
            raise CommandError(f"no local nucleus is running on {root}: the one that left {socket_path} has stopped; {start}") from None
        raise CommandError(f"cannot connect to the local nucleus at {socket_path}: {exc}") from None


def _stored_versions(root: Path, name: str) -> list[str]:
    from ..deployment.store import ComponentStore

    return ComponentStore(root / "packages").versions(name)


# -- greengrass-cli's everyday commands ----------------------------------------------------------


def _client(root: Path) -> Any:
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

    return GreengrassCoreIPCClientV2(client=connect_cli(root), executor=None)


def _ipc_call(root: Path, call: Callable[[Any], Any]) -> Any:
    """One request to the running emulator; a modeled error becomes one line, as greengrass-cli prints it."""
    from awsiot.greengrasscoreipc.model import GreengrassCoreIPCError

    client = _client(root)
    try:
        return call(client)
    except GreengrassCoreIPCError as error:
        raise CommandError(f"{type(error).__name__}: {getattr(error, 'message', None) or error}") from None
    finally:
        client.close()


def _print_component(component: Any) -> None:
    print(f"Component Name: {component.component_name}")
    print(f"    Version: {component.version}")
    print(f"    State: {component.state}")
    print(f"    Configuration: {json.dumps(component.configuration, separators=(',', ':'))}")


def component_list_command(args: argparse.Namespace) -> int:
    components = _ipc_call(Path(args.root), lambda client: client.list_components().components or [])
    print("Components currently running in Greengrass:")
    for component in components:
        _print_component(component)
    return 0


def component_details_command(args: argparse.Namespace) -> int:
    _print_component(_ipc_call(Path(args.root), lambda client: client.get_component_details(component_name=args.name).component_details))
    return 0


def _names(value: str) -> list[str]:
    """greengrass-cli's --names: separated with commas (or &), spaces around them ignored."""
    return [name for name in re.split(r" *[&,]+ *", value.strip()) if name]


def component_restart_command(args: argparse.Namespace) -> int:
    for name in _names(args.names):
        _ipc_call(Path(args.root), lambda client, name=name: client.restart_component(component_name=name))
    return 0


def component_stop_command(args: argparse.Namespace) -> int:
    for name in _names(args.names):
        _ipc_call(Path(args.root), lambda client, name=name: client.stop_component(component_name=name))
    return 0


def deployment_list_command(args: argparse.Namespace) -> int:
    deployments = _ipc_call(Path(args.root), lambda client: client.list_local_deployments().local_deployments or [])
    print("\n".join(f"Deployment ID: {d.deployment_id}\nCreated on: {d.created_on}\nStatus: {d.status}\n" for d in deployments), end="")
    return 0


def deployment_status_command(args: argparse.Namespace) -> int:
    deployment = _ipc_call(Path(args.root), lambda client: client.get_local_deployment_status(deployment_id=args.deploymentId).deployment)
    print(f"{deployment.deployment_id}: {deployment.status}")
    print(f"Created on: {deployment.created_on}")
    details = deployment.deployment_status_details
    if deployment.status == FAILED and details is not None:
        if details.detailed_deployment_status:
            print(f"Detailed Status: {details.detailed_deployment_status}")
        if details.deployment_error_stack:
            print(f"Deployment Error Stack: {', '.join(details.deployment_error_stack)}")
        if details.deployment_error_types:
            print(f"Deployment Error Types: {', '.join(details.deployment_error_types)}")
        if details.deployment_failure_cause and details.deployment_failure_cause.strip():
            print(f"Deployment Failure Cause: {details.deployment_failure_cause}")
    return 0


def deployment_cancel_command(args: argparse.Namespace) -> int:
    response = _ipc_call(Path(args.root), lambda client: client.cancel_local_deployment(deployment_id=args.deploymentId))
    print(response.message)
    return 0


def logs_command(args: argparse.Namespace) -> int:
    """A component's log (or the emulator's own, `greengrass`), read from ROOT/logs; --follow keeps printing new lines."""
    logs_dir = Path(args.root) / "logs"
    path = logs_dir / f"{args.name}.log"
    if not path.is_file():
        known = sorted(p.stem for p in logs_dir.glob("*.log")) if logs_dir.is_dir() else []
        raise CommandError(f"no log {path}; the logs on {args.root}: {', '.join(known) or 'none'}")
    with path.open(encoding="utf-8", errors="replace") as log:
        lines = log.readlines()
        sys.stdout.writelines(lines[-args.lines :] if args.lines else lines)
        sys.stdout.flush()
        while args.follow:
            line = log.readline()
            if line:
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                time.sleep(0.2)
    return 0


# -- pack ------------------------------------------------------------------------------------------


def pack_command(args: argparse.Namespace) -> int:
    from .packaging import PackError, pack

    try:
        target = pack(Path(args.project), Path(args.artifact_dir))
    except PackError as exc:
        raise CommandError(str(exc)) from None
    import zipfile

    with zipfile.ZipFile(target) as archive:
        entries = archive.infolist()
    unpacked = sum(entry.file_size for entry in entries)
    print(target)
    print(f"{len(entries)} files, {unpacked / 1000:.0f} KB unpacked, {target.stat().st_size / 1000:.0f} KB zipped", file=sys.stderr)
    return 0


# -- recipe check ----------------------------------------------------------------------------------


def config_check_command(args: argparse.Namespace) -> int:
    """The component's configuration checked offline, by the rules a deployment meets (its validation step)."""
    from ml_feedback.config import ConfigError, parse_config

    from .convert import COMPONENT

    document = json_argument(args.document, "FILE_OR_JSON")
    if not isinstance(document, dict):
        raise CommandError("the configuration must be a JSON object")
    configuration: Any = document
    if any("." in str(key) for key in document):  # component names are dotted, configuration keys never: --update-config
        update = {name: value for name, value in document.items() if isinstance(value, dict)}
        _warn(operation_warnings(update) + component_warnings(update, [COMPONENT]))
        if not isinstance(document.get(COMPONENT), dict):
            raise CommandError(f"nothing to check: the document configures no {COMPONENT}")
        configuration = document[COMPONENT].get("MERGE", {})
        if not isinstance(configuration, dict):
            raise CommandError(f"{COMPONENT}.MERGE must be a JSON object")
    try:
        config = parse_config(configuration)
    except ConfigError as error:
        for problem in error.problems:
            print(f"mlfeedback: invalid configuration: {problem}", file=sys.stderr)
        return 1
    print(
        f"valid: {len(config.feedback)} feedback configuration(s), RequestLimit {config.request_limit}, "
        f"{len(config.inference_services)} inference service(s)"
    )
    return 0


def recipe_check_command(args: argparse.Namespace) -> int:
    try:
        from .recipecheck import check_file, recipe_files
    except ImportError as exc:
        raise CommandError(f"recipe check needs the local extra (pip install -e '.[local]'): {exc}") from None
    paths = [Path(p) for p in (args.paths or ["recipes"])]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise CommandError(f"no such file or folder: {', '.join(missing)}")
    files = recipe_files(paths)
    problems = [problem for path in files for problem in check_file(path)]
    for problem in problems:
        print(problem)
    if problems:
        print(f"mlfeedback: {len(problems)} problem(s) in {len({p.file for p in problems})} of {len(files)} recipe(s)", file=sys.stderr)
        return 1
    print(f"{len(files)} recipe(s) OK")
    return 0


# -- convert-v1 --------------------------------------------------------------------------------------


def convert_command(args: argparse.Namespace) -> int:
    from .convert import ConversionError, convert

    try:
        document = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}") from None
    except ValueError as exc:
        raise CommandError(f"{args.file} is not valid JSON: {exc}") from None
    try:
        conversion = convert(document)
    except ConversionError as exc:
        raise CommandError(str(exc)) from None
    for line in conversion.skipped:
        print(f"mlfeedback: {line}", file=sys.stderr)
    output = conversion.deployment_components() if args.deployment else conversion.update_config()
    text = json.dumps(output, indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


# -- demo ------------------------------------------------------------------------------------------


def demo_command(args: argparse.Namespace) -> int:
    from .demo.run import DemoError, run_demo

    try:
        return asyncio.run(run_demo(Path(args.keep) if args.keep else None))
    except DemoError as exc:
        raise CommandError(str(exc)) from None


# -- entry point ---------------------------------------------------------------------------------


EXAMPLES = {
    "local run": [
        "mlfeedback local run --recipe-dir recipes --artifact-dir artifacts --merge community.greengrass.MLFeedback=1.0.0 \\\n"
        "  --update-config examples/feedback-client/v1-connector-parameters.json",
        "mlfeedback local run --recipe-dir examples/hello-ipc/recipes --artifact-dir examples/hello-ipc/artifacts \\\n"
        "  --merge com.example.HelloPublisher=1.0.0 --until-finished com.example.HelloPublisher",
    ],
    "local deploy": [
        'mlfeedback local deploy --update-config \'{"community.greengrass.MLFeedback": {"MERGE": {"RequestLimit": "10"}}}\'',
        "mlfeedback local deploy --recipe-dir examples/feedback-client/recipes --artifact-dir examples/feedback-client/artifacts \\\n"
        "  --merge com.example.FeedbackClient=1.0.0",
        "mlfeedback local deploy --remove com.example.FeedbackClient",
    ],
    "local component list": ["mlfeedback local component list", "mlfeedback local component list --root /tmp/gg"],
    "local component details": ["mlfeedback local component details --name community.greengrass.MLFeedback"],
    "local component restart": ["mlfeedback local component restart --names community.greengrass.MLFeedback,com.example.FeedbackClient"],
    "local component stop": ["mlfeedback local component stop --names com.example.FeedbackClient"],
    "local deployment list": ["mlfeedback local deployment list"],
    "local deployment status": ["mlfeedback local deployment status --deploymentId 4f9cbf66-6e1c-4b4d-9a73-7c1f2e5c8d21"],
    "local deployment cancel": ["mlfeedback local deployment cancel --deploymentId 4f9cbf66-6e1c-4b4d-9a73-7c1f2e5c8d21"],
    "local logs": [
        "mlfeedback local logs community.greengrass.MLFeedback",
        "mlfeedback local logs greengrass --lines 50 --follow",
    ],
    "pack": ["mlfeedback pack", "mlfeedback pack --project ../my-fork --artifact-dir /tmp/artifacts"],
    "recipe check": ["mlfeedback recipe check", "mlfeedback recipe check recipes/community.greengrass.MLFeedback-1.0.0.yaml my-recipes/"],
    "config check": ["mlfeedback config check my-config.json", 'mlfeedback config check \'{"RequestLimit": "5"}\''],
    "convert-v1": ["mlfeedback convert-v1 def.json -o my-config.json", "mlfeedback convert-v1 --deployment def.json -o components.json"],
    "demo": ["mlfeedback demo", "mlfeedback demo --keep /tmp/demo-root"],
}


def _command(commands: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with examples to copy."""
    path = name.split()[-1]
    epilog = "examples:\n" + "\n".join("  " + example.replace("\n", "\n  ") for example in EXAMPLES[name])
    return commands.add_parser(
        path, help=help_text, description=help_text, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def _group(commands: Any, name: str, help_text: str, dest: str) -> Any:
    """A command that only holds subcommands: alone, it prints them."""
    group = commands.add_parser(name, help=help_text, description=help_text)
    group.set_defaults(handler=lambda args: _print_help(group))
    return group.add_subparsers(dest=dest, metavar="COMMAND", title="commands")


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def _client_commands(local: Any) -> None:
    """greengrass-cli's everyday commands, with its option names, against the emulator running on --root."""
    root_help = "root of the running `mlfeedback local run` (default %(default)s)"
    component = _group(local, "component", "the components of a running emulator (greengrass-cli component)", "component_command")
    listing = _command(component, "local component list", "every deployed component: version, state, configuration")
    listing.set_defaults(handler=component_list_command)
    details = _command(component, "local component details", "one component's version, state and configuration")
    details.add_argument("-n", "--name", required=True, help="the component's name")
    details.set_defaults(handler=component_details_command)
    restart = _command(component, "local component restart", "restart components (Shutdown, then Install, Startup, Run)")
    restart.add_argument("-n", "--names", required=True, help="the components' names, separated with commas")
    restart.set_defaults(handler=component_restart_command)
    stop = _command(component, "local component stop", "stop components (Shutdown, then FINISHED until restarted)")
    stop.add_argument("-n", "--names", required=True, help="the components' names, separated with commas")
    stop.set_defaults(handler=component_stop_command)
    deployment = _group(local, "deployment", "the deployments of a running emulator (greengrass-cli deployment)", "deployment_command")
    dlist = _command(deployment, "local deployment list", "every local deployment: id, creation time, status")
    dlist.set_defaults(handler=deployment_list_command)
    status = _command(deployment, "local deployment status", "one deployment's status, and why it failed")
    status.add_argument("-i", "--deploymentId", required=True, help="the deployment's id (local deploy prints it)")
    status.set_defaults(handler=deployment_status_command)
    cancel = _command(deployment, "local deployment cancel", "cancel a queued or running deployment")
    cancel.add_argument("-i", "--deploymentId", required=True, help="the deployment's id (local deploy prints it)")
    cancel.set_defaults(handler=deployment_cancel_command)
    logs = _command(local, "local logs", "a component's log from ROOT/logs (greengrass: the emulator's own)")
    logs.add_argument("name", metavar="NAME", help="a component's name, or greengrass")
    logs.add_argument("--lines", type=int, default=0, metavar="N", help="only the last N lines (default: all)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing lines as they are written, until Ctrl-C")
    logs.set_defaults(handler=logs_command)
    for command in (listing, details, restart, stop, dlist, status, cancel, logs):
        command.add_argument("--root", default=str(DEFAULT_ROOT), help=root_help)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlfeedback",
        description="Greengrass v2 ML Feedback component and local Greengrass tooling. `mlfeedback COMMAND --help` for more.",
    )
    parser.set_defaults(handler=lambda args: _print_help(parser))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    local = _group(commands, "local", "a local Greengrass nucleus emulator: run and deploy components with real IPC", "local_command")
    run = _command(local, "local run", "deploy components like greengrass-cli and run them with real IPC, until SIGTERM or Ctrl-C")
    run.add_argument("--recipe-dir", required=True, help="folder of recipes (read recursively, keyed by their own name and version)")
    run.add_argument("--artifact-dir", help="folder laid out as NAME/VERSION/<artifact files>")
    run.add_argument("--merge", action="append", metavar="NAME=VERSION", required=True, help="root component to deploy (repeatable)")
    run.add_argument(
        "--update-config", metavar="FILE_OR_JSON", help='configuration changes: {"NAME": {"MERGE": {...}, "RESET": ["/pointer"]}}'
    )
    run.add_argument("--root", default=str(DEFAULT_ROOT), help="nucleus root: ipc.socket, logs/, work/, packages/ (default %(default)s)")
    run.add_argument("--mqtt-broker", metavar="HOST:PORT", help="bridge IoT Core to this MQTT broker instead of the in-process loopback")
    run.add_argument("--until-finished", metavar="NAME", help="exit when this component's Run ends: 0 if it FINISHED, 1 otherwise")
    run.add_argument(
        "--thing-name",
        default="local-greengrass-core",
        help="the device's thing name: {iot:thingName}, AWS_IOT_THING_NAME (default %(default)s)",
    )
    run.add_argument(
        "--secrets",
        metavar="FILE",
        help='what aws.greengrass.SecretManager serves: {"ARN or name": {"SecretString": "..."} or {"SecretBinary": "<base64>"}}',
    )
    run.add_argument("--region", help="the Nucleus's awsRegion and the components' AWS_REGION (default: $AWS_REGION, then us-east-1)")
    run.set_defaults(handler=lambda args: asyncio.run(run_local(args)))

    deploy = _command(local, "local deploy", "a further deployment into the emulator running on --root (greengrass-cli deployment create)")
    deploy.add_argument("--root", default=str(DEFAULT_ROOT), help="root of the running `mlfeedback local run` (default %(default)s)")
    deploy.add_argument("--recipe-dir", help="folder of recipes to add to the component store")
    deploy.add_argument("--artifact-dir", help="folder laid out as NAME/VERSION/<artifact files>, added to the component store")
    deploy.add_argument("--merge", action="append", metavar="NAME=VERSION", help="root component to add or update (repeatable)")
    deploy.add_argument("--remove", action="append", metavar="NAME", help="root component to remove (repeatable)")
    deploy.add_argument(
        "--update-config", metavar="FILE_OR_JSON", help='configuration changes: {"NAME": {"MERGE": {...}, "RESET": ["/pointer"]}}'
    )
    deploy.add_argument(
        "--until-finished", metavar="NAME", help="then wait until this component's Run ends: exit 0 if it FINISHED, 1 otherwise"
    )
    deploy.add_argument(
        "--timeout", type=float, metavar="SECONDS", default=300.0, help="seconds to wait for all of it (default %(default)s)"
    )
    deploy.set_defaults(handler=deploy_local)

    _client_commands(local)

    packer = _command(commands, "pack", "build the component artifact as `gdk component build` does, into ARTIFACT_DIR/NAME/VERSION/")
    packer.add_argument("--project", default=".", help="project folder holding gdk-config.json (default: the current folder)")
    packer.add_argument("--artifact-dir", default="artifacts", help="where to write NAME/VERSION/NAME.zip (default %(default)s)")
    packer.set_defaults(handler=pack_command)

    recipe = _group(commands, "recipe", "component recipe tools", "recipe_command")
    check = _command(recipe, "recipe check", "GDK's recipe schema, lifecycle steps, accessControl, this component's configuration")
    check.add_argument("paths", nargs="*", metavar="PATH", help="recipe files or folders (default: recipes)")
    check.set_defaults(handler=recipe_check_command)

    configuration = _group(commands, "config", "this component's configuration", "config_command")
    config_check = _command(configuration, "config check", "check a configuration offline, by the rules a deployment applies")
    config_check.add_argument(
        "document",
        metavar="FILE_OR_JSON",
        help='the component\'s configuration, or an --update-config document ({"community.greengrass.MLFeedback": {"MERGE": {...}}})',
    )
    config_check.set_defaults(handler=config_check_command)

    converter = _command(commands, "convert-v1", "a v1 connector definition -> configuration for community.greengrass.MLFeedback")
    converter.add_argument(
        "file",
        help="JSON of the connector definition (create-connector-definition's --initial-version, or get-connector-definition-version's output)",
    )
    converter.add_argument("-o", "--output", metavar="FILE", help="write the result here instead of standard output")
    converter.add_argument(
        "--deployment",
        action="store_true",
        help="print the `components` of `aws greengrassv2 create-deployment` instead of --update-config JSON",
    )
    converter.set_defaults(handler=convert_command)

    demo = _command(commands, "demo", "the feedback loop end to end on this machine: emulator, component, client, local S3")
    demo.add_argument("--keep", metavar="ROOT", help="keep the nucleus root (logs, work folders) here instead of a temporary folder")
    demo.set_defaults(handler=demo_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except CommandError as exc:
        print(f"mlfeedback: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
