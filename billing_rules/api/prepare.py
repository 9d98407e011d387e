"""Prepared files for the embedding API: billing files read and validated once, checked again later.

A vendor re-checking a year under other texts or another rule selection, or handing the year to
a Spark cluster, pays the reading once (:mod:`billing_rules.readers.prepared`); the checks of the
prepared file (``Validator.check_paths`` on it, any engine) give the files' own reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from billing_rules.errors import BillingRulesError

if TYPE_CHECKING:
    from billing_rules.api.validator import Validator
    from billing_rules.readers.prepared import PreparedInfo


def prepare_files(
    validator: Validator,
    paths: Sequence[str],
    output: str,
    *,
    input_format: str | None = None,
    stdin: Any = None,
    progress: Any = None,
) -> PreparedInfo:
    """Read ``paths`` as ``validator`` reads them for a check; write the prepared file ``output``.

    ``output`` (Parquet) is written owner-only and atomically: it names patients, and a failure
    leaves it as it was. The validator's readers count (its ``[columns]`` mapping, ``lines``, a
    plugin's format); its rules do not: a prepared file is checked under any rule set. Needs the
    ``batch`` extra. Returns what the file's footer says: the original files, the readable
    invoices, the input errors. ``progress``: what counts the rows and bytes read (the CLI's
    progress line), as for a check.

    Raises:
        ReadError: an input cannot be read at all (nothing is written).
        OutputError: ``output`` cannot be written.
    """
    from billing_rules.engines.choice import relational_installed

    if not relational_installed():
        raise BillingRulesError("prepare demande l'extra batch : pip install 'billing-rules[batch]'")
    from billing_rules.engines.relational.prepare import prepare

    return prepare(validator, paths, output, input_format=input_format, stdin=stdin, progress=progress)
