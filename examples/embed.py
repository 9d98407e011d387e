"""Embedding billing-rules in practice software: build once, then check as invoices are written.

Run it from the repository root: ``python examples/embed.py``. It prints what a practice-software
vendor would show the user, using only the public API of ``billing_rules``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import billing_rules

HERE = Path(__file__).parent


def main() -> None:
    """Check a whole file, then a patient's invoices one at a time as they are typed."""
    # Building compiles every rule file: do it once, at start-up, and keep the validator.
    validator = billing_rules.Validator.build(rule_files=[HERE / "custom.rules"])

    # 1. A day's (here a week's) billing file, as the CLI does.
    report = validator.check_paths([str(HERE / "week-2026-01.csv")])
    summary = report.summary
    print(f"{summary.events} factures, {summary.errors} erreurs, {summary.opportunities} opportunités")
    print(f"à risque : {summary.amount_at_risk} €, manqué : {summary.missed_revenue} €")

    # 2. Real time: each invoice is checked against the practice's ledger (here a fresh SQLite file)
    # the moment it is written; it joins the ledger once the user validates it (``record``).
    patient = {
        "practitioner_id": "10101234567",
        "patient_id": "P-DEMO-1",
        "birth_date": "1941-03-02",
        "ald": True,
        "mt_status": "self",
        "place": "domicile",
    }
    first = {**patient, "invoice_id": "RT-1", "date": "2026-02-02", "codes": "VL+MD"}
    second = {**patient, "invoice_id": "RT-2", "date": "2026-03-16", "codes": "VL+MD"}
    with tempfile.TemporaryDirectory() as folder:
        with validator.session(ledger=Path(folder) / "cabinet.sqlite") as session:
            for invoice in (first, second):
                findings = session.check_one(invoice)
                for finding in findings:
                    label = f"{finding.rule} ({finding.severity.value})"
                    print(f"{invoice['invoice_id']} : {label} {finding.message}")
                if not findings:
                    print(f"{invoice['invoice_id']} : conforme")
                session.record(invoice)

            # 3. Bad values are refused with every unreadable field named, before any rule runs.
            try:
                session.check_one({**patient, "invoice_id": "RT-3", "date": "31/02/2026", "codes": "G"})
            except billing_rules.InvalidInvoice as exc:
                print(f"RT-3 refusée : {', '.join(error.field for error in exc.errors)}")


if __name__ == "__main__":
    main()
