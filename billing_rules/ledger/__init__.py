"""The ledger: invoices already billed, kept between runs so that windows span days, files and years.

A frequency rule only means something across days (the 2nd VL of a quarter is usually billed weeks
after the first), so ``check --ledger`` loads, once per check, exactly the history the compiled
counters' windows need for the input's patients and practitioners, and ``--record`` stores the
input afterwards. Two stores implement the same :class:`Ledger` protocol (``protocol``): SQLite (a
file, the embedded default) and PostgreSQL (a practice server or a vendor's), chosen by
:func:`open_ledger`. The ledger is a store only: it imports no engine.
"""

from __future__ import annotations

import re
from pathlib import Path

from billing_rules.errors import LedgerError
from billing_rules.ledger.protocol import HistoryRequest, Ledger, LedgerStats, WindowQuery, is_url

__all__ = [
    "HistoryRequest",
    "Ledger",
    "LedgerError",
    "LedgerStats",
    "WindowQuery",
    "is_url",
    "open_ledger",
]


_KEYWORD_DSN = re.compile(
    r"(?i)(?:^|\s)(?:host|hostaddr|dbname|user|password|sslpassword|passfile|port|service|options|sslmode)"
    r"\s*=|password\s*="
)
_SCHEME = re.compile(r"(?i)^\s*([a-z][a-z0-9+.\-]+):(.*)$", re.DOTALL)
_CREDENTIALS = re.compile(r"^[^@]*:[^@]*@")


def _looks_like_keyword_dsn(text: str) -> bool:
    """Whether ``text`` is a libpq ``key=value`` connection string (spaces around ``=`` or not)."""
    return _KEYWORD_DSN.search(text) is not None


def _looks_like_a_url(text: str) -> bool:
    """Whether ``text`` is shaped like a URL that is not a usable ``sqlite:`` or PostgreSQL one.

    A mistyped scheme (``postgressql://``, ``postgresql:/``), another database's URL, or any
    ``scheme:`` followed by ``user:secret@``: as a file name it would be created, and echoed with
    its password.
    """
    match = _SCHEME.match(text)
    if match is None:
        return False
    scheme, rest = match.group(1).lower(), match.group(2)
    if _CREDENTIALS.match(rest.removeprefix("//")):
        return True
    return scheme != "sqlite" and (rest.startswith("//") or scheme.startswith("postgres"))


def open_ledger(
    target: str | Path, *, create: bool = True, readonly: bool = False, verify: bool = True
) -> Ledger:
    """The ledger at ``target``: a ``postgresql://`` URL, or an SQLite file path.

    The SQLite file is created if missing unless ``create`` is false. ``readonly``: nothing will
    be written (the file is opened read-only, so read-only media work; a missing file is still
    created when ``create`` allows it). ``verify``: refuse an SQLite file whose ``quick_check``
    fails (only ``ledger export``, the recovery path, reads a damaged file). Raises
    :class:`LedgerError` in French on any failure.
    """
    text = str(target)
    if is_url(text):
        from billing_rules.ledger.postgres import PostgresLedger

        # libpq only knows the lowercase schemes, without surrounding spaces.
        scheme, rest = text.strip().split("://", 1)
        return PostgresLedger(f"{scheme.lower()}://{rest}", create=create)
    if _looks_like_keyword_dsn(text):
        # "host=... password=..." is libpq's other syntax; as a file name it would be created, and
        # shown in messages with its password. Never echoed.
        raise LedgerError(
            "--ledger ressemble à une chaîne de connexion PostgreSQL « clé=valeur » : donnez une URL "
            "postgresql://utilisateur@serveur/base (le mot de passe dans PGPASSWORD ou ~/.pgpass)"
        )
    if _looks_like_a_url(text):
        # Never echoed either: it may hold a password.
        raise LedgerError(
            "--ledger ressemble à une URL mais n'est ni postgresql://... ni un fichier SQLite : "
            "vérifiez le schéma (postgresql://utilisateur@serveur/base) ; le mot de passe dans "
            "PGPASSWORD ou ~/.pgpass"
        )
    if text.startswith("sqlite:"):
        text = text.removeprefix("sqlite:").removeprefix("//")
    from billing_rules.ledger.sqlite import SqliteLedger

    return SqliteLedger(text, create=create, readonly=readonly and Path(text).exists(), verify=verify)
