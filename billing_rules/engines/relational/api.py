"""The relational engine behind the validator's API: files or events in, a :class:`Report` out.

The input is read by the project's readers (the same input errors, line for line), its readable
invoices written to the invoice table with the ledger's history, and the plan run on it. The
validator's ``adjust_findings`` hooks see each invoice's findings as with the row engine.
"""

from __future__ import annotations

import contextlib
import functools
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from billing_rules.engines.relational.duckdb import DuckDbBackend
from billing_rules.engines.relational.run import RelationalChecker, RelationalResult
from billing_rules.engines.relational.table import TableWriter
from billing_rules.errors import BillingRulesError
from billing_rules.model import Event, InputError, Report
from billing_rules.readers.base import unwrapped

if TYPE_CHECKING:
    from billing_rules.readers.prepared import PreparedInfo

_CHECKERS: weakref.WeakKeyDictionary[Any, dict[tuple[str, str | None], RelationalChecker]] = (
    weakref.WeakKeyDictionary()
)


def checker_for(validator: Any, engine: str = "duckdb", master: str | None = None) -> RelationalChecker:
    """The validator's rule set, planned once per engine (raises ``Unsupported`` for a rule it cannot run).

    ``engine`` is ``duckdb`` or ``spark`` (``master``: Spark's ``--master``, else ``SPARK_REMOTE``,
    else ``local[2]``, resolved here so that each master has its checker); the statements' texts are
    cached by the checker, in that engine's dialect. A checker keeps no session: each check asks
    for its master's session, which is started again if it was stopped (another classic master
    took its place in the process).
    """
    if engine == "spark":
        from billing_rules.engines.relational.spark_session import master_key, session

        master = master_key(master)
        session(master)  # started (or refused, in French) before any input is read
    checkers = _CHECKERS.setdefault(validator, {})
    checker = checkers.get((engine, master))
    if checker is None:
        checker = checkers[(engine, master)] = RelationalChecker(validator.ruleset, _factory(engine, master))
    return checker


def _factory(engine: str, master: str | None) -> Callable[[], Any]:
    if engine == "spark":
        from billing_rules.engines.relational.spark import SparkBackend

        return functools.partial(SparkBackend, master=master)
    return DuckDbBackend


def check_events(
    validator: Any,
    events: Iterable[Event],
    *,
    history: Iterable[Event] = (),
    engine: str = "duckdb",
    master: str | None = None,
) -> Report:
    """``Validator.check_events`` on the relational engine."""
    events = list(events)
    keys = {event.key for event in events}
    history = [event for event in history if event.key not in keys]
    checker = checker_for(validator, engine, master)
    result = checker.check(events, history=history, adjust=validator._adjust)
    return _report(result, len(events), (), ())


def check_paths(
    validator: Any,
    paths: Sequence[str],
    *,
    input_format: str | None = None,
    stdin: Any = None,
    ledger: Any = None,
    record: bool = False,
    engine: str = "duckdb",
    master: str | None = None,
    progress: Any = None,
) -> Report:
    """``Validator.check_paths`` on the relational engine (``ledger``: its history counts first).

    ``record``: the input's invoices are then stored, exactly those checked: the files are read
    again for the recording, which refuses (nothing stored) an input changed since the check.
    ``progress``: the CLI's progress line, which the columnar reader feeds too (the row readers
    are counted by its wrappers of the validator's readers).
    """
    from billing_rules.ledger.recording import InputFiles, record_by_file
    from billing_rules.readers import InputStream
    from billing_rules.readers.read_once import copied_inputs

    if record and ledger is None:
        raise BillingRulesError("--record demande un registre (--ledger)")
    sources = list(paths)
    # Taken before anything reads the input (even a header): see ``record_by_file``.
    files = InputFiles.of(sources) if record else None
    checker = checker_for(validator, engine, master)
    bulk = ledger is not None and _bulk_ledger(ledger)
    report = None
    if ledger is None or bulk:
        prepared = _prepared(validator, sources, input_format)
        if prepared is not None:
            report = _check_prepared(validator, checker, sources[0], prepared, ledger=ledger)
        elif (readers := columnar_readers(validator, sources, input_format)) is not None:
            report = _check_columnar(
                validator, checker, sources, input_format, stdin, readers, ledger=ledger, progress=progress
            )
    if report is not None:
        if record:
            again = InputStream(
                sources, input_format=input_format, readers=validator.readers, lines=validator.lines
            )
            record_by_file(ledger, again, checked=report.events, files=files)
        return report
    # Standard input, a FIFO or ``<(…)`` is copied once: the recording reads it again.
    inputs = contextlib.ExitStack()
    copies = inputs.enter_context(copied_inputs(sources, stdin))

    def stream() -> InputStream:
        # What ``Validator.check_paths`` hands its readers, but ``wanted`` (an optimisation of the
        # row engine): the readers carry the [columns] / [values] mappings, ``lines`` groups the
        # per-act lines (--lines, SPEC §1b). The check and the recording read the same invoices.
        return InputStream(
            sources,
            input_format=input_format,
            readers=validator.readers,
            lines=validator.lines,
            copies=copies,
        )

    try:
        items = stream()
        scope = None
        if ledger is not None and not bulk:
            from billing_rules.ledger.common import InputScope

            scope = InputScope()
        writer, errors = staged_input(items, items.files, scope.add if scope is not None else None)
        if ledger is not None and scope is not None:
            from billing_rules.ledger.common import history_for

            try:
                # A ledger that cannot write its rows in bulk (an embedder's own): event by event.
                for event in history_for(ledger, validator.engine.counters.values(), scope):
                    writer.add_history(event)
            except BaseException:
                writer.discard()
                raise
        table = _with_ledger(writer, validator, ledger if bulk else None)
        result = checker.check_table(table, files=items.files, adjust=validator._adjust)
        if record:
            # After the check, in one transaction (SPEC §3): a failed check records nothing.
            record_by_file(ledger, stream(), checked=items.events, files=files)
        return _report(result, items.events, tuple(errors), tuple(items.files))
    finally:
        inputs.close()


