"""Write ``examples/history-2023-2025.csv``: the example practice's billing from 2023 to 2025.

The week file ``examples/week-2026-01.csv`` shows four general practitioners of one practice in
January 2026 (and one late invoice of a sector 2 colleague, 10105678901, for a patient without
MT: no history of its own). This script invents the three years before it, so that ``ledger
import`` of the history followed by ``check --ledger --record`` of the week gives a ledger on which
``billing-rules forfait`` has a plausible médecin traitant (MT) patientèle for 2023, 2024, 2025
and 2026. It is seeded: running it again writes the same bytes.

How the history is made
- The same practitioners (sector, specialty) and every patient of the week whose MT status before
  the week is known, with the birth date, ALD and neurodegenerative flags of the week file. Patients
  in palliative care in the week entered it during 2025 (onset dates below); before that their
  invoices say ``palliative=non``. Patients without MT (``none``) or of unknown status in the week,
  and the palliative patient of an outside MT, are left out, except the deliberate cases below: their
  history would otherwise change the week's report by chance.
- Other patients complete each MT patientèle (children, adults, ALD, 80+, a few neurodegenerative
  and palliative patients, some C2S), plus patients of colleagues seen as replacements, patients of
  outside doctors, and patients sent by the SAS regulation (mostly to Dr D, SAS-engaged).
- Codes follow their start dates (IMT from 2023-05-15, VSP from 2023-11-01, MOP from 2024-01-01, no
  GL before 2026) and amounts the tariffs in force on the act's date, mirroring
  ``billing_rules/builtin/ngap/tariffs.rules``. MT patients 80+ in ALD (or neurodegenerative) who are
  visited at home get one VL per quarter; new MT patients declare at their first act (IMT for an ALD
  patient without MT, VL for a homebound one at home). About one quarter in twelve the VL is forgotten.
- The patientèle only grows: nobody dies or leaves for a doctor outside the practice (the ledger
  could not tell), three patients per doctor move to a colleague.
- An extra ``c2s`` column (kept by the readers and the ledger, read by the forfait estimator) marks
  patients covered by the complémentaire santé solidaire; week patients are never C2S here.

Deliberate errors (``check`` on the history finds exactly these errors and warnings, see
:data:`DELIBERATE`): Dr B's software kept the old G/VG tariff for a week after 2023-11-01 and Dr A's
kept 26,50 € after 2024-12-22 (AMOUNT-BELOW); MOP for two own MT patients (MOP-MT); a second VL in one
quarter (VL-QUARTER); a VL for a palliative patient after 2023-11-01 (VL-PALLIATIVE); SNP for an own
MT patient (SNP-MT); IMT for a patient changing MT (IMT-MT). Forgotten majorations (MEG, MOP) and VG
instead of VL are left as they happen: they are opportunities, not errors.

Deliberate cases that change the week's report when the history is in the ledger:
- P1882 (ALD) got IMT from Dr B on 2024-03-12 and has been Dr B's MT patient since; in the week Dr A
  bills IMT again: IMT-ONCE fires on Dr A's F-2026-0051 (besides IMT-MT).
- P0057 (ALD, no MT) saw Dr B twice in 2025: OPP-MT-DECLARE (3rd consultation in 12 months) fires on
  Dr B's F-2026-0025, the first of the week, instead of F-2026-0064.

Run: ``python examples/make_history.py [OUTPUT]`` (default: next to this script).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import math
import random
import sys
from bisect import bisect_left, bisect_right
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
WEEK = HERE / "week-2026-01.csv"
OUTPUT = HERE / "history-2023-2025.csv"
SEED = 20230101
FIRST = dt.date(2023, 1, 1)
LAST = dt.date(2025, 12, 31)
YEARS = (2023, 2024, 2025)

DR_A, DR_B, DR_C, DR_D = "10101234567", "10102345678", "10103456789", "10104567890"
SECTORS = {DR_A: "1", DR_B: "1", DR_C: "optam", DR_D: "1"}
PATIENTELE = {DR_A: 430, DR_B: 400, DR_C: 360, DR_D: 230}
"""MT patients of each practitioner on 2023-01-01, week patients included."""
NEW_MT_PER_YEAR = {DR_A: 28, DR_B: 25, DR_C: 30, DR_D: 18}
NEWBORNS_PER_YEAR = {DR_A: 8, DR_B: 7, DR_C: 9, DR_D: 5}
"""Babies whose parents declare the practitioner MT at the first visit (month 1)."""
SNP_PER_YEAR = {DR_A: 6, DR_B: 8, DR_C: 10, DR_D: 130}
OUTSIDE_PER_YEAR = 45
"""Patients of outside doctors (or without MT) seen once or twice a year by each practitioner."""
REPLACEMENT = 0.06
"""Share of an MT patient's cabinet consultations done by a colleague of the practice."""

