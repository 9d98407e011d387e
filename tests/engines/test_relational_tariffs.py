"""Tariffs per kilometre and per sector: the relational engine prices exactly as ``TariffTable`` does.

``TariffTable.total`` (AMOUNT-BELOW, AMOUNT-ABOVE, the ``expected`` column) counts a code priced
per km (IK) ``km`` times its rate, rounded half up to the cent, and has no amount at all when
``km`` is not given (SPEC §1); ``TariffTable.on`` (and the DSL's ``tariff(CODE)``) takes a sector's
own row (``tariff G 23.00 from 2024-12-22 for sector 2``) in place of the general row, for that
sector only. Every case runs on the row engine (the reference) and on the relational engines,
whose findings must be the same: rule, invoice, message, amount...
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

from billing_rules.api import batch_simulation as period  # noqa: E402
from billing_rules.api.simulation import simulate  # noqa: E402
from billing_rules.api.validator import Validator  # noqa: E402
from billing_rules.cli import main  # noqa: E402
from billing_rules.engines.relational import api  # noqa: E402
from billing_rules.ledger import open_ledger  # noqa: E402
from billing_rules.model import Event  # noqa: E402
from billing_rules.testing import make_event  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import generate  # noqa: E402
from executors import ALL, WITHOUT_CONNECT, run_args  # noqa: E402
from test_relational_differential import key  # noqa: E402

#: Sector rows beside the built-in tariffs: G at 23 € in sector 2 from the day G went to 30 €, a
#: sector row that ends (OPTAM in March 2025: the general row again from April), and a sector row
#: of a code priced per km. Rules reading ``tariff()`` of both.
SECTOR_RULES = """
tariff G 23.00 from 2024-12-22 for sector 2
tariff G 24.50 from 2025-03-01 until 2025-03-31 for sector optam
tariff IK 0.70 per km from 2026-02-01 for sector 2
rule T-G-TARIFF warning "G au tarif du secteur"
  on G
  when amount is given and amount = tariff(G)
end
rule T-G-LOW warning "tarif du G bas pour le secteur"
  on G, VG
  when tariff(G) < 25
end
rule T-IK-RATE warning "IK au taux du secteur 2"
  on IK
  when tariff(IK) > 0.65