def _bulk_ledger(ledger: Any) -> bool:
    from billing_rules.engines.relational.history import bulk_capable

    return bulk_capable(ledger)


def columnar_input(validator: Any, paths: Sequence[str] = (), input_format: str | None = None) -> bool:
    """Whether the columnar reader reads ``paths`` exactly as the validator's readers would.

    Each file's reader must be one of the built-in formats, seen behind the progress line's
    counting wrapper, as it is or configured with the practice's ``[columns]`` / ``[values]``
    mapping (the columnar reader reads through that very reader: :func:`input_readers`); not a
    plugin's (a plugin's format for other extensions changes nothing for these files); and no
    ``--lines``. Any other input keeps the row readers' path.
    """
    from billing_rules.readers import BUILTIN_READERS
    from billing_rules.readers.stream import reader_for

    if getattr(validator, "lines", False):
        return False
    builtin = {type(reader) for reader in BUILTIN_READERS.values()}
    try:
        chosen = [unwrapped(reader_for(path, input_format, validator.readers)) for path in paths]
    except BillingRulesError:
        return False  # the row readers word it
    return all(type(reader) in builtin for reader in chosen)


def columnar_readers(
    validator: Any, sources: Sequence[str], input_format: str | None
) -> dict[str, Any] | None:
    """The readers the columnar reader reads ``sources`` through; None where it cannot.

    It can when it reads them exactly as the validator's readers would (:func:`columnar_input`,
    :func:`columnar_files`): ``check``, ``prepare`` and every engine decide their route here.
    """
    if not columnar_input(validator, sources, input_format):
        return None
    readers = input_readers(validator)
    return readers if columnar_files(sources, input_format, readers) else None


def input_readers(validator: Any) -> dict[str, Any]:
    """The validator's format readers, each with its practice's mapping, unwrapped.

    The progress line's counting wrapper is left out: the columnar reader feeds that line itself.
    """
    return {name: unwrapped(reader) for name, reader in validator.readers.items()}


def columnar_files(
    paths: Sequence[str], input_format: str | None, readers: Mapping[str, Any] | None = None
) -> bool:
    """Whether the columnar reader reads every input exactly as the row readers would.

    CSV files of one row per invoice, their header resolved as the row reader resolves it (SPEC §1
    names, the French headers of practice software, the practice's ``[columns]``; values such as
    ``Moi`` or the practice's ``[values]`` translated by the row reader's own tables); JSON, JSON
    Lines and Parquet files of one row per invoice (the columnar reader parses JSON with the row
    readers' own decoders and key mapping, and takes a Parquet column by its name as written, as
    the row reader does: ``tests/test_columnar_reader.py``). Files of one line per act (a ``code``
    column or key) are too: a CSV file's lines grouped into invoices column-wise as the row readers
    group them (``readers.columnar.per_act``), a JSON or Parquet file's by the row readers' own
    grouping (``readers.columnar.grouped_rows``). Not an input that can be read once only, standard
    input or a FIFO (its header cannot be looked at without consuming it).
    ``readers``: the check's formats (:func:`input_readers`); the built-in ones by default.
    """
    from billing_rules.errors import BillingRulesError as Failure
    from billing_rules.readers import BUILTIN_READERS
    from billing_rules.readers.csv_reader import CsvReader
    from billing_rules.readers.json_reader import JsonLinesReader, JsonReader
    from billing_rules.readers.parquet_reader import ParquetReader, parquet_footer
    from billing_rules.readers.prepared import prepared_info
    from billing_rules.readers.read_once import read_once
    from billing_rules.readers.stream import reader_for

    available = dict(readers) if readers is not None else dict(BUILTIN_READERS)
    for path in paths:
        if read_once(path):  # standard input, a FIFO, ``<(…)``: its header would be consumed here
            return False
        try:
            reader = reader_for(path, input_format, available)
            if isinstance(reader, ParquetReader):
                # An unreadable file is worded by the row reader; a prepared file is no SPEC §1 file.
                if parquet_footer(path) is None or prepared_info(path) is not None:
                    return False
                continue
            if isinstance(reader, (JsonReader, JsonLinesReader)):
                _json_start(reader, path)
                continue
            if not isinstance(reader, CsvReader):
                return False
            with open(path, "rb") as stream:
                _, resolution = reader.header(stream, path)
        except (OSError, Failure):
            return False  # the row readers raise the error, worded as usual
    return True


