"""Command-line messages a user can act on: French reasons, the option at fault, refused periods."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_rules.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
WEEK = EXAMPLES / "week-2026-01.csv"


def _run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, args, env=env)
    return result.exit_code, " ".join((result.stderr or result.output).split())


# --- 1. configuration and Parquet errors in French ---------------------------------------------------


def _config_error(tmp_path: Path, config: Path) -> str:
    code, message = _run(["check", str(WEEK), "--config", str(config), "--no-plugins"])
    assert code == 2, message
    for english in ("Error", "Expected", "at line", "column 7)"):
        assert english not in message
    return message


def test_config_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    assert "c'est un dossier" in _config_error(tmp_path, tmp_path / "adir")


def test_config_not_in_utf8(tmp_path: Path) -> None:
    config = tmp_path / "latin1.toml"
    config.write_bytes('[practitioner]\nspecialty = "é"\n'.encode("latin-1"))
    assert "pas en UTF-8" in _config_error(tmp_path, config)


def test_config_without_permission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import billing_rules.config

    def refused(path: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(billing_rules.config, "_read_limited", refused)  # root reads a mode-000 file
    config = tmp_path / "locked.toml"
    config.write_text("[rules]\n", encoding="utf-8")
    assert "permission refusée" in _config_error(tmp_path, config)


def test_bad_toml_keeps_line_and_column_only(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[rules\n", encoding="utf-8")
    message = _config_error(tmp_path, config)
    assert "bad.toml : TOML invalide ligne 1, colonne 7" in message


def test_broken_parquet_is_said_in_french(tmp_path: Path) -> None:
    pytest.importorskip("polars")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    code, message = _run(["check", str(broken), "--no-plugins"])
    assert code == 2, message
    assert "pas un fichier Parquet lisible" in message
    assert "Error" not in message


# --- 2. dates: the option at fault, and periods that end before they start --------------------------


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("ledger") / "cabinet.sqlite")
    result = CliRunner().invoke(main, ["ledger", "import", str(WEEK), "--ledger", path])
    assert result.exit_code == 0, result.output
    return path


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["simulate", "--from", "2025-02-30", "--to", "2025-03-31", "--as-of", "2026-01-01"], "--from"),
        (["simulate", "--from", "2025-02-01", "--to", "2025-02-30", "--as-of", "2026-01-01"], "--to"),
        (["simulate", "--from", "2025-02-01", "--to", "2025-03-31", "--as-of", "2026-02-30"], "--as-of"),
        (["ledger", "forget", "--before", "2025-02-30"], "--before"),
        (["ledger", "export", "--until", "2025-02-30"], "--until"),
        (["ledger", "export", "--since", "2025-02-30"], "--since"),
    ],
)
def test_bad_date_names_its_option(ledger: str, args: list[str], option: str) -> None:
    code, message = _run([*args, "--ledger", ledger])
    assert code == 2, message
    assert f"pour {option} : date invalide « " in message


def test_rules_changes_bad_date_names_its_option() -> None:
    code, message = _run(["rules", "changes", "--since", "2025-02-30", "--no-plugins"])
    assert code == 2, message
    assert "pour --since : date invalide" in message


def test_rules_changes_refuses_a_reversed_period() -> None:
    code, message = _run(
        ["rules", "changes", "--since", "2025-01-01", "--until", "2024-01-01", "--no-plugins"]
    )
    assert code == 2, message
    assert "--until : la fin de la période précède son début" in message


def test_ledger_export_refuses_a_reversed_period(ledger: str) -> None:
    result = CliRunner().invoke(
        main, ["ledger", "export", "--ledger", ledger, "--since", "2025-01-01", "--until", "2024-01-01"]
    )
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "la fin de la période précède son début" in result.stderr


# --- 3. top-level --help / --version on a full disk or a closed pipe -------------------------------


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("option", ["--help", "--version"])
def test_top_level_eager_option_on_a_full_disk(option: str) -> None:
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "billing_rules", option],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "disque plein" in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")
@pytest.mark.parametrize("option", ["--help", "--version"])
def test_top_level_eager_option_on_a_closed_pipe(option: str) -> None:
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "billing_rules", option],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(writer)
    assert result.returncode == 141, result.stderr
    assert result.stderr == ""


# --- 4. a plugin name mistyped in BILLING_RULES_LOAD_PLUGINS ----------------------------------------


def test_unknown_plugin_in_the_environment_is_refused() -> None:
    code, message = _run(["plugins"], env={"BILLING_RULES_LOAD_PLUGINS": "specialst"})
    assert code == 2, message
    assert "« specialst »" in message
    assert "extension non installée, nommée dans BILLING_RULES_LOAD_PLUGINS" in message


@pytest.mark.parametrize("value", ["", "0", "builtin"])
def test_environment_without_plugins_still_works(value: str) -> None:
    code, message = _run(["plugins"], env={"BILLING_RULES_LOAD_PLUGINS": value})
    assert code == 0, message


# --- 5. -v says what it promises -------------------------------------------------------------------


def test_check_verbose_names_the_engine_as_the_report_does() -> None:
    result = CliRunner().invoke(main, ["check", str(WEEK), "-v", "--no-plugins", "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    engine = json.loads(result.stdout)["summary"]["engine"]
    assert f"moteur : {engine}\n" in result.stderr
    assert "billing_rules." not in result.stderr


def test_rules_list_verbose_names_plugins_and_rules() -> None:
    result = CliRunner().invoke(main, ["rules", "list", "-v", "--no-plugins", "--select", "SNP-"])
    assert result.exit_code == 0, result.output
    assert "configuration : aucune" in result.stderr
    assert "extensions : builtin" in result.stderr
    assert "règles appliquées (" in result.stderr and "SNP-WEEK" in result.stderr


def test_plugins_verbose_says_what_was_asked() -> None:
    result = CliRunner().invoke(main, ["plugins", "-v", "--no-plugins"])
    assert result.exit_code == 0, result.output
    assert "configuration : aucune" in result.stderr
    assert "extensions demandées : aucune" in result.stderr
    quiet = CliRunner().invoke(main, ["plugins", "--no-plugins"])
    assert "extensions demandées" not in quiet.stderr


def test_simulate_verbose_names_plugins_rules_and_engine(ledger: str) -> None:
    args = ["simulate", "--ledger", ledger, "--from", "2026-01-01", "--to", "2026-01-31"]
    result = CliRunner().invoke(main, [*args, "--as-of", "2025-01-01", "-v", "--no-plugins"])
    assert result.exit_code == 0, result.output
    for fragment in ("configuration : aucune", "extensions : builtin", "règles appliquées (", "moteur : row"):
        assert fragment in result.stderr


# --- 6. docs/architecture.md: the "Names that moved" table points where the names are -------------


def _resolve(path: str) -> object:
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:end]))
        except ImportError:
            continue
        for name in parts[end:]:
            found = getattr(found, name)
        return found
    raise ImportError(path)


def test_names_that_moved_are_where_the_table_says() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text[text.index("### Names that moved") :]
    rows = [line for line in section.split("\n\n")[1].splitlines() if line.startswith("| `")]
    assert rows
    for row in rows:
        old, new = (cell.strip() for cell in row.strip("|").split("|")[:2])
        target = _resolve(re.findall(r"`([^`]+)`", new)[0])  # the new home exists
        if not isinstance(target, types.ModuleType) or "(" in new:
            continue  # renamed names: the new column lists them
        for name in re.findall(r"`([^`]+)`", old):
            if "." in name and _is_module(name):
                continue  # a module named in the prose of the cell
            assert hasattr(target, name.split(".")[-1]), (name, new)


def _is_module(path: str) -> bool:
    try:
        importlib.import_module(path)
    except ImportError:
        return False
    return True
