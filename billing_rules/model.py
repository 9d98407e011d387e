"""Values the whole library passes around: invoice events, findings, input errors, reports.

Everything here is an immutable attrs value. Strings become typed values only in the readers
(``billing_rules.readers``); an :class:`Event` is therefore always well-formed, and rules never
re-parse anything. Values derived from the act's date (age, quarter, civil week) are computed once
when the event is built, because dozens of rules read them for every invoice.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from billing_rules.explain import Explanation


class Severity(enum.Enum):
    """How serious a finding is (SPEC §2); the order matters for ``--fail-on``."""

    OPPORTUNITY = "opportunity"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """Higher is more serious: ``--fail-on warning`` fails on warnings and errors."""
        return _SEVERITY_RANK[self]

    @property
    def french(self) -> str:
        """The French word billing staff read: ``erreur``, ``alerte``, ``opportunité``."""
        return _SEVERITY_FRENCH[self]

    @classmethod
    def _missing_(cls, value: object) -> Severity | None:
        """``Severity("erreur")``: French words too (SPEC §3), any case, with or without accents."""
        if not isinstance(value, str):
            return None
        return _SEVERITY_WORDS.get(_plain_word(value))


_SEVERITY_RANK = {Severity.OPPORTUNITY: 0, Severity.WARNING: 1, Severity.ERROR: 2}
_SEVERITY_FRENCH = {Severity.ERROR: "erreur", Severity.WARNING: "alerte", Severity.OPPORTUNITY: "opportunité"}
_SEVERITY_WORDS = {
    **{severity.value: severity for severity in Severity},
    "erreur": Severity.ERROR,
    "alerte": Severity.WARNING,
    "opportunite": Severity.OPPORTUNITY,
}


def _plain_word(text: str) -> str:
    """``Opportunité`` → ``opportunite``: lower case, trimmed, accents dropped."""
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


class _FastEnum(enum.Enum):
    """An enum hashed by identity (C-level), as members are singletons compared by identity.

    ``Enum.__hash__`` is a Python function; the engine hashes four of these per invoice to find
    its plan, which made it one of the largest costs of a check.
    """

    __hash__ = object.__hash__


class MtStatus(_FastEnum):
    """The patient's declared médecin traitant before the act, seen from the billing practitioner."""

    SELF = "self"
    OTHER = "other"
    NONE = "none"
    UNKNOWN = "unknown"


class Place(_FastEnum):
    """Where the act took place; an EHPAD counts as the patient's home for home-visit codes."""

    CABINET = "cabinet"
    DOMICILE = "domicile"
    EHPAD = "ehpad"
    TELE = "tele"


class Sector(_FastEnum):
    """The practitioner's convention sector (OPTAM is sector 2 with controlled fees)."""

    ONE = "1"
    TWO = "2"
    OPTAM = "optam"


class Status(_FastEnum):
    """A cancelled invoice stays in the data but counts for nothing."""

    BILLED = "billed"
    CANCELLED = "cancelled"


