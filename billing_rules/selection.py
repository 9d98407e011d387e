"""Which rules run: ``select``, ``extend-select`` and ``ignore``, with ruff's meaning.

The same three lists come from the practice's configuration (``[rules]``) and from the command line
(``--select``, ``--extend-select``, ``--ignore``); each source is one :class:`Selectors` layer, the
configuration first. Users of ruff already know the rules, so they are ruff's, exactly:

- every loaded rule runs by default;
- ``select`` replaces the set selected so far (the defaults, or an earlier layer's); ``extend-select``
  adds to it; ``ignore`` removes from it;
- within one layer, for each rule, the most specific selector that names it decides (an exact code
  beats ``SNP-``, which beats ``S*``, which beats ``ALL``); at equal specificity ``ignore`` wins.

A selector is a rule code (``IMT-ONCE``), a code prefix ending at a dash (``SNP-`` or ``SNP``: every
``SNP-…`` rule, but ``SN`` selects nothing), a shell pattern (``SPE-*``), or ``ALL``; case does not
matter. A selector that matches no loaded rule is an error naming it: a rule believed ignored that
still runs, or believed selected that does not, is a risk for the practice, not a typo to pass over.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable, Sequence

import attrs

from billing_rules.errors import BillingRulesError

ALL = "ALL"
"""The selector that names every rule."""

_WILDCARDS = ("*", "?", "[")
_EXACT = 1_000_000


class SelectionError(BillingRulesError):
    """A selector names no loaded rule; the message names it, where it was written, and close codes."""


@attrs.frozen
class Selectors:
    """One source of ``select`` / ``extend-select`` / ``ignore`` (the configuration, or the command line).

    ``select`` is None when the source does not set it (the set so far is kept); an empty tuple
    selects nothing. ``labels`` name the three lists in error messages (``--select`` or
    ``billing-rules.toml : rules.select``).
    """

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    labels: tuple[str, str, str] = ("--select", "--extend-select", "--ignore")

    @property
    def empty(self) -> bool:
        """Whether this source changes nothing."""
        return self.select is None and not self.extend_select and not self.ignore

    def named(self) -> Iterable[tuple[str, str]]:
        """Every selector with the label of its list."""
        lists = (self.select or (), self.extend_select, self.ignore)
        for label, values in zip(self.labels, lists, strict=True):
            for value in values:
                yield label, value


def split_codes(values: Iterable[str]) -> tuple[str, ...]:
    """``("IMT-ONCE, snp-", "VL")`` → ``("IMT-ONCE", "SNP-", "VL")``: comma lists, trimmed, upper case."""
    return tuple(part.strip().upper() for value in values for part in str(value).split(",") if part.strip())


def matches(selector: str, code: str) -> bool:
    """Whether ``selector`` names the rule ``code`` (see the module docstring for the forms)."""
    wanted, code = selector.strip().upper(), code.upper()
    if wanted == ALL:
        return True
    if any(char in wanted for char in _WILDCARDS):
        return fnmatch.fnmatchcase(code, wanted)
    if wanted.endswith("-"):
        return code.startswith(wanted)
    return code == wanted or code.startswith(wanted + "-")


def specificity(selector: str, code: str) -> int:
    """How precisely ``selector`` names ``code``: the exact code most, ``ALL`` least.

    A prefix or a pattern counts its literal characters (``SNP-`` and ``SNP`` alike), so a longer
    prefix beats a shorter one, as in ruff.
    """
    wanted = selector.strip().upper()
    if wanted == code.upper():
        return _EXACT
    if wanted == ALL:
        return 0
    for index, char in enumerate(wanted):
        if char in _WILDCARDS:
            return index
    return len(wanted.rstrip("-")) + 1


def _decision(layer: Selectors, ignores: Sequence[str], code: str) -> bool | None:
    """True (select), False (ignore) or None (the layer does not name ``code``)."""
    best: tuple[int, int] | None = None
    for selector in (*(layer.select or ()), *layer.extend_select):
        if matches(selector, code):
            candidate = (specificity(selector, code), 0)
            best = candidate if best is None or candidate > best else best
    for selector in ignores:
        if matches(selector, code):
            candidate = (specificity(selector, code), 1)  # ties: ignore wins
            best = candidate if best is None or candidate > best else best
    if best is None:
        return None
    return best[1] == 0


def check_selectors(layers: Sequence[Selectors], codes: Sequence[str]) -> None:
    """Raise :class:`SelectionError` for the first selector that names no rule among ``codes``."""
    for layer in layers:
        for label, selector in layer.named():
            if any(matches(selector, code) for code in codes):
                continue
            message = f"{label} : aucune règle chargée ne correspond à « {selector} »"
            close = difflib.get_close_matches(selector.upper(), [code.upper() for code in codes], n=3)
            if close:
                message += f" (vouliez-vous dire : {', '.join(close)} ?)"
            raise SelectionError(message + " ; la liste des règles : billing-rules rules list")


def resolve(layers: Sequence[Selectors], codes: Sequence[str]) -> set[str]:
    """The codes, among ``codes`` (every loaded rule), that run once every layer is applied."""
    check_selectors(layers, codes)
    selected = set(codes)
    carried: tuple[str, ...] = ()
    for layer in layers:
        ignores = (*layer.ignore, *carried)
        carried = ()
        decisions = {code: _decision(layer, ignores, code) for code in codes}
        if layer.select is not None:
            selected = {code for code, decision in decisions.items() if decision is True}
            if not layer.select and not layer.extend_select and layer.ignore:
                carried = layer.ignore  # ruff: ``select = []`` + ``ignore`` carries the ignores over
        else:
            for code, decision in decisions.items():
                if decision is True:
                    selected.add(code)
                elif decision is False:
                    selected.discard(code)
    return selected