def _json_start(reader: Any, path: str) -> None:
    """Read a JSON file up to its first readable object, as its reading will.

    Raises:
        OSError, BillingRulesError: the file cannot be read (the caller leaves it to the row readers).
    """
    from billing_rules.readers.columnar.grouped_rows import per_act_rows

    per_act_rows(reader, lambda: open(path, "rb"), path)


def _prepared(validator: Any, sources: Sequence[str], input_format: str | None) -> PreparedInfo | None:
    """The footer of the input when it is a prepared file.

    Beside another file it is refused here as the row readers refuse it (``prepared_sources``).
    """
    from billing_rules.readers.stream import prepared_sources, reader_for

    try:
        readers = [reader_for(source, input_format, validator.readers) for source in sources]
    except BillingRulesError:
        return None  # the row readers word it
    return next(iter(prepared_sources(sources, readers).values()), None)


def _check_prepared(
    validator: Any, checker: RelationalChecker, path: str, info: PreparedInfo, *, ledger: Any = None
) -> Report:
    """A prepared file: its table loaded as written, its reading's errors and files reported."""
    from billing_rules.engines.relational.table import PreparedTable
    from billing_rules.readers.prepared import verify

    verify(path, info)
    table = _with_ledger(PreparedTable(path, info.events), validator, ledger)
    result = checker.check_table(table, files=info.files, adjust=validator._adjust)
    return _report(result, info.events, info.input_errors, info.files)


def _check_columnar(
    validator: Any,
    checker: RelationalChecker,
    sources: list[str],
    input_format: str | None,
    stdin: Any,
    readers: Mapping[str, Any],
    *,
    ledger: Any = None,
    progress: Any = None,
) -> Report:
    """The input read column-wise (same input errors, same rows), its table handed to the plan."""
    streamed = streamed_input(sources, input_format, stdin, progress, readers)
    table = _with_ledger(streamed, validator, ledger)
    result = checker.check_table(table, files=tuple(sources), adjust=validator._adjust)
    read = streamed.read
    return _report(result, read.events, tuple(read.input_errors), tuple(read.files))


def streamed_input(
    sources: Sequence[str], input_format: str | None, stdin: Any, progress: Any, readers: Mapping[str, Any]
) -> Any:
    """The input read column-wise into the engine's table (a :class:`~.table.StreamedTable`).

    Each batch goes into the table as it is read: no whole-input frame in memory. ``progress``
    (the CLI's progress line) hears of the bytes and rows read; ``readers``: the check's formats
    (:func:`input_readers`), whose mappings the columnar reader reads through.
    """
    from billing_rules.engines.relational.table import StreamedTable
    from billing_rules.readers.columnar import read_invoices

    return StreamedTable(
        lambda sink: read_invoices(
            list(sources), input_format, stdin=stdin, readers=readers, sink=sink, counting=progress
        )
    )


def staged_input(
    items: Iterable[Event | InputError],
    files: Sequence[str],
    on_event: Callable[[Event], None] | None = None,
) -> tuple[TableWriter, list[InputError]]:
    """The row readers' invoices staged for the engine's table, and their input errors.

    ``files``: the files the invoices name (``InputStream.files``). ``on_event`` sees each
    invoice too (the history's scope of a ledger read event by event). The staging file is
    dropped if the reading fails.
    """
    writer = TableWriter(files)
    errors: list[InputError] = []
    try:
        for item in items:
            if isinstance(item, Event):
                writer.add_input(item)
                if on_event is not None:
                    on_event(item)
            else:
                errors.append(item)
    except BaseException:
        writer.discard()
        raise
    return writer, errors


def _with_ledger(table: Any, validator: Any, ledger: Any) -> Any:
    """``table``, with the ledger's history loaded beside it when a (bulk) ledger is given."""
    if ledger is None:
        return table
    from billing_rules.engines.relational.history import WithLedger

    return WithLedger(table, ledger, validator.engine.counters.values())


def _report(
    result: RelationalResult, events: int, errors: tuple[InputError, ...], files: tuple[str, ...]
) -> Report:
    return Report(
        events=events,
        findings=result.findings,
        input_errors=errors,
        files=files,
        engine=result.engine,
        row_rules=result.python_rules,
    )
