"""What the subcommands share: the one `MiB` type behind every size option, and `main`'s codes."""

from __future__ import annotations

import argparse
import ast
import math
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from uploader._errors import SettingsError
from uploader._settings import Settings
from uploader.cli import build_parser, main
from uploader.cli._common import MiB

HOOK = "https://hooks.example/api/webhooks/42/SECRET-token"


def command_lines(directory: Path, limit: str) -> list[list[str]]:
    """Every subcommand that takes ``--limit-mb``, given ``limit``."""
    d = str(directory)
    return [
        ["plan", d, "--limit-mb", limit],
        ["send", d, "--webhook", HOOK, "--limit-mb", limit],
        ["demo", "--limit-mb", limit],
        ["compress", str(directory / "clip.mp4"), "--limit-mb", limit],
        ["fake-discord", "--limit-mb", limit],
    ]


@pytest.mark.parametrize("limit", ["inf", "nan", "1e9", "0", "-1", "0.0005", "1048577", "zero"])
@pytest.mark.parametrize("which", range(5))
def test_every_limit_option_refuses_what_the_setting_refuses_in_one_line(
    limit: str, which: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = command_lines(tmp_path, limit)[which]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"uploader {argv[0]}: error: argument --limit-mb: expected a number from 0.001 to"
        f" 1048576 MiB (as UPLOAD_FILE_LIMIT_MB), not {limit!r}\n"
    )


@pytest.mark.parametrize("limit", ["2.5", "0.001", "1048576", " 7 "])
@pytest.mark.parametrize("which", range(5))
def test_every_limit_option_takes_a_valid_size(limit: str, which: int, tmp_path: Path) -> None:
    args = build_parser().parse_args(command_lines(tmp_path, limit)[which])
    assert args.limit_mb == float(limit)
    assert isinstance(args.limit_mb, float)


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=8)))
def test_mib_accepts_exactly_what_upload_file_limit_mb_accepts(raw: str) -> None:
    assume(raw.strip())  # a blank variable means "unset"; a blank option is refused (below)
    expected: float | None
    try:
        expected = Settings.from_env({"UPLOAD_FILE_LIMIT_MB": raw}).upload_file_limit_mb
    except SettingsError:
        expected = None
    try:
        got: float | None = MiB("upload_file_limit_mb")(raw)
    except argparse.ArgumentTypeError:
        got = None
    assert got == expected
    assert got is None or (math.isfinite(got) and got > 0)


@pytest.mark.parametrize("raw", ["", "  "])
def test_a_blank_size_is_refused(raw: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="UPLOAD_FILE_LIMIT_MB"):
        MiB()(raw)


def test_the_demo_default_limit_is_not_parsed_and_stays_2_mib() -> None:
    assert build_parser().parse_args(["demo"]).limit_mb == 2.0


def test_help_and_version_still_exit_through_system_exit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv in (["--help"], ["--version"], ["send", "--help"]):
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 0
    assert "uploader" in capsys.readouterr().out


PACKAGE = Path(__file__).resolve().parent.parent / "uploader"


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]


def _names_cli(node: ast.Import | ast.ImportFrom, path: Path) -> bool:
    if isinstance(node, ast.Import):
        return any(a.name.startswith("uploader.cli") for a in node.names)
    module = node.module or ""
    if node.level == 0:
        return module.startswith("uploader.cli")
    depth = len(path.relative_to(PACKAGE).parts) - 1  # packages between uploader/ and the file
    if node.level - 1 != depth:  # only an import relative to uploader/ itself can reach .cli
        return False
    return module == "cli" or module.startswith("cli.") or any(a.name == "cli" for a in node.names)


def test_only_the_entry_point_imports_the_command_line() -> None:
    importers = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.parent.name != "cli"
        and any(_names_cli(n, path) for n in _imports(ast.parse(path.read_text())))
    )
    assert importers == ["__main__.py"]


def test_the_command_line_imports_nothing_inside_functions() -> None:
    for path in (PACKAGE / "cli").glob("*.py"):
        tree = ast.parse(path.read_text())
        module_level = {id(n) for n in tree.body}
        type_checking = [n for n in tree.body if isinstance(n, ast.If)]
        allowed = module_level | {id(i) for block in type_checking for i in _imports(block)}
        late = [n.lineno for n in _imports(tree) if id(n) not in allowed]
        assert late == [], f"{path.name} imports at lines {late}: a hidden cycle?"