end
"""

_CODINGS = ("G", "G+MEG", "VG+IK", "VG+MD+IK", "IK", "VL+MD+IK", "VG+IK+IK")
_SECTORS = ("1", "2", "optam")
#: Around the 2024-12-22 G change (and the sector 2 row's start), the OPTAM row's month, the day
#: IK gets its tariff (2026-01-01) and the day of its sector 2 row.
_DAYS = (
    "2024-12-21", "2024-12-22", "2025-02-28", "2025-03-01", "2025-03-31", "2025-04-01",
    "2025-12-31", "2026-01-01", "2026-01-31", "2026-02-01",
)  # fmt: skip
#: Half-cent ties (0.61 x 10.5 = 6.405, 0.61 x 0.5 = 0.305, 0.70 x 0.05 = 0.035), decimals, none.
_KMS = ("", "10", "10.5", "0.5", "0.05", "7.25", "123.45", "3.335")


@pytest.fixture(scope="module")
def sector_validator(tmp_path_factory: pytest.TempPathFactory) -> Validator:
    rules = tmp_path_factory.mktemp("sector") / "sector.rules"
    rules.write_text(SECTOR_RULES, encoding="utf-8")
    return Validator.build(entry_points=False, rule_files=[rules])


def _grid(validator: Validator) -> list[Event]:
    """Every coding, sector, day and distance; amounts at, just below and just above the tariffs."""
    tariffs = validator.ruleset.tariffs
    events = []
    for index, (codes, sector, day, km) in enumerate(
        (codes, sector, day, km) for codes in _CODINGS for sector in _SECTORS for day in _DAYS for km in _KMS
    ):
        fields: dict[str, Any] = {"codes": codes, "sector": sector, "date": day, "place": "domicile"}
        if km:
            fields["km"] = km
        expected = tariffs.total(
            codes.split("+"), dt.date.fromisoformat(day), sector=sector, km=Decimal(km) if km else None
        )
        # Without a total (no tariff yet, or no km), amounts that would fire if one were assumed.
        base = expected if expected is not None else Decimal("30.61")
        amount = (base, base - Decimal("0.01"), base + Decimal("0.01"), None)[index % 4]
        if amount is not None:
            fields["amount"] = str(amount)
        events.append(
            make_event(
                seq=index,
                invoice_id=f"T{index}",
                patient_id=f"P{index}",
                practitioner_id=f"D{index % 7}",
                birth_date="1950-01-01",
                mt_status="self",
                **fields,
            )
        )
    return events


@pytest.mark.parametrize("engine", ALL, indirect=True)
def test_km_and_sector_tariffs_identical(sector_validator: Validator, engine: str) -> None:
    events = _grid(sector_validator)
    expected = [key(f) for f in sector_validator.check_events(events).findings]
    by_invoice = {event.invoice_id: event for event in events}
    amounts = [item for item in expected if item[0] in ("AMOUNT-BELOW", "AMOUNT-ABOVE")]
    priced = {by_invoice[item[2]].codes for item in amounts}
    # The grid exercises what it is for: IK with km priced both ways, sector rows both ways...
    assert {("VG", "IK"), ("VG", "MD", "IK"), ("IK",), ("VG", "IK", "IK"), ("G",)} <= priced
    assert {by_invoice[item[2]].sector.value for item in amounts if item[0] == "AMOUNT-BELOW"} == set(
        _SECTORS
    )
    # ...and never IK without km (SPEC §1: its amount is compared only when given).
    assert all(by_invoice[item[2]].km is not None for item in amounts if "IK" in by_invoice[item[2]].codes)
    assert {item[0] for item in expected} >= {"T-G-TARIFF", "T-G-LOW", "T-IK-RATE"}
    found = [key(f) for f in api.check_events(sector_validator, events, **run_args(engine)).findings]
    assert found == expected


def test_ik_amounts_are_the_row_engines(builtin_validator: Validator) -> None:
    """The audit's invoices: IK times km (below: 5.49 € missed), at the tariff, and without km."""
    rows = [
        ("A1", "VG+IK", "36.10", "10"),  # 30 + 0.61 x 10: at the tariff
        ("A2", "VG+IK", "30.61", ""),  # no km: not compared
        ("A3", "VG+IK", "30.61", "10"),  # 5.49 € below
        ("K1", "VG+MD+IK", "45.00", ""),  # no km: not compared
        ("K2", "VG+MD+IK", "46.41", "10.5"),  # 30 + 10 + 6.41 (6.405 rounded half up)
    ]
    events = [
        make_event(
            seq=index,
            invoice_id=invoice,
            date="2026-02-02",
            patient_id=f"X{index}",
            birth_date="1960-01-01",
            codes=codes,
            amount=amount,
            place="domicile",
            mt_status="self",
            **({"km": km} if km else {}),
        )
        for index, (invoice, codes, amount, km) in enumerate(rows)
    ]
    expected = [key(f) for f in builtin_validator.check_events(events).findings]
    amounts = [(item[0], item[2], item[9]) for item in expected if item[0].startswith("AMOUNT")]
    assert amounts == [("AMOUNT-BELOW", "A3", Decimal("5.49"))]
    assert [key(f) for f in api.check_events(builtin_validator, events).findings] == expected


def _invoke(args: list[str], exit_code: int | None = None) -> str:
    result = CliRunner().invoke(main, args)
    if exit_code is not None:
        assert result.exit_code == exit_code, (args, result.output)
    else:
        assert result.exit_code in (0, 1), (args, result.output)
    return result.stdout


def _report(args: list[str], engine: str) -> dict[str, Any]:
    report = json.loads(_invoke([*args, "--isolated", "--format", "json", "--engine", engine]))
    report["summary"].pop("engine", None)
    return report


