"""`mlfeedback --help` and each command's help: what a new user reads first."""

from __future__ import annotations

import argparse

from greengrass_local.tools.cli import build_parser, main


def _commands(parser: argparse.ArgumentParser, path: str = "mlfeedback") -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _commands(child, f"{path} {name}")
    return found


def _is_leaf(parser: argparse.ArgumentParser) -> bool:
    return not any(isinstance(action, argparse._SubParsersAction) for action in parser._actions)


def test_every_option_and_argument_has_a_help_text():
    missing = [
        f"{path} {'/'.join(action.option_strings) or action.dest}"
        for path, parser in _commands(build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not (action.help and action.help.strip())
    ]
    assert missing == []


def test_every_command_shows_examples_that_call_it():
    commands = [(path, parser) for path, parser in _commands(build_parser()) if _is_leaf(parser)]
    assert {path for path, _ in commands} == {
        "mlfeedback local run",
        "mlfeedback local deploy",
        "mlfeedback local component list",
        "mlfeedback local component details",
        "mlfeedback local component restart",
        "mlfeedback local component stop",
        "mlfeedback local deployment list",
        "mlfeedback local deployment status",
        "mlfeedback local deployment cancel",
        "mlfeedback local logs",
        "mlfeedback pack",
        "mlfeedback recipe check",
        "mlfeedback config check",
        "mlfeedback convert-v1",
        "mlfeedback demo",
    }
    for path, parser in commands:
        text = parser.format_help()
        examples = text.split("\nexamples:\n", 1)
        assert len(examples) == 2, f"{path} --help has no examples"
        lines = [line.strip() for line in examples[1].splitlines() if line.strip() and not line.startswith("    ")]
        assert lines and all(line.startswith(path + " ") or line == path for line in lines), (path, lines)


def test_mlfeedback_alone_and_a_group_alone_list_their_commands(capsys):
    assert main([]) == 0
    listed = capsys.readouterr().out
    commands = listed.split("\ncommands:\n  COMMAND\n", 1)[1]
    assert [line.split()[0] for line in commands.splitlines() if line.startswith("    ") and not line.startswith("     ")] == [
        "local",
        "pack",
        "recipe",
        "config",
        "convert-v1",
        "demo",
    ]
    assert listed.startswith("usage: mlfeedback [-h] COMMAND ...\n")
    assert main(["local"]) == 0
    listed = capsys.readouterr().out
    assert "\n    run " in listed and "\n    deploy " in listed
