"""A component's configuration as plain nested dicts, changed only by copying.

Merges follow the nucleus: objects merge key by key, anything else (lists
included) replaces the old value whole. Keys are found case-insensitively and
keep the case they were first written with, as in the nucleus's config store.
`changed_paths` compares two trees so every kind of change (IPC update,
deployment MERGE/RESET) yields the same per-node update events.
"""

from __future__ import annotations

import copy
from typing import Any

KeyPath = tuple[str, ...]


class KeyNotFound(LookupError):
    pass


def find_key(mapping: dict[str, Any], key: str) -> str | None:
    """The key of `mapping` equal to `key` ignoring case, or None."""
    if key in mapping:
        return key
    folded = key.casefold()
    for candidate in mapping:
        if isinstance(candidate, str) and candidate.casefold() == folded:
            return candidate
    return None


def resolve_path(tree: dict[str, Any], key_path: KeyPath) -> KeyPath:
    """`key_path` spelt as the tree spells it; raises KeyNotFound."""
    node: Any = tree
    actual: list[str] = []
    for key in key_path:
        found = find_key(node, key) if isinstance(node, dict) else None
        if found is None:
            raise KeyNotFound("/".join(key_path))
        actual.append(found)
        node = node[found]
    return tuple(actual)


def get_path(tree: dict[str, Any], key_path: KeyPath) -> Any:
    node: Any = tree
    for key in resolve_path(tree, key_path):
        node = node[key]
    return node


def merged(base: Any, update: Any) -> Any:
    if isinstance(base, dict) and isinstance(update, dict):
        result = dict(base)
        for key, value in update.items():
            existing = find_key(base, key)
            target = key if existing is None else existing
            result[target] = merged(base.get(target), value)
        return result
    return copy.deepcopy(update)


def merge_at(tree: dict[str, Any], key_path: KeyPath, value: Any) -> dict[str, Any]:
    """The tree with `value` merged at `key_path` (created when missing)."""
    if not key_path:
        if not isinstance(value, dict):
            raise ValueError("only an object can be merged at the configuration root")
        return merged(tree, value)
    update: Any = value
    for key in reversed(key_path):
        update = {key: update}
    return merged(tree, update)


def parse_pointer(pointer: str) -> KeyPath:
    """RFC 6901 JSON pointer -> key path ('' is the whole document)."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise ValueError(f"JSON pointer must start with '/': {pointer!r}")
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/"))


def resolve_deployment_configuration(
    current: dict[str, Any] | None,
    defaults: dict[str, Any],
    reset: list[str] | tuple[str, ...] = (),
    merge: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A component's configuration after a deployment, in the nucleus's order.

    The running configuration, minus every RESET pointer (`""` resets it all),
    with the recipe's DefaultConfiguration filling only what is missing, then
    MERGE on top (KernelConfigResolver.resolveConfigurationToApply).
    """
    config: dict[str, Any] = dict(current or {})
    for pointer in reset:
        key_path = parse_pointer(pointer)
        if not key_path:
            config = {}
            break
        config = _removed(config, key_path)
    config = merged(copy.deepcopy(defaults), config)
    if merge:
        config = merged(config, merge)
    return config


def _removed(tree: dict[str, Any], key_path: KeyPath) -> dict[str, Any]:
    head, rest = find_key(tree, key_path[0]), key_path[1:]
    if head is None:
        return tree
    result = dict(tree)
    if not rest:
        del result[head]
    elif isinstance(tree[head], dict):
        result[head] = _removed(tree[head], rest)
    return result


def changed_paths(old: Any, new: Any, prefix: KeyPath = ()) -> list[KeyPath]:
    """Key paths of every node added, removed or changed between two trees."""
    if isinstance(old, dict) and isinstance(new, dict):
        paths: list[KeyPath] = []
        for key in sorted(set(old) | set(new), key=str):
            if key not in old or key not in new:
                paths.append((*prefix, key))
            else:
                paths.extend(changed_paths(old[key], new[key], (*prefix, key)))
        return paths
    if _same(old, new):
        return []
    return [prefix]


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        numbers = (int, float)
        return isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool) and a == b
    return bool(a == b)
