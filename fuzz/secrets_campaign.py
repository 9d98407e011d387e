"""Secrets campaign: no password of a PostgreSQL URL in any output, whatever fails (issue 16).

Run on demand, loopback only::

    python fuzz/secrets_campaign.py [--server postgresql://postgres@127.0.0.1:5433/db]

Every URL form that can carry a secret (userinfo, percent-encoded or malformed; ``password``,
``sslpassword`` parameters; a ``passfile``; a libpq ``key=value`` string given by mistake) is
crossed with every failure mode (refused connection; with ``--server``: unknown database, unknown
role, and success) and run through the real commands that take a ledger, as subprocesses, each
also with ``--debug``. The process runs with Python logging at DEBUG on stderr, so log records are
searched too. Searched: stdout, stderr (what the CLI, Python logging and libpq write there), every
file the command wrote. Prints the figures; exit 1 on any leak.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from pathlib import Path

SECRET = "Zq7S3cr3tWx"
ROW = "invoice_id;date;practitioner_id;patient_id;birth_date;codes\nF1;2024-02-05;1;P1;1950-01-01;G\n"
LEDGER_DATABASE = "secrets_campaign_ledger"
_RUNNER = (
    "import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stderr); "
    "from billing_rules.cli import main; sys.argv[0] = 'billing-rules'; main()"
)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def forms(host: str, database: str, passfile: Path) -> dict[str, str]:
    quoted = urllib.parse.quote(str(passfile))
    hostname, _, port = host.partition(":")
    return {
        "userinfo": f"postgresql://billing:{SECRET}@{host}/{database}",
        "userinfo-percent-encoded": f"postgresql://billing:{SECRET}%21%40@{host}/{database}",
        "userinfo-bad-percent": f"postgresql://billing:{SECRET}%ZZ@{host}/{database}",
        "userinfo-bad-ipv6": f"postgresql://billing:{SECRET}@[::1/{database}",
        "userinfo-slash": f"postgresql://billing:{SECRET}/x@{host}/{database}",
        "userinfo-question": f"postgresql://billing:{SECRET}?x@{host}/{database}",
        "userinfo-bad-port": f"postgresql://billing:{SECRET}@127.0.0.1:99999/{database}",
        "userinfo-multi-host": f"postgresql://billing:{SECRET}@{host},127.0.0.1:{closed_port()}/{database}",
        "postgres-scheme": f"postgres://billing:{SECRET}@{host}/{database}",
        "password-param": f"postgresql://billing@{host}/{database}?password={SECRET}",
        "password-param-encoded": f"postgresql://billing@{host}/{database}?password={SECRET}%26x",
        "password-param-bad-sslmode": f"postgresql://billing@{host}/{database}?sslmode=bogus&password={SECRET}",
        "password-param-unknown": f"postgresql://billing@{host}/{database}?bogus=1&password={SECRET}",
        "password-both": f"postgresql://billing:{SECRET}@{host}/{database}?password={SECRET}2",
        "sslpassword-param": f"postgresql://billing@{host}/{database}?sslpassword={SECRET}",
        "passfile": f"postgresql://billing@{host}/{database}?passfile={quoted}",
        "keyword-dsn": (
            f"host={hostname} port={port or 5432} dbname={database} user=billing password={SECRET}"
        ),
    }


def failures(server: str | None) -> dict[str, tuple[str, str, str]]:
    """Failure mode -> (host[:port], database, role to substitute for "billing")."""
    modes = {"refused": (f"127.0.0.1:{closed_port()}", "cabinet", "billing")}
    if server:
        parts = urllib.parse.urlsplit(server)
        where = f"{parts.hostname}:{parts.port or 5432}"
        modes["unknown-database"] = (where, "absente_campaign", "billing")
        modes["unknown-role"] = (where, LEDGER_DATABASE, "inconnu")
        modes["success"] = (where, LEDGER_DATABASE, "billing")
    return modes


def commands(url: str, folder: Path) -> dict[str, list[str]]:
    day = folder / "jour.csv"
    day.write_text(ROW, encoding="utf-8")
    return {
        "check-record": ["check", str(day), "--ledger", url, "--record"],
        "check-html": ["check", str(day), "--ledger", url, "--format", "html"],
        "ledger-import": ["ledger", "import", str(day), "--ledger", url],
        "ledger-stats": ["ledger", "stats", "--ledger", url, "--format", "json"],
        "ledger-export": ["ledger", "export", "--ledger", url, "--output", str(folder / "export.csv")],
        "ledger-check": ["ledger", "check", "--ledger", url],
        "forfait": ["forfait", "--ledger", url, "--year", "2024", "--format", "json"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("BILLING_RULES_TEST_POSTGRES"))
    parser.add_argument("--no-debug", action="store_true", help="skip the --debug variants")
    parser.add_argument(
        "--debug-commands",
        default="check-record,ledger-stats",
        help="commands also run with --debug (comma-separated; 'all' for every one)",
    )
    args = parser.parse_args(argv)
    if args.server:
        import psycopg

        with psycopg.connect(args.server, autocommit=True) as admin:
            if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = 'billing'").fetchone():
                admin.execute("CREATE ROLE billing LOGIN")
            admin.execute(f"DROP DATABASE IF EXISTS {LEDGER_DATABASE}")
            admin.execute(f"CREATE DATABASE {LEDGER_DATABASE} OWNER billing")
    counts: Counter[str] = Counter()
    leaks: list[str] = []
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="secrets-campaign-") as name:
            folder = Path(name)
            passfile = folder / "pgpass"
            passfile.write_text(f"*:*:*:*:{SECRET}\n", encoding="utf-8")
            passfile.chmod(0o600)
            env = dict(os.environ, HOME=str(folder), PYTHONIOENCODING="utf-8")
            env.pop("PGPASSWORD", None)
            for mode, (host, database, role) in failures(args.server).items():
                for form, url in forms(host, database, passfile).items():
                    url = url.replace("billing", role)
                    print(f"{mode} / {form}: {counts['runs']} runs so far, {len(leaks)} leaks", flush=True)
                    runs = commands(url, folder)
                    counts["commands"] = len(runs)
                    for command, arguments in runs.items():
                        with_debug = not args.no_debug and (
                            args.debug_commands == "all" or command in args.debug_commands.split(",")
                        )
                        for debug in (False, True) if with_debug else (False,):
                            extra = ["--debug"] if debug else []
                            result = subprocess.run(
                                [sys.executable, "-c", _RUNNER, *arguments, *extra],
                                capture_output=True,
                                text=True,
                                env=env,
                                timeout=120,
                                check=False,
                            )
                            counts["runs"] += 1
                            counts[f"exit {result.returncode}"] += 1
                            outputs = {"stdout": result.stdout, "stderr": result.stderr}
                            for path in folder.iterdir():
                                if path.name not in ("jour.csv", "pgpass") and path.is_file():
                                    outputs[path.name] = path.read_text(encoding="utf-8", errors="replace")
                                    path.unlink()
                            for stream, text in outputs.items():
                                if SECRET.lower() in text.lower():
                                    leaks.append(
                                        f"{mode}/{form}/{command}{' --debug' if debug else ''}: {stream}"
                                    )
                            if "Traceback" in result.stderr and not debug:
                                counts["tracebacks without --debug"] += 1
    finally:
        if args.server:
            import psycopg

            with psycopg.connect(args.server, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {LEDGER_DATABASE} WITH (FORCE)")
    modes = len(failures(args.server))
    print(
        f"secrets campaign: {len(forms('h', 'd', Path('p')))} URL forms x {modes} failure modes x "
        f"{counts.pop('commands', 0)} commands (also with --debug: {args.debug_commands}), "
        f"{time.monotonic() - started:.0f} s"
    )
    print("runs: " + ", ".join(f"{key} {value}" for key, value in sorted(counts.items())))
    print(f"leaks: {len(leaks)}")
    for leak in leaks[:50]:
        print(f"  {leak}")
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
