"""`mlfeedback pack`: the artifact `gdk component build` makes, without GDK.

Reads gdk-config.json and applies GDK 1.6.2's zip build rules
(gdk/build_system/Zip.py): exclude gdk-config.json, greengrass-build, the
recipe file, and every `excludes` glob (`glob.glob(ROOT/pattern,
recursive=True)`, so `*` does not match hidden names); follow symlinks; zip
the rest with no top-level folder as `<zip_name or component name>.zip`.
The result lands where greengrass-cli looks: ARTIFACTS/NAME/VERSION/.
"""

from __future__ import annotations

import glob
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

GDK_CONFIG = "gdk-config.json"
GDK_ALWAYS_EXCLUDED = (GDK_CONFIG, "greengrass-build")
GDK_DEFAULT_EXCLUDES = ("**/test*", "**/.*", "**/node_modules")


class PackError(Exception):
    pass


@dataclass(frozen=True)
class BuildSettings:
    component: str
    version: str
    excludes: tuple[str, ...]
    zip_name: str
    recipe_file: str

    @property
    def archive(self) -> str:
        return f"{self.zip_name}.zip"


def read_build_settings(project: Path) -> BuildSettings:
    path = project / GDK_CONFIG
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PackError(f"cannot read {path}: {exc}") from None
    components = document.get("component") or {}
    if len(components) != 1:
        raise PackError(f"{path}: component must name exactly one component")
    ((name, settings),) = components.items()
    version = str(settings.get("version", ""))
    if not version or version == "NEXT_PATCH":
        raise PackError(f"{path}: component.{name}.version must be a fixed version (NEXT_PATCH builds literally as 'NEXT_PATCH')")
    build = settings.get("build") or {}
    if build.get("build_system") != "zip":
        raise PackError(f"{path}: component.{name}.build.build_system must be zip")
    options = build.get("options") or {}
    excludes = tuple(options["excludes"]) if options else GDK_DEFAULT_EXCLUDES
    zip_name = options.get("zip_name")
    recipe = "recipe.json" if (project / "recipe.json").exists() and not (project / "recipe.yaml").exists() else "recipe.yaml"
    return BuildSettings(name, version, excludes, zip_name or (name if zip_name is not None else project.resolve().name), recipe)


def packed_files(project: Path, settings: BuildSettings) -> list[str]:
    """Relative paths GDK's zip build would hold (directories end with '/')."""
    root = project.resolve()
    unwanted: set[str] = set()
    for pattern in (*GDK_ALWAYS_EXCLUDED, settings.recipe_file, *settings.excludes):
        unwanted.update(glob.glob(f"{root}{os.sep}{pattern}", recursive=True))
    files: list[str] = []
    for folder, dirs, names in os.walk(root, followlinks=True):
        kept_dirs = [d for d in dirs if not _ignored(Path(folder) / d, unwanted)]
        dirs[:] = sorted(kept_dirs)
        for directory in dirs:
            files.append(f"{(Path(folder) / directory).relative_to(root)}/")
        for name in sorted(names):
            path = Path(folder) / name
            if not _ignored(path, unwanted) and path.exists():
                files.append(str(path.relative_to(root)))
    return sorted(files)


def _ignored(path: Path, unwanted: set[str]) -> bool:
    return str(path) in unwanted or f"{path}{os.sep}" in unwanted


def pack(project: Path, artifacts: Path) -> Path:
    """Write ARTIFACTS/NAME/VERSION/NAME.zip; returns its path."""
    settings = read_build_settings(project)
    target = artifacts / settings.component / settings.version / settings.archive
    target.parent.mkdir(parents=True, exist_ok=True)
    root = project.resolve()
    temporary = target.with_suffix(".zip.tmp")
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in packed_files(project, settings):
            archive.write(root / relative, relative)
    os.replace(temporary, target)
    return target
