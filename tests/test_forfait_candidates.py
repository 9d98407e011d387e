"""What the forfait report advises for each candidate must be compliant and name the patient's case.

An IMT is billable once per patient, whoever billed it (SPEC §5 IMT-ONCE): once one was billed, the
MT-declaration lever is the yearly forfait alone, never a second IMT. A quarterly VL is due to an
own patient aged 80+ in ALD or in ALD for a neurodegenerative disease (SPEC §5 VL-QUARTER): the
advice says which of the two the patient is.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_rules.api.validator import Validator
from billing_rules.cli import main
from billing_rules.domain.forfait.levers import find_candidates
from billing_rules.domain.forfait.tables import ForfaitTables
from billing_rules.model import Event, MtStatus, Status

DR = "D1"
OTHER = "D2"


@pytest.fixture(scope="module")
def tables(builtin_validator: Validator) -> ForfaitTables:
    return builtin_validator.ruleset.environment.forfaits


def invoice(
    invoice_id: str,
    day: str,
    codes: str = "G",
    *,
    practitioner: str = DR,
    patient: str = "A",
    birth: str = "1980-01-01",
    mt: MtStatus = MtStatus.NONE,
    **values: object,
) -> Event:
    return Event(
        invoice_id=invoice_id,
        date=dt.date.fromisoformat(day),
        practitioner_id=practitioner,
        patient_id=patient,
        birth_date=dt.date.fromisoformat(birth),
        codes=tuple(codes.split("+")),
        mt_status=mt,
        **values,  # type: ignore[arg-type]
    )


THREE_G = [
    invoice(f"A{index}", day, ald=True)
    for index, day in enumerate(("2025-01-10", "2025-02-10", "2025-03-10"))
]


# -- MT declaration: no second IMT ----------------------------------------------------------------


def test_no_imt_once_one_was_billed_by_any_practitioner(tables: ForfaitTables) -> None:
    imt = invoice("I0", "2023-06-01", "IMT", practitioner=OTHER, ald=True, declares_mt=True)
    (item,) = find_candidates([imt, *THREE_G], tables, DR, 2025)
    assert (item.kind, item.amount, item.yearly) == ("mt_declare", Decimal("0"), Decimal("46"))
    assert "IMT" not in item.act
    assert "facturez IMT" not in item.message
    assert "IMT déjà facturée pour ce patient le 01/06/2023" in item.message
    # A cancelled IMT was never billed: the IMT is still due.
    cancelled = invoice("I0", "2023-06-01", "IMT", practitioner=OTHER, ald=True, status=Status.CANCELLED)
    (item,) = find_candidates([cancelled, *THREE_G], tables, DR, 2025)
    assert (item.act, item.amount) == ("IMT", Decimal("30"))  # 60 € − G 30 €
    assert "facturez IMT" in item.message


def test_cli_text_has_no_imt_once_one_was_billed(tmp_path: Path) -> None:
    history = tmp_path / "historique.csv"
    history.write_text(
        "invoice_id;date;time;practitioner_id;patient_id;birth_date;ald;mt_status;declares_mt;codes\n"
        "I0;2023-06-01;10:00;D2;A;1980-01-01;oui;none;oui;IMT\n"
        "A0;2025-01-10;10:00;D1;A;1980-01-01;oui;none;;G\n"
        "A1;2025-02-10;10:00;D1;A;1980-01-01;oui;none;;G\n"
        "A2;2025-03-10;10:00;D1;A;1980-01-01;oui;none;;G\n",
        encoding="utf-8",
    )
    ledger = tmp_path / "registre.sqlite"
    imported = CliRunner().invoke(main, ["ledger", "import", str(history), "--ledger", str(ledger)])
    assert imported.exit_code == 0, imported.output
    args = ["forfait", "--ledger", str(ledger), "--practitioner", DR, "--year", "2025", "--isolated"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "facturez IMT" not in result.stdout
    assert "A — Déclaration MT : 46,00\u00a0€ par an — " in result.stdout


# -- quarterly VL: the patient's own case ---------------------------------------------------------


def _vl_messages(tables: ForfaitTables, **patient: object) -> list[str]:
    events = [invoice("N1", "2025-03-01", mt=MtStatus.SELF, **patient)]  # type: ignore[arg-type]
    return [item.message for item in find_candidates(events, tables, DR, 2025) if item.kind == "vl_quarter"]


def test_vl_message_names_the_patients_case(tables: ForfaitTables) -> None:
    (message,) = _vl_messages(tables, birth="1960-01-01", neurodegenerative=True)
    assert "80 ans et plus" not in message
    assert "en ALD pour une maladie neurodégénérative" in message
    (message,) = _vl_messages(tables, birth="1940-01-01", ald=True)
    assert "pour ce patient de 80 ans et plus en ALD" in message
    assert "neurodégénérative" not in message


def test_cli_vl_heading_names_both_cases(tmp_path: Path) -> None:
    history = tmp_path / "historique.csv"
    history.write_text(
        "invoice_id;date;practitioner_id;patient_id;birth_date;ald;neurodegenerative;mt_status;codes\n"
        "N1;2025-03-01;D1;N1;1960-01-01;non;oui;self;G\n",
        encoding="utf-8",
    )
    args = ["forfait", "--invoices", str(history), "--year", "2025", "--no-plugins", "--isolated"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    heading = (
        "Patients de 80 ans et plus en ALD, ou en ALD pour une maladie neurodégénérative, sans VL dans "
        "un trimestre (1)"
    )
    assert heading in result.stdout
    assert "80 ans et plus en ALD ;" not in result.stdout
