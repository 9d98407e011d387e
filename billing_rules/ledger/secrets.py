"""Keep a PostgreSQL URL's secrets out of every message, whatever the driver says.

A ``--ledger postgresql://...`` URL may carry a password in three places: its userinfo
(``user:pw@``), a ``password`` or ``sslpassword`` parameter, and the file named by ``passfile``.
The driver (libpq through psycopg) quotes the URL, or a piece of it, in its own error texts
(``invalid percent-encoded token: "pw%ZZ"``, the whole URI on a bad IPv6 address...), so masking
only the label is not enough: every driver text that reaches a message goes through :func:`scrub`,
which removes every secret-like token the URL holds, in raw and percent-decoded forms. When the URL
cannot be parsed, there is no telling what in it is secret: :func:`public_label` then prints no
part of it, and :func:`driver_reason` drops whatever follows ``://`` and whatever the driver quotes
(libpq quotes pieces of it without the scheme). A ``password=`` parameter followed by a ``#`` or
by what is not a libpq parameter (an unencoded ``&``) is treated the same way from that parameter on.

The recommended way is to keep passwords out of the URL altogether: ``PGPASSWORD``, a
``~/.pgpass`` file (mode 0600) or a service file (``PGSERVICEFILE``, ``?service=``), which libpq
reads by itself (see the README).
"""

from __future__ import annotations

import logging
import os
import re
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

MASK = "***"
"""What replaces a secret in a message."""

_SECRET_PARAMS = ("password", "sslpassword")
_PARAM = re.compile(r"(?i)((?:^|[?&;\s])(?:ssl)?password\s*=\s*)([^&\s;\"']*)")
_USERINFO = re.compile(r"(?i)(postgres(?:ql)?://)([^/?#\s\"']*@)")
_AFTER_SCHEME = re.compile(r"(?i)(postgres(?:ql)?://)\S*")
_QUOTED = re.compile(r"\"[^\"]*\"?|'[^']*'?")
_PIECES = re.compile(r"[:/?#@&=;]")
_SECRET_ITEM = re.compile(r"(?i)^\s*(?:ssl)?password\s*=")
_LIBPQ_KEYWORDS = frozenset(
    "host hostaddr port dbname user password passfile require_auth channel_binding connect_timeout "
    "client_encoding options application_name fallback_application_name keepalives keepalives_idle "
    "keepalives_interval keepalives_count tcp_user_timeout replication gssencmode sslmode requiressl "
    "sslcompression sslcert sslkey sslpassword sslcertmode sslrootcert sslcrl sslcrldir sslsni "
    "sslnegotiation requirepeer ssl_min_protocol_version ssl_max_protocol_version "
    "min_protocol_version max_protocol_version krbsrvname gsslib gssdelegation service "
    "target_session_attrs load_balance_hosts".split()
)
_PASSFILE_LIMIT = 64 * 1024
_SHORTEST_REPLACEABLE = 4
"""A secret shorter than this cannot be replaced inside a text without mangling it: a driver text
that contains one is dropped whole."""


def _parsed(url: str) -> urllib.parse.SplitResult | None:
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        return None
    if "[" in parts.netloc and "]" not in parts.netloc:
        return None
    if "@" in url.split("://", 1)[-1][len(parts.netloc) :]:
        return None  # an "@" past the host: a password holding "/", "?" or "#", not cut where libpq cuts
    return parts


def _query_items(url: str) -> list[str]:
    """The raw ``&``-separated items after the first ``?`` (a ``#`` is no fragment for libpq)."""
    query = url.partition("?")[2]
    return query.split("&") if query else []


def _secret_tail(url: str) -> int | None:
    """Index of the first query item after which the rest cannot be told apart from a password.

    libpq cuts a ``password=`` value at the next ``&`` and knows no fragment: an unencoded
    password holding ``&`` or ``#`` spills into what looks like other parameters. When a secret
    parameter is followed by a ``#`` or by an item that is not ``known_keyword=value``, the items
    from that parameter on are all treated as secret.
    """
    items = _query_items(url)
    for index, item in enumerate(items):
        if not _SECRET_ITEM.match(urllib.parse.unquote(item)):
            continue
        rest = items[index + 1 :]
        if "#" in "&".join(items[index:]):
            return index
        for other in rest:
            key, equals, _value = other.partition("=")
            if not equals or urllib.parse.unquote(key).strip().lower() not in _LIBPQ_KEYWORDS:
                return index
    return None


def ambiguous(url: str) -> bool:
    """Whether the secret's extent in ``url`` cannot be told (the driver may quote any piece)."""
    return _parsed(url) is None or _secret_tail(url) is not None


def quiet_driver_log() -> None:
    """Keep psycopg's own English log lines (``error ignored terminating ...``) off stderr."""
    logger = logging.getLogger("psycopg")
    if logger.level < logging.CRITICAL:
        logger.setLevel(logging.CRITICAL)


