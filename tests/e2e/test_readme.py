"""The README's commands, run in order as a new user pastes them into a fresh checkout.

Every ```sh block runs, in a copy of the repository, with this virtual environment's
`bin` first on PATH (as after `. .venv/bin/activate`) and no AWS settings of ours.
Variables exported and folders entered carry from one block to the next, as in one
terminal. An HTML comment on the line before a block changes how it runs:

- `<!-- readme-test: skip REASON -->`: not run (it needs AWS, a device, the package
  registry, or it is this very test run);
- `<!-- readme-test: background until "TEXT" -->`: it runs on, as in another terminal;
  the next block starts once TEXT is in its output. It is stopped (SIGTERM, as Ctrl-C
  would) at the next heading, where the README moves on to something else;
- `<!-- readme-test: expect "TEXT" ["TEXT" ...] -->`: its output must contain each TEXT,
  the thing the README tells the user they will see.

A block without a comment must exit 0.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DIRECTIVE = re.compile(r"^<!-- readme-test: (skip|background until|expect) ?(.*?) ?-->$")
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
HEADING = re.compile(r"^#{1,6} ")
BLOCK_SECONDS = 300
BACKGROUND_SECONDS = 120


@dataclass
class Block:
    line: int
    code: str
    kind: str = "run"
    texts: list[str] = field(default_factory=list)


@dataclass
class Heading:
    line: int


def readme_steps(text: str) -> list[Block | Heading]:
    """Headings and ```sh blocks in order, each block with the directive just above it."""
    steps: list[Block | Heading] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = FENCE.match(line)
        if HEADING.match(line):
            steps.append(Heading(index + 1))
        elif fence:
            indent, language = fence.groups()
            end = index + 1
            while not lines[end].strip().startswith("```"):
                end += 1
            if language == "sh":
                code = "\n".join(body[len(indent) :] for body in lines[index + 1 : end])
                steps.append(_block(index + 1, code, lines[index - 1].strip() if index else ""))
            index = end
        index += 1
    return steps


def _block(line: int, code: str, above: str) -> Block:
    directive = DIRECTIVE.match(above)
    if directive is None:
        return Block(line, code)
    kind, argument = directive.groups()
    kind = {"background until": "background"}.get(kind, kind)
    texts = [] if kind == "skip" else shlex.split(argument)
    assert kind == "skip" or texts, f"README line {line}: {kind} needs a quoted text"
    return Block(line, code, kind, texts)


