"""``prepare``: the input read and validated once, its invoice table written as a prepared file.

The table is built exactly as a check builds it (the columnar reader where it reads the input as
the row readers would, else the row readers staged through :class:`~.table.TableWriter`), by
DuckDB, then written in input order with the reading's footer (:mod:`billing_rules.readers.prepared`).
Checking the prepared file then skips the reading: its report is the one the files give.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from typing import Any

from billing_rules import scratch
from billing_rules.engines.relational.duckdb import DuckDbBackend, interruptible
from billing_rules.engines.relational.table import TABLE
from billing_rules.readers.prepared import KEY, PreparedInfo, metadata_text


def prepare(
    validator: Any,
    paths: Sequence[str],
    output: str,
    *,
    input_format: str | None = None,
    stdin: Any = None,
    progress: Any = None,
) -> PreparedInfo:
    """Read ``paths`` as ``validator`` would check them; write the prepared file ``output``.

    ``output`` is written owner-only and atomically (it names patients): a failure leaves it as
    it was. Returns what its footer says (the original files, the readable invoices, the input
    errors). ``progress``: the CLI's progress line, fed by the columnar reader as in a check.

    Raises:
        ReadError: an input cannot be read at all (nothing is written).
    """
    from billing_rules.engines.relational.api import columnar_readers, staged_input, streamed_input
    from billing_rules.readers import InputStream
    from billing_rules.reporters.files import private_file

    sources = list(paths)
    backend = DuckDbBackend()
    staged = tempfile.NamedTemporaryFile(suffix=".parquet", delete=False, dir=scratch.folder())  # noqa: SIM115
    staged.close()
    try:
        readers = columnar_readers(validator, sources, input_format)
        if readers is not None:
            streamed = streamed_input(sources, input_format, stdin, progress, readers)
            backend.load_invoices(streamed)
            read = streamed.read
            info = PreparedInfo(read.files, read.events, tuple(read.input_errors))
        else:
            items = InputStream(
                sources,
                input_format=input_format,
                readers=validator.readers,
                lines=validator.lines,
                stdin=stdin,
            )
            writer, errors = staged_input(items, items.files)
            try:
                backend.load_invoices(writer)
            finally:
                writer.discard()
            info = PreparedInfo(items.files, items.events, tuple(errors))
        footer = metadata_text(info.files, info.events, info.input_errors).replace("'", "''")
        key = KEY.replace("'", "''")
        with interruptible():
            # Input order: the engine's connection keeps no insertion order (it may spill).
            backend.con.execute(
                f"COPY (SELECT * FROM {TABLE} ORDER BY seq) TO ? "  # noqa: S608 - constants and escaped JSON
                f"(FORMAT PARQUET, KV_METADATA {{'{key}': '{footer}'}})",
                [staged.name],
            )
        with open(staged.name, "rb") as written, private_file(output, binary=True) as target:
            shutil.copyfileobj(written, target, 1024 * 1024)
        return info
    finally:
        backend.close()
        os.unlink(staged.name)
