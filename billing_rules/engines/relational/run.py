"""The relational engine's entry point: a rule set, events in, findings out, in the row engine's order.

Two passes over the plan:

1. the input's rows: every rule (errors, warnings, opportunities) on every row, windows counted over
   the history and the input in SPEC §1 order;
2. the opportunities' suggested codings: the error and warning rules again, on each candidate's row
   coded as suggested (its windows counting what came before the invoice, plus itself), so that an
   opportunity is compliant and the better of two conflicting ones wins (SPEC §5).

Each pass runs only the rules the codes of its subjects can wake (:func:`may_fire`, the row engine's
dispatch): a day's file that bills no visit counts no visit window. On a small input that is most of
the statements; on Spark, where each stage of a statement costs a job, most of the time.

Then the invoices with findings are rebuilt as events and their findings worded by the rules' own
code (``findings``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs
from sqlglot import exp

from billing_rules.domain.calendar import _holidays_of
from billing_rules.dsl.program import RuleSet
from billing_rules.engines.collector import batch_gc
from billing_rules.engines.findings import RuleMeta, _crashed, misses_nothing
from billing_rules.engines.relational import order, sql, validity, windows
from billing_rules.engines.relational.findings import SqlHit, TextsView, findings_of, render
from billing_rules.engines.relational.plan import (
    TARIFF_COLUMNS,
    BuiltinPlan,
    DslPlan,
    Plan,
    PythonPlan,
    RulesPlan,
    code_periods,
    make_plan,
    tariff_ranges,
)
from billing_rules.engines.relational.table import SCHEMA, TableWriter
from billing_rules.interrupt import reraise_if_real
from billing_rules.model import Event, Finding, Severity
from billing_rules.readers.prepared import event_of
from billing_rules.rule import Hit

_CHECKED = (Severity.ERROR, Severity.WARNING)
#: How many passes' statements a checker keeps (:meth:`RelationalChecker.statements`).
STATEMENT_SETS = 16
#: The subject's columns :func:`event_of` reads, ``sid`` first.
_EVENT_COLUMNS = ("sid", *(name for name in SCHEMA if name not in ("origin", "time_min")))


@attrs.frozen
class RelationalResult:
    """What a relational check produced."""

    findings: tuple[Finding, ...]
    events: int
    engine: str
    python_rules: tuple[str, ...]


class RelationalChecker:
    """Plans a rule set once; each :meth:`check` runs it on a fresh database of the backend."""

    def __init__(self, ruleset: RuleSet, backend_factory: Callable[[], Any]) -> None:
        self.ruleset = ruleset
        self.backend_factory = backend_factory
        self.ranges = tariff_ranges(ruleset)
        self.plan: RulesPlan = make_plan(ruleset, sql.tariff_case(self.ranges))
        self.view = TextsView(ruleset.tariffs)
        #: What each rule's findings carry besides the hit (citation, action, window shape).
        self.meta = {rule.code: RuleMeta.of(rule) for rule in ruleset.rules}
        self._statements: dict[Any, Any] = {}

    def statements(self, key: Any, make: Callable[[], Any]) -> Any:
        """A pass's SQL texts, generated on first use (the trees cost more to build than to run).

        Kept for the last :data:`STATEMENT_SETS` keys: a program checking batch after batch meets
        a few sets of rules again and again (the key names the rules a pass runs), not an endless
        variety, and must not grow without bound if it does.
        """
        found = self._statements.pop(key, None)
        if found is None:
            found = make()
        self._statements[key] = found  # the most recent last
        while len(self._statements) > STATEMENT_SETS:
            del self._statements[next(iter(self._statements))]
        return found

    @property
    def passes(self) -> list[tuple[bool, tuple[str, ...]]]:
        """The passes whose statements are kept, oldest first: (over suggested codings, rules run)."""
        return [(key[0], key[-1]) for key in self._statements]

    @property
    def python_rules(self) -> tuple[str, ...]:
        """The rules run (or whose condition is evaluated) row by row in Python."""
        return self.plan.python_rules

    def check(
        self,
        events: Iterable[Event],
        *,
        history: Iterable[Event] = (),
        files: Sequence[str] = (),
        adjust: Callable[[list[Finding], Event], list[Finding]] | None = None,
    ) -> RelationalResult:
        """Findings of ``events`` (after ``history``), in SPEC order; ``adjust`` is the plugins' hook."""
        writer = TableWriter(files)
        try:
            for _, event in sorted(enumerate(events), key=lambda item: (item[1].seq, item[0])):
                writer.add_input(event)
            for event in history:
                writer.add_history(event)
        except BaseException:
            writer.discard()
            raise
        return self.check_table(writer, files=files, adjust=adjust)

    def check_table(
        self,
        writer: TableWriter,
        *,
        files: Sequence[str] = (),
        adjust: Callable[[list[Finding], Event], list[Finding]] | None = None,
    ) -> RelationalResult:
        """Findings of the invoice table ``writer`` holds (input rows in SPEC §1 input order)."""
        backend = self.backend_factory()
        try:
            with batch_gc():
                backend.load_invoices(writer)
                return _Run(self, backend, tuple(files)).run(writer.inputs, adjust)
        finally:
            writer.discard()
            backend.close()


