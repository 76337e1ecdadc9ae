"""Semantic versions and npm-style requirements, as recipes use them.

`ComponentDependencies.VersionRequirement` follows npm syntax (the nucleus
uses it through the semver4j library): `^1.2.0`, `~1.2`, `>=1.0.0 <2.0.0`,
`1.x`, `*`, alternatives joined by `||`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
_PARTIAL = re.compile(r"^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z.-]+))?$")


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _VERSION.match(text.strip())
        if not match:
            raise ValueError(f"not a semantic version: {text!r}")
        major, minor, patch, pre = match.groups()
        return cls(int(major), int(minor), int(patch), tuple(pre.split(".")) if pre else ())

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        pre = tuple((0, int(p)) if p.isdigit() else (1, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        return f"{text}-{'.'.join(self.prerelease)}" if self.prerelease else text


def is_version(text: str) -> bool:
    return bool(_VERSION.match(text.strip()))


def _partial(text: str) -> tuple[list[int | None], tuple[str, ...]]:
    match = _PARTIAL.match(text)
    if not match:
        raise ValueError(f"invalid version in requirement: {text!r}")
    parts: list[int | None] = []
    for part in match.groups()[:3]:
        parts.append(None if part is None or part in "xX*" else int(part))
    for index in range(1, 3):
        if parts[index - 1] is None:
            parts[index] = None
    pre = match.group(4)
    return parts, tuple(pre.split(".")) if pre else ()


def _bounds(operator: str, text: str) -> list[tuple[str, Version]]:
    """One comparator -> a list of (op, version) that must all hold."""
    (major, minor, patch), pre = _partial(text)
    if major is None:
        return []
    low = Version(major, minor or 0, patch or 0, pre)
    if operator == "^":
        if major > 0 or minor is None:
            high = Version(major + 1, 0, 0, ("0",))
        elif minor > 0 or patch is None:
            high = Version(0, minor + 1, 0, ("0",))
        else:
            high = Version(0, 0, (patch or 0) + 1, ("0",))
        return [(">=", low), ("<", high)]
    if operator == "~":
        high = Version(major + 1, 0, 0, ("0",)) if minor is None else Version(major, minor + 1, 0, ("0",))
        return [(">=", low), ("<", high)]
    if minor is None or patch is None:
        high = Version(major + 1, 0, 0, ("0",)) if minor is None else Version(major, minor + 1, 0, ("0",))
        if operator in ("", "="):
            return [(">=", low), ("<", high)]
        if operator == ">":
            return [(">=", high)]
        if operator == "<=":
            return [("<", high)]
        return [(operator, low)]
    return [(operator or "=", low)]


_COMPARATOR = re.compile(r"(\^|~|>=|<=|>|<|=)?\s*(v?[0-9xX*][0-9A-Za-z.+*-]*)")


def _parse_alternative(text: str) -> list[tuple[str, Version]]:
    text = text.strip()
    hyphen = re.match(r"^(\S+)\s+-\s+(\S+)$", text)
    if hyphen:
        return _bounds(">=", hyphen.group(1)) + _bounds("<=", hyphen.group(2))
    bounds: list[tuple[str, Version]] = []
    position = 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        match = _COMPARATOR.match(text, position)
        if not match:
            raise ValueError(f"invalid version requirement: {text!r}")
        bounds.extend(_bounds(match.group(1) or "", match.group(2)))
        position = match.end()
    return bounds


def _holds(version: Version, operator: str, bound: Version) -> bool:
    return {
        "=": version == bound,
        ">": version > bound,
        ">=": version >= bound,
        "<": version < bound,
        "<=": version <= bound,
    }[operator]


def satisfies(version: str | Version, requirement: str) -> bool:
    """True when `version` meets an npm-style `requirement`; raises ValueError if either is malformed."""
    candidate = version if isinstance(version, Version) else Version.parse(version)
    alternatives = [_parse_alternative(part) for part in (requirement or "*").split("||")]
    return any(all(_holds(candidate, op, bound) for op, bound in alternative) for alternative in alternatives)
