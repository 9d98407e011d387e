"""Practice software, typed: build once, check each invoice as it is written, record it once validated.

Run it from the repository root: ``python examples/embed_typed.py``. The values are Python's own
(dates, times, Decimal, booleans, the model's enums); the test suite runs ``mypy --strict`` on it.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from decimal import Decimal
from pathlib import Path

from billing_rules import InvalidInvoice, InvoiceValues, MtStatus, Place, Validator


def home_visit(number: str, day: dt.date, hour: dt.time) -> InvoiceValues:
    """A VL for an 80-year-old in ALD whose médecin traitant visits her at home."""
    return {
        "invoice_id": number,
        "date": day,
        "time": hour,
        "practitioner_id": "10101234567",
        "patient_id": "P-DEMO-2",
        "birth_date": dt.date(1941, 3, 2),
        "ald": True,
        "mt_status": MtStatus.SELF,
        "place": Place.DOMICILE,
        "codes": ("VL", "MD"),
        "amount": Decimal("70.00"),
    }


def main() -> None:
    validator = Validator.build()  # once, at start-up: it compiles every rule file
    first = home_visit("VL-1", dt.date(2026, 2, 2), dt.time(10, 30))
    second = home_visit("VL-2", dt.date(2026, 3, 16), dt.time(11, 0))
    folder = tempfile.TemporaryDirectory()  # the practice's ledger: here a fresh SQLite file
    with folder, validator.session(ledger=Path(folder.name) / "cabinet.db") as session:
        for invoice in (first, first, second):  # VL-1 reopened after recording: counted once
            findings = session.check_one(invoice)  # as the user types: judged, not stored
            verdict = ", ".join(f"{finding.rule} ({finding.severity.value})" for finding in findings)
            print(f"{invoice['invoice_id']} : {verdict or 'conforme'}")
            session.record(invoice)  # once the user validates it
        try:
            session.check_one({**first, "invoice_id": "VL-3", "birth_date": dt.date(2027, 1, 1)})
        except InvalidInvoice as exc:
            print(f"VL-3 refusée : {', '.join(error.field for error in exc.errors)}")


if __name__ == "__main__":
    main()
