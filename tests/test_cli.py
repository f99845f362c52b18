"""The command line: every role has --help, unbuilt roles say so and exit 2, errors map to codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from borderlink.cli import build_parser, main

ROLES = ["hub", "edge", "emulate", "profiles", "simulate", "provision", "firmware", "audit",
         "agency", "demo"]


def test_every_role_is_offered() -> None:
    help_text = build_parser().format_help()
    for role in ROLES:
        assert role in help_text


@pytest.mark.parametrize("role", ROLES)
def test_every_role_has_help(role: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([role, "--help"])
    assert exited.value.code == 0
    assert "usage: borderlink" in capsys.readouterr().out


def test_console_script_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "borderlink", "--version"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert done.stdout.startswith("borderlink ")


def test_unknown_role_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["no-such-role"])
    assert exited.value.code == 2


@pytest.mark.parametrize("option", [["--broker", "no-port"], ["--broker", "host:99999"],
                                    ["--speed", "0"], ["--duration", "-5"], ["--speed", "fast"]])
def test_demo_refuses_bad_options_as_usage_errors(option: list[str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", *option])
    assert exited.value.code == 2
    assert option[0] in capsys.readouterr().err
