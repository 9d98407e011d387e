"""Helpers for rule and plugin authors: build invoices tersely, check them, assert what fires.

The same functions serve three users, so that a rule is tested one way everywhere:

* ``billing-rules rules test FILE`` runs the ``example fires`` / ``example passes`` lines of rule
  files (and the built-in catalogue's when no file is given);
* the pytest plugin (:mod:`billing_rules.pytest_plugin`) exposes them as fixtures and collects the
  same examples as test items;
* the core test suite runs every example of the built-in catalogue through :func:`run_example`.

An example in the DSL gives only the fields that matter; the others take the values of
:data:`EVENT_DEFAULTS` (an adult patient of 56, seen at the practice, mt_status unknown), which is
also what :func:`make_event` fills in. The ``after`` invoices of an example are the history it is
checked against (same patient and practitioner unless they say otherwise).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from billing_rules.model import Event, Finding, Report, Severity

if TYPE_CHECKING:
    from billing_rules.api.validator import Validator

#: The values an example or :func:`make_event` uses for the fields it does not give. A Monday of a
#: recent year, an adult who is neither 80+ nor a child, no ALD: nothing that wakes an age rule.
EVENT_DEFAULTS: Mapping[str, str] = {
    "invoice_id": "EX-1",
    "date": "2026-01-05",
    "practitioner_id": "10001",
    "patient_id": "P-EXEMPLE",
    "birth_date": "1970-01-01",
    "codes": "G",
}


def make_event(seq: int = 0, **fields: Any) -> Event:
    """An :class:`Event` from a few SPEC §1 fields (strings or natives); the rest are defaults.

    ``make_event(codes="G+MEG", birth_date="2022-05-01")`` is a consultation of a 3-year-old.
    Raises :class:`billing_rules.api.validator.InvalidInvoice` naming every bad field.
    """
    from billing_rules.api.validator import Validator

    values = {**EVENT_DEFAULTS, **{key: _plain(value) for key, value in fields.items()}}
    return Validator.invoice(values, seq=seq)


def make_finding(**fields: Any) -> Finding:
    """A :class:`Finding` for a test of a reporter or an ``adjust_findings`` hook.

    An IMT-ONCE error of 1 234,50 € on invoice ``F-1`` unless ``fields`` say otherwise.
    """
    values: dict[str, Any] = {
        "rule": "IMT-ONCE",
        "severity": Severity.ERROR,
        "message": "IMT déjà facturée",
        "invoice_id": "F-1",
        "practitioner_id": "10001",
        "patient_id": "P-1",
        "date": dt.date(2024, 3, 4),
        "line": 2,
        "amount": Decimal("1234.5"),
        **fields,
    }
    return Finding(**values)


def make_events(*rows: Mapping[str, Any], **common: Any) -> list[Event]:
    """Several events in input order; ``common`` fields apply to every row (a row overrides them).

    Rows without ``invoice_id`` are numbered ``F-1``, ``F-2``... so they never collide.
    """
    events = []
    for index, row in enumerate(rows):
        values = {"invoice_id": f"F-{index + 1}", **common, **row}
        events.append(make_event(seq=index, **values))
    return events


def build_validator(
    rule_files: Sequence[str | Path] = (),
    *,
    plugins: Iterable[Any] = (),
    builtin: bool = True,
    entry_points: bool | Sequence[str] = False,
) -> Validator:
    """A validator for a test: built-ins, the given plugin objects and rule files.

    Installed plugins stay out unless ``entry_points`` says otherwise, so a test never depends on
    what else happens to be installed in the environment. ``plugins`` items may be ``(name,
    module)`` pairs; an installed plugin of the same name is then not loaded a second time (a plugin's
    own tests pass whether or not it is installed).
    """
    from billing_rules.api.validator import Validator
    from billing_rules.plugins import installed_entry_points

    plugins = list(plugins)
    explicit = {item[0] for item in plugins if isinstance(item, tuple)}
    if entry_points is True and explicit:
        entry_points = [ep.name for ep in installed_entry_points() if ep.name not in explicit]
    return Validator.build(rule_files=rule_files, plugins=plugins, builtin=builtin, entry_points=entry_points)


def check(
    validator: Validator, events: Iterable[Event | Mapping[str, Any]], *, history: Iterable[Any] = ()
) -> Report:
    """Check events (or dicts of fields, completed by :func:`make_event`) against a history."""
    return validator.check_events(_as_events(events), history=_as_events(history, first_id="H"))


def codes_by_invoice(findings: Report | Iterable[Finding]) -> dict[str, list[str]]:
    """``{invoice_id: [rule codes]}``, the shape most assertions want; invoices without findings absent."""
    items = findings.findings if isinstance(findings, Report) else findings
    result: dict[str, list[str]] = {}
    for finding in items:
        result.setdefault(finding.invoice_id, []).append(finding.rule)
    return result


def assert_findings(
    findings: Report | Iterable[Finding],
    expected: Mapping[str, Iterable[str]] | Iterable[str],
    *,
    only: Iterable[str] | None = None,
) -> None:
    """Assert which rules fired, with a readable diff on failure.

    ``expected`` is either ``{invoice_id: [codes]}`` (every invoice with findings must be listed)
    or a flat list of codes for a single-invoice check. ``only`` restricts the comparison to some
    rule codes (e.g. the plugin's own, ignoring built-in opportunities).
    """
    wanted_only = set(only) if only is not None else None
    actual = {
        invoice: sorted(code for code in codes if wanted_only is None or code in wanted_only)
        for invoice, codes in codes_by_invoice(findings).items()
    }
    actual = {invoice: codes for invoice, codes in actual.items() if codes}
    if isinstance(expected, Mapping):
        wanted = {invoice: sorted(codes) for invoice, codes in expected.items() if list(codes)}
        if actual != wanted:
            raise AssertionError(f"règles déclenchées : {actual}, attendues : {wanted}")
        return
    flat = sorted(code for codes in actual.values() for code in codes)
    if flat != sorted(expected):
        raise AssertionError(f"règles déclenchées : {flat}, attendues : {sorted(expected)}")


# --------------------------------------------------------------------------------------------------
# Examples written beside the rules in the DSL


@attrs.frozen
class RuleExample:
    """One ``example fires|passes`` line of a rule, with the ``after`` invoices it follows."""

    code: str
    fires: bool
    row: Mapping[str, Any]
    history: tuple[Mapping[str, Any], ...]
    source: str
    path: str
    line: int

    @property
    def label(self) -> str:
        """``CODE:fires@path:line``: how a test runner names the example."""
        kind = "fires" if self.fires else "passes"
        return f"{self.code}:{kind}@{Path(self.path).name}:{self.line}"


@attrs.frozen
class ExampleResult:
    """What running one example gave: ``ok`` and, when not, why in French."""

    example: RuleExample
    ok: bool
    message: str
    findings: tuple[Finding, ...] = ()


def examples_of(validator: Validator, *, paths: Iterable[str | Path] | None = None) -> list[RuleExample]:
    """Every example of the validator's DSL rules, in file order, optionally only from ``paths``."""
    wanted = {_resolved(path) for path in paths} if paths is not None else None
    found: list[RuleExample] = []
    for rule in validator.ruleset.rules:
        origin = getattr(rule, "origin", None) or ""
        path = origin.rsplit(":", 1)[0] if ":" in origin else origin
        if wanted is not None and _resolved(path) not in wanted:
            continue
        for example in getattr(rule, "examples", ()) or ():
            found.append(
                RuleExample(
                    code=rule.code,
                    fires=example.fires,
                    row=_row(example.row),
                    history=tuple(_row(item) for item in example.history),
                    source=rule.source,
                    path=path,
                    line=example.span.line,
                )
            )
    found.sort(key=lambda item: (item.path, item.line))
    return found


def loaded_copy(validator: Validator, path: str | Path) -> str | None:
    """The origin of the loaded rule file that *is* ``path``: the same file, or one with the same text.

    A plugin installed without ``-e`` loads its rule file from site-packages; the author tests the
    file of the checkout. Same text means the same rules: test them as loaded, never add them twice.
    """
    wanted = _resolved(path)
    origins = {(getattr(rule, "origin", None) or "").rsplit(":", 1)[0] for rule in validator.ruleset.rules}
    origins.discard("")
    for origin in origins:
        if _resolved(origin) == wanted:
            return origin
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    for origin in sorted(origins):
        candidate = Path(origin)
        if candidate.name == Path(path).name and candidate.is_file():
            try:
                if candidate.read_text(encoding="utf-8") == text:
                    return origin
            except (OSError, UnicodeDecodeError):
                continue
    return None


def run_example(validator: Validator, example: RuleExample) -> ExampleResult:
    """Check the example's invoice after its history; ``fires`` wants the rule's finding on it.

    Only the example's own rule is judged: other rules may fire too (a non-compliant example often
    breaks several). An example whose invoice cannot be read is a failure that says which field.
    """
    from billing_rules.api.validator import InvalidInvoice

    # Fields outside SPEC §1 are allowed: they become ``Event.extra``, the extra columns plugins read.
    try:
        history = [
            make_event(seq=index, **{"invoice_id": f"EX-H{index + 1}", **row})
            for index, row in enumerate(example.history)
        ]
        event = make_event(seq=len(history), **{"invoice_id": "EX-1", **example.row})
    except InvalidInvoice as exc:
        return ExampleResult(example, False, f"exemple illisible : {exc}")
    report = validator.check_events([event], history=history)
    own = tuple(finding for finding in report.findings if finding.rule == example.code)
    crashed = tuple(
        finding
        for finding in report.findings
        if finding.rule == "INTERNAL-ERROR" and example.code in finding.message
    )
    if crashed:
        return ExampleResult(example, False, crashed[0].message, crashed)
    if example.fires and not own:
        others = ", ".join(sorted({finding.rule for finding in report.findings})) or "aucune"
        return ExampleResult(
            example,
            False,
            f"{example.code} ne se déclenche pas (règles déclenchées : {others})",
            report.findings,
        )
    if not example.fires and own:
        return ExampleResult(example, False, f"{example.code} se déclenche : {own[0].message}", own)
    return ExampleResult(example, True, "ok", own)


def run_examples(validator: Validator, *, paths: Iterable[str | Path] | None = None) -> list[ExampleResult]:
    """:func:`run_example` over :func:`examples_of`."""
    return [run_example(validator, example) for example in examples_of(validator, paths=paths)]


# --------------------------------------------------------------------------------------------------


def _as_events(items: Iterable[Event | Mapping[str, Any]], first_id: str = "F") -> list[Event]:
    events = []
    for index, item in enumerate(items):
        if isinstance(item, Event):
            events.append(item)
        else:
            events.append(make_event(seq=index, **{"invoice_id": f"{first_id}-{index + 1}", **item}))
    return events


def _plain(value: Any) -> Any:
    """Natives a test may pass (dates, Decimals) in the spelling SPEC §1 readers accept."""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _row(fields: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """An example's ``{ name = literal }`` pairs as SPEC §1 values (the readers do the rest)."""
    row: dict[str, Any] = {}
    for name, literal in fields:
        value = getattr(literal, "value", literal)
        row[name] = _plain(value)
    return row


def _resolved(path: str | Path) -> str:
    try:
        return str(Path(path).resolve())
    except OSError:
        return str(path)
