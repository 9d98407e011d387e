"""The HTML report for people (``--format html``): one self-contained file, no network at all.

Practices open the report from a mail or a shared folder, often on machines without internet and
behind strict proxies: everything (styles, charts) is inline, the charts are SVG computed here,
and a Content-Security-Policy forbids the page from loading or running anything. Values come from
billing files written by other software, so every value goes through Jinja2's autoescaping.

Jinja2 is an optional dependency (``pip install billing-rules[report]``): the embedded core stays
light, and asking for HTML without it gives a French message saying what to install.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import attrs

from billing_rules.errors import BillingRulesError
from billing_rules.explain import window_sentence
from billing_rules.model import Event, Finding, Report, Severity
from billing_rules.money import format_euros
from billing_rules.reporters.files import write_text

if TYPE_CHECKING:
    from billing_rules.api.simulation import Simulation
    from billing_rules.domain.forfait.estimate import ForfaitEstimate

TEMPLATES = Path(__file__).with_name("templates")
"""Package data: the Jinja2 templates of the HTML reports."""

SEVERITY_LABELS = {
    Severity.ERROR: "Erreur",
    Severity.WARNING: "Alerte",
    Severity.OPPORTUNITY: "Opportunité",
}

_MISSING_JINJA = (
    "le format html demande le paquet jinja2, absent de cette installation : "
    "pip install 'billing-rules[report]'"
)

# Chart geometry (SVG user units); the SVG scales to the page width.
_BAR_HEIGHT = 18
_BAR_GAP = 6
_LABEL_WIDTH = 150
_BAR_AREA = 330
_VALUE_WIDTH = 310


class MissingDependency(BillingRulesError):
    """An optional extra is needed for what was asked; the message says which one to install."""


@attrs.frozen
class Bar:
    """One bar of a horizontal bar chart, its geometry computed here (the template only draws)."""

    label: str
    count: int
    amount: Decimal
    y: int
    width: float
    severity: str
    at_risk: Decimal = Decimal(0)
    missed: Decimal = Decimal(0)
    #: Yearly forfaits (OPP-MT-DECLARE), shown per year, never added to ``missed``.
    yearly: Decimal = Decimal(0)


@attrs.frozen
class Chart:
    """A horizontal bar chart: bars and the SVG's height."""

    bars: tuple[Bar, ...]
    height: int
    label_width: int = _LABEL_WIDTH
    bar_area: int = _BAR_AREA
    width: int = _LABEL_WIDTH + _BAR_AREA + _VALUE_WIDTH


@attrs.frozen
class TrendPoint:
    """One day of the trend: how many findings, and the euros at risk and missed that day."""

    day: dt.date
    invoices: int | None
    findings: int
    at_risk: Decimal
    missed: Decimal
    x: float
    y_risk: float
    y_missed: float
    height_count: float


def _environment() -> Any:
    try:
        import jinja2
    except ImportError:
        raise MissingDependency(_MISSING_JINJA) from None
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["euros"] = format_euros
    env.filters["french_date"] = lambda day: day.strftime("%d/%m/%Y")
    env.filters["number"] = lambda value: f"{value:,}".replace(",", "\u00a0")
    return env


def _dominant(severities: Counter[Severity]) -> str:
    for severity in (Severity.ERROR, Severity.WARNING, Severity.OPPORTUNITY):
        if severities[severity]:
            return severity.value
    return Severity.WARNING.value


def bar_chart(findings: Sequence[Finding], key: str) -> Chart:
    """Findings counted by ``key`` (``rule`` or ``practitioner_id``), most frequent first."""
    counts: Counter[str] = Counter()
    at_risk: dict[str, Decimal] = defaultdict(Decimal)
    missed: dict[str, Decimal] = defaultdict(Decimal)
    yearly: dict[str, Decimal] = defaultdict(Decimal)
    severities: dict[str, Counter[Severity]] = defaultdict(Counter)
    for finding in findings:
        name = getattr(finding, key)
        counts[name] += 1
        severities[name][finding.severity] += 1
        if finding.amount is not None and finding.severity is Severity.ERROR:
            at_risk[name] += finding.amount
        elif finding.amount is not None and finding.severity is Severity.OPPORTUNITY:
            # A yearly forfait is not a day's missed money (SPEC §2): kept apart.
            (yearly if finding.yearly else missed)[name] += finding.amount
    most = max(counts.values(), default=1)
    ordered = sorted(counts, key=lambda name: (-counts[name], name))
    bars = tuple(
        Bar(
            label=name,
            count=counts[name],
            amount=at_risk[name] + missed[name],
            y=index * (_BAR_HEIGHT + _BAR_GAP),
            at_risk=at_risk[name],
            missed=missed[name],
            yearly=yearly[name],
            width=round(max(2.0, _BAR_AREA * counts[name] / most), 1),
            severity=_dominant(severities[name]),
        )
        for index, name in enumerate(ordered)
    )
    return Chart(bars=bars, height=max(len(bars), 1) * (_BAR_HEIGHT + _BAR_GAP))


_TREND_WIDTH = 720
_TREND_HEIGHT = 160


