"""No secret of a PostgreSQL URL in any output stream, whatever fails (issue 16 point 1).

A table of URL forms (password in the userinfo, percent-encoded, in ``password``/``sslpassword``
parameters, in a ``passfile``) crossed with failure modes (malformed URL, refused connection,
unknown database, bad parameter, and success), run through the CLI commands that take a ledger.
Every stream is searched: the CLI's stdout and stderr, what reaches file descriptors 1 and 2
(libpq writes there directly), the log records at DEBUG level and the report file.
"""

from __future__ import annotations

import logging
import socket
import urllib.parse
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_rules import cli
from billing_rules.ledger.secrets import public_label, scrub, url_secrets

pytest.importorskip("psycopg")

SECRET = "S3cr3tQ"
LEDGER_DATABASE = "secrets_i16_ledger"
ROW = "invoice_id;date;practitioner_id;patient_id;birth_date;codes\nF1;2024-02-05;1;P1;1950-01-01;G\n"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # free once closed: connections to it are refused


def _forms(host: str, database: str, passfile: Path) -> dict[str, str]:
    """URL forms, each carrying the secret somewhere (``{db}`` is the database to use)."""
    return {
        "userinfo": f"postgresql://billing:{SECRET}X@{host}/{database}",
        "userinfo-bad-percent": f"postgresql://billing:{SECRET}X%ZZ@{host}/{database}",
        "userinfo-percent-encoded": f"postgresql://billing:{SECRET}%21X@{host}/{database}",
        "userinfo-bad-ipv6": f"postgresql://billing:{SECRET}X@[::1/{database}",
        "userinfo-slash": f"postgresql://billing:{SECRET}/X@{host}/{database}",
        "userinfo-bad-port": f"postgresql://billing:{SECRET}X@127.0.0.1:99999/{database}",
        "password-param": f"postgresql://billing@{host}/{database}?password={SECRET}Z",
        "password-param-bad-sslmode": f"postgresql://billing@{host}/{database}?sslmode=bogus&password={SECRET}Z",
        "password-param-unknown": f"postgresql://billing@{host}/{database}?bogus=1&password={SECRET}Z",
        "sslpassword-param": f"postgresql://billing@{host}/{database}?sslpassword={SECRET}W",
        "passfile": f"postgresql://billing@{host}/{database}?passfile={urllib.parse.quote(str(passfile))}",
        "postgres-scheme": f"postgres://billing:{SECRET}V@{host}/{database}",
        "keyword-dsn": f"host=127.0.0.1 dbname={database} user=billing password={SECRET}K",
    }


def _failures(dsn: str | None) -> dict[str, tuple[str, str]]:
    """Failure modes: (host[:port], database)."""
    modes = {"refused": (f"127.0.0.1:{_closed_port()}", "cabinet")}
    if dsn is not None:
        parts = urllib.parse.urlsplit(dsn)
        server = f"{parts.hostname}:{parts.port or 5432}"
        modes["unknown-database"] = (server, "absente_i16")
        modes["success"] = (server, LEDGER_DATABASE)
    return modes


def _commands(url: str, folder: Path) -> dict[str, list[str]]:
    day = folder / "jour.csv"
    day.write_text(ROW, encoding="utf-8")
    return {
        "check-record": ["check", str(day), "--ledger", url, "--record"],
        "check-html": ["check", str(day), "--ledger", url, "--format", "html"],
        "stats": ["ledger", "stats", "--ledger", url],
        "export": ["ledger", "export", "--ledger", url, "--output", str(folder / "export.csv")],
        "debug": ["ledger", "stats", "--ledger", url, "--debug"],
    }


def _table(dsn: str | None, folder: Path) -> list[tuple[str, str]]:
    passfile = folder / "pgpass"
    passfile.write_text(f"*:*:*:billing:{SECRET}PF\n", encoding="utf-8")
    passfile.chmod(0o600)
    rows = []
    for mode, (host, database) in _failures(dsn).items():
        for form, url in _forms(host, database, passfile).items():
            rows.append((f"{form}/{mode}", url))
    return rows