def age_on(birth_date: dt.date, day: dt.date) -> int:
    """Whole years on ``day``: 80 on the 80th birthday; a 29 February birthday turns on 1 March.

    Comparing (month, day) tuples gives exactly that: in a common year (2, 29) is after (2, 28)
    and before (3, 1), so the birthday is reached on 1 March.
    """
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def quarter_of(day: dt.date) -> tuple[int, int]:
    """Calendar quarter key: (year, 1..4)."""
    return (day.year, (day.month - 1) // 3 + 1)


def civil_week_of(day: dt.date) -> tuple[int, int]:
    """Civil week key, Monday to Sunday: the ISO-8601 (year, week), which never splits a week."""
    iso = day.isocalendar()
    return (iso[0], iso[1])


_END_OF_DAY = dt.time(23, 59, 59)

# Per-day derived values and per-coding code sets, shared by the events of a file: a file has a few
# hundred days and a few dozen codings, so one dictionary lookup replaces ``isocalendar()`` and a
# frozenset per invoice. Both memos are bounded (an odd input cannot grow them without limit).
_MEMO_MAX = 100_000
_DAYS: dict[dt.date, tuple[tuple[int, int], tuple[int, int], dt.datetime]] = {}
_CODE_SETS: dict[tuple[str, ...], frozenset[str]] = {}


def _day_values(day: dt.date) -> tuple[tuple[int, int], tuple[int, int], dt.datetime]:
    """(quarter, civil week, end-of-day act time) of ``day``."""
    values = _DAYS.get(day)
    if values is None:
        values = (quarter_of(day), civil_week_of(day), dt.datetime.combine(day, _END_OF_DAY))
        if len(_DAYS) < _MEMO_MAX:
            _DAYS[day] = values
    return values


def _code_set(codes: tuple[str, ...]) -> frozenset[str]:
    found = _CODE_SETS.get(codes)
    if found is None:
        found = frozenset(codes)
        if len(_CODE_SETS) < _MEMO_MAX:
            _CODE_SETS[codes] = found
    return found


#: The invoice fields of few distinct values (codes aside): a billing file holds a few dozen
#: combinations of them. The engine makes a plan per combination (``engine.PLAN_FIELDS``) and the
#: CSV fast path decodes each combination once (``readers.positional``).
FEW_VALUED_FIELDS = (
    "specialty",
    "sector",
    "ald",
    "palliative",
    "neurodegenerative",
    "mt_status",
    "declares_mt",
    "place",
    "homebound",
    "regulated",
    "status",
    "amount",
    "km",
)


@attrs.frozen(kw_only=True, slots=True)
class Event:
    """One invoice (feuille de soins) as the engine sees it.

    Built by readers through :meth:`create`, which derives the date-dependent values once. The
    ``seq`` field is the invoice's rank in the input (file order across files); with ``date`` and
    ``time`` it fixes the processing order of SPEC §1.
    """

    invoice_id: str
    date: dt.date
    time: dt.time | None = None
    practitioner_id: str
    specialty: str = "MG"
    sector: Sector = Sector.ONE
    patient_id: str
    birth_date: dt.date
    ald: bool = False
    palliative: bool = False
    neurodegenerative: bool = False
    mt_status: MtStatus = MtStatus.UNKNOWN
    declares_mt: bool = False
    place: Place = Place.CABINET
    homebound: bool = False
    codes: tuple[str, ...]
    amount: Decimal | None = None
    regulated: bool = False
    referral_at: dt.datetime | None = None
    status: Status = Status.BILLED
    discharge_date: dt.date | None = None
    km: Decimal | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, eq=False)
    line: int | None = None
    file: str | None = None
    seq: int = 0
    # Derived once (see the module docstring); never passed by callers.
    age: int = attrs.field(init=False)
    quarter: tuple[int, int] = attrs.field(init=False)
    week: tuple[int, int] = attrs.field(init=False)
    act_time: dt.datetime = attrs.field(init=False)
    code_set: frozenset[str] = attrs.field(init=False, eq=False)

    def __attrs_post_init__(self) -> None:
        setter = object.__setattr__
        if type(self.codes) is not tuple:
            # A caller's list: the rules' caches key on the codes as billed (hashable, in order).
            setter(self, "codes", tuple(self.codes))
        day = self.date
        quarter, week, end_of_day = _day_values(day)
        setter(self, "age", age_on(self.birth_date, day))
        setter(self, "quarter", quarter)
        setter(self, "week", week)
        # Without a time, the act is taken at the end of its day: the 48 h of SNP-48H then err on
        # the side of the practitioner only when the time is really unknown (SPEC §5).
        setter(self, "act_time", end_of_day if self.time is None else dt.datetime.combine(day, self.time))
        setter(self, "code_set", _code_set(self.codes))

    @property
    def key(self) -> tuple[str, str]:
        """Identity of an invoice: unique per practitioner (SPEC §1)."""
        return (self.practitioner_id, self.invoice_id)

    @property
    def cancelled(self) -> bool:
        """A cancelled invoice is read and counted in ``summary.events``, nothing else."""
        return self.status is Status.CANCELLED

    @property
    def sort_key(self) -> tuple[dt.date, int, dt.time, int]:
        """SPEC §1 order: date, then timed invoices by time, then untimed ones, then input order."""
        if self.time is None:
            return (self.date, 1, dt.time.min, self.seq)
        return (self.date, 0, self.time, self.seq)

    def with_codes(self, codes: tuple[str, ...]) -> Event:
        """The same invoice coded differently: how an opportunity's suggestion is checked."""
        return attrs.evolve(self, codes=codes)


@attrs.frozen(kw_only=True, slots=True)
class FindingWindow:
    """The window a frequency finding exceeds, named by its earliest counted invoice (SPEC §2).

    Only the first invoice is kept (its number, date and practitioner): the engine remembers that
    much per window, never the events themselves. ``count`` is the finding's rank in the window,
    ``limit`` the rule's number, ``period`` the window (``quarter``, ``week``, ``year``, ``day``,
    ``ever`` or a rolling ``12 months``) and ``counted`` what is counted (a code, or ``None`` for
    several).
    """

    first_invoice_id: str | None
    first_date: dt.date | None
    first_practitioner_id: str | None = None
    count: int | None = None
    limit: int | None = None
    period: str | None = None
    counted: str | None = None


