"""Random differential campaign: the row engine and the relational engine (DuckDB) on the same files.

Run on demand, from the repository root (the test suite runs the same generator on a few fixed seeds,
``tests/test_engine_fuzz.py``)::

    python fuzz/fuzz_engines.py --seconds 300 [--seed N] [--out /tmp/engine-diffs] [--snapshot]
    python fuzz/fuzz_engines.py --replay SEED          # one case, its differences printed

The two engines must give identical reports for every input (README, "engines"): the relational
engine is chosen only from 50 000 rows, so small files never meet it unless ``--engine duckdb``
forces it, and the generated files of ``tests/test_differential.py`` are realistic, not hostile.
Here each case is a small file (5-60 invoices, a few patients and practitioners, so that frequency
windows, first-visit and once-ever rules interact) whose dates cluster at the boundaries the rules
turn on: 80th birthdays and 29 February births, quarter and ISO-week ends, New Year weeks, the
2024-12-22 tariff change, the codes' start dates and the 2026 texts. Times are missing half the
time and often equal; referrals sit around 48 h and the 19:00-20:59 SHE window; amounts are right
or wrong; a few rows are unreadable. The same rows are written as CSV (delimiters, encodings, a
practice's own headers, one line per act) or as JSON, JSON Lines or Parquet, with text cells or
native values (booleans, numbers, code lists, dates, keys left out or null). Some cases are split:
earlier days are recorded into a SQLite ledger first (``check --ledger L --record`` with one
engine), then the last day is checked by both engines, each on its own copy of that ledger
(``run_case(..., ledger_url=...)`` does the same on an empty PostgreSQL ledger, read by both:
``tests/test_engine_fuzz.py`` compares its reports with the SQLite ledger's, seed by seed).

Both reports come from the real command (``billing-rules check FILE --format json``, run
in-process through click) and must be equal once the ``summary.engine`` key, which names the
engine, is removed: findings, their order, messages, amounts, input errors and summary. A
difference is saved under ``--out``/<n>/ with its ledger, then minimized (invoices dropped, codes
dropped, optional values blanked, while a difference on one of the same rules persists) and the
smallest reproducer saved beside it. Exit status 1 if any difference was found.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import io
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("row", "duckdb")

COLUMNS: tuple[str, ...] = (
    "invoice_id", "date", "time", "practitioner_id", "specialty", "sector", "patient_id", "birth_date",
    "ald", "palliative", "neurodegenerative", "mt_status", "declares_mt", "place", "homebound", "codes",
    "amount", "regulated", "referral_at", "status", "discharge_date", "km",
)  # fmt: skip
REQUIRED = frozenset({"invoice_id", "date", "practitioner_id", "patient_id", "birth_date", "codes"})

#: Days the rules turn on (SPEC §5, the rule files' dates): each case clusters its acts near one or two.
ANCHORS: tuple[dt.date, ...] = tuple(
    dt.date.fromisoformat(day)
    for day in (
        "2022-07-11", "2022-09-30", "2022-10-01", "2022-12-08", "2022-12-09", "2023-03-31",
        "2023-05-15", "2023-06-30", "2023-10-31", "2023-11-01", "2023-12-31", "2024-01-01",
        "2024-02-29", "2024-03-01", "2024-03-31", "2024-06-30", "2024-09-30", "2024-12-22",
        "2024-12-29", "2024-12-31", "2025-01-05", "2025-02-28", "2025-03-01", "2025-03-31",
        "2025-06-29", "2025-09-30", "2025-12-28", "2025-12-31", "2026-01-01", "2026-01-04",
        "2026-02-15", "2026-02-16", "2026-02-28", "2026-03-01", "2026-03-31", "2026-06-01",
        "2026-09-01", "2020-12-31", "2021-01-03", "2024-05-01", "2025-05-08", "2025-07-14",
        "1900-01-01", "1900-03-01", "2199-12-31", "2100-02-28",
    )
)  # fmt: skip

BASES_CONSULT = ("G", "G", "G", "GS", "C", "CS", "APC", "TCG", "TC", "IMT", "IMT", "GL1", "GL2", "GL3")
BASES_VISIT = ("VG", "VG", "V", "VL", "VL", "VL", "VSP", "VSP")
BASES_OTHER = ("DEQP003", "COE", "RDV", "CCP", "MPH", "APV", "XYZ", "G2", "VLL")
MAJORATIONS: tuple[str, ...] = (
    "SNP", "SNP", "SNP", "SNP", "MD", "MD", "MEG", "MEG", "MOP", "MOP", "MRT", "MRT", "SHE", "SHE",
    "MHP", "MU", "MUT", "MCG", "MCU", "F", "MN", "MM", "CRN", "CRM", "CRD", "DE", "DA", "IK", "MDM",
    "MSH", "MIC", "MIS", "PIV", "MVR", "M", "VRS", "VRN", "VRM", "VRD",
)  # fmt: skip
TIMES = (
    "07:59", "08:00", "08:01", "11:59", "12:00", "12:01", "18:59", "19:00", "19:59", "20:00",
    "20:59", "21:00", "23:59", "00:00", "00:01", "06:00", "10:30", "14:15",
)  # fmt: skip
#: Offsets of referral_at before the act (minutes); negative ones are after the act (input errors).
REFERRAL_BEFORE = (0, 1, 60, 600, 2879, 2880, 2881, 4320, 10080, -1)
BOOLEAN_STYLES = (("1", "0"), ("oui", "non"), ("true", "false"), ("O", "N"), ("yes", "no"))
BOOLEANS = frozenset({"ald", "palliative", "neurodegenerative", "declares_mt", "homebound", "regulated"})
TRUE_WORDS = frozenset(style[0].lower() for style in BOOLEAN_STYLES)
FALSE_WORDS = frozenset(style[1].lower() for style in BOOLEAN_STYLES)
#: Input formats (SPEC §1). CSV comes up most often: its dialects (delimiters, encodings, quoting,
#: headers) have the most ways to go wrong; JSON, JSON Lines and Parquet take typed values too.
FORMATS = ("csv", "csv", "csv", "csv", "json", "jsonl", "parquet")
EXTENSIONS = {"csv": ".csv", "json": ".json", "jsonl": ".jsonl", "parquet": ".parquet"}
#: Unreadable values the readers must both report as the same input errors.
BAD_VALUES: dict[str, tuple[str, ...]] = {
    "date": ("2024-02-30", "2023-02-29", "31/04/2024", "x"),
    "mt_status": ("peut-être", "moi"),
    "amount": ("abc", "1,2,3"),
    "time": ("24:00", "9h"),
    "ald": ("peut-être",),
    "birth_date": ("1944-02-30",),
    "sector": ("3",),
    "km": ("loin",),
}

#: Spellings a reader may or may not accept: whatever it decides, both engines must decide the same.
ODD_VALUES: dict[str, tuple[Callable[[str], str], ...]] = {
    "time": (
        lambda v: v.lstrip("0") or "0:00",
        lambda v: f"{v}:00" if v else "",
        lambda v: f" {v} ",
        lambda v: f"{v or '07:59'}:59",
        lambda v: f"{v or '20:00'}:01",
    ),
    "date": (lambda v: v.replace("-0", "-"), lambda v: f" {v}", lambda v: v.replace("-", "/")),
    "amount": (lambda v: v.split(".")[0], lambda v: f"{v} ", lambda v: f"+{v}", lambda v: f"{v}0"),
    "referral_at": (lambda v: v.replace("T", " "), lambda v: f"{v}:00", lambda v: v[:10]),
    "mt_status": (str.upper, str.title, lambda v: f" {v}"),
    "place": (str.upper, str.title, lambda v: "EHPAD"),
    "status": (str.upper, lambda v: "Cancelled", lambda v: "annulée"),
    "sector": (lambda v: "OPTAM", lambda v: "01", lambda v: "1.0"),
    "specialty": (str.lower, lambda v: f" {v} "),
    "codes": (str.lower, lambda v: v.replace("+", " + "), lambda v: f"{v}+", lambda v: v.replace("+", ",")),
    "km": (lambda v: "3,5", lambda v: "-2", lambda v: "0.0001"),
    "ald": (str.upper, lambda v: "Oui", lambda v: "vrai", lambda v: "2"),
    "patient_id": (lambda v: f"{v}é", lambda v: f" {v}", str.lower),
    "invoice_id": (lambda v: f"{v} ", lambda v: v.lower()),
    "practitioner_id": (lambda v: f" {v}", lambda v: v.lstrip("1")),
}
#: Header spellings of a practice's export (SPEC §1b), chosen at random for some columns.
ALIASES: dict[str, tuple[str, ...]] = {
    "invoice_id": ("N° facture", "Numéro de facture"),
    "date": ("Date de l'acte", "Date acte"),
    "time": ("Heure",),
    "practitioner_id": ("RPPS", "N° praticien"),
    "patient_id": ("N° patient", "Patient"),
    "birth_date": ("Date de naissance",),
    "codes": ("Actes", "Cotation", "Codes"),
    "amount": ("Montant", "Montant facturé"),
    "place": ("Lieu",),
    "regulated": ("Régulé", "Régulation"),
}


@attrs.frozen
class Case:
    """One generated input: the recorded history (zero, one or two earlier files) and the file checked."""

    seed: int
    columns: tuple[str, ...]
    delimiter: str
    history: tuple[tuple[dict[str, str], ...], ...]
    checked: tuple[dict[str, str], ...]
    recorder: str  # the engine that records the history
    split: int = 0  # > 0: the checked rows go in two files given together, this many in the first
    headers: tuple[tuple[str, str], ...] = ()  # column -> the header written instead (SPEC §1b aliases)
    encoding: str = "utf-8"
    lines: bool = False  # one line per act (a ``code`` column), grouped into invoices by the readers
    file_format: str = "csv"  # csv, json, jsonl or parquet (SPEC §1): the same rows in another format
    typed: bool = False  # JSON and Parquet: native values (booleans, numbers, dates, code lists)

    @property
    def invoices(self) -> int:
        """How many rows the case holds in all its files."""
        return len(self.checked) + sum(len(day) for day in self.history)


@attrs.frozen
class Outcome:
    """One engine's answer: the normalized JSON report, or the exception it raised."""

    report: dict[str, Any] | None
    error: str | None = None

    def key(self) -> str:
        """A canonical text: two outcomes are equal exactly when their keys are."""
        if self.report is None:
            return f"ERROR {self.error}"
        return json.dumps(self.report, sort_keys=True, ensure_ascii=False)