def test_cli_reports_identical(tmp_path: Path) -> None:
    """``check --engine duckdb`` on the audit's files: no internal error, the row engine's report."""
    header = "invoice_id,date,practitioner_id,patient_id,birth_date,codes,amount,km,place,mt_status,sector\n"
    lines = [
        "A1,2026-02-02,P1,X1,1960-01-01,VG+IK,36.10,10,domicile,self,1",
        "A2,2026-02-02,P1,X2,1960-01-01,VG+IK,30.61,,domicile,self,1",
        "A3,2026-02-02,P1,X3,1960-01-01,VG+IK,30.61,10,domicile,self,1",
        "K1,2026-02-02,P1,X4,1960-01-01,VG+MD+IK,45.00,,domicile,self,1",
        "S1,2025-02-03,P1,X5,1960-01-01,G,30.00,,cabinet,self,1",
        "S2,2025-02-03,P2,X6,1960-01-01,G,23.00,,cabinet,self,2",
        "S3,2025-02-03,P1,X7,1960-01-01,G,23.00,,cabinet,self,1",
    ]
    path = tmp_path / "audit.csv"
    path.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    rules = tmp_path / "sector.rules"
    rules.write_text("tariff G 23.00 from 2024-12-22 for sector 2\n", encoding="utf-8")
    args = ["check", str(path), "--rules", str(rules)]
    row = _report(args, "row")
    findings = row["findings"]
    amounts = [(f["rule"], f["invoice_id"], f["amount"]) for f in findings if f["rule"].startswith("AMOUNT")]
    assert amounts == [("AMOUNT-BELOW", "S3", 7.0), ("AMOUNT-BELOW", "A3", 5.49)]
    assert _report(args, "duckdb") == row


@pytest.mark.parametrize("engine", WITHOUT_CONNECT, indirect=True)
def test_generated_file_with_ik_and_sector_rows_identical(
    tmp_path: Path, sector_validator: Validator, engine: str
) -> None:
    """The benchmark generator's IK (``ik=True``: km with decimals, or none) across 2026-01-01, checked
    with the sector rows above (seed 243: practitioners of sectors 2, OPTAM and 1)."""
    path = tmp_path / "gen-ik.csv"
    generate.generate(
        str(path), rows=3000, practitioners=3, seed=243, start=dt.date(2025, 12, 1), violations=40, ik=True
    )
    row = sector_validator.check_paths([str(path)])
    relational = api.check_paths(sector_validator, [str(path)], **run_args(engine))
    expected = [key(f) for f in row.findings]
    assert [key(f) for f in relational.findings] == expected
    invoices = {item[2] for item in expected if item[0] in ("AMOUNT-BELOW", "AMOUNT-ABOVE")}
    assert len(invoices) > 50
    assert {"T-G-TARIFF", "T-G-LOW", "AMOUNT-ABOVE"} <= {item[0] for item in expected}


def test_simulate_identical(tmp_path: Path, sector_validator: Validator) -> None:
    """``simulate`` on a ledger holding IK (with and without km) and sector 2 invoices, under the
    texts of a day when IK has no tariff yet and of a day when it has (and its sector 2 row)."""
    rules = tmp_path / "sector.rules"
    rules.write_text(SECTOR_RULES, encoding="utf-8")
    source = tmp_path / "gen.csv"
    generate.generate(
        str(source), rows=3000, practitioners=3, seed=243, start=dt.date(2025, 12, 1), violations=30, ik=True
    )
    target = str(tmp_path / "ledger.sqlite")
    _invoke(["ledger", "import", str(source), "--ledger", target], 0)
    for start, end, as_of in (
        (dt.date(2025, 12, 15), dt.date(2026, 2, 28), dt.date(2026, 2, 15)),
        (dt.date(2026, 1, 1), dt.date(2026, 2, 28), dt.date(2025, 6, 1)),
    ):
        options: dict[str, Any] = {
            "start": start,
            "end": end,
            "as_of": as_of,
            "now": sector_validator,
            "then": Validator.build(entry_points=False, rule_files=[rules], texts_as_of=as_of),
            "practitioner_id": None,
        }
        ledger = open_ledger(target, create=False)
        try:
            row = simulate(list(ledger.events(end=end)), **options)
            relational = period.simulate(ledger, **options)
        finally:
            ledger.close()
        assert (row.engine, relational.engine) == ("row", "duckdb")
        assert attrs.evolve(relational, engine="row") == row
        rules_seen = {line.key for line in row.by_rule}
        assert {"AMOUNT-BELOW", "AMOUNT-ABOVE"} <= rules_seen, rules_seen
