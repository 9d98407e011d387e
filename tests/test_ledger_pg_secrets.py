"""Ledger targets that must never be echoed: spaced key=value DSNs, mistyped URLs, unencoded passwords."""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_rules import cli
from billing_rules.ledger import LedgerError, open_ledger
from billing_rules.ledger.secrets import driver_reason, public_label

ROW = "invoice_id;date;practitioner_id;patient_id;birth_date;codes\nF1;2024-02-05;1;P1;1950-01-01;G\n"


def _run(tmp_path: Path, target: str) -> list:
    day = tmp_path / "jour.csv"
    day.write_text(ROW, encoding="utf-8")
    return [
        CliRunner().invoke(cli.main, ["ledger", "stats", "--ledger", target]),
        CliRunner().invoke(cli.main, ["check", str(day), "--ledger", target, "--record"]),
    ]


def test_spaced_keyword_dsn_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    target = "host = 127.0.0.1 port = 5433 dbname = pwdb user = pwuser password = KvSpacedSecret"
    for result in _run(tmp_path, target):
        assert result.exit_code == 2, result.output
        assert "KvSpacedSecret" not in result.output and "clé=valeur" in result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["jour.csv"]


@pytest.mark.parametrize(
    "target",
    [
        "postgresql:/u:TypoSecret@h:5433/db",
        "postgressql://u:TypoSecret@h:5433/db",
        "postgres:u:TypoSecret@h/db",
        "mysql://u:TypoSecret@h/db",
    ],
)
def test_mistyped_url_is_never_echoed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    monkeypatch.chdir(tmp_path)
    for result in _run(tmp_path, target):
        assert result.exit_code == 2, result.output
        assert "TypoSecret" not in result.output
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["jour.csv"]


@pytest.mark.parametrize(
    "target", ["PostgreSQL://u:TypoSecret@127.0.0.1:1/db", " postgresql://u:TypoSecret@127.0.0.1:1/db"]
)
def test_url_case_and_spaces_are_a_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    pytest.importorskip("psycopg")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LedgerError) as caught:
        open_ledger(target)
    assert "TypoSecret" not in str(caught.value) and "connecter" in str(caught.value)
    assert sorted(path.name for path in tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "pieces"),
    [
        ("postgresql://pwuser:x@y/z?Hunter2Secret=1@127.0.0.1:1/pwdb", ["Hunter2Secret"]),
        ("postgresql://pwuser:Dr@Martin/2024?host=Cabinet@127.0.0.1:1/pwdb", ["Martin", "Cabinet"]),
        ("postgresql://pwuser@127.0.0.1:1/pwdb?password=ab&cdSecretX", ["cdSecretX"]),
        ("postgresql://pwuser@127.0.0.1:1/pwdb?password=Secret#Tail99", ["Tail99", "Secret#"]),
    ],
)
def test_unencoded_password_pieces_never_printed(url: str, pieces: list[str]) -> None:
    pytest.importorskip("psycopg")
    label = public_label(url)
    with pytest.raises(LedgerError) as caught:
        open_ledger(url)
    error = caught.value
    shown = [label, str(error), "".join(traceback.format_exception(error))]
    for piece in pieces:
        for text in shown:
            assert piece not in text, text
    assert error.__context__ is None or error.__suppress_context__


def test_driver_reason_without_scheme_quotes() -> None:
    url = "postgresql://pwuser:x@y/z?Hunter2Secret=1@127.0.0.1:5433/pwdb"
    reason = driver_reason(Exception('invalid URI query parameter: "Hunter2Secret"'), url)
    assert "Hunter2Secret" not in reason
    url = "postgresql://pwuser:Dr@Martin/2024?host=Cabinet@127.0.0.1:5433/pwdb"
    reason = driver_reason(Exception("failed to resolve host 'Cabinet@127.0.0.1:5433/pwdb': no"), url)
    assert "Cabinet" not in reason


@pytest.mark.parametrize(
    ("url", "label"),
    [
        ("postgresql://u@h/db?password=ab&cdSecretX", "postgresql://u@h/db?password=***"),
        ("postgresql://u@h/db?password=Secret#Tail99", "postgresql://u@h/db?password=***"),
        (
            "postgresql://u@h/db?password=pw12345&sslmode=require",
            "postgresql://u@h/db?password=***&sslmode=require",
        ),
    ],
)
def test_label_masks_an_ambiguous_password_tail(url: str, label: str) -> None:
    assert public_label(url) == label


def test_service_url_label_keeps_its_slashes() -> None:
    assert public_label("postgresql://?service=cab") == "postgresql://?service=cab"