@attrs.frozen
class Difference:
    """The engines disagreed on one run of a case."""

    stage: str  # "history 1", "checked"...
    outcomes: dict[str, Outcome]
    signature: frozenset[str]  # the rules (or "crash", "summary"...) the difference is about

    def describe(self, limit: int = 8) -> str:
        """The findings one engine has and the other has not, or the first place their order differs."""
        row, duck = self.outcomes["row"], self.outcomes["duckdb"]
        lines = [f"stage {self.stage}, rules {sorted(self.signature)}"]
        if row.report is None or duck.report is None:
            lines.append(f"  row: {row.error or 'report'}\n  duckdb: {duck.error or 'report'}")
            return "\n".join(lines)
        for part in ("findings", "input_errors"):
            left = [json.dumps(item, sort_keys=True, ensure_ascii=False) for item in row.report[part]]
            right = [json.dumps(item, sort_keys=True, ensure_ascii=False) for item in duck.report[part]]
            only_row = Counter(left) - Counter(right)
            only_duck = Counter(right) - Counter(left)
            for text in list(only_row.elements())[:limit]:
                lines.append(f"  {part} only in row:    {text}")
            for text in list(only_duck.elements())[:limit]:
                lines.append(f"  {part} only in duckdb: {text}")
            if not only_row and not only_duck and left != right:
                at = next(i for i, (a, b) in enumerate(zip(left, right, strict=True)) if a != b)
                lines.append(f"  {part} in another order from #{at}: row {left[at]}\n    duckdb {right[at]}")
        if row.report["summary"] != duck.report["summary"]:
            lines.append(
                f"  summary row:    {row.report['summary']}\n  summary duckdb: {duck.report['summary']}"
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Generation


def _tariffs() -> Any:
    """The loaded catalogue's tariff table, to bill right amounts (those the engines agree on most)."""
    from billing_rules.api.validator import Validator

    return Validator.build().ruleset.tariffs


_TARIFFS: list[Any] = []


def _right_amount(codes: Sequence[str], day: dt.date, sector: str, km: Decimal | None) -> Decimal | None:
    """The sum of the tariffs in force, or None where a code has none (AMOUNT-* then stay silent)."""
    if not _TARIFFS:
        _TARIFFS.append(_tariffs())
    table = _TARIFFS[0]
    total = Decimal(0)
    for code in codes:
        price = table.on(code, day, sector or "1")
        if price is None:
            return None
        total += price * (km or Decimal(0)) if table.per_km(code) else price
    return total


def _near(rng: random.Random, anchor: dt.date, spread: int = 6) -> dt.date:
    """A day close to the anchor, most often within one day of it."""
    if rng.random() < 0.55:
        return anchor + dt.timedelta(days=rng.randint(-1, 1))
    return anchor + dt.timedelta(days=rng.randint(-spread, spread))


def _years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` earlier (28 February for a 29 February that does not exist)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _birth(rng: random.Random, anchor: dt.date) -> dt.date:
    """A birth date that puts an age boundary (80, 6, 29 February) next to the case's acts."""
    kind = rng.random()
    if kind < 0.35:  # 80th birthday around the anchor
        return _years_before(anchor, 80) + dt.timedelta(days=rng.randint(-3, 3))
    if kind < 0.5:
        return rng.choice(
            (dt.date(1944, 2, 29), dt.date(1940, 2, 29), dt.date(1946, 2, 28), dt.date(1946, 3, 1))
        )
    if kind < 0.62:  # 6th birthday (MEG) around the anchor, or a baby
        return _years_before(anchor, rng.choice((6, 6, 1, 0))) + dt.timedelta(days=rng.randint(-3, 3))
    if kind < 0.68:
        return rng.choice((dt.date(2020, 2, 29), dt.date(2016, 2, 29)))
    if kind < 0.8:
        return _years_before(anchor, rng.randint(81, 99)) + dt.timedelta(days=rng.randint(0, 360))
    return dt.date(rng.randint(1940, 2005), rng.randint(1, 12), rng.randint(1, 28))


def _codes(rng: random.Random, *, visit: bool) -> list[str]:
    """A base act (consultation, visit or other) with zero to three majorations, sometimes odd."""
    roll = rng.random()
    if roll < 0.06:
        base: list[str] = []  # majorations alone (SNP-BASE, MOP-BASE)
    elif roll < 0.14:
        base = [rng.choice(BASES_OTHER)]
    elif roll < 0.2:
        base = [rng.choice(BASES_CONSULT), rng.choice(BASES_CONSULT + BASES_VISIT)]
    else:
        base = [rng.choice(BASES_VISIT if visit else BASES_CONSULT)]
    extra = rng.sample(MAJORATIONS, k=rng.choice((0, 1, 1, 1, 2, 2, 3)))
    codes = base + [code for code in extra if code not in base]
    if not codes:
        codes = ["SNP"]
    if rng.random() < 0.03:
        codes.append(codes[0])  # a code twice
    return codes


def _fmt_date(day: dt.date, style: str) -> str:
    """ISO or French day/month/year, as both are accepted (SPEC §1)."""
    return day.isoformat() if style == "iso" else day.strftime("%d/%m/%Y")


def _invoice(
    rng: random.Random,
    number: int,
    day: dt.date,
    patient: dict[str, Any],
    practitioner: dict[str, str],
    style: dict[str, Any],
    time_pool: Sequence[str],
) -> dict[str, str]:
    """One row of the billing file, as text cells."""
    yes, no = style["booleans"]

    def flag(value: bool, empty_when_false: float = 0.3) -> str:
        if not value and rng.random() < empty_when_false:
            return ""
        return yes if value else no

    visit = rng.random() < 0.4
    codes = _codes(rng, visit=visit)
    at_home = visit or rng.random() < 0.1
    if at_home:
        place = rng.choice(("domicile", "domicile", "ehpad", "cabinet", ""))
    else:
        place = rng.choice(("cabinet", "cabinet", "", "tele", "domicile"))
    act_time = "" if rng.random() < 0.5 else rng.choice(time_pool)
    mt_status = patient["mt"].get(practitioner["id"], "unknown")
    if rng.random() < 0.2:
        mt_status = rng.choice(("self", "other", "none", "unknown", ""))
    referral = ""
    regulated = rng.random() < 0.3
    if rng.random() < 0.35:
        clock = dt.time.fromisoformat(act_time) if act_time else dt.time(23, 59)
        act_at = dt.datetime.combine(day, clock)
        if rng.random() < 0.3:  # the SHE window, on the act's day or the day before
            moment = rng.choice(("18:59", "19:00", "20:59", "21:00", "19:30"))
            referred = dt.datetime.combine(
                day - dt.timedelta(days=rng.choice((0, 0, 1))), dt.time.fromisoformat(moment)
            )
        else:
            referred = act_at - dt.timedelta(minutes=rng.choice(REFERRAL_BEFORE))
        referral = referred.strftime("%Y-%m-%dT%H:%M")
    km: Decimal | None = None
    if rng.random() < 0.12:
        km = rng.choice((Decimal(0), Decimal(3), Decimal("12.5"), Decimal("7.333")))
        if "IK" not in codes and rng.random() < 0.7:
            codes.append("IK")
    discharge = ""
    if rng.random() < (0.6 if "GL1" in codes else 0.08):
        discharge = (day - dt.timedelta(days=rng.choice((0, 1, 44, 45, 46, 90, -1)))).isoformat()
    sector = practitioner["sector"]
    amount = ""
    roll = rng.random()
    if roll < 0.75:
        right = _right_amount(codes, day, sector, km)
        if right is not None:
            if roll < 0.5:
                amount = f"{right:.2f}"
            else:
                amount = (
                    f"{right + rng.choice((Decimal('0.01'), Decimal(5), Decimal('-3.50'), Decimal(-15))):.2f}"
                )
        elif roll < 0.6:
            amount = f"{rng.choice((25, 26.5, 30, 60, 70)):.2f}"
    if style["comma"]:
        amount = amount.replace(".", ",")

    def flipped(name: str) -> bool:
        value = bool(patient[name])
        return (not value) if rng.random() < 0.1 else value

    row = {
        "invoice_id": f"F{number:03d}",
        "date": _fmt_date(day, style["dates"]),
        "time": act_time,
        "practitioner_id": practitioner["id"],
        "specialty": practitioner["specialty"],
        "sector": sector,
        "patient_id": patient["id"],
        "birth_date": _fmt_date(patient["birth"], style["dates"]),
        "ald": flag(flipped("ald")),
        "palliative": flag(flipped("palliative")),
        "neurodegenerative": flag(flipped("neuro")),
        "mt_status": mt_status,
        "declares_mt": flag(rng.random() < 0.2),
        "place": place,
        "homebound": flag(rng.random() < 0.2),
        "codes": "+".join(codes) if rng.random() < 0.95 else " + ".join(code.lower() for code in codes),
        "amount": amount,
        "regulated": flag(regulated),
        "referral_at": referral,
        "status": rng.choice(("", "billed", "billed", "cancelled")) if rng.random() < 0.3 else "",
        "discharge_date": discharge,
        "km": "" if km is None else (str(km).replace(".", ",") if style["comma"] else str(km)),
    }
    if rng.random() < 0.02:
        field = rng.choice(sorted(BAD_VALUES))
        row[field] = rng.choice(BAD_VALUES[field])
    if rng.random() < style["odd"]:
        field = rng.choice(sorted(ODD_VALUES))
        row[field] = rng.choice(ODD_VALUES[field])(row[field])
    return row


def generate(seed: int, *, max_invoices: int = 60) -> Case:
    """The case of one seed: a few patients and practitioners billing around one or two boundary days."""
    rng = random.Random(seed)
    anchors = rng.sample(ANCHORS, k=rng.choice((1, 1, 2)))
    if rng.random() < 0.15:  # a year apart, give or take a day: rolling 12 months, yearly limits
        anchors = [anchors[0], anchors[0] + dt.timedelta(days=rng.choice((-366, -365, -364, 364, 365, 366)))]
    practitioners = [
        {
            "id": f"1000000000{index}",
            "specialty": rng.choice(("MG", "MG", "MG", "", "PSY", "PED")),
            "sector": rng.choice(("1", "1", "", "2", "optam")),
        }
        for index in range(rng.randint(1, 3))
    ]
    patients = []
    for index in range(rng.randint(2, 8)):
        patients.append(
            {
                "id": f"P{index}",
                "birth": _birth(rng, rng.choice(anchors)),
                "ald": rng.random() < 0.5,
                "palliative": rng.random() < 0.25,
                "neuro": rng.random() < 0.15,
                "mt": {
                    p["id"]: rng.choice(("self", "self", "other", "none", "unknown")) for p in practitioners
                },
            }
        )
    style: dict[str, Any] = {
        "booleans": rng.choice(BOOLEAN_STYLES),
        "dates": "iso" if rng.random() < 0.8 else "fr",
        "comma": rng.random() < 0.3,
        "odd": rng.choice((0.0, 0.0, 0.1, 0.3)),
    }
    time_pool = rng.sample(TIMES, k=rng.randint(2, 6))
    count = rng.randint(5, max_invoices)
    per_practitioner = rng.random() < 0.3  # F001 of two practitioners: the key is the pair
    numbers: Counter[str] = Counter()
    burst = rng.random() < 0.2 and count >= 22  # over 20 SNP in one civil week (SNP-WEEK)
    rows = []
    for number in range(1, count + 1):
        day = _near(rng, rng.choice(anchors), spread=rng.choice((3, 8, 40)))
        practitioner = practitioners[0] if burst else rng.choice(practitioners)
        numbers[practitioner["id"]] += 1
        row = _invoice(
            rng,
            numbers[practitioner["id"]] if per_practitioner else number,
            day,
            rng.choice(patients),
            practitioner,
            style,
            time_pool,
        )
        if burst and rng.random() < 0.85:
            row["codes"] = rng.choice(("G+SNP", "G+SNP", "VG+MD+SNP", "TCG+SNP", "G+SNP+SHE"))
            row["date"] = _fmt_date(_near(rng, anchors[0], spread=4), style["dates"])
        rows.append(row)
        if rng.random() < 0.04 and rows:  # a duplicated (practitioner, invoice) key: input error
            rows[-1]["invoice_id"] = rng.choice(rows)["invoice_id"]
    if rng.random() < 0.5:
        rows.sort(key=lambda r: (_parse_day(r["date"]) or dt.date.min, r["time"] or "99"))
    history: list[tuple[dict[str, str], ...]] = []
    checked = rows
    if rng.random() < 0.45 and len(rows) >= 4:
        days = sorted({parsed for r in rows if (parsed := _parse_day(r["date"])) is not None})
        if len(days) >= 2:
            cut = rng.choice(days[1:])
            earlier = [r for r in rows if (_parse_day(r["date"]) or cut) < cut]
            checked = [r for r in rows if (_parse_day(r["date"]) or cut) >= cut]
            if rng.random() < 0.3:  # the ledger's invoices count first, even those dated after the input's
                shuffled = rng.sample(rows, k=len(rows))
                earlier, checked = shuffled[: len(rows) // 2], shuffled[len(rows) // 2 :]
            for row in rng.sample(earlier, k=min(len(earlier), rng.choice((0, 0, 1, 3)))):
                again = dict(row)  # billed again in the checked file: it replaces the ledger's copy
                again["status"] = rng.choice(("cancelled", "billed", ""))
                if rng.random() < 0.5:
                    again["codes"] = "+".join(_codes(rng, visit=rng.random() < 0.5))
                checked.append(again)
            if len(earlier) >= 4 and rng.random() < 0.3:
                half = len(earlier) // 2
                second = earlier[half:] + [
                    {
                        **row,
                        "status": rng.choice(("cancelled", "billed")),
                        "time": rng.choice(("", *time_pool)),
                    }
                    for row in rng.sample(earlier[:half], k=rng.choice((0, 1, 2)))
                ]  # recorded again on the second day: it replaces the first day's copy
                history = [tuple(earlier[:half]), tuple(second)]
            elif earlier:
                history = [tuple(earlier)]
    columns = tuple(c for c in COLUMNS if c in REQUIRED or rng.random() > 0.08)
    headers: dict[str, str] = {}
    if rng.random() < 0.25:  # the practice's own export: aliases, other case and spacing
        for column in columns:
            if rng.random() < 0.5:
                headers[column] = rng.choice(
                    ALIASES.get(column, ()) + (column.upper(), column.replace("_", " "))
                )
    if rng.random() < 0.08:
        columns += ("note",)  # an unknown column, kept for plugins
    encoding = rng.choice(("utf-8", "utf-8", "utf-8-sig", "cp1252"))
    lines = rng.random() < 0.12
    if lines:
        headers.pop("codes", None)
    case = Case(
        seed=seed,
        columns=columns,
        delimiter=";" if style["comma"] or rng.random() < 0.6 else ",",
        history=tuple(history),
        checked=tuple(checked),
        recorder=rng.choice(ENGINES),
        split=rng.randint(1, len(checked) - 1) if len(checked) >= 2 and rng.random() < 0.15 else 0,
        headers=tuple(sorted(headers.items())),
        encoding=encoding,
        lines=lines,
    )
    # Drawn last, so that a seed's rows and columns do not depend on the format they are written in.
    file_format = rng.choice(FORMATS)
    return attrs.evolve(case, file_format=file_format, typed=file_format != "csv" and rng.random() < 0.6)


def _parse_day(text: str) -> dt.date | None:
    """The day of a generated cell (ISO or French), None for the deliberately bad ones."""
    try:
        if "/" in text:
            return dt.datetime.strptime(text, "%d/%m/%Y").date()
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------------
# Running the two engines


def write_input(folder: Path, name: str, rows: Iterable[dict[str, str]], case: Case) -> Path:
    """The rows as a SPEC §1 file in the case's format, columns, headers (keys), delimiter and encoding."""
    path = folder / f"{name}{EXTENSIONS[case.file_format]}"
    headers = dict(case.headers)
    columns = (
        [("code" if column == "codes" else column) for column in case.columns] if case.lines else case.columns
    )
    records = _act_lines(rows, case) if case.lines else list(rows)
    if case.file_format == "csv":
        with path.open("w", encoding=case.encoding, newline="") as handle:
            writer = csv.writer(handle, delimiter=case.delimiter)
            writer.writerow([headers.get(column, column) for column in columns])
            for row in records:
                writer.writerow([row.get(column, "") for column in columns])
    elif case.file_format == "parquet":
        _write_parquet(path, [headers.get(column, column) for column in columns], columns, records, case)
    else:
        objects = [_json_object(row, columns, headers, case) for row in records]
        with path.open("w", encoding="utf-8") as handle:
            if case.file_format == "json":
                json.dump(objects, handle, ensure_ascii=False, indent=1)
            else:
                handle.writelines(json.dumps(item, ensure_ascii=False) + "\n" for item in objects)
    return path


def _cell_rng(case: Case, row: dict[str, str], column: str) -> random.Random:
    """A draw of one cell's own: the same rows always give the same file (minimization relies on it)."""
    return random.Random(
        f"{case.seed}:{row.get('practitioner_id')}:{row.get('invoice_id')}:{column}:{row.get(column)}"
    )


def _boolean(cell: str) -> bool | None:
    """The yes or no a generated boolean cell spells, None for any other text."""
    word = cell.strip().lower()
    return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None


def _native(column: str, cell: str) -> Any:
    """The cell as the native JSON value an export would hold, or the text itself when it has none."""
    if column in BOOLEANS and _boolean(cell) is not None:
        return _boolean(cell)
    if column in ("amount", "km"):
        number = (
            _decimal(cell) if "," not in cell and cell == cell.strip() and not cell.startswith("+") else None
        )
        if number is not None and number.is_finite() and number.as_tuple().exponent >= -2:
            return int(number) if number == number.to_integral_value() else float(number)
    return cell


def _json_object(
    row: dict[str, str], columns: Sequence[str], headers: dict[str, str], case: Case
) -> dict[str, Any]:
    """One invoice (or act line) as a JSON object: text cells, or native values when the case is typed.

    An empty cell is an empty string in a text export; a typed one leaves the key out or writes null.
    """
    item: dict[str, Any] = {}
    for column in columns:
        cell = row.get(column, "")
        key = headers.get(column, column)
        if not case.typed:
            item[key] = cell
            continue
        rng = _cell_rng(case, row, column)
        if cell == "":
            choice = rng.choice(("omit", "null", "text"))
            if choice != "omit":
                item[key] = None if choice == "null" else ""
        elif column == "codes" and "+" in cell and rng.random() < 0.5:
            item[key] = cell.split("+")
        else:
            item[key] = _native(column, cell) if rng.random() < 0.8 else cell
    return item


def _write_parquet(
    path: Path, keys: Sequence[str], columns: Sequence[str], records: Sequence[dict[str, str]], case: Case
) -> None:
    """A Parquet file: text columns (empty cells null), or typed ones where every cell of a column fits."""
    import polars as pl

    data: dict[str, Any] = {}
    schema: dict[str, Any] = {}
    for key, column in zip(keys, columns, strict=True):
        cells = [row.get(column, "") for row in records]
        values: list[Any] = [cell or None for cell in cells]
        dtype: Any = pl.String
        if case.typed:
            typed = _parquet_column(column, cells)
            if typed is not None:
                dtype, values = typed
        data[key], schema[key] = values, dtype
    pl.DataFrame(data, schema=schema).write_parquet(path)


def _parquet_column(column: str, cells: Sequence[str]) -> tuple[Any, list[Any]] | None:
    """The column's Parquet type and values when every non-empty cell has one, else None (text)."""
    import polars as pl

    filled = [cell for cell in cells if cell]
    if not filled:
        return None
    if column in BOOLEANS and all(_boolean(cell) is not None for cell in filled):
        return pl.Boolean, [_boolean(cell) if cell else None for cell in cells]
    if column in ("date", "birth_date", "discharge_date"):
        try:
            return pl.Date, [dt.date.fromisoformat(cell) if cell else None for cell in cells]
        except ValueError:
            return None
    if column in ("amount", "km"):
        numbers = [_native(column, cell) if cell else None for cell in cells]
        if all(number is None or isinstance(number, (int, float)) for number in numbers):
            return pl.Float64, [None if number is None else float(number) for number in numbers]
    return None


def _act_lines(rows: Iterable[dict[str, str]], case: Case) -> list[dict[str, str]]:
    """An export with one line per act (SPEC §1b): each invoice's codes on lines of their own.

    The amount is on the first line or spread over the lines (the readers sum it), some invoices'
    later lines stand at the end of the file (grouped wherever they stand), and a few lines disagree
    with their first on the place (an input error). Drawn from the invoice's own values, so that the
    same rows always give the same file (minimization relies on it).
    """
    lines: list[dict[str, str]] = []
    deferred: list[dict[str, str]] = []
    for row in rows:
        rng = random.Random(f"{case.seed}:{row['practitioner_id']}:{row['invoice_id']}:{row['codes']}")
        codes = row["codes"].split("+") or [""]
        amounts = [row["amount"]] + [""] * (len(codes) - 1)
        amount = _decimal(row["amount"])
        if amount is not None and len(codes) > 1 and rng.random() < 0.4:
            cents = int(amount * 100)
            share = cents // len(codes)
            parts = [share] * (len(codes) - 1) + [cents - share * (len(codes) - 1)]
            amounts = [f"{Decimal(part) / 100:.2f}" for part in parts]
        later = rng.random() < 0.2
        for index, (code, part) in enumerate(zip(codes, amounts, strict=True)):
            line = {**row, "code": code.strip(), "amount": part}
            if index and rng.random() < 0.03:
                line["place"] = "tele" if row["place"] != "tele" else "cabinet"
            (deferred if index and later else lines).append(line)
    return lines + deferred


def _decimal(text: str) -> Decimal | None:
    """A generated amount cell as a number (None when empty or deliberately odd)."""
    try:
        return Decimal(text.strip().replace(",", "."))
    except ArithmeticError:
        return None


def run_check(
    engine: str, paths: Sequence[Path], ledger: Path | str | None = None, *, record: bool = False
) -> Outcome:
    """``billing-rules check PATH... --format json --engine ENGINE``, in-process; the report normalized."""
    from billing_rules.cli import main

    out = paths[0].with_suffix(f".{engine}.json")
    out.unlink(missing_ok=True)
    argv = ["check", *map(str, paths), "--format", "json", "--engine", engine, "-o", str(out), "-q"]
    argv += ["--fail-on", "never"]
    if ledger is not None:
        argv += ["--ledger", str(ledger)]
    if record:
        argv.append("--record")
    sink = io.StringIO()
    try:
        with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
            status = main(argv, standalone_mode=False)
    except SystemExit as exc:  # the CLI's own exit-2 paths
        status = exc.code
    except Exception as exc:  # noqa: BLE001 - a crash is an outcome to compare, not a campaign failure
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:500])
    if not out.exists():
        return Outcome(None, f"exit {status}: {sink.getvalue().strip()[:300]}")
    report = json.loads(out.read_text(encoding="utf-8"))
    report["summary"].pop("engine", None)
    return Outcome(report)


def _copy_ledger(source: Path, target: Path) -> None:
    """A copy of a SQLite ledger with its WAL files, so that each engine reads its own."""
    for suffix in ("", "-wal", "-shm"):
        origin = Path(f"{source}{suffix}")
        if origin.exists():
            shutil.copyfile(origin, Path(f"{target}{suffix}"))


def _signature(outcomes: dict[str, Outcome]) -> frozenset[str]:
    """What a difference is about: the rules of the findings that differ (or crash, order, summary)."""
    row, duck = outcomes["row"], outcomes["duckdb"]
    if row.report is None or duck.report is None:
        return frozenset({"crash"})
    rules: set[str] = set()
    left = Counter(json.dumps(f, sort_keys=True) for f in row.report["findings"])
    right = Counter(json.dumps(f, sort_keys=True) for f in duck.report["findings"])
    for text in (left - right) + (right - left):
        rules.add(json.loads(text)["rule"])
    if row.report["input_errors"] != duck.report["input_errors"]:
        rules.add("input_errors")
    if not rules and row.report["findings"] != duck.report["findings"]:
        rules.add("order")
    if not rules:
        rules.add("summary")
    return frozenset(rules)


def _write_checked(case: Case, folder: Path, name: str) -> list[Path]:
    """The checked rows as one file, or as two files given together (``case.split`` rows in the first)."""
    split = min(case.split, len(case.checked) - 1)
    if split <= 0:
        return [write_input(folder, name, case.checked, case)]
    return [
        write_input(folder, f"{name}-a", case.checked[:split], case),
        write_input(folder, f"{name}-b", case.checked[split:], case),
    ]


def run_case(case: Case, workdir: Path, ledger_url: str | None = None) -> tuple[Difference | None, Outcome]:
    """Record the history (one engine), check every file with both engines; the first difference.

    Every history file is also checked by the engine that does not record it, against the same
    ledger state: earlier days are compared too, not only the last one. The ledger is an SQLite
    file of ``workdir`` (each engine reads its own copy), or the empty PostgreSQL ledger
    ``ledger_url`` (read by both: checking without ``--record`` writes nothing).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    ledger = workdir / "ledger.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{ledger}{suffix}").unlink(missing_ok=True)
    other = "duckdb" if case.recorder == "row" else "row"
    for index, day in enumerate(case.history, start=1):
        path = write_input(workdir, f"history-{index}", day, case)
        before: Path | str | None = None
        if index > 1 and ledger_url is not None:
            before = ledger_url
        elif index > 1:
            before = workdir / f"ledger-{other}.sqlite"
            _copy_ledger(ledger, before)
        compared = run_check(other, [path], before)
        recorded = run_check(case.recorder, [path], ledger_url or ledger, record=True)
        outcomes = {other: compared, case.recorder: recorded}
        if compared.key() != recorded.key():
            return Difference(f"history {index}", outcomes, _signature(outcomes)), outcomes["row"]
    paths = _write_checked(case, workdir, "checked")
    outcomes = {}
    for engine in ENGINES:
        copy: Path | str | None = None
        if case.history and ledger_url is not None:
            copy = ledger_url
        elif case.history:
            copy = workdir / f"ledger-{engine}.sqlite"
            _copy_ledger(ledger, copy)
        outcomes[engine] = run_check(engine, paths, copy)
    if outcomes["row"].key() != outcomes["duckdb"].key():
        return Difference("checked", outcomes, _signature(outcomes)), outcomes["row"]
    return None, outcomes["row"]


# --------------------------------------------------------------------------------------------------
# Minimization


def _still_differs(case: Case, workdir: Path, signature: frozenset[str]) -> Difference | None:
    """The case's difference if it is still about one of the signature's rules (not another bug)."""
    difference, _ = run_case(case, workdir)
    if difference is not None and difference.signature & signature:
        return difference
    return None


def _drop_rows(case: Case, keep: Callable[[int], bool]) -> Case:
    """The case without the rows whose global index (history first, then the checked file) fails ``keep``."""
    index = 0
    history = []
    for day in case.history:
        kept = []
        for row in day:
            if keep(index):
                kept.append(row)
            index += 1
        if kept:
            history.append(tuple(kept))
    checked = []
    for row in case.checked:
        if keep(index):
            checked.append(row)
        index += 1
    return attrs.evolve(case, history=tuple(history), checked=tuple(checked))


def _rows(case: Case) -> list[dict[str, str]]:
    return [row for day in case.history for row in day] + list(case.checked)


def _replace_row(case: Case, target: int, row: dict[str, str]) -> Case:
    """The case with its row number ``target`` (global index) replaced."""
    index = 0
    history = []
    for day in case.history:
        new_day = []
        for old in day:
            new_day.append(row if index == target else old)
            index += 1
        history.append(tuple(new_day))
    checked = []
    for old in case.checked:
        checked.append(row if index == target else old)
        index += 1
    return attrs.evolve(case, history=tuple(history), checked=tuple(checked))


def minimize(case: Case, signature: frozenset[str], workdir: Path, budget: float = 240.0) -> Case:
    """Drop rows (halves, then one at a time), codes, optional values and columns while it differs.

    Bounded by ``budget`` seconds: a partly minimized case is still a reproducer.
    """
    deadline = time.monotonic() + budget

    def attempt(candidate: Case) -> bool:
        return time.monotonic() < deadline and _still_differs(candidate, workdir, signature) is not None

    # Rows: ddmin-style chunks, then single rows.
    chunk = max(1, len(_rows(case)) // 2)
    while chunk >= 1 and time.monotonic() < deadline:
        start, removed = 0, False
        while start < len(_rows(case)):
            low, high = start, start + chunk
            candidate = _drop_rows(case, lambda i, low=low, high=high: not low <= i < high)  # type: ignore[misc]
            if _rows(candidate) and attempt(candidate):
                case, removed = candidate, True
            else:
                start += chunk
        if not removed:
            chunk //= 2
    if case.split and attempt(attrs.evolve(case, split=0)):
        case = attrs.evolve(case, split=0)
    # A history of one file checked alone, when the ledger is not needed.
    if case.history and attempt(attrs.evolve(case, history=(), checked=tuple(_rows(case)))):
        case = attrs.evolve(case, history=(), checked=tuple(_rows(case)))
    # Codes, then optional values, row by row.
    for target, row in enumerate(_rows(case)):
        codes = row["codes"].split("+")
        position = 0
        while len(codes) > 1 and position < len(codes):
            fewer = codes[:position] + codes[position + 1 :]
            candidate = _replace_row(case, target, {**row, "codes": "+".join(fewer)})
            if attempt(candidate):
                case, codes, row = candidate, fewer, {**row, "codes": "+".join(fewer)}
            else:
                position += 1
        for column in case.columns:
            if column in REQUIRED or not row.get(column):
                continue
            candidate = _replace_row(case, target, {**row, column: ""})
            if attempt(candidate):
                case, row = candidate, {**row, column: ""}
    # Columns left empty everywhere.
    for column in case.columns:
        if column not in REQUIRED and not any(row.get(column) for row in _rows(case)):
            candidate = attrs.evolve(case, columns=tuple(c for c in case.columns if c != column))
            if attempt(candidate):
                case = candidate
    return case


def save(case: Case, difference: Difference, folder: Path, name: str) -> None:
    """The case's files, the ledger it needs (as a recipe: the history files) and the difference."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, day in enumerate(case.history, start=1):
        write_input(folder, f"{name}-history-{index}", day, case)
    checked = _write_checked(case, folder, f"{name}-checked")
    suffix = EXTENSIONS[case.file_format]
    replay = [
        f"billing-rules check {name}-history-{i}{suffix} --ledger L --record --engine {case.recorder}"
        for i in range(1, len(case.history) + 1)
    ]
    files = " ".join(path.name for path in checked)
    ledger = " --ledger L" if case.history else ""
    replay.append(f"billing-rules check {files} --format json --engine row|duckdb{ledger}")
    text = f"seed {case.seed}\n" + "\n".join(replay) + "\n\n" + difference.describe(limit=20) + "\n"
    (folder / f"{name}-difference.txt").write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# The campaign


def main(argv: Sequence[str] | None = None) -> int:
    """Run cases until the time is up, print the figures; 1 if the engines ever disagreed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=None, help="first seed (default: from the clock)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/engine-diffs"), help="where differences go")
    parser.add_argument("--minimize-seconds", type=float, default=240.0, help="budget per difference")
    parser.add_argument("--replay", type=int, default=None, help="run the one case of this seed, verbosely")
    parser.add_argument(
        "--snapshot",
        action="store_true",
        help="run on a frozen copy of billing_rules/ (the tree is being edited)",
    )
    args = parser.parse_args(argv)
    if args.snapshot:
        _restart_on_snapshot(list(sys.argv[1:] if argv is None else argv))

    scratch = Path(tempfile.mkdtemp(prefix="fuzz-engines-"))
    try:
        if args.replay is not None:
            case = generate(args.replay)
            difference, _ = run_case(case, scratch / "replay")
            print(f"seed {args.replay}: {case.invoices} rows, history {len(case.history)} file(s)")
            print(difference.describe(limit=50) if difference else "same reports")
            return 1 if difference else 0
        return _campaign(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        snapshot = os.environ.get("FUZZ_ENGINES_SNAPSHOT")
        if snapshot and Path(snapshot).name.startswith("fuzz-engines-snapshot-"):
            shutil.rmtree(snapshot, ignore_errors=True)


def _restart_on_snapshot(argv: list[str]) -> None:
    """Copy the package (code and rule files) and run this script again with the copy first on the path.

    A campaign lasts minutes; when other work edits the tree meanwhile, a rule file changed between
    the two engines' runs would look like a difference between them.
    """
    folder = Path(tempfile.mkdtemp(prefix="fuzz-engines-snapshot-"))
    for part in ("billing_rules", "grammar"):  # the rule grammar is read from the checkout's grammar/
        shutil.copytree(ROOT / part, folder / part, ignore=shutil.ignore_patterns("__pycache__"))
    path = os.pathsep.join(filter(None, (str(folder), os.environ.get("PYTHONPATH"))))
    env = dict(os.environ, FUZZ_ENGINES_SNAPSHOT=str(folder), PYTHONPATH=path)
    print(f"running on a snapshot of billing_rules/ in {folder}", flush=True)
    rest = [arg for arg in argv if arg != "--snapshot"]
    os.execve(sys.executable, [sys.executable, __file__, *rest], env)


def _campaign(args: argparse.Namespace, scratch: Path) -> int:
    first_seed = args.seed if args.seed is not None else int(time.time())
    seed = first_seed
    started = time.monotonic()
    cases = invoices = with_ledger = 0
    seen: Counter[str] = Counter()
    input_errors = 0
    differences: list[tuple[int, Difference]] = []
    unstable: list[int] = []
    signatures: dict[frozenset[str], int] = {}
    while time.monotonic() - started < args.seconds:
        case = generate(seed)
        difference, reference = run_case(case, scratch / "case")
        cases += 1
        invoices += case.invoices
        with_ledger += bool(case.history)
        if reference.report is not None:
            seen.update(finding["rule"] for finding in reference.report["findings"])
            input_errors += len(reference.report["input_errors"])
        if difference is not None and run_case(case, scratch / "again")[0] is None:
            # Not reproducible: the rule files or the code changed between the two runs (the tree is
            # shared with other work; ``--snapshot`` avoids it). Counted apart, never minimized.
            unstable.append(seed)
            print(f"UNSTABLE seed={seed}: {difference.describe(limit=3)}", flush=True)
        elif difference is not None:
            differences.append((seed, difference))
            print(f"DIFFERENCE seed={seed}: {difference.describe(limit=3)}", flush=True)
            if difference.signature not in signatures:
                number = len(signatures) + 1
                signatures[difference.signature] = seed
                folder = args.out / str(number)
                save(case, difference, folder, "original")
                small = minimize(case, difference.signature, scratch / "min", args.minimize_seconds)
                final, _ = run_case(small, scratch / "min")
                save(small, final or difference, folder, "minimized")
                print(f"  saved in {folder} (minimized to {small.invoices} rows)", flush=True)
        seed += 1
    elapsed = time.monotonic() - started
    print(f"seeds {first_seed}..{seed - 1} in {elapsed:.0f} s")
    print(f"cases: {cases} ({with_ledger} with a ledger), invoices: {invoices}, input errors: {input_errors}")
    print(
        "findings per rule (row engine, checked files): "
        + ", ".join(f"{r} {n}" for r, n in sorted(seen.items()))
    )
    print(f"differences: {len(differences)} cases, {len(signatures)} distinct; not reproducible: {unstable}")
    for signature, first in signatures.items():
        count = sum(1 for _, d in differences if d.signature == signature)
        print(f"  {sorted(signature)}: {count} case(s), first seed {first}")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
