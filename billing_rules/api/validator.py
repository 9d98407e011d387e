"""The embedding API: build a validator once, then check files, event streams or single invoices.

Building is the expensive part (plugins, parsing and compiling the rule files); checking an invoice
then costs a few dictionary look-ups and closure calls. Practice software keeps one validator for
the life of the process.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from billing_rules.api.invariants import as_reported, without_copies
from billing_rules.api.plugin_items import (
    adjust_crash,
    adjusters,
    blame_plugin,
    builtin_readers,
    by_name,
    input_readers,
    rule_text,
    stamped,
)
from billing_rules.api.rule_info import RuleInfo as RuleInfo  # re-exported: its former home
from billing_rules.api.rule_info import rule_info
from billing_rules.api.ruleset import RuleSet, RuleText, build_ruleset
from billing_rules.engines.collector import batch_gc as batch_gc  # re-exported: its former home
from billing_rules.engines.findings import MalformedResult, finding_problem
from billing_rules.engines.row.engine import Engine
from billing_rules.engines.row.ordering import OutOfOrder, by_day, fully_sorted
from billing_rules.errors import BillingRulesError, PluginLoadError, RuleFileError
from billing_rules.errors import InvalidInvoice as InvalidInvoice  # re-exported: its former home
from billing_rules.interrupt import reraise_if_real
from billing_rules.model import Event, Finding, InputError, Report

if TYPE_CHECKING:
    from billing_rules.api.session import Session
    from billing_rules.config import PracticeConfig
    from billing_rules.engines.row.engine import Session as EngineSession
    from billing_rules.explain import Explanation
    from billing_rules.ledger import Ledger
    from billing_rules.ledger.recording import InputFiles
    from billing_rules.readers.base import Reader
    from billing_rules.readers.columns import ColumnMapping
    from billing_rules.reporters import Reporter


def _plugin_rule_text(manager: Any, source: str, item: Any) -> RuleText:
    """A registered rule set read now; a file that cannot be read is its plugin's load failure.

    Reading happens before the rule set is built, so the error names the plugin here, as
    :func:`blame_plugin` does for the files that are read but do not compile.
    """
    from billing_rules.plugins import BUILTIN_SOURCE

    try:
        return rule_text(source, item)
    except RuleFileError as exc:
        if source == BUILTIN_SOURCE:
            raise
        raise PluginLoadError(source, manager.version_of(source), str(exc)) from exc


class Validator:
    """Compiled rules, tariffs, readers and reporters, built once and reused for every check."""

    def __init__(
        self,
        ruleset: RuleSet,
        *,
        readers: Mapping[str, Any] | None = None,
        reporters: Mapping[str, Any] | None = None,
        manager: Any = None,
        lines: bool = False,
    ) -> None:
        self.ruleset = ruleset
        #: Every input file has one line per act (``--lines``, SPEC §1b).
        self.lines = lines
        self.engine = Engine(ruleset)
        self.manager = manager
        self._readers = dict(readers) if readers is not None else builtin_readers()
        self._reporters = dict(reporters) if reporters is not None else {}
        self._adjusters = adjusters(manager)
        self._own: Session | None = None
        self._own_lock = threading.Lock()  # two threads' first check_one make one session

    @classmethod
    def build(
        cls,
        *,
        rule_files: Sequence[str | Path] = (),
        entry_points: bool | Sequence[str] = True,
        plugins: Iterable[Any] = (),
        builtin: bool = True,
        config: PracticeConfig | None = None,
        columns: ColumnMapping | None = None,
        lines: bool = False,
        texts_as_of: dt.date | None = None,
        replacing: Mapping[str, str | Path] | None = None,
    ) -> Validator:
        """Compile everything once: built-ins, installed plugins, ``plugins`` objects, rule files.

        ``entry_points`` is True (every installed plugin), False (none) or the names to load. Raises
        a :class:`BillingRulesError` naming the broken plugin or rule file. ``config`` (a practice's
        ``billing-rules.toml``) adds rule files, blocks plugins, selects rules and sets severities.
        ``columns`` maps the practice's headers and values (SPEC §1b), over the config's
        ``[columns]`` and ``[values]``; ``lines``: the inputs have one line per act.
        ``texts_as_of`` judges every invoice by the texts in force on that day instead of those of
        its own date (a simulation, SPEC §7). ``replacing`` maps a plugin's rule file to a file loaded
        in its place, under its name (``rules test`` of an edited copy of an installed plugin's file).
        """
        from billing_rules.plugins import collect, make_plugin_manager

        blocked = config.plugins_disable if config is not None else ()
        manager = make_plugin_manager(
            entry_points=entry_points, extra=plugins, builtin=builtin, blocked=blocked
        )
        texts = [
            _plugin_rule_text(manager, source, item)
            for source, item in collect(manager, "register_rule_sets")
        ]
        swaps = {Path(old).resolve(): new for old, new in (replacing or {}).items()}
        for index, text in enumerate(texts if swaps else ()):
            edited = swaps.get(Path(text.path).resolve())
            if edited is not None:  # the copy given is loaded in place of the plugin's file
                texts[index] = RuleText.from_path(edited, source=text.source)
        plugin_texts = len(texts)
        if config is not None:
            rule_files = [*rule_files, *config.rule_files]
        texts += [RuleText.from_path(path, source=Path(path).name) for path in rule_files]
        python_rules = [stamped(source, rule) for source, rule in collect(manager, "register_rules")]
        tariffs = [
            stamped(source, tariff, "origin") for source, tariff in collect(manager, "register_tariffs")
        ]
        functions = [
            stamped(source, function, "origin") for source, function in collect(manager, "register_functions")
        ]
        try:
            ruleset = build_ruleset(
                texts, python_rules=python_rules, tariffs=tariffs, functions=functions, as_of=texts_as_of
            )
        except RuleFileError as exc:
            blame_plugin(manager, texts[:plugin_texts], exc)
            raise
        if config is not None:
            ruleset = attrs.evolve(ruleset, rules=tuple(config.select_rules(ruleset.rules)))
        readers = input_readers(manager, config, columns)
        reporters = by_name(collect(manager, "register_reporters"), "format de rapport", "reporter")
        return cls(ruleset, readers=readers, reporters=reporters, manager=manager, lines=lines)

    # --- introspection -------------------------------------------------------------------------

    @property
    def rules(self) -> tuple[RuleInfo, ...]:
        """Every loaded rule, sorted by code."""
        return tuple(sorted((rule_info(rule) for rule in self.ruleset.rules), key=lambda info: info.code))

    @property
    def readers(self) -> Mapping[str, Reader]:
        """Input formats by name (built-in and plugins')."""
        return self._readers

    @property
    def reporters(self) -> Mapping[str, Reporter]:
        """Report formats by name (built-in and plugins')."""
        return self._reporters

    # --- checking files and streams ------------------------------------------------------------

    def check_paths(
        self,
        paths: Sequence[str],
        *,
        input_format: str | None = None,
        history: Iterable[Event] = (),
        stdin: Any = None,
        ledger: Any = None,
        record: bool = False,
    ) -> Report:
        """Check files (``-`` is standard input) as one stream of events in SPEC order.

        ``history`` (e.g. the ledger's invoices) counts before any invoice of the input and is never
        reported on; an invoice present in both is taken from the input (SPEC §1).

        ``ledger`` (a :class:`billing_rules.ledger.Ledger`, or an SQLite path or PostgreSQL URL,
        opened and closed here, as :meth:`session` takes them) adds its history, asked once for the
        whole input (its patients, practitioners and days); ``record`` then stores the input's
        readable invoices in it, in one transaction for the whole input (SPEC §3): interrupted, it
        leaves the ledger as it was.
        """
        if isinstance(ledger, (str, os.PathLike)):
            from billing_rules.ledger import open_ledger

            opened = open_ledger(os.fspath(ledger), readonly=not record)
            try:
                options = {"input_format": input_format, "history": history, "stdin": stdin}
                return self.check_paths(paths, **options, ledger=opened, record=record)
            finally:
                opened.close()
        from billing_rules.readers.read_once import copied_inputs

        with copied_inputs(list(paths), stdin) as copies:
            return self._check_copied(list(paths), copies, input_format, history, ledger, record)

    def _check_copied(
        self,
        sources: list[str],
        copies: Mapping[str, str],
        input_format: str | None,
        history: Iterable[Event],
        ledger: Any,
        record: bool,
    ) -> Report:
        """:meth:`check_paths` once its read-once inputs are ``copies`` (re-read at will)."""
        from billing_rules.ledger.recording import InputFiles
        from billing_rules.readers import InputStream

        # Taken before anything reads the input: the recording stores only the files checked.
        files = InputFiles.of(sources) if record else None

        def stream(wanted: Any = None) -> InputStream:
            options = {"input_format": input_format, "readers": self._readers, "lines": self.lines}
            return InputStream(sources, copies=copies, wanted=wanted, **options)

        if record and ledger is None:
            raise BillingRulesError("--record demande un registre (--ledger)")
        history = list(history)
        ledger_history = None
        if history or ledger is not None:
            # The input's copy of an invoice replaces the history's: a pre-pass collects the keys
            # and, for a ledger, whom and which days the input is about (one history query).
            from billing_rules.ledger.common import InputScope, history_for

            scope = InputScope.of(item for item in stream() if isinstance(item, Event))
            history = [event for event in history if event.key not in scope.keys]
            if ledger is not None:
                ledger_history = lambda: history_for(ledger, self.engine.counters.values(), scope)  # noqa: E731

        with batch_gc():
            return self._check_streams(stream, history, ledger_history, ledger, files)

    def explain(
        self,
        paths: Sequence[str],
        invoice_id: str,
        *,
        input_format: str | None = None,
        ledger: Any = None,
        practitioner_id: str | None = None,
    ) -> list[Explanation]:
        """Why each finding of one invoice: facts read, window and its invoices, reference, action.

        The files are checked (with the ledger's history when given) and, for each frequency
        finding of the invoice, read again for the invoices of its window. Returns a list of
        :class:`billing_rules.explain.Explanation`, empty when the invoice has no finding; raises
        :class:`BillingRulesError` when no invoice of the input has that number.
        """
        if isinstance(ledger, (str, os.PathLike)):  # read only: a mistyped path is not created
            import contextlib

            from billing_rules.ledger import open_ledger

            with contextlib.closing(open_ledger(ledger, create=False, readonly=True)) as opened:
                options = {"input_format": input_format, "practitioner_id": practitioner_id}
                return self.explain(paths, invoice_id, ledger=opened, **options)
        from billing_rules.readers.read_once import copied_inputs

        # Standard input, a FIFO or ``<(…)`` is copied once: checked, then read again from the copy.
        with copied_inputs(list(paths)) as copies:
            return self._explain(list(paths), copies, invoice_id, input_format, ledger, practitioner_id)

    def _explain(
        self,
        paths: list[str],
        copies: Mapping[str, str],
        invoice_id: str,
        input_format: str | None,
        ledger: Any,
        practitioner_id: str | None,
    ) -> list[Explanation]:
        from billing_rules.engines.row.windows import window_members
        from billing_rules.explain import explain_finding
        from billing_rules.readers import InputStream

        report = self._check_copied(paths, copies, input_format, (), ledger, False)
        rules = {rule.code: rule for rule in self.ruleset.rules}

        def ours(item: Any) -> bool:
            return item.invoice_id == invoice_id and practitioner_id in (None, item.practitioner_id)

        findings = [finding for finding in report.findings if ours(finding)]
        counters = {}
        for finding in findings:
            frequency = getattr(rules.get(finding.rule), "frequency", None)
            if finding.window is not None and frequency is not None:
                counters[frequency.counter.id] = frequency.counter
        # Read again (as check read it): the invoice and those its windows count, never the whole file.
        options = {"input_format": input_format, "readers": self._readers, "lines": self.lines}
        again = InputStream(paths, copies=copies, **options)
        events = [
            item
            for item in again
            if isinstance(item, Event)
            and (ours(item) or any(counter.counts(item) for counter in counters.values()))
        ]
        targets = {event.key: event for event in events if ours(event)}
        if not targets:
            raise BillingRulesError(f"facture « {invoice_id} » absente du fichier (ou illisible)")
        history: list[Event] = []
        if ledger is not None and counters:
            from billing_rules.ledger.common import InputScope, history_for

            scope = InputScope.of(targets.values())
            scope.keys = {event.key for event in events}  # the input's copies replace the ledger's
            history = list(history_for(ledger, counters.values(), scope))
        explanations = []
        for finding in findings:
            rule = rules.get(finding.rule)
            frequency = getattr(rule, "frequency", None)
            members: tuple[Any, ...] = ()
            if finding.window is not None and frequency is not None:
                target = targets[(finding.practitioner_id, finding.invoice_id)]
                members = window_members(frequency.counter, target, events, history, finding.window.counted)
            explanations.append(explain_finding(finding, members))
        return explanations

    def _check_streams(
        self, stream: Any, history: list[Event], ledger_history: Any, ledger: Any, files: InputFiles | None
    ) -> Report:
        """Check the input; then, given the input files' states (``--record``), record it (SPEC §3)."""
        try:
            # Invoices no rule or counter can be woken by are read and validated, not built.
            checked = stream(self.engine.wakes)
            report = self._check_stream(checked, history, streaming=True, ledger_history=ledger_history)
        except OutOfOrder:
            checked = stream(self.engine.wakes)
            report = self._check_stream(checked, history, streaming=False, ledger_history=ledger_history)
        if files is not None:  # exactly the invoices checked, or nothing (the input changed)
            from billing_rules.ledger.recording import record_by_file

            record_by_file(ledger, stream(), checked=report.events, files=files)
        return report

    def check_events(self, events: Iterable[Event], *, history: Iterable[Event] = ()) -> Report:
        """Check already-built events (in any order: they are sorted as SPEC §1 says)."""
        items = fully_sorted(events)
        return self._run(items, [], len(items), without_copies(history, items), files=())

    def _check_stream(
        self, stream: Any, history: list[Event], *, streaming: bool, ledger_history: Any = None
    ) -> Report:
        errors: list[InputError] = []

        def events() -> Iterable[Event]:
            for item in stream:
                if isinstance(item, Event):
                    yield item
                else:
                    errors.append(item)

        ordered = by_day(events()) if streaming else fully_sorted(events())
        report = self._run(
            ordered, errors, None, history, files=tuple(stream.files), ledger_history=ledger_history
        )
        return attrs.evolve(report, events=stream.events, input_errors=tuple(errors))

    def _run(
        self,
        events: Iterable[Event],
        errors: list[InputError],
        count: int | None,
        history: list[Event],
        files: tuple[str, ...],
        ledger_history: Any = None,
    ) -> Report:
        session = self.engine.session()
        if history:
            self._load_history(session, history)
        if ledger_history is not None:
            # Counts do not depend on the order history is recorded in: no sort of the ledger's rows.
            for event in ledger_history():
                session.record(event)
        findings: list[Finding] = []
        for event in events:
            found = session.process(event)
            if found:
                findings.extend(self._adjust(found, event))
        # Already in SPEC order: events as processed (date, time, input order), rules by code.
        return Report(events=count or 0, findings=tuple(findings), input_errors=tuple(errors), files=files)

    def _load_history(self, session: EngineSession, history: list[Event]) -> None:
        for event in sorted(history, key=lambda item: item.sort_key):
            session.record(event)

    def _adjust(self, findings: list[Finding], event: Event) -> list[Finding]:
        if not self._adjusters:
            return findings  # the engines' findings already are as SPEC §2 reports them
        for plugin_name, adjust in self._adjusters:
            try:
                # A copy: an edit in place then a raise (or None) leaves them unchanged. The reports
                # sort, sum and print every field: a wrong type is the plugin's, as a raise is.
                changed = adjust(findings=list(findings), event=event)
                if changed is not None:
                    changed = list(changed)
                    problem = next(filter(None, map(finding_problem, changed)), None)
                    if problem is not None:
                        raise MalformedResult(problem)
            except BaseException as exc:  # noqa: BLE001 - a plugin's bug must not stop the whole check
                reraise_if_real(exc)  # a plugin's SystemExit or KeyboardInterrupt is its bug
                # The findings stay as they were, and the invoice says it was not fully processed.
                findings = [*findings, adjust_crash(plugin_name, exc, event)]
                continue
            if changed is not None:
                findings = changed
        return as_reported(findings)

    # --- one invoice at a time -----------------------------------------------------------------

    def session(self, ledger: Ledger | str | os.PathLike[str] | None = None) -> Session:
        """A new :class:`~billing_rules.Session`: invoices checked one at a time, then recorded.

        Without ``ledger``, its history is held in memory (empty at first), for software that
        manages its own history and records it into the session. Given a ledger (a
        :class:`billing_rules.ledger.Ledger`, an SQLite path or a PostgreSQL URL), the history is
        the ledger's: ``check_one`` against it, ``record`` to store. The same methods either way.
        """
        from billing_rules.api.session import Session

        if ledger is None:
            return Session(self.engine, adjust=self._adjust)
        from billing_rules.ledger import Ledger, open_ledger

        if isinstance(ledger, Ledger):
            return Session(self.engine, ledger, adjust=self._adjust)
        return Session(self.engine, open_ledger(os.fspath(ledger)), owns_ledger=True, adjust=self._adjust)

    # The validator's own session: a history in memory that lives as long as the validator.

    def check_one(self, invoice: Event | Mapping[str, object]) -> list[Finding]:
        """Findings of one invoice against the validator's own history (:meth:`Session.check_one`).

        The validator holds one in-memory session of its own, for programs that need no other;
        as in any session, the invoice counts for the next checks until it is recorded or
        discarded, and an invoice recorded earlier is never counted against itself.
        """
        return self._own_session().check_one(invoice)

    def record(self, invoice: Event | Mapping[str, object]) -> None:
        """Add an invoice to the validator's own history (:meth:`Session.record`)."""
        self._own_session().record(invoice)

    def discard(self, invoice: Event | Mapping[str, object]) -> None:
        """Forget an invoice checked with :meth:`check_one` and never recorded (:meth:`Session.discard`)."""
        self._own_session().discard(invoice)

    def _own_session(self) -> Session:
        if self._own is None:
            from billing_rules.api.session import Session

            with self._own_lock:
                if self._own is None:
                    self._own = Session(self.engine, adjust=self._adjust)
        return self._own

    @staticmethod
    def invoice(values: Mapping[str, object], *, seq: int = 0) -> Event:
        """An :class:`Event` from SPEC §1 column values (text spellings or typed Python values).

        What each Python type means is in :mod:`billing_rules.readers.native`. Raises
        :class:`InvalidInvoice` listing every bad field, so the user fixes them all at once.
        """
        from billing_rules.readers.native import invoice

        return invoice(values, seq=seq)

    def render(self, report: Report, fmt: str, stream: Any = None, *, color: bool = False) -> str | None:
        """Format ``report`` with a registered reporter; returns the text when no stream is given."""
        reporter = self._reporters.get(fmt)
        if reporter is None:
            raise BillingRulesError(f"format de rapport inconnu « {fmt} »")
        if stream is not None:
            reporter.render(report, stream, color=color)
            return None
        buffer = io.StringIO()
        reporter.render(report, buffer, color=color)
        return buffer.getvalue()