class _Run:
    """One check on one database."""

    def __init__(self, checker: RelationalChecker, backend: Any, files: tuple[str, ...]) -> None:
        self.checker = checker
        self.plan = checker.plan
        self.db = backend
        self.files = files
        self.by_code = {plan.code: plan for plan in self.plan.rules}
        #: What a Python condition raised, by (subject, rule): reported as the row engine does.
        self.crashes: dict[tuple[int, str], BaseException] = {}
        #: How ``ord`` is computed (decided by :meth:`_setup` from the table's bounds).
        self.order = order.WRITER_KEY

    def run(self, count: int, adjust: Any) -> RelationalResult:
        self._setup()
        hits = self._pass(sql.input_subjects, suggested=False, codes=self.input_codes)
        by_sid: dict[int, list[tuple[Plan, SqlHit | Hit]]] = {}
        for plan, hit in hits:
            by_sid.setdefault(hit_sid(hit), []).append((plan, hit))
        # An invoice in error gets no opportunity (SPEC §5): an error rule's hit or crash. A warning
        # rule's crash says nothing of compliance (``RowSession._check``).
        in_error = {
            sid for sid, items in by_sid.items() if any(plan.severity is Severity.ERROR for plan, _ in items)
        }
        events = self._events(set(by_sid))
        rendered: dict[int, list[tuple[Plan, Hit]]] = {}
        candidates: dict[int, list[tuple[Plan, Hit]]] = {}
        for sid, items in by_sid.items():
            event = events[sid]
            for plan, hit in items:
                for one in self._hits(plan, event, hit):
                    if plan.severity is Severity.OPPORTUNITY:
                        # Looked for only on an invoice without error, as the row engine does; a
                        # crashed opportunity rule is reported there too (as INTERNAL-ERROR). One
                        # worth nothing is dropped first, as there (``misses_nothing``).
                        if sid not in in_error and not misses_nothing(one, event):
                            candidates.setdefault(sid, []).append((plan, one))
                    else:
                        rendered.setdefault(sid, []).append((plan, one))
        compliant, warnings = self._check_suggestions(candidates)
        findings: list[Finding] = []
        for sid in sorted(set(rendered) | set(compliant)):
            event = events[sid]
            found = findings_of(
                event,
                rendered.get(sid, ()),
                compliant.get(sid, []),
                warnings.get(sid, {}),
                self.checker.meta,
            )
            if found and adjust is not None:
                found = adjust(found, event)
            findings.extend(found)
        return RelationalResult(tuple(findings), count, self.db.name, self.plan.python_rules)

    # --- setup -------------------------------------------------------------------------------

    def _setup(self) -> None:
        db = self.db
        db.execute(
            sql.values_table(
                sql.TARIFFS,
                TARIFF_COLUMNS,
                self.checker.ranges or [("", "", False, dt.date.min, dt.date.min, 0)],
            )
        )
        # One scan tells the years (holidays), whether there is history, and how ``ord`` is made.
        bounds = order.TableBounds.of(db.tuples(order.bounds_query())[0])
        self.order = bounds.order_key()
        first = bounds.first_date.year if bounds.first_date is not None else 2000
        last = bounds.last_date.year if bounds.last_date is not None else 2000
        days = sorted(day for year in range(first, last + 1) for day in _holidays_of(year))
        db.execute(sql.values_table(sql.HOLIDAYS, ("day",), [(day,) for day in days] or [(dt.date.min,)]))
        db.execute(sql.create(sql.BASE, sql.base_table(history=bounds.history, order=self.order)))
        # Everything reads ``base`` from here on: one wide copy less to hold (or spill) at scale.
        db.execute(exp.Drop(tables=[exp.to_table("invoices")], kind="TABLE", exists=True))
        billed = db.tuples(sql.billed_codes())
        self.unknown = sorted(code for code, _ in billed if not self.checker.ruleset.knows(code))
        self.input_codes = frozenset(code for code, on_input in billed if on_input)

    # --- one pass ----------------------------------------------------------------------------

    def _pass(
        self, subjects: Callable[[], exp.Select], *, suggested: bool, codes: frozenset[str]
    ) -> list[tuple[Plan, SqlHit | Hit]]:
        """The hits of the pass's rules on its subjects, whose invoices bill only ``codes``.

        A rule woken by codes none of the subjects bills cannot fire (:func:`may_fire`): it is left
        out of the pass, and so is a window no rule left reads.
        """
        db = self.db
        wanted = [
            plan
            for plan in self.plan.rules
            if (not suggested or plan.severity in _CHECKED) and may_fire(plan, codes)
        ]
        statements, union, flags, flagged = self.checker.statements(
            (suggested, tuple(self.unknown), self.order.packed, tuple(plan.code for plan in wanted)),
            lambda: self._statements(subjects, wanted, suggested),
        )
        for text in statements:
            db.run(text)
        results: list[tuple[Plan, SqlHit | Hit]] = []
        for index, plan in enumerate(wanted):
            if isinstance(plan, DslPlan) and plan.python_condition:
                self._python_condition(plan, f"python_{index}")
            elif isinstance(plan, PythonPlan):
                results.extend(self._python_rule(plan))
        if union is not None:
            for row in db.fetch(union):
                results.append((self.by_code[row[1]], SqlHit(*row)))
        if flags is not None:
            plans = [self.by_code[code] for code in flagged]
            for row in db.fetch(flags):
                sid = row[0]
                for index in sql.fired_flags(row[1:]):
                    plan = plans[index]
                    results.append((plan, SqlHit(sid, plan.code)))
        for (sid, code), exc in self.crashes.items():
            results.append((self.by_code[code], _Crash(sid, exc)))
        self.crashes = {}
        return results

    def _statements(
        self, subjects: Callable[[], exp.Select], wanted: list[Plan], suggested: bool
    ) -> tuple[list[str], str | None, str | None, tuple[str, ...]]:
        """The pass's statements as text, generated once per rule set (and list of unknown codes)."""
        db = self.db
        if suggested:
            # The suggested codings' rows are few: a table, shown under the name every query reads.
            shown = exp.select(exp.Star()).from_(sql.SUGGESTED_SUBJECTS)
            statements = [
                db.sql(sql.create(sql.SUGGESTED_SUBJECTS, subjects())),
                db.sql(sql.create_view(sql.SUBJECTS, shown)),
            ]
        else:
            # The input's rows are a view of ``base`` (its ``expected`` included): no second copy.
            statements = [db.sql(sql.create_view(sql.SUBJECTS, subjects()))]
        counter_tables: dict[int, str] = {}
        for counter in self.plan.counters:
            users = [plan for plan in wanted if isinstance(plan, DslPlan) and plan.counter is counter]
            if users:
                name = f"counter_{counter.id}"
                # Only the subjects some rule of the window may fire on need its count.
                only = None
                if not any(plan.python_condition for plan in users):
                    only = exp.or_(*(sql.dsl_condition(plan, None) for plan in users))
                query = windows.counter_query(
                    counter, suggested=suggested, only=only, packed=self.order.packed
                )
                statements.append(db.sql(sql.create(name, query)))
                counter_tables[counter.id] = name
        windowed: list[tuple[DslPlan, str, str | None]] = []
        flags: list[exp.Expression] = []
        flagged: list[str] = []
        python_tables: list[str] = []
        for index, plan in enumerate(wanted):
            if isinstance(plan, DslPlan):
                python_table = f"python_{index}" if plan.python_condition else None
                if plan.counter is None:
                    flags.append(sql.dsl_condition(plan, python_table))
                    flagged.append(plan.code)
                    python_tables += [python_table] if python_table is not None else []
                else:
                    windowed.append((plan, counter_tables[plan.counter.id], python_table))
            elif isinstance(plan, BuiltinPlan):
                condition = exp.and_(
                    exp.not_(exp.column("cancelled", table="s")), self._builtin_condition(plan)
                )
                flags.append(condition)
                flagged.append(plan.code)
        union = windows.window_hits(windowed)
        flag_query = db.sql(sql.flag_hits(flags, python_tables)) if flags else None
        return statements, None if union is None else db.sql(union), flag_query, tuple(flagged)

    def _builtin_condition(self, plan: BuiltinPlan) -> exp.Expression:
        if plan.kind == "code_date":
            return validity.code_date_condition(code_periods(self.checker.ruleset))
        if plan.kind == "code_unknown":
            return sql.code_unknown_condition(self.unknown)
        return sql.amount_condition(plan.kind)

    def _woken(self, triggers: frozenset[str] | None, extra: list[exp.Expression]) -> list[dict[str, Any]]:
        """The subjects a rule's codes wake (not cancelled), as rows."""
        from billing_rules.engines.relational.compile import billed, col

        parts: list[exp.Expression] = [exp.not_(col("cancelled"))]
        if triggers is not None:
            parts.append(billed(triggers))
        query = exp.select(exp.column(exp.Star(), table="s")).from_(exp.to_table(sql.SUBJECTS).as_("s"))
        return self.db.rows(query.where(exp.and_(*parts, *extra)))

    def _python_condition(self, plan: DslPlan, name: str) -> None:
        """The rule's condition run by its closure on the rows it judges: a table of ``sid``.

        The rows its codes wake, in force, of a date where a code that wakes it exists
        (``validity.judged``, the SQL of ``DslRule.judges``, which the row engine's plan applies
        before any gate): elsewhere the rule is silent, and its condition must not run and fail.
        """
        rule = plan.rule
        true_sids = []
        judged = [validity.judged(rule)] if rule.triggers is not None else []
        for row in self._woken(rule.triggers, [*sql.in_force(rule), *judged]):
            event = event_of(row, self.files)
            try:
                if rule.condition(event):
                    true_sids.append(row["sid"])
            except BaseException as exc:  # noqa: BLE001 - reported as the row engine does (its gate)
                reraise_if_real(exc)  # only a real Ctrl-C stops the check, never a plugin's SystemExit
                self.crashes[(row["sid"], rule.code)] = exc
        self.db.load_rows(name, {"sid": "BIGINT"}, [(sid,) for sid in true_sids])

    def _python_rule(self, plan: PythonPlan) -> list[tuple[Plan, Hit]]:
        """A third-party Python rule, row by row on the rows its ``triggers`` wake."""
        results: list[tuple[Plan, Hit]] = []
        # Only on the acts of its dates, as the row engine runs a rule (its ``valid_from`` and
        # ``valid_until``, when it has them).
        for row in self._woken(plan.rule.triggers, sql.in_force(plan.rule)):
            event = event_of(row, self.files)
            for hit in render(plan, event, None, self.checker.view):
                results.append((plan, _Evaluated(row["sid"], hit)))
        return results

    # --- findings ----------------------------------------------------------------------------

    def _events(self, sids: set[int]) -> dict[int, Event]:
        if not sids:
            return {}
        self.db.load_rows("wanted", {"sid": "BIGINT"}, [(sid,) for sid in sorted(sids)])
        # Kept whole in a small table: the suggested codings are made from these rows
        # (``sql.suggested_subjects``), which then need no second pass over ``base``.
        self.db.execute(
            sql.create(
                sql.ROWS_WITH_HITS,
                exp.select(exp.column(exp.Star(), table="s"))
                .from_(exp.to_table(sql.SUBJECTS).as_("s"))
                .where(
                    exp.In(
                        this=exp.column("sid", table="s"), query=exp.select("sid").from_("wanted").subquery()
                    )
                ),
            )
        )
        # Only what an event is built from: the derived columns would be converted for nothing.
        query = exp.select(*(exp.column(name) for name in _EVENT_COLUMNS)).from_(sql.ROWS_WITH_HITS)
        return {
            row[0]: event_of(dict(zip(_EVENT_COLUMNS, row, strict=True)), self.files)
            for row in self.db.tuples(query)
        }

    def _hits(self, plan: Plan, event: Event, hit: Any) -> list[Hit]:
        if isinstance(hit, _Crash):
            return [_crashed(plan.rule, hit.exc)]
        if isinstance(hit, _Evaluated):
            return [hit.hit]
        return render(plan, event, hit, self.checker.view)

    def _check_suggestions(
        self, candidates: dict[int, list[tuple[Plan, Hit]]]
    ) -> tuple[dict[int, list[tuple[Plan, Hit]]], dict[int, dict[str, int]]]:
        """Candidates whose suggested coding raises no error; warnings of each suggested coding."""
        rows = []
        keys: dict[int, tuple[int, str]] = {}
        suggested_codes: set[str] = set()
        for sid, items in candidates.items():
            for plan, hit in items:
                if hit.suggested_codes is not None:
                    virtual = len(keys) + 1
                    keys[virtual] = (sid, plan.code)
                    rows.append((sid, virtual, plan.code, "+".join(hit.suggested_codes)))
                    suggested_codes.update(hit.suggested_codes)
        errors: set[tuple[int, str]] = set()
        warnings: dict[int, dict[str, int]] = {}
        if rows:
            # A regular expression on both engines (Spark's split() is one: '+' escaped).
            split = exp.RegexpSplit(this=exp.column("joined"), expression=exp.Literal.string("\\+"))
            columns = {"ord": "BIGINT", "sid": "BIGINT", "variant": "VARCHAR", "joined": "VARCHAR"}
            self.db.load_rows("suggested_values", columns, rows)
            self.db.execute(
                sql.create(
                    sql.SUGGESTED,
                    exp.select("ord", "sid", "variant", split.as_("codes")).from_("suggested_values"),
                )
            )
            for plan, hit in self._pass(
                lambda: sql.with_expected(sql.suggested_subjects()),
                suggested=True,
                codes=frozenset(suggested_codes),
            ):
                sid, code = keys[hit_sid(hit)]
                # As ``Session._has_error``: only the error rules decide; a crash of one of them is
                # an error, a crash of a warning rule counts as one of its warnings.
                if plan.severity is Severity.ERROR:
                    errors.add((sid, code))
                elif plan.severity is Severity.WARNING:
                    # One per hit, as ``Session._warning_count`` counts them.
                    warnings.setdefault(sid, {}).setdefault(code, 0)
                    warnings[sid][code] += 1
        compliant = {
            sid: [(plan, hit) for plan, hit in items if (sid, plan.code) not in errors]
            for sid, items in candidates.items()
        }
        return {sid: items for sid, items in compliant.items() if items}, warnings


@attrs.frozen
class _Crash:
    sid: int
    exc: BaseException


@attrs.frozen
class _Evaluated:
    sid: int
    hit: Hit


def may_fire(plan: Plan, codes: frozenset[str]) -> bool:
    """Whether the rule may fire on an invoice that bills only ``codes``.

    A DSL rule's statement requires one of the codes that wake it to be billed
    (``validity.judged``, in :func:`sql.dsl_condition`, as the row engine's plan leaves out the
    rules of codes not billed); a Python rule runs on the rows its ``triggers`` wake (``_woken``).
    A rule without triggers, or a built-in one, may fire on any invoice.
    """
    if isinstance(plan, BuiltinPlan):
        return True
    triggers = getattr(plan.rule, "triggers", None)
    return triggers is None or not codes.isdisjoint(triggers)


def hit_sid(hit: Any) -> int:
    """The subject a hit is about."""
    return hit.sid


def _is_crash(hit: Any) -> bool:
    return isinstance(hit, _Crash) or (isinstance(hit, _Evaluated) and getattr(hit.hit, "crashed", False))