def trend(findings: Sequence[Finding], history: Iterable[Event] = ()) -> tuple[TrendPoint, ...]:
    """Findings and euros per day, every day from the first to the last (quiet days at zero).

    With a history (the ledger), the days span it too and carry its invoice counts, so the trend
    shows how the practice's billing evolves, not only the days of this input.
    """
    per_day: dict[dt.date, list[Finding]] = defaultdict(list)
    for finding in findings:
        per_day[finding.date].append(finding)
    invoices: Counter[dt.date] = Counter(event.date for event in history if not event.cancelled)
    days = set(per_day) | set(invoices)
    if not days:
        return ()
    first, last = min(days), max(days)
    span = (last - first).days + 1
    rows = []
    for offset in range(span):
        day = first + dt.timedelta(days=offset)
        items = per_day.get(day, [])
        at_risk = sum((f.amount for f in items if f.severity is Severity.ERROR and f.amount), Decimal(0))
        missed = sum(
            (f.amount for f in items if f.severity is Severity.OPPORTUNITY and f.amount and not f.yearly),
            Decimal(0),
        )
        rows.append((day, items, at_risk, missed))
    top_euros = max([max(row[2], row[3]) for row in rows] + [Decimal(1)])
    top_count = max([len(row[1]) for row in rows] + [1])
    step = _TREND_WIDTH / max(span - 1, 1)
    return tuple(
        TrendPoint(
            day=day,
            invoices=invoices.get(day, 0) if invoices else None,
            findings=len(items),
            at_risk=at_risk,
            missed=missed,
            x=round(index * step if span > 1 else _TREND_WIDTH / 2, 1),
            y_risk=round(_TREND_HEIGHT - float(at_risk / top_euros) * _TREND_HEIGHT, 1),
            y_missed=round(_TREND_HEIGHT - float(missed / top_euros) * _TREND_HEIGHT, 1),
            height_count=round(len(items) / top_count * _TREND_HEIGHT, 1),
        )
        for index, (day, items, at_risk, missed) in enumerate(rows)
    )


def render_report(report: Report, *, history: Iterable[Event] = (), title: str | None = None) -> str:
    """The whole HTML page of a check (``history``: the ledger's invoices, for the trend)."""
    env = _environment()
    summary = report.summary
    points = trend(report.findings, history)
    rows = sorted(report.findings, key=lambda finding: (-finding.severity.rank, finding.seq, finding.rule))
    return env.get_template("report.html.j2").render(
        title=title or "Contrôle de facturation NGAP",
        generated=dt.date.today(),
        report=report,
        summary=summary,
        files=report.files,
        by_rule=bar_chart(report.findings, "rule"),
        by_practitioner=bar_chart(report.findings, "practitioner_id"),
        trend=points,
        trend_width=_TREND_WIDTH,
        trend_height=_TREND_HEIGHT,
        trend_top=max([max(point.at_risk, point.missed) for point in points] + [Decimal(0)]),
        trend_bar=max(2.0, min(24.0, _TREND_WIDTH / max(len(points), 1) * 0.6)),
        risk_path=" ".join(f"{point.x},{point.y_risk}" for point in points),
        missed_path=" ".join(f"{point.x},{point.y_missed}" for point in points),
        rows=rows,
        window_sentence=window_sentence,
        labels=SEVERITY_LABELS,
        with_file=report.multiple_files,
    )


def render_forfait(result: ForfaitEstimate) -> str:
    """The HTML page of ``billing-rules forfait``."""
    env = _environment()
    most = max([line.total for line in result.categories] + [Decimal(1)])
    bars = tuple(
        Bar(
            label=line.label,
            count=line.patients,
            amount=line.total,
            y=index * (_BAR_HEIGHT + _BAR_GAP),
            width=round(max(2.0, float(line.total / most) * _BAR_AREA), 1) if line.total else 0.0,
            severity="opportunity" if line.settled else "warning",
        )
        for index, line in enumerate(result.categories)
    )
    chart = Chart(bars=bars, height=max(len(bars), 1) * (_BAR_HEIGHT + _BAR_GAP), label_width=260)
    return env.get_template("forfait.html.j2").render(
        result=result,
        chart=chart,
        generated=dt.date.today(),
    )


@attrs.frozen
class PairRow:
    """One rule of the before / after chart of a simulation."""

    label: str
    before: int
    after: int
    y: int
    before_width: float
    after_width: float

    @property
    def max_width(self) -> float:
        """Where the row's figures start, right of its longer bar."""
        return max(self.before_width, self.after_width)


@attrs.frozen
class PairChart:
    """Bars per rule, before and after, of ``billing-rules simulate``."""

    rows: tuple[PairRow, ...]
    height: int
    label_width: int = _LABEL_WIDTH
    width: int = _LABEL_WIDTH + _BAR_AREA + _VALUE_WIDTH


def render_simulation(result: Simulation) -> str:
    """The HTML page of ``billing-rules simulate``: bars per rule, before / after, and the tables."""
    env = _environment()
    most = max([max(line.before.findings, line.after.findings) for line in result.by_rule] + [1])

    def width(count: int) -> float:
        return round(max(2.0, count / most * _BAR_AREA), 1) if count else 0.0

    rows = tuple(
        PairRow(
            label=line.key,
            before=line.before.findings,
            after=line.after.findings,
            y=index * (_BAR_HEIGHT + _BAR_GAP + 2),
            before_width=width(line.before.findings),
            after_width=width(line.after.findings),
        )
        for index, line in enumerate(result.by_rule)
    )
    chart = PairChart(rows=rows, height=max(len(rows), 1) * (_BAR_HEIGHT + _BAR_GAP + 2))
    return env.get_template("simulation.html.j2").render(
        result=result,
        chart=chart,
        generated=dt.date.today(),
        signed=lambda amount: ("+" if amount > 0 else "") + format_euros(amount),
    )


class HtmlReporter:
    """``--format html``: the self-contained French page (totals, charts, lines to fix)."""

    name = "html"

    def __init__(self, history: Iterable[Event] = ()) -> None:
        self.history = tuple(history)

    def render(self, report: Report, stream: TextIO, *, color: bool) -> None:
        """Write the page; ``color`` is ignored (the page has its own colours)."""
        del color
        write_text(stream, render_report(report, history=self.history))
