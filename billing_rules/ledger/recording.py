"""``--record``: store exactly the invoices the check read, or nothing (SPEC §3).

Neither engine keeps every invoice of a big input in memory: the check reads the files, then the
recording reads them again. A file that grows or changes in between (the practice software still
writing its export, a copy finishing) would have invoices recorded that were never checked, or
checked ones missing. So each input file's state is taken before the check first reads it
(:class:`InputFiles`), and the recording's own reading ends, still inside the ledger's write
transaction, by comparing it again and counting the invoices read against those checked: any
difference raises a :class:`~billing_rules.errors.BillingRulesError` (exit 2, in French), which
rolls the transaction back. Standard input is spooled by the engines before the check, so it
cannot change between the two readings.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import attrs

from billing_rules.errors import BillingRulesError
from billing_rules.files import FileState, file_state
from billing_rules.model import Event
from billing_rules.readers.stream import STDIN

_NOTHING = "rien n'a été enregistré ; relancez le contrôle"


@attrs.frozen
class InputFiles:
    """The state of each input file, taken before the check reads any of them."""

    states: tuple[tuple[str, FileState], ...]

    @classmethod
    def of(cls, sources: Sequence[str]) -> InputFiles:
        """The state of every file among ``sources`` now (standard input is spooled: not a file)."""
        return cls(tuple((source, file_state(source)) for source in sources if source != STDIN))

    def changed(self) -> str | None:
        """The first file whose state is no longer the one taken, ``None`` when none changed."""
        return next((source for source, state in self.states if file_state(source) != state), None)


def record_by_file(
    ledger: Any, stream: Iterable[Any], *, checked: int | None = None, files: InputFiles | None = None
) -> None:
    """Store the readable invoices of the input in one transaction (SPEC §3 ``--record``).

    One transaction for every file: a Ctrl-C or a crash at any point leaves the ledger as before,
    so the CLI can truthfully say that nothing was recorded. ``checked``: how many invoices the
    check read (its report's ``events``); ``files``: the input files' states before the check.
    Given, the recording refuses, with a :class:`BillingRulesError` and nothing stored, an input
    that is not the one checked.
    """
    ledger.record(_as_checked(stream, checked, files))


def _as_checked(stream: Iterable[Any], checked: int | None, files: InputFiles | None) -> Iterator[Event]:
    """The invoices of ``stream``; at its end, a raise if the input is not the one checked.

    The raise comes while the ledger consumes the invoices, inside its write transaction and
    before its COMMIT: the transaction is rolled back.
    """
    read = 0
    for item in stream:
        if isinstance(item, Event):
            read += 1
            yield item
    changed = files.changed() if files is not None else None
    if changed is not None:
        raise BillingRulesError(f"le fichier « {changed} » a changé pendant le contrôle : {_NOTHING}")
    if checked is not None and read != checked:
        raise BillingRulesError(
            f"l'entrée a changé pendant le contrôle ({checked} factures contrôlées, {read} relues pour "
            f"l'enregistrement) : {_NOTHING}"
        )
