"""The billing files a command reads: folders expanded, the same file given twice refused.

A folder argument stands for the billing files directly inside it, as ``ruff check src`` stands for
the Python files in ``src``, with choices made for a practice's export folder:

- only files whose extension a loaded reader claims (``.csv``, ``.json``, ``.jsonl``, ``.ndjson``,
  a plugin's), except ``.txt``: a folder often holds a note or a software's log, and ``.txt`` is
  read as CSV only when asked for by name or with ``--input-format csv``. With ``--input-format``,
  the extensions of that format (``.txt`` included for CSV);
- not recursive: a sub-folder is usually ``archives/`` or ``déjà envoyés/``, whose invoices would
  count twice in every window;
- hidden files (``.…``, LibreOffice's ``.~lock.…#``) and Office's lock files (``~$…``) are skipped;
- sorted by name (code point order, the same on every machine), since file order is the order of
  invoices on the same day without a time (SPEC §1);
- a folder with no billing file is an error (exit 2): nothing could be checked.

The same file given twice (``jour.csv jour.csv``, ``./jour.csv``, a link to it, or a folder and a
file in it) would make every row a duplicate-invoice input error: it is one clear error instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from billing_rules.errors import ReadError

STDIN = "-"

BUILTIN_EXTENSIONS = (".csv", ".txt", ".json", ".jsonl", ".ndjson")
"""The built-in readers' extensions, for a validator that does not list its readers."""

GENERIC_EXTENSIONS = frozenset({".txt"})
"""Extensions a folder's files are not read by unless the format is given: too often not billing."""

_LOCK_PREFIXES = (".", "~$")


def folder_extensions(readers: Mapping[str, Any] | None, input_format: str | None) -> tuple[str, ...]:
    """The extensions of the files a folder argument stands for."""
    if not readers:
        claimed = BUILTIN_EXTENSIONS
        if input_format is not None:
            by_format = {"csv": (".csv", ".txt"), "json": (".json",), "jsonl": (".jsonl", ".ndjson")}
            claimed = by_format.get(input_format.lower(), claimed)
    elif input_format is not None and input_format.lower() in readers:
        claimed = tuple(readers[input_format.lower()].extensions)
    else:
        claimed = tuple(ext for reader in readers.values() for ext in reader.extensions)
    if input_format is None:
        claimed = tuple(ext for ext in claimed if ext.lower() not in GENERIC_EXTENSIONS)
    return tuple(sorted({ext.lower() for ext in claimed}))


def folder_files(folder: str, extensions: Iterable[str]) -> list[str]:
    """The billing files directly inside ``folder``, sorted by name; an error when there are none."""
    wanted = {ext.lower() for ext in extensions}
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise ReadError(f"dossier illisible « {folder} » : {exc.strerror or type(exc).__name__}") from None
    found = [
        os.path.join(folder, name)
        for name in names
        if not name.startswith(_LOCK_PREFIXES)
        and os.path.splitext(name)[1].lower() in wanted
        and os.path.isfile(os.path.join(folder, name))
    ]
    if not found:
        raise ReadError(
            f"le dossier « {folder} » ne contient aucun fichier de facturation "
            f"({', '.join(sorted(wanted))} ; les sous-dossiers ne sont pas lus)"
        )
    return found


def expand(paths: Sequence[str], extensions: Iterable[str]) -> list[str]:
    """``paths`` with every folder replaced by its billing files; then :func:`refuse_duplicates`."""
    wanted = tuple(extensions)
    files: list[str] = []
    for path in paths:
        if path != STDIN and os.path.isdir(path):
            files.extend(folder_files(path, wanted))
        else:
            files.append(path)
    refuse_duplicates(files)
    return files


def refuse_duplicates(paths: Sequence[str]) -> None:
    """One error naming the file given twice, by any path (``./x``, a link, a folder holding it)."""
    seen: dict[object, str] = {}
    for path in paths:
        if path == STDIN:
            key: object = STDIN
        else:
            try:
                status = os.stat(path)
            except OSError:
                continue  # missing or unreadable: its own error comes when it is read
            key = (status.st_dev, status.st_ino)
        if key not in seen:
            seen[key] = path
            continue
        first = seen[key]
        if path == STDIN:
            raise ReadError("l'entrée standard (« - ») est donnée deux fois")
        also = "" if first == path else f" (aussi sous « {first} »)"
        raise ReadError(
            f"le fichier « {path} » est donné deux fois{also} : chaque facture y serait un doublon ; "
            "indiquez-le une seule fois"
        )


def refuse_overwriting(output: str | None, paths: Sequence[str]) -> None:
    """``-o`` naming one of the files being read would replace the practice's export by the report.

    Compared as files when both exist (a link, ``./``), else as resolved paths: a ledger that
    ``--record`` is about to create, or a ``-wal`` file SQLite will make, is refused too.
    """
    if output is None:
        return
    for path in paths:
        if path != STDIN and _same_file(path, output):
            raise ReadError(
                f"-o « {output} » est un des fichiers que la commande lit : le rapport le remplacerait ; "
                "choisissez un autre nom de fichier"
            )


def _same_file(one: str, other: str) -> bool:
    try:
        if os.path.exists(one) and os.path.exists(other):
            return os.path.samefile(one, other)
        return os.path.realpath(one) == os.path.realpath(other)
    except (OSError, ValueError):  # an unreadable folder, a NUL in a name: not the same file
        return False


_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
"""Files SQLite keeps beside a ledger: a report written over one of them damages the ledger."""


def files_read(ctx: Any) -> list[str]:
    """Every file the running command may read, from its parameters and its parents', for ``-o``.

    Gathered from the command line itself rather than listed by each command, so that no command
    can forget one: billing files, ``--rules``, PATIENTS, the ledger (``--ledger`` or its
    environment variable, ``sqlite:`` prefix removed, the files SQLite keeps beside it), ``--config``,
    the practice's configuration file found by default and the rule files it loads. Choices
    (``--format json``) are not file names and are skipped; any other value is compared with ``-o``
    as a path (a practitioner number never equals a report's file name in practice, and refusing it
    would cost nothing).
    """
    import click

    found: list[str] = []
    while ctx is not None:
        choices = {param.name for param in ctx.command.params if isinstance(param.type, click.Choice)}
        for name, value in ctx.params.items():
            if name == "output" or name in choices:
                continue
            for item in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(item, (str, os.PathLike)):
                    found.append(os.fspath(item))
                config_path = getattr(item, "config_path", None)  # the plugin and config selection
                if isinstance(config_path, str):
                    found.append(config_path)
        ctx = ctx.parent
    found += _configuration_files(found)
    # ``sqlite:cabinet.db`` (or ``sqlite://``) names the file ``open_ledger`` opens.
    found = [_sqlite_path(path) for path in found]
    return [*found, *(path + suffix for path in found for suffix in _SQLITE_COMPANIONS)]


def _sqlite_path(name: str) -> str:
    return name.removeprefix("sqlite:").removeprefix("//") if name.startswith("sqlite:") else name


def _configuration_files(named: list[str]) -> list[str]:
    """The practice's configuration file (found by default unless named) and the rule files it loads."""
    from billing_rules.config import find_config, load_config
    from billing_rules.errors import BillingRulesError

    config = find_config()
    paths = [str(config)] if config is not None else []
    files: list[str] = []
    for path in [*paths, *(name for name in named if name.endswith((".toml",)) and os.path.isfile(name))]:
        try:
            files += [str(rule_file) for rule_file in load_config(path).rule_files]
        except (BillingRulesError, OSError):
            continue  # a configuration that cannot be read says so when the command loads it
    return [*paths, *files]
