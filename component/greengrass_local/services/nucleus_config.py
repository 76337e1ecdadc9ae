"""`aws.greengrass.Nucleus` as a component: its configuration, its recipe and ROOT/config/effectiveConfig.yaml.

On a device the nucleus is a component like the others (DeviceConfiguration.java):

- its configuration holds the device settings a deployment may change:
  `awsRegion`, `iotDataEndpoint`, `iotCredEndpoint`, `iotRoleAlias`,
  `interpolateComponentConfiguration` (false unless set), `mqtt`,
  `networkProxy`, `runWithDefault`, ...; any component may read it with
  GetConfiguration(componentName="aws.greengrass.Nucleus");
- the thing name is not part of it: it lives under `system` (with the
  certificate paths and the root path), which no deployment changes and no
  IPC operation reads. Components get it from AWS_IOT_THING_NAME or the
  `{iot:thingName}` recipe variable;
- a local deployment changes the nucleus's configuration only when
  `aws.greengrass.Nucleus` is one of its root components, like any component's
  (`--merge aws.greengrass.Nucleus=VERSION --update-config ...`), at the
  version that runs: the emulator is that version and cannot be replaced.

With `interpolateComponentConfiguration` on, every string in every deployed
component's configuration has its system variables filled (`{iot:thingName}`,
`{kernel:rootPath}`, `{artifacts:path}`, `{work:path}`, ... but not
`{configuration:...}`) before the lifecycle is interpolated
(KernelConfigResolver.java). That is how `{iot:thingName}` in an
`accessControl` resource comes to match: policies are configuration.

effectiveConfig.yaml is the nucleus's configuration dump (Kernel.writeConfig):
`system` and `services`, maps sorted case-insensitively, `_` keys left out,
strings double-quoted, as Jackson's YAML writer prints them.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..deployment.configtree import find_key
from ..deployment.recipes import Manifest, Recipe
from .standins import STANDIN_COMPONENTS

if TYPE_CHECKING:
    from .host import Host

NUCLEUS = "aws.greengrass.Nucleus"
NUCLEUS_VERSION = "2.14.0"
INTERPOLATE = "interpolateComponentConfiguration"
EFFECTIVE_CONFIG = Path("config") / "effectiveConfig.yaml"
MAIN = "main"

# DefaultConfiguration of the nucleus's own recipe (conf/recipe.yaml).
RECIPE_DEFAULTS: dict[str, Any] = {
    "iotDataEndpoint": "",
    "iotCredEndpoint": "",
    "greengrassDataPlanePort": 8443,
    "awsRegion": "",
    "iotRoleAlias": "",
    "mqtt": {},
    "networkProxy": {},
    "runWithDefault": {},
    "deploymentPollingFrequencySeconds": 15,
    "componentStoreMaxSizeBytes": 10000000000,
    "platformOverride": {},
}

# What DeviceConfiguration adds when the key is missing (its `dflt` calls).
DEVICE_DEFAULTS: dict[str, Any] = {
    INTERPOLATE: False,
    "envStage": "prod",
    "fipsMode": "false",
    "greengrassDataPlaneEndpoint": "",
    "logging": {},
}


def nucleus_recipe() -> Recipe:
    """The running nucleus as the component store knows it: no artifacts, nothing for the emulator to run."""
    return Recipe(
        name=NUCLEUS,
        version=NUCLEUS_VERSION,
        default_configuration=dict(RECIPE_DEFAULTS),
        manifests=(Manifest(platform={}, lifecycle={}),),
        description="The local nucleus (greengrass_local)",
        publisher="AWS",
    )


def with_device_defaults(configuration: dict[str, Any], region: str) -> dict[str, Any]:
    """The nucleus's configuration with what the device fills in itself.

    An empty or missing `awsRegion` becomes the region the nucleus runs in, as
    the nucleus's region validator does.
    """
    result = dict(configuration)
    for key, value in DEVICE_DEFAULTS.items():
        if find_key(result, key) is None:
            result[key] = value
    region_key = find_key(result, "awsRegion") or "awsRegion"
    if not isinstance(result.get(region_key), str) or not result.get(region_key):
        result[region_key] = region
    return result


def initial_configuration(region: str) -> dict[str, Any]:
    return with_device_defaults(dict(RECIPE_DEFAULTS), region)


def coerce_boolean(value: Any) -> bool:
    """The nucleus's Coerce.toBoolean: true, a non-zero number, or one of its truthy words."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return int(value) != 0
    return value is not None and str(value) in ("true", "yes", "on", "t", "y", "Y")


def interpolation_enabled(configuration: dict[str, Any] | None) -> bool:
    key = find_key(configuration or {}, INTERPOLATE)
    return key is not None and coerce_boolean((configuration or {})[key])


# -- effectiveConfig.yaml ---------------------------------------------------------------------