@attrs.frozen(kw_only=True, slots=True)
class Finding:
    """One thing a rule says about one invoice (SPEC §2 ``findings[]``).

    ``citation`` and ``action`` come from the rule (SPEC §2: the legal text, and what to do);
    ``window`` is set on frequency findings; ``yearly`` marks a yearly amount (a forfait), summed
    apart. ``facts`` holds the values the rule read on the invoice, for :meth:`explain`: the names
    (shared by every finding of the rule) and the values, never the patient's id or birth date.
    """

    rule: str
    severity: Severity
    message: str
    invoice_id: str
    practitioner_id: str
    patient_id: str
    date: dt.date
    line: int | None = None
    file: str | None = None
    amount: Decimal | None = None
    suggestion: str | None = None
    source: str = "builtin"
    seq: int = 0
    citation: str | None = None
    action: str | None = None
    window: FindingWindow | None = None
    yearly: bool = False
    facts: tuple[tuple[str, ...], tuple[Any, ...]] | None = attrs.field(default=None, eq=False, repr=False)

    def explain(self) -> Explanation:
        """Why this finding: the facts the rule read, its window, its reference and what to do.

        Returns a :class:`billing_rules.explain.Explanation` (``str()`` gives the French text).
        The window lists only its first invoice here; ``Validator.explain`` lists them all.
        """
        from billing_rules.explain import explain_finding

        return explain_finding(self)

    @classmethod
    def about(
        cls, event: Event, *, rule: str, severity: Severity, message: str, source: str, **values: Any
    ) -> Finding:
        """A finding located on ``event``: every finding copies the same facts of its invoice."""
        return cls(
            rule=rule,
            severity=severity,
            message=message,
            invoice_id=event.invoice_id,
            practitioner_id=event.practitioner_id,
            patient_id=event.patient_id,
            date=event.date,
            line=event.line,
            file=event.file,
            source=source,
            seq=event.seq,
            **values,
        )


@attrs.frozen(kw_only=True, slots=True)
class InputError:
    """A bad field of one input row: located so that billing staff can fix the export."""

    line: int | None
    field: str
    message: str
    file: str | None = None
    invoice_id: str | None = None

    @property
    def described(self) -> str:
        """The message as staff read it: the column first, or alone for a whole unreadable line."""
        if self.field == ROW_FIELD:
            return self.message
        return f"colonne {self.field} : {self.message}"


#: Pseudo-field of an input error about the whole row (too many fields, unparsable JSON line...).
ROW_FIELD = "_row"


@attrs.frozen(kw_only=True, slots=True)
class Summary:
    """Totals of a report (SPEC §2 ``summary``)."""

    events: int
    errors: int
    warnings: int
    opportunities: int
    input_errors: int
    amount_at_risk: Decimal
    missed_revenue: Decimal
    #: Yearly forfaits an opportunity would bring (OPP-MT-DECLARE), never in ``missed_revenue``.
    yearly_revenue_missed: Decimal = Decimal("0")


@attrs.frozen(kw_only=True, slots=True)
class Report:
    """Everything one check produced, in SPEC order; reporters only format it."""

    events: int
    findings: tuple[Finding, ...]
    input_errors: tuple[InputError, ...]
    files: tuple[str, ...] = ()
    #: Which engine ran the rules: ``row`` (the reference) or ``duckdb`` (the relational one).
    engine: str = "row"
    #: Rules the relational engine ran row by row in Python (a plugin's rule, a Python function).
    row_rules: tuple[str, ...] = ()

    @property
    def summary(self) -> Summary:
        """Counts and euro sums; warnings are never summed (SPEC §2)."""
        counts = dict.fromkeys(Severity, 0)
        at_risk = Decimal("0")
        missed = Decimal("0")
        yearly = Decimal("0")
        for finding in self.findings:
            counts[finding.severity] += 1
            if finding.amount is None:
                continue
            if finding.severity is Severity.ERROR:
                at_risk += finding.amount
            elif finding.severity is Severity.OPPORTUNITY:
                if finding.yearly:
                    yearly += finding.amount
                else:
                    missed += finding.amount
        return Summary(
            events=self.events,
            errors=counts[Severity.ERROR],
            warnings=counts[Severity.WARNING],
            opportunities=counts[Severity.OPPORTUNITY],
            input_errors=len(self.input_errors),
            amount_at_risk=at_risk,
            missed_revenue=missed,
            yearly_revenue_missed=yearly,
        )

    @property
    def multiple_files(self) -> bool:
        """With several input files, findings and input errors carry ``file`` (SPEC §2)."""
        return len(self.files) > 1