class Terminal:
    """Blocks run one after another with the exports and the folder the previous ones left."""

    def __init__(self, folder: Path, home: Path) -> None:
        self.folder = folder
        self.state = home / "exports.sh"
        self.cwd = home / "cwd"
        self.logs = home
        self.state.write_text("")
        self.cwd.write_text(str(folder))
        self.background: list[tuple[subprocess.Popen[bytes], Path]] = []
        env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "PYTHON", "VIRTUAL_ENV"))}
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env["VIRTUAL_ENV"] = str(Path(sys.executable).parent.parent)
        self.env = env

    def _script(self, code: str, keep_state: bool = True) -> str:
        """The block after the exports and folder so far; a foreground block leaves its own for the next (one terminal),
        a background one does not (it is another terminal)."""
        save = f"export -p | grep -v '^declare -[a-z]*r' > {shlex.quote(str(self.state))}; pwd > {shlex.quote(str(self.cwd))}"
        trap = f"trap {shlex.quote(save)} EXIT\n" if keep_state else ""
        return f"set -eo pipefail\n. {shlex.quote(str(self.state))}\ncd {shlex.quote(self.cwd.read_text().strip())}\n{trap}{code}\n"

    def run(self, block: Block) -> str:
        result = subprocess.run(
            ["bash", "-c", self._script(block.code)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=BLOCK_SECONDS,
            start_new_session=True,
        )
        output = result.stdout.decode(errors="replace")
        assert result.returncode == 0, f"README line {block.line} exited {result.returncode}:\n{block.code}\n---\n{output}"
        return output

    def start(self, block: Block) -> str:
        log = self.logs / f"background-{block.line}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                ["bash", "-c", self._script(block.code, keep_state=False)],
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.background.append((process, log))
        deadline = time.monotonic() + BACKGROUND_SECONDS
        while True:
            output = log.read_text(errors="replace")
            if all(text in output for text in block.texts):
                return output
            assert process.poll() is None, f"README line {block.line} ended ({process.returncode}) before printing {block.texts}:\n{output}"
            assert time.monotonic() < deadline, f"README line {block.line} never printed {block.texts}:\n{output}"
            time.sleep(0.2)

    def stop_background(self) -> None:
        """As Ctrl-C in each other terminal: everything there stops, then is gone."""
        for process, _ in self.background:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
        for process, log in self.background:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
                raise AssertionError(f"{log.name} did not stop within 30 s of Ctrl-C:\n{log.read_text(errors='replace')}") from None
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        self.background.clear()


def fresh_checkout(target: Path) -> Path:
    """The files a clone has: what git tracks, or the tree without build output when there is no git."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True)
    if listed.returncode == 0 and listed.stdout:
        for name in listed.stdout.decode().split("\0"):
            if not name:
                continue
            source, destination = REPO / name, target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            if source.is_symlink():
                destination.symlink_to(os.readlink(source))
            elif source.is_file():
                shutil.copy2(source, destination)
        return target
    ignored = shutil.ignore_patterns(".git", ".venv", ".greengrass", "artifacts", "greengrass-build", "__pycache__", "*.egg-info")
    shutil.copytree(REPO, target, symlinks=True, ignore=ignored)
    return target


def test_the_directives_are_read_as_written():
    steps = readme_steps(
        "# A\n\n<!-- readme-test: skip needs AWS -->\n```sh\naws s3 ls\n```\n## B\n"
        '<!-- readme-test: background until "IPC socket:" -->\n   ```sh\n   mlfeedback local run \\\n     --x\n   ```\n'
        '<!-- readme-test: expect "a b" "c" -->\n```sh\necho a b c\n```\n```json\n{"#": 1}\n```\n```sh\ntrue\n```\n'
    )
    assert [type(step).__name__ for step in steps] == ["Heading", "Block", "Heading", "Block", "Block", "Block"]
    blocks = [step for step in steps if isinstance(step, Block)]
    assert [(b.kind, b.texts) for b in blocks] == [("skip", []), ("background", ["IPC socket:"]), ("expect", ["a b", "c"]), ("run", [])]
    assert blocks[1].code == "mlfeedback local run \\\n  --x"


@pytest.mark.skipif(shutil.which("bash") is None, reason="the README's commands are for a POSIX shell")
def test_shell_commands_are_in_sh_blocks_so_that_they_are_run():
    fences = {match.group(2) for match in map(FENCE.match, (REPO / "README.md").read_text(encoding="utf-8").splitlines()) if match}
    assert fences & {"bash", "shell", "console", "zsh"} == set()


def test_every_offline_command_in_the_readme_runs_in_order(tmp_path):
    steps = readme_steps((REPO / "README.md").read_text(encoding="utf-8"))
    ran = [step for step in steps if isinstance(step, Block) and step.kind != "skip"]
    assert len(ran) >= 10, "the README lost its runnable commands"
    checkout = fresh_checkout(tmp_path / "checkout")
    home = tmp_path / "terminal"
    home.mkdir()
    terminal = Terminal(checkout, home)
    try:
        for step in steps:
            if isinstance(step, Heading):
                terminal.stop_background()
            elif step.kind == "background":
                terminal.start(step)
            elif step.kind != "skip":
                output = terminal.run(step)
                missing = [text for text in step.texts if text not in output]
                assert not missing, f"README line {step.line} printed no {missing}:\n{output}"
    finally:
        terminal.stop_background()
