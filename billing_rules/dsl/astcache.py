"""A disk cache of parsed rule files, so that the command line does not parse the catalogue each run.

Parsing the built-in catalogue (Lark, then the tree's transformation and checks) is most of the
start-up time of ``billing-rules check``, and the rule files do not change between runs. The syntax
tree of a file (``dsl.ast``: plain frozen values) is therefore stored after the first parse and read
back on the next runs, in a fraction of the time. Compiling is still done every run: it is cheap,
and closures cannot be stored.

Safe by construction: the cache is JSON, read back only into the classes of ``dsl.ast`` and a few
value types, so a damaged or hostile file can at worst give a tree that the compiler rejects; it
never runs code (no pickle). A cache entry is keyed by the SHA-256 of the file's text and path and
of the parser's own sources (grammar, ``ast.py``, ``parser.py``, ``transformer.py``): editing any of
them invalidates it. Any problem (no home directory, read-only disk, a corrupt entry) only means
parsing as before.

Trusted only if nobody else wrote it: a cache entry must never change a rule (an edited entry once
made IMT-ONCE vanish). Each entry carries an HMAC-SHA256 of its key and tree under a random key
kept in the folder (``key``, created 0600 on first use); an entry whose MAC does not verify, a
folder or entry not owned by the user or writable by others, is ignored (the file is parsed). The
folder is created 0700. So an entry can only make start-up slower, never change what a rule does.

The directory is ``$BILLING_RULES_CACHE_DIR``, else ``$XDG_CACHE_HOME/billing-rules``, else
``~/.cache/billing-rules``; ``BILLING_RULES_CACHE_DIR=off`` turns the cache off.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import os
import secrets
import stat
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from billing_rules.dsl import ast
from billing_rules.files import write_new_private

_FORMAT = "billing-rules-ast-2"
#: Entries kept (a catalogue is a dozen files; the rest is left over from edited files).
MAX_ENTRIES = 256
_TYPE = "__t"
# The only classes an entry may name: the syntax tree's own.
_CLASSES: dict[str, type] = {
    name: value
    for name, value in vars(ast).items()
    if isinstance(value, type) and attrs.has(value) and value.__module__ == ast.__name__
}


class _NotCacheable(Exception):
    """A value the JSON form does not cover: the tree is then simply not cached."""


def cache_dir() -> Path | None:
    """Where entries live; None when the cache is off or no directory can be found."""
    configured = os.environ.get("BILLING_RULES_CACHE_DIR")
    if configured is not None:
        return None if configured.strip().lower() in ("", "0", "off", "no") else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME")
    if base:
        return Path(base) / "billing-rules"
    try:
        return Path.home() / ".cache" / "billing-rules"
    except RuntimeError:  # no home directory
        return None


@functools.cache
def _parser_digest() -> str:
    """What the shape of a tree depends on, besides the file: the parser's sources."""
    from billing_rules.dsl import parser, transformer

    digest = hashlib.sha256(_FORMAT.encode())
    digest.update(parser.grammar_text().encode("utf-8"))
    for module in (ast, parser, transformer):
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()


def _key(text: str, path: str) -> str:
    digest = hashlib.sha256(_parser_digest().encode())
    digest.update(path.encode("utf-8", "surrogatepass") + b"\0" + text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


_SECRET_NAME = "key"
_SECRET_BYTES = 32


def _private(path: Path, *, folder: bool) -> bool:
    """Whether ``path`` is the user's own and nobody else may write to it (POSIX; elsewhere: yes)."""
    if os.name != "posix":
        return True
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode) or (stat.S_ISDIR(info.st_mode) != folder):
        return False
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _secret(directory: Path, *, create: bool) -> bytes | None:
    """The folder's MAC key (made on first use when ``create``); None if missing or not trusted."""
    path = directory / _SECRET_NAME
    if create and not path.exists():
        write_new_private(path, secrets.token_bytes(_SECRET_BYTES))  # or another process made it
    if not _private(directory, folder=True) or not _private(path, folder=False):
        return None
    data = path.read_bytes()
    return data if len(data) == _SECRET_BYTES else None


def _canonical(tree: Any) -> str:
    return json.dumps(tree, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _mac(secret: bytes, key: str, tree: str) -> str:
    return hmac.new(secret, f"{key}\0{tree}".encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def load(text: str, path: str) -> ast.RuleFile | None:
    """The tree of this exact text and path from the cache, or None (also when not trusted)."""
    directory = cache_dir()
    if directory is None:
        return None
    try:
        key = _key(text, path)
        secret = _secret(directory, create=False)
        entry = directory / f"{key}.json"
        if secret is None or not _private(entry, folder=False):
            return None
        document = json.loads(entry.read_text(encoding="utf-8"))
        if document.get("key") != key:
            return None
        if not hmac.compare_digest(str(document.get("mac")), _mac(secret, key, _canonical(document["tree"]))):
            return None  # edited, or written by someone without the key
        tree = _decode(document["tree"])
    except Exception:  # noqa: BLE001 - any problem: parse as if there were no cache
        return None
    return tree if isinstance(tree, ast.RuleFile) and tree.text == text and tree.path == path else None


def store(text: str, path: str, tree: ast.RuleFile) -> None:
    """Keep ``tree`` (parsed from ``text`` at ``path``) for the next runs; never fails."""
    directory = cache_dir()
    if directory is None:
        return
    try:
        key = _key(text, path)
        encoded = _encode(tree)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        secret = _secret(directory, create=True)
        if secret is None:
            return  # a folder someone else may write to: no cache at all
        payload = json.dumps(
            {"key": key, "mac": _mac(secret, key, _canonical(encoded)), "tree": encoded},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")  # created 0600
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(payload)
        os.replace(temporary, directory / f"{key}.json")
        _prune(directory)
    except Exception:  # noqa: BLE001 - a cache that cannot be written is no cache, not an error
        return


def _prune(directory: Path) -> None:
    """Keep the newest :data:`MAX_ENTRIES` entries: rule files that changed leave old entries."""
    entries = list(directory.glob("*.json"))
    if len(entries) <= MAX_ENTRIES:
        return
    entries.sort(key=lambda entry: entry.stat().st_mtime)
    for entry in entries[: len(entries) - MAX_ENTRIES]:
        entry.unlink(missing_ok=True)


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, tuple):
        return {_TYPE: "tuple", "items": [_encode(item) for item in value]}
    if isinstance(value, Decimal):
        return {_TYPE: "decimal", "value": str(value)}
    if isinstance(value, dt.datetime):
        return {_TYPE: "datetime", "value": value.isoformat()}
    if isinstance(value, dt.date):
        return {_TYPE: "date", "value": value.isoformat()}
    if isinstance(value, dt.time):
        return {_TYPE: "time", "value": value.isoformat()}
    cls = type(value)
    if _CLASSES.get(cls.__name__) is cls:
        encoded = {field.name: _encode(getattr(value, field.name)) for field in attrs.fields(cls)}
        encoded[_TYPE] = cls.__name__
        return encoded
    raise _NotCacheable(cls.__name__)


_SCALARS = {
    "decimal": Decimal,
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
}


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        raise _NotCacheable("list")  # the encoder never writes one
    if not isinstance(value, dict):
        return value
    kind = value[_TYPE]
    if kind == "tuple":
        return tuple(_decode(item) for item in value["items"])
    scalar = _SCALARS.get(kind)
    if scalar is not None:
        return scalar(value["value"])
    cls = _CLASSES.get(kind)
    if cls is None:
        raise _NotCacheable(kind)
    return cls(**{field.name: _decode(value[field.name]) for field in attrs.fields(cls) if field.init})
