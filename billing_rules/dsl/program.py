"""Compiled DSL rules: what the compiler produces and the engine runs.

A :class:`DslRule` evaluates in a fixed order (validity dates, condition, frequency window, then the
finding's text and amount) so that the cheap tests run first and window counts are only read for the
invoices that could fire.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, TypeVar

import attrs

from billing_rules.domain.tariffs import CodeInfo, TariffTable, is_ccam_code
from billing_rules.dsl.vocabulary import Environment, Function
from billing_rules.model import Event, Severity
from billing_rules.money import format_euros, french_date
from billing_rules.rule import HistoryView, Hit, Rule, WindowCount

#: A condition's ``and`` parts: each compiled, with the fields it reads (None: cannot tell).
ConditionParts = tuple[tuple[Callable[[Event], Any], "frozenset[str] | None"], ...]
#: Each majoration and the codes it is billed on top of (``code SHE ... majoration of SNP, MRT``).
Majorations = Mapping[str, frozenset[str]]


def without_fallen_majorations(
    billed: tuple[str, ...], recoded: tuple[str, ...], majorations: Majorations
) -> tuple[str, ...]:
    """``recoded`` without the majorations it leaves standing on nothing.

    A majoration that stood on one of its codes in ``billed`` and stands on none in ``recoded`` goes
    too, and so, in turn, does a majoration of it. One billed without any of its codes to begin with
    stays: that is another rule's finding (SHE-TIME), not the recoding's doing.
    """
    if not majorations:
        return recoded
    before = set(billed)
    kept = recoded
    while True:
        present = set(kept)
        fallen = {
            code
            for code in present
            if (bases := majorations.get(code)) and not bases.isdisjoint(before) and bases.isdisjoint(present)
        }
        if not fallen:
            return kept
        kept = tuple(code for code in kept if code not in fallen)


@attrs.frozen(eq=False)
class CounterSpec:
    """What a frequency window counts: which invoices, grouped how, over which period.

    Rules with the same counting share one counter (compared by the compiler on the condition's
    tree), so the state kept per patient does not grow with the number of rules.
    """

    id: int
    triggers: frozenset[str] | None
    counting: Callable[[Event], bool] | None
    scope: tuple[str, ...]
    window: str  # "calendar", "ever" or "rolling"
    period: str | None  # day/week/quarter/year for calendar windows; days/weeks/months/years for rolling
    span: int = 0  # length of a rolling window, in ``period`` units
    #: The ``and`` parts of ``counting`` with the fields each reads (see ``dsl/reads.py``).
    counting_parts: ConditionParts = attrs.field(default=(), eq=False, repr=False)

    def counts(self, event: Event) -> bool:
        """Whether ``event`` is one of the invoices this counter counts (billed codes, condition)."""
        if self.triggers is not None and self.triggers.isdisjoint(event.code_set):
            return False
        return self.counting is None or bool(self.counting(event))

    def keys(self, event: Event) -> list[tuple[tuple[Any, ...], str | None]]:
        """The keys the event is counted under: one, or one per billed code with ``per code``."""
        base: list[Any] = []
        for part in self.scope:
            if part == "patient":
                base.append(event.patient_id)
            elif part == "practitioner":
                base.append(event.practitioner_id)
        if "code" not in self.scope:
            return [(tuple(base), None)]
        assert self.triggers is not None
        return [((*base, code), code) for code in sorted(self.triggers & event.code_set)]

    def window_id(self, event: Event) -> Any:
        """The calendar window the event falls in (``None`` for ``ever``)."""
        if self.window == "ever":
            return None
        if self.period == "quarter":
            return event.quarter
        if self.period == "week":
            return event.week
        if self.period == "year":
            return event.date.year
        return event.date


@attrs.frozen
class FrequencySpec:
    """``at most N`` (fire beyond N) or ``the Nth`` (fire on exactly the Nth) over a counter."""

    kind: str
    limit: int
    counter: CounterSpec

    def firing(self, counts: list[WindowCount]) -> WindowCount | None:
        """The window count that makes the rule fire, if any."""
        for window in counts:
            if self.kind == "at_most" and window.count > self.limit:
                return window
            if self.kind == "nth" and window.count == self.limit:
                return window
        return None


@attrs.frozen
class SuggestionSpec:
    """The coding an opportunity proposes (or an action's corrected coding).

    As one of a rule's ``suggest`` alternatives, ``guard`` tells the invoices it is for (None: the
    default, the last), ``condition`` says it in the rule language and ``words`` the coding in
    French (``rules show``).
    """

    kind: str  # "add", "replace", "text", or "remove" (an action's recoding)
    code: str | None
    replaced: frozenset[str]
    text: str | None
    #: ``suggest add SNP, SHE``: every code added, in order (empty: ``code`` alone).
    added: tuple[str, ...] = ()
    guard: Callable[[Event], bool] | None = attrs.field(default=None, eq=False)
    condition: str = ""
    words: str = ""

    def apply(self, codes: tuple[str, ...], majorations: Majorations | None = None) -> tuple[str, ...] | None:
        """The invoice's codes as suggested; ``None`` for a text-only suggestion.

        A majoration whose every code the suggestion takes off goes with them
        (:func:`without_fallen_majorations`).
        """
        coded = self._apply(codes)
        if coded is None or not majorations:
            return coded
        return without_fallen_majorations(codes, coded, majorations)

    def _apply(self, codes: tuple[str, ...]) -> tuple[str, ...] | None:
        if self.kind == "remove":
            return tuple(code for code in codes if code not in self.replaced)
        if self.kind == "text" or self.code is None:
            return None
        if self.kind == "add":
            return (*codes, *(code for code in self.added or (self.code,) if code not in codes))
        kept: list[str] = []
        # A code already billed is not billed twice: G instead of TCG on G+TCG is G, not G+G.
        placed = self.code in codes and self.code not in self.replaced
        for code in codes:
            if code in self.replaced:
                if not placed:
                    kept.append(self.code)
                    placed = True
            else:
                kept.append(code)
        if not placed:
            kept.insert(0, self.code)
        return tuple(kept)


@attrs.frozen(eq=False)
class ActionSpec:
    """One of a rule's ``action`` alternatives: its French text, its corrected coding, its invoices.

    ``guard``: the invoices it is for (None: the default, the rule's last action); ``condition``
    says it in the rule language (``rules show``).
    """

    text: str
    #: The corrected coding ``{recoded}`` of the text stands for.
    recode: SuggestionSpec | None = None
    guard: Callable[[Event], bool] | None = None
    condition: str = ""

    def falling_majorations(self, majorations: Majorations) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The majorations this recoding may take off with the codes they stand on.

        Each with its codes, sorted (``rules show``): a majoration of a code the recoding takes
        off, unless the code it puts instead is one of them; then, in turn, a majoration of that.
        """
        recode = self.recode
        if recode is None or recode.kind not in ("remove", "replace"):
            return ()
        gone = set(recode.replaced) - ({recode.code} if recode.code else set())
        falling: list[str] = []
        grew = True
        while grew:
            grew = False
            for code in sorted(majorations):
                bases = majorations[code]
                if code in gone or bases.isdisjoint(gone) or recode.code in bases:
                    continue
                gone.add(code)
                falling.append(code)
                grew = True
        return tuple((code, tuple(sorted(majorations[code]))) for code in falling)


class _Guarded(Protocol):
    @property
    def guard(self) -> Callable[[Event], bool] | None: ...


_Alternative = TypeVar("_Alternative", bound=_Guarded)


def chosen(alternatives: tuple[_Alternative, ...], event: Event) -> _Alternative | None:
    """The first alternative whose guard holds on ``event``; the last, unguarded, otherwise.

    None only for a rule without any. Evaluated by the rule's own closures on the invoice, so every
    engine, which words its findings through :meth:`DslRule.check`, picks the same one.
    """
    for alternative in alternatives:
        if alternative.guard is None or alternative.guard(event):
            return alternative
    return None


@attrs.frozen(eq=False)
class DslRule:
    """A rule compiled from a rule file; implements :class:`billing_rules.rule.Rule`."""

    code: str
    severity: Severity
    message: str
    source: str
    citation: str
    doc: str
    origin: str
    text: str
    triggers: frozenset[str] | None
    valid_from: dt.date | None
    valid_until: dt.date | None
    condition: Callable[[Event], bool] | None
    frequency: FrequencySpec | None
    #: The ``suggest`` alternatives, in order (the first whose guard holds is used).
    suggestions: tuple[SuggestionSpec, ...]
    amount: Callable[[Event], Any] | None
    environment: Any
    examples: tuple[Any, ...] = ()
    #: The ``and`` parts of ``condition`` with the fields each reads (see ``dsl/reads.py``).
    condition_parts: ConditionParts = attrs.field(default=(), eq=False, repr=False)
    #: What to do (the ``action`` alternatives, with the message's placeholders and ``{recoded}``).
    actions: tuple[ActionSpec, ...] = ()
    #: ``amount ... per year``: the amount is a yearly forfait (SPEC §2 ``yearly_revenue_missed``).
    yearly: bool = False
    #: The invoice fields ``explain`` shows (``dsl.reads.facts_read``).
    explains: tuple[str, ...] = ()
    #: The checked rule tree (``dsl.ast.RuleDecl``) and the ``define``s it may name: what a second
    #: back end (the relational compiler, ``engines/relational``) compiles instead of the closures.
    tree: Any = attrs.field(default=None, eq=False, repr=False)
    defines: Any = attrs.field(default=None, eq=False, repr=False)

    @property
    def suggestion(self) -> SuggestionSpec | None:
        """The default suggestion: the one of the invoices where no other's condition holds."""
        return self.suggestions[-1] if self.suggestions else None

    @property
    def action(self) -> str:
        """The default action's text (``rules list``); ``actions`` has every alternative."""
        return self.actions[-1].text if self.actions else ""

    @property
    def recode(self) -> SuggestionSpec | None:
        """The default action's corrected coding."""
        return self.actions[-1].recode if self.actions else None

    @property
    def summary(self) -> str:
        """One line for ``rules list``: the message without its placeholders' braces."""
        return re.sub(r"\{[a-z_]+\}", "…", self.message)

    def judges(self, event: Event) -> bool:
        """Whether a code that wakes the rule exists on the act's date (else CODE-DATE alone speaks).

        An invoice is judged by the texts in force on its date, and a code's rules come with it: no
        IMT rule before the IMT, no SNP rule in the autumn 2022 gap (one fault, one finding, and no
        tariff that day for an error's euros). Not for opportunities, whose suggested coding is
        checked again (CODE-DATE included), nor for counting: every billed code counts (SPEC §5).
        """
        exists = getattr(self.environment, "exists", None)
        if self.severity is Severity.OPPORTUNITY or self.triggers is None or exists is None:
            return True
        woken = False
        for code in event.codes:
            if code in self.triggers:
                if exists(code, event.date):
                    return True
                woken = True
        return not woken

    def check(self, event: Event, history: HistoryView) -> list[Hit]:
        """The rule's finding on ``event``, if it fires (at most one per rule and invoice)."""
        if self.valid_from is not None and event.date < self.valid_from:
            return []
        if self.valid_until is not None and event.date > self.valid_until:
            return []
        if not self.judges(event):
            return []
        if self.condition is not None and not self.condition(event):
            return []
        window: WindowCount | None = None
        if self.frequency is not None:
            counter = self.frequency.counter
            if not counter.counts(event):
                return []
            window = self.frequency.firing(history.count(counter, event))
            if window is None:
                return []
        majorations = self._majorations
        # The alternatives for this invoice: its text, amount and the coding checked again all
        # follow the chosen ones.
        suggestion = chosen(self.suggestions, event)
        todo = chosen(self.actions, event)
        suggested = suggestion.apply(event.codes, majorations) if suggestion is not None else None
        recode = todo.recode if todo is not None else None
        recoded = recode.apply(event.codes, majorations) if recode is not None else None
        amount = self._amount(event, suggested, window, recoded)
        if suggestion is None:
            suggestion_text = None
        elif suggested is None:
            suggestion_text = suggestion.text
        else:
            suggestion_text = "+".join(suggested)
        values = self._values(event, window, suggestion_text, amount)
        message = self.message.format_map(values)
        action = None
        if todo is not None and todo.text:
            if recoded is not None:
                values["recoded"] = "+".join(recoded) if recoded else "aucun code"
            action = todo.text.format_map(values)
        return [
            Hit(
                message=message,
                amount=amount,
                suggestion=suggestion_text,
                suggested_codes=suggested,
                action=action,
                window=window,
                yearly=self.yearly,
            )
        ]

    @property
    def _majorations(self) -> Majorations:
        return getattr(self.environment, "majorations", None) or {}

    @property
    def falling_majorations(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The majorations any of the action alternatives' recodings may take off, each once.

        :meth:`ActionSpec.falling_majorations` tells them alternative by alternative.
        """
        found: dict[str, tuple[str, ...]] = {}
        for action in self.actions:
            for code, bases in action.falling_majorations(self._majorations):
                found.setdefault(code, bases)
        return tuple(found.items())

    def _amount(
        self,
        event: Event,
        suggested: tuple[str, ...] | None,
        window: WindowCount | None,
        recoded: tuple[str, ...] | None = None,
    ) -> Decimal | None:
        """The finding's euros: the ``amount`` clause's, else the tariffs at stake on the act's date.

        An opportunity's: the suggested coding's gain. An error's: the tariffs of its trigger codes
        billed (of the window's code for ``per code``), plus those of the majorations its recoding
        takes off along with them (:meth:`_fallen_along`). ``suggested`` and ``recoded`` are the
        codings of the alternatives chosen for this invoice.
        """
        if self.amount is not None:
            return _money(self.amount(event))
        tariffs = self.environment.tariffs
        sector, km = event.sector.value, event.km
        if self.severity is Severity.OPPORTUNITY and suggested is not None:
            added = [code for code in suggested if code not in event.code_set]
            removed = [code for code in event.codes if code not in suggested]
            gain = tariffs.total(added, event.date, sector=sector, km=km)
            loss = tariffs.total(removed, event.date, sector=sector, km=km)
            return None if gain is None or loss is None else gain - loss
        if self.severity is not Severity.ERROR or self.triggers is None:
            return None
        if window is not None and window.code is not None:
            at_risk = [window.code]
            amount = tariffs.on(window.code, event.date, sector)
        else:
            at_risk = [code for code in event.codes if code in self.triggers]
            amount = tariffs.total(at_risk, event.date, sector=sector, km=km)
        if amount is None or recoded is None:
            return amount
        return amount + self._fallen_along(event, at_risk, recoded)

    def _fallen_along(self, event: Event, at_risk: list[str], recoded: tuple[str, ...]) -> Decimal:
        """The tariffs of the majorations the recoding takes off along with the codes at risk.

        A billed majoration the recoding takes off counts when it stood on a code at risk (or on
        another majoration so counted): the SHE on the SNP an SNP rule refuses. One that stood on
        other codes only is not this finding's money (IMT-CUMUL's amount is the IMT's, whatever
        falls with the SNP it takes off). A majoration without a tariff on the act's date adds
        nothing: CODE-DATE reports it.
        """
        majorations = self._majorations
        counted = set(at_risk)
        gone = {code for code in event.codes if code in majorations and code not in counted} - set(recoded)
        along: set[str] = set()
        grew = True
        while grew:
            grew = False
            for code in gone - along:
                if not majorations[code].isdisjoint(counted | along):
                    along.add(code)
                    grew = True
        total = Decimal(0)
        for code in event.codes:
            if code in along:
                price = self.environment.tariffs.total(
                    [code], event.date, sector=event.sector.value, km=event.km
                )
                total += price if price is not None else 0
        return total

    def _values(
        self, event: Event, window: WindowCount | None, suggestion: str | None, amount: Decimal | None
    ) -> dict[str, Any]:
        """The placeholders of the message and the action, dates and euros written the French way."""
        billed = [code for code in event.codes if self.triggers is None or code in self.triggers]
        return {
            "date": french_date(event.date),
            "age": event.age,
            "code": window.code if window is not None and window.code else (billed[0] if billed else ""),
            "codes": "+".join(event.codes),
            "first_date": french_date(window.first_date) if window and window.first_date else "",
            "last_date": french_date(window.last_date) if window and window.last_date else "",
            "count": window.count if window else "",
            "limit": self.frequency.limit if self.frequency else "",
            "suggestion": suggestion or "",
            "amount": format_euros(amount) if amount is not None else "",
        }


def _money(value: Any) -> Decimal | None:
    """An ``amount`` clause's value in euros, or none when the value is no number.

    An extra column's text gives no amount rather than an error in the middle of a check.
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(value) if not isinstance(value, str) else Decimal(value.replace(",", "."))
    except (InvalidOperation, TypeError, ValueError):
        return None
    return amount if amount.is_finite() else None


@attrs.frozen
class RuleSet:
    """The checked rule set, compiled and immutable: what both engines read."""

    rules: tuple[Rule, ...]
    codes: dict[str, CodeInfo]
    families: dict[str, frozenset[str]]
    tariffs: TariffTable
    functions: dict[str, Function]
    environment: Environment

    def rule(self, code: str) -> Rule | None:
        """The rule with this public code, if loaded."""
        for rule in self.rules:
            if rule.code == code:
                return rule
        return None

    def knows(self, code: str) -> bool:
        """Whether a billed code is known to the loaded rule sets (SPEC: CODE-UNKNOWN otherwise)."""
        if code in self.codes:  # asked for every code of every invoice: the common case first
            return True
        return code in self.tariffs or is_ccam_code(code)