def _passfile_secrets(name: str) -> set[str]:
    """The password fields of a ``.pgpass``-format file (read bounded; unreadable: none)."""
    try:
        with open(name, "rb") as stream:
            data = stream.read(_PASSFILE_LIMIT)
    except OSError:
        return set()
    found: set[str] = set()
    for line in data.decode("utf-8", "replace").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = re.split(r"(?<!\\):", line, maxsplit=4)
        if len(fields) == 5 and fields[4]:
            found.add(fields[4].replace("\\:", ":").replace("\\\\", "\\"))
    return found


def url_secrets(url: str) -> set[str]:
    """Every secret the URL holds or points to, as written and percent-decoded.

    For an unparseable URL, the whole userinfo and every ``password=`` value found by pattern.
    """
    found: set[str] = set()
    parts = _parsed(url)
    if parts is not None and "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        if ":" in userinfo:
            found.add(userinfo.split(":", 1)[1])
    if parts is None and "://" in url and "@" in url:
        # User and password alike, up to the last "@": no telling where the secret ends.
        userinfo = url.split("://", 1)[1].rsplit("@", 1)[0]
        found.add(userinfo)
        found.update(_PIECES.split(userinfo))  # libpq cuts it at other places and quotes the pieces
    tail = _secret_tail(url)
    if tail is not None:
        spilled = "&".join(_query_items(url)[tail:])
        value = spilled.partition("=")[2]
        found.add(value)
        found.update(_PIECES.split(value))
    for match in _PARAM.finditer(url.replace("?", "&")):
        found.add(match.group(2))
    query = parts.query if parts is not None else url.partition("?")[2]
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    except ValueError:
        pairs = []
    for key, value in pairs:
        if key.lower() in _SECRET_PARAMS:
            found.add(value)
        elif key.lower() == "passfile":
            found |= _passfile_secrets(value)
    for variable in ("PGPASSWORD",):
        if os.environ.get(variable):
            found.add(os.environ[variable])
    for name in (os.environ.get("PGPASSFILE"), str(Path.home() / ".pgpass")):
        if name:
            found |= _passfile_secrets(name)
    decoded = {urllib.parse.unquote(secret, errors="replace") for secret in found}
    plus = {urllib.parse.unquote_plus(secret, errors="replace") for secret in found}
    return {secret for secret in found | decoded | plus if secret}


def public_label(url: str) -> str:
    """The URL for messages: user, host, port and database, never a password of any kind.

    An unparseable URL is shown as ``postgresql://…`` (any part of it might be the secret).
    """
    parts = _parsed(url)
    if parts is None:
        return "postgresql://…"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:{MASK}@{host}"
    query = parts.query
    tail = _secret_tail(url)
    if tail is not None:
        # Everything from the secret parameter on may be the password: the key only, masked.
        item = _query_items(url)[tail]
        query = "&".join([*_query_items(url)[:tail], f"{item.split('=', 1)[0]}={MASK}"])
        parts = parts._replace(fragment="")
    if query:
        kept = []
        for item in query.split("&"):
            key = item.split("=", 1)[0]
            if urllib.parse.unquote(key).strip().lower() in _SECRET_PARAMS:
                kept.append(f"{key}={MASK}")
            else:
                kept.append(item)
        query = "&".join(kept)
    label = urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))
    if not netloc and url.lower().startswith(f"{parts.scheme.lower()}://"):
        label = label.replace(f"{parts.scheme}:", f"{parts.scheme}://", 1)  # postgresql://?service=x
    for secret in sorted(url_secrets(url), key=len, reverse=True):
        if secret in label:  # e.g. a passfile's password that is also the user's name
            if len(secret) < _SHORTEST_REPLACEABLE:
                return "postgresql://…"
            label = label.replace(secret, MASK)
    return label


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` without any of ``secrets`` nor anything that looks like a URL's password.

    Returns an empty string when a secret is too short to be cut out safely (the caller then
    says something generic).
    """
    cleaned = _PARAM.sub(lambda match: match.group(1) + MASK, text)
    cleaned = _USERINFO.sub(lambda match: match.group(1) + MASK + "@", cleaned)
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret not in cleaned:
            continue
        if len(secret) < _SHORTEST_REPLACEABLE:
            return ""
        cleaned = cleaned.replace(secret, MASK)
    return cleaned


def driver_reason(exc: BaseException, url: str) -> str:
    """The first line of a driver error, scrubbed of the URL's secrets (its type if nothing is left)."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if ambiguous(url):
        # No telling what is secret: the driver may quote any piece of the URL, with or without its
        # scheme. Nothing it quotes is kept, nor anything after a scheme.
        first = _AFTER_SCHEME.sub(lambda match: match.group(1) + "…", first)
        first = _QUOTED.sub("«…»", first)
    cleaned = scrub(first, url_secrets(url))
    if not cleaned and ambiguous(url):
        return (
            "URL illisible (caractères spéciaux du mot de passe à encoder, %40 pour @ ; ou le mot de "
            "passe dans PGPASSWORD ou ~/.pgpass)"
        )
    return cleaned or type(exc).__name__