HEADER = (
    "invoice_id;date;time;practitioner_id;specialty;sector;patient_id;birth_date;ald;palliative;"
    "neurodegenerative;mt_status;declares_mt;place;homebound;codes;amount;regulated;referral_at;status;c2s"
).split(";")

TARIFFS: dict[str, list[tuple[dt.date, str]]] = {
    "G": [(dt.date(2017, 5, 1), "25.00"), (dt.date(2023, 11, 1), "26.50"), (dt.date(2024, 12, 22), "30.00")],
    "VG": [(dt.date(2017, 5, 1), "25.00"), (dt.date(2023, 11, 1), "26.50"), (dt.date(2024, 12, 22), "30.00")],
    "TCG": [(dt.date(2018, 9, 15), "25.00")],
    "IMT": [(dt.date(2023, 5, 15), "60.00")],
    "VL": [(dt.date(2017, 5, 1), "60.00")],
    "VSP": [(dt.date(2023, 11, 1), "60.00")],
    "MD": [(dt.date(2017, 5, 1), "10.00")],
    "MEG": [(dt.date(2017, 5, 1), "5.00")],
    "SNP": [(dt.date(2022, 12, 9), "15.00")],
    "MOP": [(dt.date(2024, 1, 1), "5.00")],
}
"""Tariffs by date, as in ``billing_rules/builtin/ngap/tariffs.rules``."""

HOLIDAYS = {
    dt.date.fromisoformat(day)
    for day in (
        "2023-01-01 2023-04-10 2023-05-01 2023-05-08 2023-05-18 2023-05-29 2023-07-14 2023-08-15 "
        "2023-11-01 2023-11-11 2023-12-25 2024-01-01 2024-04-01 2024-05-01 2024-05-08 2024-05-09 "
        "2024-05-20 2024-07-14 2024-08-15 2024-11-01 2024-11-11 2024-12-25 2025-01-01 2025-04-21 "
        "2025-05-01 2025-05-08 2025-05-29 2025-06-09 2025-07-14 2025-08-15 2025-11-01 2025-11-11 "
        "2025-12-25"
    ).split()
}
"""French public holidays 2023-2025: no act is billed on them (nor on weekends)."""

PALLIATIVE_ONSET = {
    "P1102": dt.date(2025, 9, 15),
    "P0483": dt.date(2025, 6, 2),
    "P1938": dt.date(2025, 10, 1),
    "P2233": dt.date(2025, 11, 3),
}
"""Week patients in palliative care: when it began (their earlier invoices say ``palliative=non``)."""

HOME_PATIENTS = {
    "P0100",
    "P0270",
    "P0624",
    "P0892",
    "P1969",
    "P2220",
    "P0572",
    "P2200",
    "P0369",
    "P1938",
    "P0483",
    "P2175",
}
"""Week MT patients whom their doctor visits at home (EHPAD or domicile)."""
EHPAD_PATIENTS = {"P0270", "P0624", "P0892", "P0572", "P1938", "P0483"}
SPECIAL = {"P1882", "P0057"}
"""Week patients whose history is written by hand (:meth:`History.deliberate_cases`)."""

DELIBERATE: list[tuple[str, str]] = []
"""(invoice_id, rule) of every deliberate error or warning, filled by :func:`build`."""

CABINET_SLOTS = [
    f"{h:02d}:{m:02d}"
    for h in range(8, 20)
    for m in (0, 20, 40)
    if (8, 20) <= (h, m) <= (19, 20) and not (12, 20) <= (h, m) <= (13, 40)
]
HOME_SLOTS = ["12:30", "12:50", "13:10", "13:30", "13:50"]


