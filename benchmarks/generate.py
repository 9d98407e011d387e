"""Seeded generator of realistic general-practice billing files (SPEC §1 columns).

A practice network is P practitioners billing day after day: ~4 950 acts per practitioner per year
(about 17.5 on weekdays, 7.5 on Saturday mornings, none on Sundays), each with ~1 100 médecin
traitant (MT) patients of whom ~230 are in ALD and ~50 aged 80+, plus patients of other doctors.
Home visits are a few per cent, and the file carries SNP, IMT, VL, VSP, GL, MOP, MEG and a small
rate of every kind of violation (``--violations`` scales those rates, tests raise them).

The output is sorted in SPEC §1 order (date, then time), written row by row: a 5 M-row file never
sits in memory. The span of dates grows with ``--rows``, the population stays that of P practices,
which is what a vendor sees when running months or years of one network's billing.

``--ik`` adds the ``km`` column: about half the home visits then bill IK (indemnités kilométriques,
0,61 € per km, the distance with up to three decimals, a tenth of them without any, a few at the
mountain rate). Those draws come from a random source of their own: the other columns are those
of the same file without ``--ik``.

    python benchmarks/generate.py --rows 1000000 --practitioners 100 --seed 1 --out /tmp/b.csv
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import sys
from collections.abc import Iterator, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

COLUMNS = (
    "invoice_id", "date", "time", "practitioner_id", "specialty", "sector", "patient_id", "birth_date",
    "ald", "palliative", "neurodegenerative", "mt_status", "declares_mt", "place", "homebound", "codes",
    "amount", "regulated", "referral_at", "status",
)  # fmt: skip

ACTS_PER_YEAR = 4950
MT_PATIENTS = 1100
ALD_PATIENTS = 230
OVER_80 = 50
OTHER_PATIENTS = 600

IMT_START = dt.date(2023, 5, 15)
VSP_START = dt.date(2023, 11, 1)
MOP_START = dt.date(2024, 1, 1)
GL_START = dt.date(2026, 1, 1)
SNP_START = dt.date(2022, 12, 9)
#: IK per km: the plaine rate, and the montagne one (above the tariffs: AMOUNT-ABOVE in sector 1).
IK_RATE = Decimal("0.61")
IK_MOUNTAIN = Decimal("0.91")


def tariff(code: str, day: dt.date) -> float:
    """Tariffs the generator bills (ngap-facts.md); only what the generated codes need."""
    if code in ("G", "VG", "GS"):
        if day >= dt.date(2024, 12, 22):
            return 30.0
        return 26.5 if day >= dt.date(2023, 11, 1) else 25.0
    return {"VL": 60.0, "VSP": 60.0, "IMT": 60.0, "GL1": 60.0, "GL2": 60.0, "GL3": 60.0, "MD": 10.0,
            "MEG": 5.0, "MOP": 5.0, "SNP": 15.0, "TCG": 25.0, "MRT": 15.0, "MUT": 5.0, "MCG": 5.0,
            "MCU": 15.0, "MIC": 23.0, "MSH": 23.0}[code]  # fmt: skip


class Patient:
    """A patient as one practitioner sees them; ``mt`` changes when they declare the practitioner."""

    __slots__ = (
        "pid", "birth", "birth_text", "ald", "palliative", "neuro", "mt", "homebound",
        "last_vl", "gl_years", "had_imt",
    )  # fmt: skip

    def __init__(self, pid: str, birth: dt.date, *, ald: bool, mt: str, palliative: bool = False,
                 neuro: bool = False, homebound: bool = False) -> None:  # fmt: skip
        self.pid = pid
        self.birth = birth
        self.birth_text = birth.isoformat()
        self.ald = ald or neuro or palliative
        self.palliative = palliative
        self.neuro = neuro
        self.mt = mt
        self.homebound = homebound
        self.last_vl: tuple[int, int] | None = None
        self.gl_years: set[int] = set()
        self.had_imt = False

    def age(self, day: dt.date) -> int:
        years = day.year - self.birth.year
        return years - 1 if (day.month, day.day) < (self.birth.month, self.birth.day) else years


class Practitioner:
    """One GP's patientèle: weighted so that ALD and elderly patients come more often."""

    def __init__(self, index: int, rng: random.Random, start: dt.date) -> None:
        self.pid = f"10{index:09d}"
        self.index = index
        self.sector = rng.choices(("1", "optam", "2"), (85, 12, 3))[0]
        self.sas = rng.random() < 0.6  # takes SAS referrals (SNP)
        self.invoice = 0
        year = start.year
        mt: list[Patient] = []
        for n in range(MT_PATIENTS):
            pid = f"P{index:04d}-{n:05d}"
            if n < OVER_80:
                birth = _birth(rng, year - 95, year - 81)
                ald = n < 22
                mt.append(Patient(pid, birth, ald=ald, mt="self", neuro=n < 4, palliative=n in (5, 6),
                                  homebound=ald and rng.random() < 0.5))  # fmt: skip
            elif n < OVER_80 + ALD_PATIENTS - 22:
                mt.append(Patient(pid, _birth(rng, year - 79, year - 30), ald=True, mt="self",
                                  palliative=n == OVER_80 + 1, neuro=n < OVER_80 + 6))  # fmt: skip
            elif n < OVER_80 + ALD_PATIENTS + 70:
                mt.append(Patient(pid, _birth(rng, year - 5, year - 1), ald=False, mt="self"))
            else:
                mt.append(Patient(pid, _birth(rng, year - 79, year - 7), ald=False, mt="self"))
        others: list[Patient] = []
        for n in range(OTHER_PATIENTS):
            pid = f"Q{index:04d}-{n:05d}"
            status = rng.choices(("other", "none", "unknown"), (60, 30, 10))[0]
            old = rng.random() < 0.08
            birth = _birth(rng, year - 92, year - 81) if old else _birth(rng, year - 70, year - 2)
            ald = rng.random() < (0.35 if status == "none" else 0.1)
            others.append(Patient(pid, birth, ald=ald, mt=status, homebound=old and rng.random() < 0.3))
        self.mt_weighted = (
            mt + [p for p in mt if p.ald] * 2 + [p for p in mt if p.birth.year <= year - 80] * 3
        )
        self.others = others
        self.snp_week: tuple[int, int] | None = None
        self.snp_plan: list[int] = []

    def next_invoice(self) -> str:
        self.invoice += 1
        return f"F{self.index:04d}-{self.invoice:07d}"