def _assert_no_leak(
    url: str, folder: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> tuple[int, int]:
    """Run every command on ``url``; returns how many ran and succeeded. Fails on the first leak."""
    runs = succeeded = 0
    for name, arguments in _commands(url, folder).items():
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            result = CliRunner().invoke(cli.main, arguments)
        captured = capfd.readouterr()
        streams = {
            "stdout+stderr": result.output,
            "fd 1": captured.out,
            "fd 2": captured.err,
            "log": caplog.text,
            "exception": repr(result.exception) if not isinstance(result.exception, SystemExit) else "",
        }
        for path in folder.iterdir():
            if path.suffix in {".csv", ".html"} and path.name != "jour.csv":
                streams[path.name] = path.read_text(encoding="utf-8", errors="replace")
                path.unlink()
        for stream, text in streams.items():
            assert SECRET not in text, f"{name}: secret in {stream}: {text[-400:]!r}"
            assert SECRET.lower() not in text.lower()
        assert "Traceback" not in result.output or name == "debug"
        runs += 1
        succeeded += result.exit_code in (0, 1)
    return runs, succeeded


def test_no_secret_without_a_server(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    runs = 0
    for _case, url in _table(None, tmp_path):
        runs += _assert_no_leak(url, tmp_path, capfd, caplog)[0]
    assert runs == 13 * 5


@pytest.mark.postgres
def test_no_secret_with_a_server(
    postgres_dsn: str, tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    import psycopg

    # A role "billing" (the server trusts loopback: any password is accepted) owning its database.
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = 'billing'").fetchone():
            admin.execute("CREATE ROLE billing LOGIN")
        admin.execute(f"DROP DATABASE IF EXISTS {LEDGER_DATABASE}")
        admin.execute(f"CREATE DATABASE {LEDGER_DATABASE} OWNER billing")
    runs = succeeded = 0
    try:
        for _case, url in _table(postgres_dsn, tmp_path):
            ran, ok = _assert_no_leak(url, tmp_path, capfd, caplog)
            runs, succeeded = runs + ran, succeeded + ok
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {LEDGER_DATABASE} WITH (FORCE)")
    assert runs == 13 * 5 * 3
    assert succeeded >= 5 * 5  # the well-formed URLs of the "success" mode did reach the ledger


@pytest.mark.parametrize(
    ("url", "label"),
    [
        ("postgresql://u:pw12345@h:5432/db", "postgresql://u:***@h:5432/db"),
        (
            "postgresql://u@h/db?password=pw12345&sslmode=require",
            "postgresql://u@h/db?password=***&sslmode=require",
        ),
        ("postgresql://u@h/db?sslpassword=pw12345", "postgresql://u@h/db?sslpassword=***"),
        ("postgresql://u:pw12345@[::1/db", "postgresql://…"),
        ("postgresql://u:pw/12345@h/db", "postgresql://…"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
    ],
)
def test_public_label(url: str, label: str) -> None:
    assert public_label(url) == label


def test_scrub_removes_every_form() -> None:
    url = "postgresql://u:pa%21ss99@h/db?password=other77"
    secrets = url_secrets(url)
    assert {"pa%21ss99", "pa!ss99", "other77"} <= secrets
    text = 'invalid token "pa%21ss99", then pa!ss99 and password=other77 in postgresql://u:x@h'
    cleaned = scrub(text, secrets)
    assert "pa" not in cleaned.replace("password", "") and "other77" not in cleaned
    assert scrub("a b c", {"b"}) == ""  # too short to cut out: the whole text goes


def test_keyword_dsn_is_refused_not_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    target = f"host=127.0.0.1 user=billing password={SECRET}"
    result = CliRunner().invoke(cli.main, ["ledger", "stats", "--ledger", target])
    assert result.exit_code == 2 and "clé=valeur" in result.output and SECRET not in result.output
    day = tmp_path / "jour.csv"
    day.write_text(ROW, encoding="utf-8")
    result = CliRunner().invoke(cli.main, ["check", str(day), "--ledger", target, "--record"])
    assert result.exit_code == 2 and SECRET not in result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["jour.csv"]  # no file named after it