def tariff(code: str, day: dt.date) -> Decimal:
    """The tariff of ``code`` in force on ``day``."""
    rows = [amount for start, amount in TARIFFS[code] if start <= day]
    if not rows:
        raise ValueError(f"{code} does not exist on {day}")
    return Decimal(rows[-1])


def price(codes: str, day: dt.date) -> str:
    """The compliant amount of an invoice."""
    return str(sum((tariff(code, day) for code in codes.split("+")), Decimal("0")))


def age_on(birth: dt.date, day: dt.date) -> int:
    """Whole years on ``day``."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


class Patient:
    """A patient of the practice and how their doctor sees them."""

    def __init__(
        self,
        pid: str,
        birth: dt.date,
        *,
        ald: bool = False,
        neuro: bool = False,
        homebound: bool = False,
        c2s: bool = False,
        week: bool = False,
    ) -> None:
        self.pid = pid
        self.birth = birth
        self.ald = ald
        self.neuro = neuro
        self.homebound = homebound
        self.c2s = c2s
        self.week = week
        self.palliative_from: dt.date | None = PALLIATIVE_ONSET.get(pid)
        self.home = False
        self.ehpad = False

    def palliative(self, day: dt.date) -> bool:
        return self.palliative_from is not None and day >= self.palliative_from


@dataclasses.dataclass
class Act:
    """One invoice being made (its time and number come last)."""

    date: dt.date
    practitioner: str
    patient: Patient
    codes: str
    mt: str
    declares: bool = False
    place: str = "cabinet"
    snp: bool = False
    amount: str = ""
    status: str = "billed"
    time: str = ""
    error: str = ""
    replaces: Act | None = None


class History:
    """The generator: patients, their acts, then times and invoice numbers."""

    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        every_day = (FIRST + dt.timedelta(days=n) for n in range((LAST - FIRST).days + 1))
        self.days = [day for day in every_day if day.weekday() < 5 and day not in HOLIDAYS]
        self.acts: list[Act] = []
        self.load: dict[tuple[str, dt.date, bool], int] = {}
        self.vl_quarters: set[tuple[str, int, int]] = set()
        self.used_ids: set[str] = set()
        self.free_ids: list[str] = []

    # ---- helpers
    def poisson(self, mean: float) -> int:
        limit, k, p = math.exp(-mean), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    def day_between(
        self, start: dt.date, end: dt.date, practitioner: str, home: bool = False
    ) -> dt.date | None:
        """A random working day in [start, end] on which the practitioner still has a slot."""
        low, high = bisect_left(self.days, start), bisect_right(self.days, end)
        if low >= high:
            return None
        # One slot is left free for the acts written by hand (palliative rounds, deliberate cases).
        capacity = (len(HOME_SLOTS) if home else len(CABINET_SLOTS)) - 1
        for _ in range(20):
            day = self.days[self.rng.randrange(low, high)]
            if self.load.get((practitioner, day, home), 0) < capacity:
                return day
        return None

    def new_id(self) -> str:
        return self.free_ids.pop()

    def add(
        self,
        practitioner: str,
        patient: Patient,
        day: dt.date,
        codes: str,
        mt: str,
        *,
        declares: bool = False,
        place: str = "cabinet",
        snp: bool = False,
    ) -> Act:
        home = place in ("domicile", "ehpad")
        self.load[(practitioner, day, home)] = self.load.get((practitioner, day, home), 0) + 1
        if "VL" in codes.split("+"):
            self.vl_quarters.add((patient.pid, day.year, (day.month - 1) // 3))
        act = Act(day, practitioner, patient, codes, mt, declares, place, snp, price(codes, day))
        self.acts.append(act)
        return act

    def consultation(self, patient: Patient, day: dt.date, *, mop: bool, forget: float = 0.1) -> str:
        """Codes of a cabinet consultation: G, with MEG under 6, MOP for an 80+ non-MT patient."""
        codes = "G"
        age = age_on(patient.birth, day)
        if age < 6 and self.rng.random() > forget:
            codes += "+MEG"
        if mop and age >= 80 and day >= dt.date(2024, 1, 1) and self.rng.random() > forget:
            codes += "+MOP"
        return codes

    # ---- patients
    def week_patients(self) -> dict[str, list[Patient]]:
        """Week patients by MT practitioner (``outside`` for another doctor)."""
        with WEEK.open(encoding="utf-8") as stream:
            rows = sorted(csv.DictReader(stream, delimiter=";"), key=lambda r: (r["date"], r["time"]))
        first: dict[str, dict[str, str]] = {}
        for row in rows:
            self.used_ids.add(row["patient_id"])
            first.setdefault(row["patient_id"], row)
        status = {
            pid: row["practitioner_id"] if row["mt_status"] == "self" else row["mt_status"]
            for pid, row in first.items()
        }
        # ``other`` for one doctor of the practice may mean the MT is a colleague who bills ``self``.
        for row in rows:
            if row["mt_status"] == "self" and status[row["patient_id"]] == "other":
                status[row["patient_id"]] = row["practitioner_id"]
        groups: dict[str, list[Patient]] = {}
        for pid, row in first.items():
            role = status[pid]
            if (
                role in ("none", "unknown")
                or pid in SPECIAL
                or (row["palliative"] == "oui" and role == "other")
            ):
                continue
            patient = Patient(
                pid,
                dt.date.fromisoformat(row["birth_date"]),
                ald=row["ald"] == "oui",
                neuro=row["neurodegenerative"] == "oui",
                homebound=row["homebound"] == "oui",
                week=True,
            )
            patient.home = pid in HOME_PATIENTS
            patient.ehpad = pid in EHPAD_PATIENTS
            groups.setdefault("outside" if role == "other" else role, []).append(patient)
        return groups

    def extra_patient(self, kind: str, born_after: dt.date | None = None) -> Patient:
        """A patient who is not in the week file, of one kind (child, ald, old...)."""
        rng = self.rng

        def born(year: int, span: int) -> dt.date:
            return dt.date(year, 1, 1) + dt.timedelta(days=rng.randrange(0, span * 365))

        if kind == "newborn":
            assert born_after is not None
            birth = born_after + dt.timedelta(days=rng.randrange(0, 300))
        else:
            birth = {
                "child": lambda: born(2017, 6),
                "old": lambda: born(1928, 15),
                "old_ald": lambda: born(1928, 15),
                "young": lambda: born(1985, 20),
                "ald": lambda: born(1940, 60),
                "neuro": lambda: born(1935, 25),
            }.get(kind, lambda: born(1944, 72))()
        ald = kind in ("ald", "old_ald", "neuro")
        patient = Patient(self.new_id(), birth, ald=ald, neuro=kind == "neuro", c2s=rng.random() < 0.09)
        old = age_on(patient.birth, LAST) >= 80
        patient.home = kind == "neuro" or (old and rng.random() < (0.6 if ald else 0.3))
        patient.ehpad = patient.home and rng.random() < 0.4
        patient.homebound = patient.home
        return patient

    def random_kind(self) -> str:
        roll = self.rng.random()
        for kind, share in (
            ("child", 0.07),
            ("ald", 0.19),
            ("old", 0.08),
            ("old_ald", 0.06),
            ("neuro", 0.01),
        ):
            if roll < share:
                return kind
            roll -= share
        return "adult"

    # ---- acts of one MT patient
    def follow(
        self, practitioner: str, patient: Patient, start: dt.date | None, join_mt: str = "none"
    ) -> None:
        """Every act of an MT patient of ``practitioner`` from ``start`` (None: MT before 2023)."""
        rng = self.rng
        colleagues = [dr for dr in SECTORS if dr != practitioner]
        first = max(start or FIRST, FIRST, patient.birth + dt.timedelta(days=25))
        if start is not None:
            first_day = self.day_between(
                first, first + dt.timedelta(days=20), practitioner, home=patient.home
            )
            if first_day is None:
                return
            self.join(practitioner, patient, first_day, join_mt)
            first = first_day + dt.timedelta(days=1)
        for year in YEARS:
            low, high = max(first, dt.date(year, 1, 1)), dt.date(year, 12, 31)
            if low > high:
                continue
            age = age_on(patient.birth, high)
            if patient.home:
                mean = 5.0
            elif patient.ald or age >= 80:
                mean = 2.6
            elif age < 2:
                mean = 4.0
            elif age < 7:
                mean = 1.8
            else:
                mean = 0.75
            visits = self.poisson(mean * ((high - low).days + 1) / 365)
            if year == 2023 and start is None:
                visits = max(visits, 1)
            if patient.home:
                self.home_year(practitioner, patient, year, low, high, visits)
                continue
            for _ in range(visits):
                day = self.day_between(low, high, practitioner)
                if day is None:
                    continue
                if patient.palliative(day):
                    self.add(practitioner, patient, day, "VSP+MD", "self", place="domicile")
                elif rng.random() < REPLACEMENT:
                    other = rng.choice(colleagues)
                    self.add(other, patient, day, self.consultation(patient, day, mop=True), "other")
                elif age_on(patient.birth, day) >= 16 and rng.random() < 0.08:
                    self.add(practitioner, patient, day, "TCG", "self", place="tele")
                else:
                    self.add(practitioner, patient, day, self.consultation(patient, day, mop=False), "self")

    def home_year(
        self, practitioner: str, patient: Patient, year: int, low: dt.date, high: dt.date, visits: int
    ) -> None:
        """Home patients: one VL a quarter when the VL is due (80+ in ALD, or neurodegenerative)."""
        place = "ehpad" if patient.ehpad else "domicile"
        days: list[dt.date] = []
        for quarter in range(4):
            q_start = dt.date(year, 3 * quarter + 1, 1)
            q_end = dt.date(year + (quarter == 3), (3 * quarter + 3) % 12 + 1, 1) - dt.timedelta(days=1)
            if max(low, q_start) <= min(high, q_end):
                days.append(self.day_between(max(low, q_start), min(high, q_end), practitioner, home=True))
        days += [self.day_between(low, high, practitioner, home=True) for _ in range(max(0, visits - 4))]
        for day in sorted(day for day in days if day is not None):
            quarter = (day.month - 1) // 3
            due = patient.neuro or (patient.ald and age_on(patient.birth, day) >= 80)
            if patient.palliative(day):
                codes = "VSP+MD"
            elif due and (patient.pid, year, quarter) not in self.vl_quarters and self.rng.random() < 0.92:
                codes = "VL+MD"  # the first visit of the quarter; about one quarter in 12 is forgotten
            else:
                codes = "VG+MD"
            self.add(practitioner, patient, day, codes, "self", place=place)
            self.vl_quarters.add((patient.pid, year, quarter))

    def join(self, practitioner: str, patient: Patient, day: dt.date, before: str) -> None:
        """The act at which the patient declares ``practitioner`` MT."""
        age = age_on(patient.birth, day)
        if patient.home and (patient.ald or age >= 80):
            patient.homebound = True
            # At exactly 80 without ALD the texts' "plus de 80 ans" leaves the VL in doubt
            # (VL-FIRST-AGE): the practice bills the visit, as a careful one would.
            doubtful = not patient.ald and age == 80
            self.add(
                practitioner,
                patient,
                day,
                "VG+MD" if doubtful else "VL+MD",
                before,
                declares=True,
                place="ehpad" if patient.ehpad else "domicile",
            )
        elif patient.ald and before == "none" and day >= dt.date(2023, 5, 15):
            self.add(practitioner, patient, day, "IMT", before, declares=True)
        else:
            self.add(
                practitioner, patient, day, self.consultation(patient, day, mop=False), before, declares=True
            )

    # ---- the whole practice
    def build(self) -> list[list[str]]:
        rng = self.rng
        groups = self.week_patients()
        pool = [f"P{n:04d}" for n in range(1, 5000) if f"P{n:04d}" not in self.used_ids]
        rng.shuffle(pool)
        self.free_ids = pool
        patients_of: dict[str, list[Patient]] = {}
        for practitioner in SECTORS:
            mine = list(groups.get(practitioner, []))
            for patient in mine:
                # Some week patients became MT patients during the history; babies after birth.
                joined = None
                if patient.birth > FIRST - dt.timedelta(days=60):
                    joined = patient.birth + dt.timedelta(days=30)
                elif rng.random() < 0.12:
                    joined = rng.choice(self.days[:-120])
                self.follow(practitioner, patient, joined, "none" if rng.random() < 0.7 else "other")
            while len(mine) < PATIENTELE[practitioner]:
                patient = self.extra_patient(self.random_kind())
                mine.append(patient)
                self.follow(practitioner, patient, None)
            for year in YEARS:
                for _ in range(NEW_MT_PER_YEAR[practitioner]):
                    kind = self.random_kind()
                    start = rng.choice([day for day in self.days if day.year == year])
                    if kind == "child" and rng.random() < 0.5:
                        patient = self.extra_patient("newborn", born_after=start - dt.timedelta(days=330))
                        start = patient.birth + dt.timedelta(days=30)
                    else:
                        patient = self.extra_patient(kind)
                    self.follow(practitioner, patient, start, "none" if rng.random() < 0.7 else "other")
                    mine.append(patient)
                for _ in range(NEWBORNS_PER_YEAR[practitioner]):
                    patient = self.extra_patient("newborn", born_after=dt.date(year - 1, 12, 1))
                    self.follow(practitioner, patient, patient.birth + dt.timedelta(days=30))
                    mine.append(patient)
            patients_of[practitioner] = mine
        self.outside(groups.get("outside", []))
        self.transfers(patients_of)
        self.regulated()
        self.palliative_patients()
        self.deliberate_cases()
        self.cancellations()
        self.deliberate_errors()
        return self.rows()

    def outside(self, week_outside: list[Patient]) -> None:
        """Patients of outside doctors, or without MT, seen now and then."""
        rng = self.rng
        for patient in week_outside:
            for _ in range(rng.randrange(0, 3)):
                practitioner = rng.choice(list(SECTORS))
                day = self.day_between(max(FIRST, patient.birth + dt.timedelta(days=25)), LAST, practitioner)
                if day is not None:
                    self.add(practitioner, patient, day, self.consultation(patient, day, mop=True), "other")
        for practitioner in SECTORS:
            for year in YEARS:
                for _ in range(OUTSIDE_PER_YEAR):
                    no_mt = rng.random() < 0.25
                    patient = self.extra_patient(
                        "young" if no_mt else rng.choice(["adult", "adult", "old", "child"])
                    )
                    low = max(dt.date(year, 1, 1), patient.birth + dt.timedelta(days=25))
                    for _ in range(1 + (rng.random() < 0.3)):
                        day = self.day_between(low, dt.date(year, 12, 31), practitioner)
                        if day is not None:
                            codes = self.consultation(patient, day, mop=True)
                            self.add(practitioner, patient, day, codes, "none" if no_mt else "other")

    def transfers(self, patients_of: dict[str, list[Patient]]) -> None:
        """A few extra patients change MT within the practice (they declare a colleague)."""
        rng = self.rng
        for practitioner, mine in patients_of.items():
            movers = [p for p in mine if not p.week and not p.home and age_on(p.birth, FIRST) >= 18]
            for patient in rng.sample(movers, 3):
                colleague = rng.choice([dr for dr in SECTORS if dr != practitioner])
                day = self.day_between(dt.date(2024, 1, 1), dt.date(2025, 6, 30), colleague)
                if day is None:
                    continue
                # From the change on, the patient sees the new MT only.
                self.acts = [act for act in self.acts if not (act.patient is patient and act.date >= day)]
                self.add(
                    colleague,
                    patient,
                    day,
                    self.consultation(patient, day, mop=False),
                    "other",
                    declares=True,
                )
                for _ in range(rng.randrange(1, 4)):
                    later = self.day_between(day + dt.timedelta(days=1), LAST, colleague)
                    if later is not None:
                        self.add(
                            colleague, patient, later, self.consultation(patient, later, mop=False), "self"
                        )

    def regulated(self) -> None:
        """Patients sent by the SAS / centre 15: G+SNP, out of the MT patientèle, within 48 h."""
        rng = self.rng
        for practitioner, per_year in SNP_PER_YEAR.items():
            for year in YEARS:
                for _ in range(per_year):
                    patient = self.extra_patient(rng.choice(["young", "young", "adult", "adult", "child"]))
                    low = max(dt.date(year, 1, 1), patient.birth + dt.timedelta(days=25))
                    day = self.day_between(low, dt.date(year, 12, 31), practitioner)
                    if day is None:
                        continue
                    codes = self.consultation(patient, day, mop=True).replace("G", "G+SNP", 1)
                    mt = "other" if rng.random() < 0.75 else "none"
                    self.add(practitioner, patient, day, codes, mt, snp=True)

    def palliative_patients(self) -> None:
        """Extra palliative patients at home: VL before 2023-11-01, VSP after, until they die."""
        for practitioner, start, end, birth in (
            (DR_A, dt.date(2023, 8, 1), dt.date(2024, 2, 20), dt.date(1951, 3, 2)),
            (DR_B, dt.date(2024, 4, 2), dt.date(2024, 10, 15), dt.date(1958, 9, 30)),
            (DR_C, dt.date(2025, 2, 3), dt.date(2025, 7, 10), dt.date(1949, 12, 1)),
        ):
            patient = Patient(self.new_id(), birth, ald=True, homebound=True)
            patient.palliative_from = start
            day = start
            while day <= end:
                if day in HOLIDAYS or day.weekday() >= 5:
                    day += dt.timedelta(days=1)
                    continue
                codes = "VSP+MD" if day >= dt.date(2023, 11, 1) else "VL+MD"
                if practitioner == DR_A and dt.date(2023, 11, 6) <= day < dt.date(2023, 11, 20):
                    codes = "VL+MD"  # the software still proposed VL the first weeks
                act = self.add(practitioner, patient, day, codes, "self", place="domicile")
                if codes == "VL+MD" and day >= dt.date(2023, 11, 1):
                    act.error = "VL-PALLIATIVE"
                day += dt.timedelta(days=self.rng.randrange(6, 15))

    def deliberate_cases(self) -> None:
        """The history that changes the week's report (module docstring)."""
        p1882 = Patient("P1882", dt.date(1967, 5, 25), ald=True, week=True)
        self.add(DR_B, p1882, dt.date(2023, 9, 19), "G", "none")
        self.add(DR_B, p1882, dt.date(2024, 1, 23), "G", "none")
        self.add(DR_B, p1882, dt.date(2024, 3, 12), "IMT", "none", declares=True)
        for day in ("2024-06-18", "2024-10-08", "2025-01-14", "2025-04-15", "2025-09-09", "2025-11-25"):
            self.add(DR_B, p1882, dt.date.fromisoformat(day), "G", "self")
        p0057 = Patient("P0057", dt.date(1964, 8, 12), ald=True, week=True)
        self.add(DR_B, p0057, dt.date(2025, 6, 24), "G", "none")
        self.add(DR_B, p0057, dt.date(2025, 10, 21), "G", "none")
        # An ALD patient without MT whom Dr A saw 3 times in 2025: a lever of the 2025 forfait.
        lever = Patient(self.new_id(), dt.date(1971, 2, 14), ald=True)
        for day in ("2025-03-11", "2025-07-08", "2025-11-18"):
            self.add(DR_A, lever, dt.date.fromisoformat(day), "G", "none")

    def cancellations(self) -> None:
        """About one invoice a month is cancelled and billed again (a visit entered for a consultation)."""
        plain = [act for act in self.acts if act.codes == "G" and act.mt == "self" and not act.declares]
        for act in self.rng.sample(plain, 36):
            wrong = dataclasses.replace(
                act, codes="VG+MD", amount=price("VG+MD", act.date), status="cancelled"
            )
            wrong.replaces = act
            self.acts.append(wrong)

    def deliberate_errors(self) -> None:
        """The few errors the practice really made (module docstring)."""
        for act in self.acts:
            codes = set(act.codes.split("+"))
            if act.status != "billed" or not codes & {"G", "VG"}:
                continue
            if act.practitioner == DR_B and dt.date(2023, 11, 1) <= act.date <= dt.date(2023, 11, 7):
                act.amount = str(Decimal(act.amount) - Decimal("1.50"))  # G at 25 € instead of 26,50 €
                act.error = "AMOUNT-BELOW"
            if act.practitioner == DR_A and dt.date(2024, 12, 22) <= act.date <= dt.date(2024, 12, 31):
                act.amount = str(Decimal(act.amount) - Decimal("3.50"))  # G at 26,50 € instead of 30 €
                act.error = "AMOUNT-BELOW"
        own_old = [
            act
            for act in self.acts
            if act.practitioner == DR_C
            and act.codes == "G"
            and act.mt == "self"
            and act.status == "billed"
            and dt.date(2024, 2, 1) <= act.date <= dt.date(2024, 2, 29)
            and age_on(act.patient.birth, act.date) >= 80
        ]
        for act in sorted(own_old, key=lambda act: (act.date, act.patient.pid))[:2]:
            act.codes, act.amount, act.error = "G+MOP", price("G+MOP", act.date), "MOP-MT"
        visits = [
            act
            for act in self.acts
            if act.practitioner == DR_B
            and act.codes == "VL+MD"
            and act.mt == "self"
            and dt.date(2024, 7, 1) <= act.date <= dt.date(2024, 9, 15)
            and act.date + dt.timedelta(days=14) not in HOLIDAYS
        ]
        first = min(visits, key=lambda act: (act.date, act.patient.pid))
        second = self.add(
            DR_B, first.patient, first.date + dt.timedelta(days=14), "VL+MD", "self", place=first.place
        )
        second.error = "VL-QUARTER"
        own = [
            act
            for act in self.acts
            if act.practitioner == DR_D
            and act.codes == "G"
            and act.mt == "self"
            and act.status == "billed"
            and act.date.year == 2025
            and not act.error
        ]
        act = sorted(own, key=lambda act: (act.date, act.patient.pid))[len(own) // 2]
        act.codes, act.amount, act.snp, act.error = "G+SNP", price("G+SNP", act.date), True, "SNP-MT"
        changing = Patient(self.new_id(), dt.date(1962, 4, 3), ald=True)
        self.add(DR_C, changing, dt.date(2024, 9, 24), "IMT", "other", declares=True).error = "IMT-MT"
        self.add(DR_C, changing, dt.date(2025, 2, 11), "G", "self")

    # ---- output
    def rows(self) -> list[list[str]]:
        rng = self.rng
        by_day: dict[tuple[str, dt.date], list[Act]] = {}
        for act in self.acts:
            if act.replaces is None:
                by_day.setdefault((act.practitioner, act.date), []).append(act)
        for (_, _), acts in sorted(by_day.items()):
            home = [act for act in acts if act.place in ("domicile", "ehpad")]
            cabinet = [act for act in acts if act.place not in ("domicile", "ehpad")]
            if len(home) > len(HOME_SLOTS) or len(cabinet) > len(CABINET_SLOTS):
                raise RuntimeError("too many acts in one day")
            for act, slot in zip(home, HOME_SLOTS, strict=False):
                act.time = slot
            for act, slot in zip(cabinet, sorted(rng.sample(CABINET_SLOTS, len(cabinet))), strict=True):
                act.time = slot
        for act in self.acts:
            if act.replaces is not None:
                act.time = act.replaces.time
        self.acts.sort(key=lambda act: (act.date, act.time, act.practitioner, act.status != "cancelled"))
        yes = {True: "oui", False: "non"}
        rows = []
        count: dict[int, int] = {}
        DELIBERATE.clear()
        for act in self.acts:
            day, patient = act.date, act.patient
            count[day.year] = count.get(day.year, 0) + 1
            invoice_id = f"H-{day.year}-{count[day.year]:05d}"
            referral = ""
            if act.snp:
                moment = dt.datetime.combine(day, dt.time.fromisoformat(act.time))
                referral = (moment - dt.timedelta(minutes=rng.randrange(25, 300, 5))).isoformat()[:16]
            if act.error:
                DELIBERATE.append((invoice_id, act.error))
            rows.append(
                [
                    invoice_id,
                    day.isoformat(),
                    act.time,
                    act.practitioner,
                    "MG",
                    SECTORS[act.practitioner],
                    patient.pid,
                    patient.birth.isoformat(),
                    yes[patient.ald],
                    yes[patient.palliative(day)],
                    yes[patient.neuro],
                    act.mt,
                    yes[act.declares],
                    act.place,
                    yes[patient.homebound],
                    act.codes,
                    act.amount,
                    yes[act.snp],
                    referral,
                    act.status,
                    yes[patient.c2s],
                ]
            )
        return rows


def build() -> str:
    """The history file's text (seeded: the same every run)."""
    rows = History().build()
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue()


def main(argv: list[str]) -> None:
    target = Path(argv[1]) if len(argv) > 1 else OUTPUT
    text = build()
    target.write_text(text, encoding="utf-8")
    print(f"{target}: {text.count(chr(10)) - 1} factures, {len(DELIBERATE)} erreurs volontaires")


if __name__ == "__main__":
    main(sys.argv)