def _birth(rng: random.Random, first_year: int, last_year: int) -> dt.date:
    return dt.date(rng.randint(first_year, last_year), rng.randint(1, 12), rng.randint(1, 28))


def _bool(value: bool) -> str:
    return "1" if value else "0"


def _quarter(day: dt.date) -> tuple[int, int]:
    return (day.year, (day.month - 1) // 3 + 1)


class Generator:
    """Yields rows (lists of strings in :data:`COLUMNS` order) in SPEC §1 order."""

    def __init__(
        self, *, practitioners: int, seed: int, start: dt.date, violations: float = 1.0, ik: bool = False
    ) -> None:
        self.rng = random.Random(seed)
        self.start = start
        self.violations = violations
        #: Whether home visits bill IK with the ``km`` column (drawn from ``km_rng`` only).
        self.ik = ik
        self.km_rng = random.Random(f"km-{seed}")
        #: The faults (and missed majorations) of the built-in rules beyond SPEC §5 (VSP-MT,
        #: MEG-AGE, MRT-MT, MOP-SECTOR, MUT-MT, MRT-CUMUL, GL1-CUMUL, MD-BASE, MRT-REGULATED,
        #: OPP-MRT, OPP-MD), drawn from their own stream: every other cell of the file stays what it
        #: was before them.
        self.extension_rng = random.Random(f"extensions-{seed}")
        self.columns = (*COLUMNS, "km") if ik else COLUMNS
        self.practitioners = [Practitioner(i, self.rng, start) for i in range(practitioners)]

    def _bad(self, rate: float) -> bool:
        return self.rng.random() < rate * self.violations

    def rows(self, limit: int) -> Iterator[list[str]]:
        import holidays  # the package billing-rules itself uses for SNP-PDSA

        closed = holidays.country_holidays("FR", years=range(self.start.year, self.start.year + 60))
        produced = 0
        day = self.start
        while produced < limit:
            weekday = day.weekday()
            if weekday < 6 and day not in closed:  # practices are closed on Sundays and holidays
                day_rows: list[tuple[str, int, list[str]]] = []
                for practitioner in self.practitioners:
                    day_rows.extend(self._day(practitioner, day, weekday))
                day_rows.sort(key=lambda item: item[0])  # by time; stable: practitioner order
                for _, _, row in day_rows:
                    yield row
                    produced += 1
                    if produced >= limit:
                        return
            day += dt.timedelta(days=1)

    def _day(
        self, practitioner: Practitioner, day: dt.date, weekday: int
    ) -> list[tuple[str, int, list[str]]]:
        rng = self.rng
        week = day.isocalendar()[:2]
        if practitioner.snp_week != week:
            practitioner.snp_week = week
            if practitioner.sas and day >= SNP_START:
                total = rng.randint(21, 26) if self._bad(0.02) else rng.randint(0, 9)
            else:
                total = 0
            practitioner.snp_plan = [total // 5 + (1 if i < total % 5 else 0) for i in range(5)]
        if weekday == 5:
            count = rng.randint(5, 10)
            snp = 0
        else:
            count = rng.randint(14, 21)
            snp = practitioner.snp_plan[weekday]
        minute = 8 * 60 + rng.randint(0, 30)
        out = []
        for n in range(count):
            row = self._act(practitioner, day, minute, is_snp=n < snp)
            out.append((row[2], practitioner.index, row))
            minute += rng.randint(12, 28) if weekday < 5 else rng.randint(8, 14)
            if weekday < 5 and minute >= 19 * 60 + 50:
                minute = 19 * 60 + 50  # the evening rush stays before 20:00 (PDSA time)
        return out

    def _act(self, practitioner: Practitioner, day: dt.date, minute: int, *, is_snp: bool) -> list[str]:
        rng = self.rng
        place = "cabinet"
        declares = False
        regulated = False
        referral = ""
        if is_snp:
            patient = rng.choice(practitioner.others)
            if patient.mt == "self" and not self._bad(0.05):
                patient = rng.choice(
                    [p for p in practitioner.others if p.mt != "self"] or practitioner.others
                )
            codes = ["G", "SNP"]
            regulated = True
            hours = rng.randint(1, 30) if not self._bad(0.01) else rng.randint(49, 60)
            moment = dt.datetime.combine(day, dt.time(minute // 60, minute % 60)) - dt.timedelta(hours=hours)
            referral = moment.strftime("%Y-%m-%dT%H:%M")
        elif rng.random() < 0.12:
            patient = rng.choice(practitioner.others)
            codes = self._other_codes(practitioner, patient, day)
            if codes[0] == "IMT" or (patient.mt in ("none", "other") and rng.random() < 0.05):
                declares = True
        else:
            patient = rng.choice(practitioner.mt_weighted)
            codes, place = self._mt_codes(patient, day)
        age = patient.age(day)
        if codes[0] == "G" and age < 6 and "MEG" not in codes and rng.random() < 0.97:
            codes.append("MEG")
        if place == "cabinet" and rng.random() < 0.03 and codes == ["G"]:
            codes, place = ["TCG"], "tele"
        km = self._ik(codes, place)
        # After the IK: its draws stay the same.
        place, extension_referral, homebound = self._extension_faults(
            codes, practitioner, patient, day, minute, place
        )
        if extension_referral:
            regulated, referral = True, extension_referral
        amount = sum(tariff(code, day) for code in codes if code != "IK") + float(km[1])
        if self._bad(0.003):
            amount -= 1.5  # an old tariff left in the software
        status = "cancelled" if rng.random() < 0.003 else "billed"
        row = [
            practitioner.next_invoice(),
            day.isoformat(),
            f"{minute // 60:02d}:{minute % 60:02d}",
            practitioner.pid,
            "MG",
            practitioner.sector,
            patient.pid,
            patient.birth_text,
            _bool(patient.ald),
            _bool(patient.palliative),
            _bool(patient.neuro),
            patient.mt,
            _bool(declares),
            place,
            _bool(homebound),
            "+".join(codes),
            f"{amount:.2f}",
            _bool(regulated),
            referral,
            status,
        ]
        if self.ik:
            row.append(km[0])
        if declares and patient.mt != "self":
            patient.mt = "self"  # from now on the practitioner is this patient's MT
        return row

    def _extension_faults(
        self,
        codes: list[str],
        practitioner: Practitioner,
        patient: Patient,
        day: dt.date,
        minute: int,
        place: str,
    ) -> tuple[str, str, bool]:
        """Rare faults of the rules beyond SPEC §5 on a plain G; the place, a referral, ``homebound``.

        One draw per act, whatever happens: each fault has its own band of ``rate`` (the first three
        are those of VSP-MT, MEG-AGE and MRT-MT, unchanged), and a choice within a fault is read from
        the same draw, so adding a band never moves the faults already drawn. The referral
        (``referral_at``, empty if none) is that of a regulated act the band makes (OPP-MRT);
        ``homebound`` is the patient's, or true for a visit to a patient unable to travel that day.
        """
        rng = self.extension_rng
        draw = rng.random()
        rate = 0.0005 * self.violations
        if codes != ["G"] or draw >= 10 * rate:
            return place, "", patient.homebound
        if draw < rate:
            if patient.age(day) >= 6:
                codes.append("MEG")  # MEG-AGE
        elif draw < 3 * rate:
            if patient.mt != "self":
                if draw < 2 * rate:
                    codes.append("MRT")  # MRT-MT
                elif day >= VSP_START:
                    codes[:] = ["VSP", "MD"]  # VSP-MT (and VSP-PALLIATIVE unless palliative)
                    return "domicile", "", patient.homebound
        elif draw < 4 * rate:
            if practitioner.sector == "2" and day >= MOP_START:
                codes.append("MOP")  # MOP-SECTOR (and MOP-MT for an MT patient or one under 80)
        elif draw < 5 * rate:
            if patient.mt != "self":
                codes.append("MUT")  # MUT-MT (none when mt_status is unknown)
        elif draw < 6 * rate:
            if patient.mt == "self":
                # MRT-CUMUL: the MRT with a coordination majoration it does not combine with.
                codes += ["MRT", ("MCG", "MUT", "MCU")[int((draw - 5 * rate) / rate * 3) % 3]]
        elif draw < 7 * rate:
            if day >= GL_START and patient.mt == "self" and patient.age(day) >= 80:
                # GL1-CUMUL (and GL1-PROOF: the generator writes no discharge date).
                codes[:] = ["GL1", "MIC" if draw < 6.5 * rate else "MSH"]
        elif draw < 8 * rate:
            codes.append("MD")  # MD-BASE: the travel majoration on a consultation
        elif draw < 9 * rate:
            if patient.mt == "self":
                if draw < 8.5 * rate:
                    codes.append("MRT")  # MRT-REGULATED: no request of the centre 15 on the row
                else:
                    # OPP-MRT: the MT's own patient sent by the centre 15 an hour or two earlier, in
                    # consultation hours (the practice's acts end before 20:00, Saturday's before
                    # noon), billed G without MRT.
                    moment = dt.datetime.combine(day, dt.time(minute // 60, minute % 60))
                    moment -= dt.timedelta(minutes=60 + int((draw - 8.5 * rate) / rate * 120) % 60)
                    return place, moment.strftime("%Y-%m-%dT%H:%M"), patient.homebound
        else:
            # OPP-MD: a home visit of a patient unable to travel (that day at least), without MD.
            codes[:] = ["VG"]
            return "domicile", "", True
        return place, "", patient.homebound

    def _ik(self, codes: list[str], place: str) -> tuple[str, Decimal]:
        """IK added to about half the home visits (``--ik``): the ``km`` cell and the IK amount billed."""
        rng = self.km_rng
        if not self.ik or place != "domicile" or codes[0] not in ("VG", "VL", "VSP") or rng.random() < 0.5:
            return "", Decimal(0)
        codes.append("IK")
        hundredths = Decimal(rng.randint(1, 6000))
        km = hundredths / (1000 if rng.random() < 0.1 else 100)  # 0.01 to 60 km, a few to the metre
        rate = IK_MOUNTAIN if rng.random() < min(0.3, 0.005 * self.violations) else IK_RATE
        billed = (rate * km).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        if rng.random() < 0.1:
            return "", billed  # the distance left out: the amount cannot be checked
        return format(km.normalize(), "f"), billed

    def _mt_codes(self, patient: Patient, day: dt.date) -> tuple[list[str], str]:
        rng = self.rng
        age = patient.age(day)
        if patient.palliative:
            if rng.random() < 0.4:
                if day >= VSP_START:
                    return ["VSP", "MD"], rng.choice(("domicile", "ehpad"))
                return ["VL", "MD"], "domicile"
            return ["G"], "cabinet"
        case_a = (age >= 80 and patient.ald) or patient.neuro
        if case_a and rng.random() < 0.3:
            quarter = _quarter(day)
            if patient.last_vl != quarter or self._bad(0.05):
                patient.last_vl = quarter
                place = "cabinet" if self._bad(0.01) else rng.choice(("domicile", "domicile", "ehpad"))
                return ["VL", "MD"], place
            return ["VG", "MD"], "domicile"
        if age >= 80 and rng.random() < (0.01 if case_a else 0.12):
            return ["VG", "MD"], "domicile"
        if age >= 80 and day >= GL_START and rng.random() < 0.05:
            if day.year not in patient.gl_years or self._bad(0.2):
                patient.gl_years.add(day.year)
                return [rng.choice(("GL1", "GL2", "GL3"))], "cabinet"
        if self._bad(0.0004):
            return ["VSP", "MD"] if day >= VSP_START else ["VL", "MD"], "domicile"  # not palliative
        if day >= IMT_START and self._bad(0.0003):
            return ["IMT"], "cabinet"  # IMT again for an own patient (IMT-MT, IMT-ONCE)
        return ["G"], "cabinet"

    def _other_codes(self, practitioner: Practitioner, patient: Patient, day: dt.date) -> list[str]:
        rng = self.rng
        age = patient.age(day)
        if patient.mt == "none" and patient.ald and day >= IMT_START and rng.random() < 0.6:
            patient.had_imt = True
            return ["IMT"]
        if patient.had_imt and self._bad(0.05):
            return ["IMT"]  # a second IMT for the same patient (IMT-ONCE)
        if day >= IMT_START and patient.mt != "self" and self._bad(0.003):
            return ["IMT"]  # IMT for a patient outside ALD, or of another MT
        if age >= 80 and patient.mt != "self" and day >= MOP_START and practitioner.sector != "2":
            return ["G", "MOP"] if rng.random() < 0.85 else ["G"]
        if age >= 80 and patient.homebound and rng.random() < 0.3:
            return ["VG", "MD"]
        return ["G"]


def write(path: str, rows: Iterator[list[str]], fmt: str, columns: Sequence[str] = COLUMNS) -> int:
    """Stream ``rows`` to ``path`` (``-``: standard output) as CSV (``;``) or JSON Lines."""
    out = sys.stdout if path == "-" else open(path, "w", encoding="utf-8", newline="")
    count = 0
    try:
        if fmt == "csv":
            writer = csv.writer(out, delimiter=";", lineterminator="\n")
            writer.writerow(columns)
            for row in rows:
                writer.writerow(row)
                count += 1
        else:
            dumps = json.dumps
            for row in rows:
                out.write(dumps(dict(zip(columns, row, strict=True))) + "\n")
                count += 1
    finally:
        if out is not sys.stdout:
            out.close()
    return count


def default_start(rows: int, practitioners: int, end: dt.date = dt.date(2026, 6, 30)) -> dt.date:
    """A start date so that the file ends around ``end`` (spans grow with ``rows``)."""
    days = int(rows / (practitioners * ACTS_PER_YEAR) * 365.25) + 1
    start = end - dt.timedelta(days=days)
    return start - dt.timedelta(days=start.weekday())  # a Monday


def generate(path: str, *, rows: int, practitioners: int, seed: int, start: dt.date | None = None,
             violations: float = 1.0, fmt: str | None = None, ik: bool = False) -> int:  # fmt: skip
    """Write a file of ``rows`` invoices (``ik``: with IK and ``km``); returns the number written."""
    if fmt is None:
        fmt = "jsonl" if Path(path).suffix.lower() in (".jsonl", ".json") else "csv"
    start = start or default_start(rows, practitioners)
    generator = Generator(practitioners=practitioners, seed=seed, start=start, violations=violations, ik=ik)
    return write(path, generator.rows(rows), fmt, generator.columns)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--practitioners", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=None,
                        help="first day (default: so that the file ends mid-2026)")  # fmt: skip
    parser.add_argument("--violations", type=float, default=1.0, help="multiplier of the violation rates")
    parser.add_argument("--format", choices=("csv", "jsonl"), default=None, help="default: by extension")
    parser.add_argument("--ik", action="store_true", help="IK on home visits, with the km column")
    parser.add_argument("--out", required=True, help="output file (.csv or .jsonl), - for stdout")
    args = parser.parse_args(argv)
    count = generate(args.out, rows=args.rows, practitioners=args.practitioners, seed=args.seed,
                     start=args.start, violations=args.violations, fmt=args.format, ik=args.ik)  # fmt: skip
    print(f"{count} factures écrites dans {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