def effective_config(nucleus: Host) -> dict[str, Any]:
    """What the emulator knows, in the shape of the nucleus's dump: `system` and `services`."""
    services: dict[str, Any] = {
        NUCLEUS: {
            "componentType": "NUCLEUS",
            "configuration": nucleus.config.get(NUCLEUS),
            "dependencies": [],
            "lifecycle": {},
            "version": NUCLEUS_VERSION,
        },
        # The roots, and the nucleus, which stays whatever the deployments (KernelConfigResolver.getMainConfig).
        MAIN: {"dependencies": sorted({*nucleus.roots, NUCLEUS}, key=str.casefold)},
    }
    for name, deployed in nucleus.components.items():
        services[name] = {
            # A stand-in deployed as a root is built in, as the AWS-provided component is a plugin of the nucleus.
            "componentType": "PLUGIN" if name in STANDIN_COMPONENTS else "GENERIC",
            "configuration": nucleus.config.get(name),
            "dependencies": [f"{dep}:{'HARD' if spec.hard else 'SOFT'}" for dep, spec in deployed.recipe.dependencies.items()],
            "lifecycle": deployed.runner.spec.lifecycle,
            "version": deployed.version,
        }
    system = {
        "certificateFilePath": "",
        "privateKeyPath": "",
        "rootCaPath": "",
        "rootpath": str(nucleus.root),
        "thingName": nucleus.thing_name,
    }
    return {"system": system, "services": services}


def dump_effective_config(nucleus: Host) -> Path:
    """Write ROOT/config/effectiveConfig.yaml whole (a reader never sees half a file)."""
    path = nucleus.root / EFFECTIVE_CONFIG
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_yaml(effective_config(nucleus))
    handle, temporary = tempfile.mkstemp(prefix=".effectiveConfig.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return path


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*")
_RESERVED = {"true", "false", "yes", "no", "y", "n", "on", "off", "null", "~"}


def _key(key: Any) -> str:
    text = str(key)
    if _PLAIN_KEY.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    return _quoted(text)


def _printable(char: str) -> bool:
    """Safe raw inside a double-quoted scalar: printable, and no line break YAML would fold (NEL, LS, PS) nor a BOM."""
    code = ord(char)
    if code in (0x85, 0x2028, 0x2029, 0xFEFF):
        return False
    return code == 0x09 or 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar: JSON's escapes, plus escapes for what YAML may not hold raw."""
    body = json.dumps(text, ensure_ascii=False)
    return "".join(char if _printable(char) else f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}" for char in body)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        mantissa, _, exponent = text.partition("e")
        if "." not in mantissa:
            mantissa += ".0"
        return mantissa + (f"e{'' if exponent[0] in '+-' else '+'}{exponent}" if exponent else "")
    return _quoted(str(value))


def _sorted_items(mapping: dict[Any, Any], topics: bool) -> list[tuple[Any, Any]]:
    """A configuration node's children (sorted, `_` keys left out) or a plain value's entries (as they are)."""
    if not topics:
        return list(mapping.items())
    items = [(k, v) for k, v in mapping.items() if not str(k).startswith("_")]
    return sorted(items, key=lambda item: str(item[0]).upper().lower())


def _lines(value: Any, indent: str, sort: bool) -> list[str]:
    """The block lines of a non-empty mapping or list, each starting with `indent`."""
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in _sorted_items(value, sort):
            if isinstance(item, (dict, list)) and item and (not isinstance(item, dict) or _sorted_items(item, sort)):
                lines.append(f"{indent}{_key(key)}:")
                # Jackson puts a list's dashes at its key's indentation, a mapping's keys two further.
                lines.extend(_lines(item, indent if isinstance(item, list) else indent + "  ", sort))
            else:
                lines.append(f"{indent}{_key(key)}: {_inline(item)}")
        return lines
    for item in value:
        if isinstance(item, (dict, list)) and item and (not isinstance(item, dict) or _sorted_items(item, False)):
            nested = _lines(item, indent + "  ", False)
            lines.append(f"{indent}- {nested[0][len(indent) + 2 :]}")
            lines.extend(nested[1:])
        else:
            lines.append(f"{indent}- {_inline(item)}")
    return lines


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def render_yaml(document: dict[str, Any]) -> str:
    """`document` as Jackson's YAMLMapper prints the nucleus's configuration.

    Top-level keys keep their order (`system`, then `services`); every mapping
    below is sorted case-insensitively, as the nucleus's Topics are, except
    mappings inside lists, which are values and keep theirs.
    """
    lines = ["---"]
    for key, value in document.items():
        if isinstance(value, dict) and _sorted_items(value, True):
            lines.append(f"{_key(key)}:")
            lines.extend(_lines(value, "  ", True))
        else:
            lines.append(f"{_key(key)}: {_inline(value)}")
    return "\n".join(lines) + "\n"
