"""What the MT patientèle earns in a year, and what would make it earn more (SPEC §6).

The forfait médecin traitant is paid on the patientèle observed on 31 December: this module counts
that patientèle by category, prices it with the forfait rows in force that year (FPMT until 2025,
FMT from 2026, see :mod:`billing_rules.domain.forfait.tables`), scales ROSP points for the years
that still had a ROSP, answers "what would N more ALD (or 80+) patients bring", and lists the
concrete patients behind those levers from the invoice history. Everything here works on plain
values (patients, events), so the same code serves a patient list file, the ledger and embedding software.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from billing_rules.domain.forfait.tables import (
    C2S_CODE,
    CATEGORIES,
    RATE_MAJORATIONS,
    ForfaitTables,
    PractitionerFacts,
    not_seen_since,
)
from billing_rules.model import Event, MtStatus, Place, age_on
from billing_rules.money import format_euros, round_cents

ROSP_REFERENCE_PATIENTELE = 800
"""ROSP points are defined for a patientèle of 800 MT patients (SEED-000)."""

ROSP_POINT_VALUE = Decimal("7")
"""Euros per ROSP point (SEED-000, SEED-004)."""

ROSP_LAST_YEAR = 2025
"""The 2025 activity is the last one paid as ROSP; the FMT's prevention part replaces it."""

FMT_FIRST_YEAR = 2026
"""The FMT replaces the FPMT (and the ROSP) from the 2026 exercise."""

CATEGORY_LABELS: dict[str, str] = {
    "child_0_6": "Enfants de 0 à 6 ans hors ALD",
    "adult_7_79": "Patients de 7 à 79 ans hors ALD",
    "adult_7_74": "Patients de 7 à 74 ans hors ALD",
    "adult_75_79": "Patients de 75 à 79 ans hors ALD",
    "over_80": "Patients de 80 ans et plus hors ALD",
    "ald_under_80": "Patients en ALD de moins de 80 ans",
    "ald_80_plus": "Patients en ALD de 80 ans et plus",
    "not_seen_2_years": "Patients MT non vus depuis 2 ans",
}

MAJORATION_LABELS: dict[str, str] = {
    "c2s": "Majoration C2S",
    "age_67_or_zip": "Majoration médecin de 67 ans et plus ou en ZIP",
    "zip_first_installation_year_1": "Majoration première installation en ZIP (1re année)",
    "zip_first_installation_year_2": "Majoration première installation en ZIP (2e année)",
}
"""How each FMT majoration is named for people."""
"""How each SPEC §6 category is named for people."""

CONSULTATION_CODES = frozenset({"G", "GS", "C", "CS", "APC", "TCG", "TC", "IMT", "GL1", "GL2", "GL3"})
VISIT_CODES = frozenset({"V", "VG", "VL", "VSP"})
_PLAIN_VISITS = ("VG", "V")
_HOME = (Place.DOMICILE, Place.EHPAD)
VL_CASE_A_START = dt.date(2022, 4, 1)
"""Avenant 9: from this day, VL for the MT's own patients aged 80+ in ALD (one per quarter)."""


@attrs.frozen
class Patient:
    """One patient of the MT patientèle as the forfait sees it."""

    patient_id: str
    birth_date: dt.date
    ald: bool = False
    c2s: bool = False
    #: Date of the patient's latest invoice from the practitioner, when known (FMT: not seen 2 years).
    last_seen: dt.date | None = None


@attrs.frozen
class CategoryLine:
    """One category of the estimate: how many patients, at how much each."""

    category: str
    label: str
    patients: int
    amount_per_patient: Decimal
    total: Decimal
    settled: bool
    source: str | None


@attrs.frozen
class MajorationLine:
    """One FMT majoration, shown as its own line: per C2S patient, or a rate of the categories' total."""

    name: str
    label: str
    total: Decimal
    settled: bool
    source: str | None
    patients: int | None = None
    amount_per_patient: Decimal | None = None
    rate: Decimal | None = None
    base: Decimal | None = None


@attrs.frozen
class RospEstimate:
    """The yearly value of ROSP points for a patientèle (years ≤ 2025)."""

    points: Decimal
    patientele: int
    scale: Decimal
    value: Decimal


@attrs.frozen
class WhatIf:
    """What ``patients`` more patients of ``category`` would bring per year."""

    lever: str
    patients: int
    category: str
    amount_per_patient: Decimal
    forfait_gain: Decimal
    rosp_gain: Decimal
    total: Decimal
    settled: bool


@attrs.frozen
class Candidate:
    """A concrete patient behind a lever: the act to bill and what it brings."""

    kind: str
    patient_id: str
    practitioner_id: str
    date: dt.date
    act: str
    amount: Decimal
    yearly: Decimal
    message: str
    invoices: tuple[str, ...] = ()


@attrs.frozen
class ForfaitEstimate:
    """The yearly forfait of one patientèle, its levers and the notes a reader must see."""

    year: int
    scheme: str
    patients: int
    categories: tuple[CategoryLine, ...]
    c2s_patients: int
    c2s_total: Decimal
    total: Decimal
    settled: bool
    notes: tuple[str, ...]
    ignored: int = 0
    rosp: RospEstimate | None = None
    what_if: tuple[WhatIf, ...] = ()
    candidates: tuple[Candidate, ...] = ()
    majorations: tuple[MajorationLine, ...] = ()


class EstimateError(ValueError):
    """The estimate cannot be made (no forfait table for the year...); the message is French."""


def rosp_scale(patientele: int, *, floor: bool = True) -> Decimal:
    """``max(1, patientèle / 800)``, the seed formula.

    ``floor=False`` scales small patientèles down too, as a 2020 press article suggests
    (ngap-facts §2.3, UNCERTAIN); the seed's floor is the default.
    """
    ratio = Decimal(patientele) / Decimal(ROSP_REFERENCE_PATIENTELE)
    return max(Decimal(1), ratio) if floor else ratio


def rosp_value(points: Decimal | int, patientele: int, *, floor: bool = True) -> Decimal:
    """Euros of ``points`` ROSP points: points × max(1, patientèle/800) × 7 € (SEED-000)."""
    return round_cents(Decimal(points) * rosp_scale(patientele, floor=floor) * ROSP_POINT_VALUE)


def _year_day(year: int) -> dt.date:
    return dt.date(year, 12, 31)


def estimate(
    tables: ForfaitTables,
    patients: Iterable[Patient],
    year: int,
    *,
    rosp_points: Decimal | int | None = None,
    what_if_ald: int = 0,
    what_if_80: int = 0,
    candidates: Sequence[Candidate] = (),
    practitioner: PractitionerFacts | None = None,
) -> ForfaitEstimate:
    """Price a patientèle with the forfait in force during ``year`` (ages on 31 December).

    ``practitioner`` (the configuration's facts about the doctor) sets the FMT rate majorations;
    they apply to the categories' total, C2S excluded, and add up (SPEC §6).

    Raises:
        EstimateError: no forfait row is in force that year, or a lever is negative.
    """
    day = _year_day(year)
    names = tables.categories_on(day)
    if not names:
        raise EstimateError(f"aucun barème de forfait médecin traitant pour l'année {year}")
    if what_if_ald < 0 or what_if_80 < 0:
        raise EstimateError("le nombre de patients d'un levier ne peut pas être négatif")
    counts: dict[str, int] = dict.fromkeys(names, 0)
    c2s = 0
    ignored = 0
    seen: set[str] = set()
    for patient in patients:
        if patient.patient_id in seen:
            continue
        seen.add(patient.patient_id)
        if patient.birth_date > day:
            ignored += 1
            continue
        category = tables.category(
            day=day, age=age_on(patient.birth_date, day), ald=patient.ald, last_seen=patient.last_seen
        )
        counts[category] = counts.get(category, 0) + 1
        c2s += patient.c2s
    lines = []
    for name in counts:
        amount = tables.amount(name, day) or Decimal("0")
        row = tables.row(CATEGORIES[name], day)
        lines.append(
            CategoryLine(
                category=name,
                label=CATEGORY_LABELS[name],
                patients=counts[name],
                amount_per_patient=amount,
                total=round_cents(amount * counts[name]),
                settled=tables.settled(CATEGORIES[name], day),
                source=row.source if row else None,
            )
        )
    # The table in force says which forfait it is (a simulation may price 2025 with the 2026 table).
    scheme = "FMT" if "adult_7_74" in names else "FPMT"
    notes: list[str] = []
    c2s_amount = tables.tariffs.on(C2S_CODE, day)
    c2s_total = round_cents((c2s_amount or 0) * c2s)
    if c2s and c2s_amount is None:
        notes.append(
            f"{c2s} patient(s) C2S : majoration de précarité non comptée (montant non établi par les "
            "sources pour cette année)"
        )
    base = sum((line.total for line in lines), Decimal("0"))
    majorations = _majorations(tables, day, c2s, c2s_amount, c2s_total, base, practitioner)
    total = round_cents(base + sum((line.total for line in majorations), Decimal("0")))
    counted = sum(counts.values())
    settled = all(line.settled for line in lines if line.patients) and all(
        line.settled for line in majorations if line.total
    )
    if not settled:
        notes.append(
            "Montants non confirmés par un texte officiel (marqués « non confirmé ») : barème FMT 2026 "
            "tiré d'une source secondaire, à vérifier dans la convention (art. 21 et annexes)"
        )
    if scheme == "FPMT":
        notes.append("Forfait versé aux médecins de secteur 1 ou de secteur 2 adhérant à l'OPTAM")
    else:
        notes.append("Non compté : volet prévention (+5 € par indicateur validé et par patient)")
        if practitioner is None:
            notes.append(
                "Majorations ZIP / 67 ans et plus non comptées : renseignez birth_date, zip et installed_on "
                'du praticien dans la configuration ([practitioners."RPPS"])'
            )
    if ignored:
        notes.append(f"{ignored} patient(s) né(s) après le 31/12/{year} ignoré(s)")
    rosp = None
    if rosp_points is not None:
        if year > ROSP_LAST_YEAR:
            notes.append(
                f"ROSP : supprimée à partir de {FMT_FIRST_YEAR} (remplacée par le volet prévention du FMT)"
            )
        else:
            points = Decimal(rosp_points)
            rosp = RospEstimate(
                points=points,
                patientele=counted,
                scale=rosp_scale(counted),
                value=rosp_value(points, counted),
            )
    levers = []
    for lever, count, category in (("ald", what_if_ald, "ald_under_80"), ("over_80", what_if_80, "over_80")):
        if not count:
            continue
        per_patient = tables.amount(category, day) or Decimal("0")
        forfait_gain = round_cents(per_patient * count)
        rosp_gain = Decimal("0")
        if rosp is not None:
            rosp_gain = rosp_value(rosp.points, counted + count) - rosp.value
        levers.append(
            WhatIf(
                lever=lever,
                patients=count,
                category=category,
                amount_per_patient=per_patient,
                forfait_gain=forfait_gain,
                rosp_gain=rosp_gain,
                total=forfait_gain + rosp_gain,
                settled=tables.settled(CATEGORIES[category], day),
            )
        )
    return ForfaitEstimate(
        year=year,
        scheme=scheme,
        patients=counted,
        categories=tuple(lines),
        c2s_patients=c2s,
        c2s_total=c2s_total,
        total=total,
        settled=settled,
        notes=tuple(notes),
        ignored=ignored,
        rosp=rosp,
        what_if=tuple(levers),
        candidates=tuple(candidates),
        majorations=tuple(majorations),
    )


def _majorations(
    tables: ForfaitTables,
    day: dt.date,
    c2s: int,
    c2s_amount: Decimal | None,
    c2s_total: Decimal,
    base: Decimal,
    practitioner: PractitionerFacts | None,
) -> list[MajorationLine]:
    """The C2S line, then each rate majoration the doctor earns, in force on ``day``."""
    lines = []
    if c2s and c2s_amount is not None:
        row = tables.row(C2S_CODE, day)
        lines.append(
            MajorationLine(
                name="c2s",
                label=MAJORATION_LABELS["c2s"],
                total=c2s_total,
                settled=tables.settled(C2S_CODE, day),
                source=row.source if row else None,
                patients=c2s,
                amount_per_patient=c2s_amount,
            )
        )
    if practitioner is None:
        return lines
    for name in practitioner.majorations(day.year):
        rate = tables.rate(name, day)
        if rate is None:
            continue
        row = tables.row(RATE_MAJORATIONS[name], day)
        lines.append(
            MajorationLine(
                name=name,
                label=MAJORATION_LABELS[name],
                total=round_cents(base * rate),
                settled=tables.settled(RATE_MAJORATIONS[name], day),
                source=row.source if row else None,
                rate=rate,
                base=round_cents(base),
            )
        )
    return lines


# --------------------------------------------------------------------------------------------------
# The patientèle and the candidates, from the invoice history


def _billed(events: Iterable[Event], until: dt.date) -> list[Event]:
    kept = (event for event in events if not event.cancelled and event.date <= until)
    return sorted(kept, key=lambda event: event.sort_key)


def _becomes_mt(event: Event) -> bool:
    """After this invoice, the billing practitioner is the patient's MT."""
    return event.mt_status is MtStatus.SELF or event.declares_mt


def mt_patientele(events: Iterable[Event], practitioner_id: str, year: int) -> list[Patient]:
    """Patients whose MT is ``practitioner_id`` on 31 December of ``year``, from their invoices.

    The patient's latest invoice with the practitioner that knows the MT must say so (``mt_status``
    self, or a declaration at that act), and no later invoice may show another doctor becoming the
    MT. Age and ALD come from the latest invoice with the practitioner; C2S (an extra ``c2s``
    column) from the latest one whose export has that column.
    """
    until = _year_day(year)
    latest_own: dict[str, Event] = {}
    latest_status: dict[str, Event] = {}
    latest_other_mt: dict[str, Event] = {}
    # C2S comes from the latest invoice whose export has the column: a file without it (most
    # billing exports) says nothing about C2S and must not reset it.
    latest_c2s: dict[str, bool] = {}
    for event in _billed(events, until):
        if event.practitioner_id == practitioner_id:
            latest_own[event.patient_id] = event
            if event.extra and "c2s" in event.extra:
                latest_c2s[event.patient_id] = _c2s(event)
            # An invoice whose software did not know the MT (``unknown``) tells nothing either way.
            if event.mt_status is not MtStatus.UNKNOWN or event.declares_mt:
                latest_status[event.patient_id] = event
        elif _becomes_mt(event):
            latest_other_mt[event.patient_id] = event
    patients = []
    for patient_id, status in latest_status.items():
        if not _becomes_mt(status):
            continue
        other = latest_other_mt.get(patient_id)
        if other is not None and other.sort_key > status.sort_key:
            continue
        event = latest_own[patient_id]
        patients.append(
            Patient(
                patient_id=patient_id,
                birth_date=event.birth_date,
                ald=event.ald or event.neurodegenerative,
                c2s=latest_c2s.get(patient_id, False),
                last_seen=event.date,
            )
        )
    return sorted(patients, key=lambda patient: patient.patient_id)


def _c2s(event: Event) -> bool:
    value = event.extra.get("c2s") if event.extra else None
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in {"1", "true", "oui", "yes", "o", "vrai"}


def _tariff_gain(tables: ForfaitTables, new: str, old: Sequence[str], day: dt.date) -> Decimal:
    """Euros gained by billing ``new`` instead of ``old`` on ``day`` (never negative)."""
    gain = tables.tariffs.on(new, day) or Decimal("0")
    for code in old:
        gain -= tables.tariffs.on(code, day) or Decimal("0")
    return max(Decimal("0"), gain)


def _quarters(year: int, until: dt.date) -> list[tuple[int, dt.date, dt.date]]:
    result = []
    for quarter in range(1, 5):
        start = dt.date(year, 3 * quarter - 2, 1)
        end = (dt.date(year + (quarter == 4), (3 * quarter) % 12 + 1, 1)) - dt.timedelta(days=1)
        if start <= until:
            result.append((quarter, start, end))
    return result


def find_candidates(
    events: Iterable[Event],
    tables: ForfaitTables,
    practitioner_id: str,
    year: int,
    *,
    as_of: dt.date | None = None,
) -> list[Candidate]:
    """The patients behind the levers of ``practitioner_id`` in ``year``, from the invoice history.

    - ALD patients without MT seen 3 times or more in the 12 months ending ``as_of`` (the CPAM
      campaign "0 patient ALD sans MT"): IMT at the next consultation, then the yearly forfait;
    - own patients aged 80+ in ALD (or neurodegenerative ALD) with no VL in a quarter: one VL per
      quarter, recoding a plain home visit of that quarter when there was one;
    - palliative patients visited at home by their MT without VSP (from 2023-11-01).
    """
    year_end = _year_day(year)
    history = _billed(events, year_end)
    if as_of is None:
        # The history tells how far the year has gone: quarters not started yet are no lever.
        as_of = history[-1].date if history else year_end
    until = min(as_of, year_end)
    history = [event for event in history if event.date <= until]
    candidates: list[Candidate] = []
    candidates += _mt_declare_candidates(history, tables, practitioner_id, until)
    patientele = mt_patientele(history, practitioner_id, year)
    own = {patient.patient_id for patient in patientele}
    candidates += _vl_candidates(history, tables, practitioner_id, year, until, own)
    candidates += _vsp_candidates(history, tables, practitioner_id, year, own)
    candidates += _not_seen_candidates(patientele, tables, practitioner_id, year, until)
    order = {"mt_declare": 0, "vl_quarter": 1, "vsp": 2, "not_seen": 3}
    return sorted(candidates, key=lambda item: (order[item.kind], item.patient_id, item.date))


def _mt_declare_candidates(
    history: list[Event], tables: ForfaitTables, practitioner_id: str, until: dt.date
) -> list[Candidate]:
    start = _one_year_before(until)
    seen: dict[str, list[Event]] = defaultdict(list)
    latest: dict[str, Event] = {}
    for event in history:
        if event.practitioner_id != practitioner_id:
            continue
        latest[event.patient_id] = event
        if event.date > start and event.code_set & (CONSULTATION_CODES | VISIT_CODES):
            seen[event.patient_id].append(event)
    result = []
    for patient_id, visits in seen.items():
        last = latest[patient_id]
        ald = last.ald or last.neurodegenerative
        if len(visits) < 3 or not ald or last.mt_status is not MtStatus.NONE or last.declares_mt:
            continue
        act_gain = _tariff_gain(tables, "IMT", ("G",), until) if "IMT" in tables.tariffs else Decimal("0")
        age = age_on(last.birth_date, until)
        yearly = tables.amount_for(year=until.year, age=age, ald=True) or Decimal("0")
        result.append(
            Candidate(
                kind="mt_declare",
                patient_id=patient_id,
                practitioner_id=practitioner_id,
                date=last.date,
                act="IMT",
                amount=act_gain,
                yearly=yearly,
                message=(
                    f"Patient en ALD sans médecin traitant vu {len(visits)} fois en 12 mois : proposez-lui "
                    "de vous déclarer médecin traitant et facturez IMT à la consultation de déclaration"
                ),
                invoices=tuple(event.invoice_id for event in visits),
            )
        )
    return result


NOT_SEEN_WARNING_MONTHS = 22
"""An MT patient not seen for this long is a lever: two more months and the FMT pays 5 € for them."""


def _months_before(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` calendar months earlier (the month's last day when it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    last = (dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last))


def _not_seen_candidates(
    patientele: Sequence[Patient], tables: ForfaitTables, practitioner_id: str, year: int, until: dt.date
) -> list[Candidate]:
    """Own MT patients not seen for 22 months or more who would fall to the 5 € row on 31 December.

    The euros are what the year's forfait keeps by seeing them before then: their category's
    amount less the not-seen amount (FMT years only).
    """
    year_end = _year_day(year)
    low = tables.amount("not_seen_2_years", year_end)
    if low is None:
        return []
    threshold = _months_before(until, NOT_SEEN_WARNING_MONTHS)
    result = []
    for patient in patientele:
        last = patient.last_seen
        if last is None or last > threshold or not not_seen_since(last, year):
            continue
        normal = tables.category(day=year_end, age=age_on(patient.birth_date, year_end), ald=patient.ald)
        keeps = (tables.amount(normal, year_end) or Decimal("0")) - low
        if keeps <= 0:
            continue
        result.append(
            Candidate(
                kind="not_seen",
                patient_id=patient.patient_id,
                practitioner_id=practitioner_id,
                date=last,
                act="G",
                amount=Decimal("0"),
                yearly=keeps,
                message=(
                    f"Patient MT non vu depuis le {last:%d/%m/%Y} : à revoir avant le 31/12/{year}, sinon "
                    f"son forfait {year} passe à {format_euros(low)}"
                ),
            )
        )
    return result


def _one_year_before(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def _vl_candidates(
    history: list[Event],
    tables: ForfaitTables,
    practitioner_id: str,
    year: int,
    until: dt.date,
    own: set[str],
) -> list[Candidate]:
    by_patient: dict[str, list[Event]] = defaultdict(list)
    for event in history:
        by_patient[event.patient_id].append(event)
    result = []
    for patient_id in sorted(own):
        invoices = by_patient[patient_id]
        mine = [event for event in invoices if event.practitioner_id == practitioner_id]
        last = mine[-1]
        first_own = next((event.date for event in mine if _becomes_mt(event)), last.date)
        for quarter, start, end in _quarters(year, until):
            if end < VL_CASE_A_START or first_own > end:
                continue
            age = age_on(last.birth_date, min(end, until))
            if not (last.neurodegenerative or (last.ald and age >= 80)):
                continue
            if last.palliative and tables.tariffs.on("VSP", min(end, until)) is not None:
                continue  # VSP is the code for this patient (SPEC: OPP-VSP wins over OPP-VL)
            in_quarter = [event for event in invoices if start <= event.date <= end]
            if any("VL" in event.code_set for event in in_quarter):
                continue
            plain = [
                event
                for event in in_quarter
                if event.practitioner_id == practitioner_id
                and event.place in _HOME
                and event.code_set.intersection(_PLAIN_VISITS)
            ]
            if plain:
                visit = plain[0]
                old = tuple(code for code in visit.codes if code in _PLAIN_VISITS)
                amount = _tariff_gain(tables, "VL", old, visit.date)
                act = f"VL au lieu de {'+'.join(old)}"
                message = (
                    f"T{quarter} {year} : visite à domicile facturée sans VL alors qu'aucune VL n'a été "
                    "facturée ce trimestre"
                )
                day = visit.date
                invoice_ids: tuple[str, ...] = (visit.invoice_id,)
            else:
                day = min(end, until)
                amount = tables.tariffs.on("VL", day) or Decimal("0")
                act = "VL"
                message = (
                    f"T{quarter} {year} : aucune VL facturée pour ce patient de 80 ans et plus en ALD ; "
                    "une visite longue par trimestre est facturable si elle est médicalement justifiée"
                )
                invoice_ids = ()
            result.append(
                Candidate(
                    kind="vl_quarter",
                    patient_id=patient_id,
                    practitioner_id=practitioner_id,
                    date=day,
                    act=act,
                    amount=amount,
                    yearly=Decimal("0"),
                    message=message,
                    invoices=invoice_ids,
                )
            )
    return result


def _vsp_candidates(
    history: list[Event], tables: ForfaitTables, practitioner_id: str, year: int, own: set[str]
) -> list[Candidate]:
    visits: dict[str, list[Event]] = defaultdict(list)
    for event in history:
        if (
            event.practitioner_id == practitioner_id
            and event.date.year == year
            and event.palliative
            and event.place in _HOME
            and (event.mt_status is MtStatus.SELF or event.patient_id in own)
            and event.code_set.intersection(_PLAIN_VISITS)
            and not event.code_set & {"VSP", "VL"}
            and tables.tariffs.on("VSP", event.date) is not None
        ):
            visits[event.patient_id].append(event)
    result = []
    for patient_id, items in visits.items():
        amount = Decimal("0")
        for event in items:
            old = tuple(code for code in event.codes if code in _PLAIN_VISITS)
            amount += _tariff_gain(tables, "VSP", old, event.date)
        result.append(
            Candidate(
                kind="vsp",
                patient_id=patient_id,
                practitioner_id=practitioner_id,
                date=items[-1].date,
                act="VSP au lieu de VG",
                amount=amount,
                yearly=Decimal("0"),
                message=(
                    f"Patient en soins palliatifs : {len(items)} visite(s) à domicile facturée(s) sans VSP "
                    "(la VSP n'a pas de plafond)"
                ),
                invoices=tuple(event.invoice_id for event in items),
            )
        )
    return result


# --------------------------------------------------------------------------------------------------
# The patient list file (SPEC §6): patient_id, birth_date, ald, c2s


@attrs.frozen
class PatientRowError:
    """A bad field of the patient list, located like the input errors of ``check``."""

    line: int | None
    field: str
    message: str


def read_patients(
    path: str | Path, *, input_format: str | None = None
) -> tuple[list[Patient], list[PatientRowError]]:
    """Read a patient list (CSV with ``;`` or ``,``, UTF-8 or Windows-1252; JSON array; JSON Lines).

    Returns every readable patient and one error per bad field; a file without the required
    columns raises :class:`~billing_rules.errors.ReadError`.
    """
    from billing_rules.errors import ReadError

    name = str(path)
    kind = (input_format or Path(name).suffix.lstrip(".") or "csv").lower()
    with open(name, "rb") as stream:
        if kind == "csv" or kind == "txt":
            rows = list(_csv_rows(stream, name))
        elif kind == "json":
            rows = _json_rows(stream, name)
        elif kind == "jsonl":
            rows = _jsonl_rows(stream, name)
        else:
            raise ReadError(
                f"« {name} » : format de liste de patients inconnu « {kind} » (csv, json ou jsonl)"
            )
    patients: list[Patient] = []
    errors: list[PatientRowError] = []
    for line, values in rows:
        patient, found = _patient_from(values)
        errors += [PatientRowError(line=line, field=field, message=message) for field, message in found]
        if patient is not None:
            patients.append(patient)
    return patients, errors


def _csv_rows(stream: Any, name: str) -> Iterable[tuple[int | None, dict[str, Any]]]:
    import csv

    from billing_rules.errors import ReadError
    from billing_rules.readers.csv_reader import detect_delimiter, normalize_header
    from billing_rules.readers.encoding import TextSource

    text = TextSource(stream).text
    first = text.readline()
    if not first.strip():
        raise ReadError(f"« {name} » : fichier vide, la ligne d'en-tête manque")
    reader = csv.reader([first], delimiter=detect_delimiter(first))
    header = [normalize_header(cell) for cell in next(reader)]
    missing = [column for column in ("patient_id", "birth_date") if column not in header]
    if missing:
        raise ReadError(f"« {name} » : colonne(s) obligatoire(s) absente(s) : {', '.join(missing)}")
    body = csv.reader(text, delimiter=detect_delimiter(first))
    for index, fields in enumerate(body, start=2):
        if not any(cell.strip() for cell in fields):
            continue
        yield index, dict(zip(header, fields, strict=False))


def _json_rows(stream: Any, name: str) -> list[tuple[int | None, dict[str, Any]]]:
    import json

    from billing_rules.errors import ReadError

    try:
        data = json.loads(stream.read().decode("utf-8-sig"))
    except (ValueError, UnicodeError) as exc:
        raise ReadError(f"« {name} » : JSON illisible ({exc})") from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ReadError(f"« {name} » : un tableau JSON d'objets est attendu")
    return [(None, item) for item in data]


def _jsonl_rows(stream: Any, name: str) -> list[tuple[int | None, dict[str, Any]]]:
    import json

    from billing_rules.errors import ReadError

    rows: list[tuple[int | None, dict[str, Any]]] = []
    for index, raw in enumerate(stream.read().decode("utf-8-sig").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError:
            raise ReadError(f"« {name} », ligne {index} : JSON illisible") from None
        if not isinstance(item, dict):
            raise ReadError(f"« {name} », ligne {index} : un objet JSON est attendu")
        rows.append((index, item))
    return rows


def _patient_from(values: dict[str, Any]) -> tuple[Patient | None, list[tuple[str, str]]]:
    from billing_rules.readers import rows as parse

    found: list[tuple[str, str]] = []
    read: dict[str, Any] = {}
    for column, parser, required in (
        ("patient_id", parse._private_text, True),
        ("birth_date", parse._birth_date, True),  # never quoted in a message: patient data
        ("ald", parse._bool, False),
        ("c2s", parse._bool, False),
        ("last_seen", parse._date, False),
    ):
        value = values.get(column)
        try:
            if value is None or value == "":
                raise parse._Blank
            read[column] = parser(value)
        except parse._Blank:
            if required:
                found.append((column, "valeur obligatoire manquante"))
        except parse._Invalid as exc:
            found.append((column, exc.message))
    if found:
        return None, found
    patient = Patient(
        read["patient_id"],
        read["birth_date"],
        read.get("ald", False),
        read.get("c2s", False),
        last_seen=read.get("last_seen"),
    )
    return patient, []


# --------------------------------------------------------------------------------------------------
# JSON (SPEC §6)


def estimate_to_dict(result: ForfaitEstimate) -> dict[str, Any]:
    """The ``forfait --format json`` object: SPEC §6 keys first, euros as numbers."""
    from billing_rules.money import euros_to_json

    return {
        "year": result.year,
        "patients": result.patients,
        "total": euros_to_json(result.total),
        "categories": [
            {
                "category": line.category,
                "patients": line.patients,
                "amount_per_patient": euros_to_json(line.amount_per_patient),
                "total": euros_to_json(line.total),
                "label": line.label,
                "settled": line.settled,
                "source": line.source,
            }
            for line in result.categories
            if line.patients
        ],
        "scheme": result.scheme,
        # The whole table of the year, empty categories included (``categories`` lists the patients').
        "table": [
            {
                "category": line.category,
                "label": line.label,
                "amount_per_patient": euros_to_json(line.amount_per_patient),
                "settled": line.settled,
                "source": line.source,
            }
            for line in result.categories
        ],
        "settled": result.settled,
        "c2s": {"patients": result.c2s_patients, "total": euros_to_json(result.c2s_total)},
        "majorations": [
            {
                "majoration": line.name,
                "label": line.label,
                "patients": line.patients,
                "amount_per_patient": euros_to_json(line.amount_per_patient)
                if line.amount_per_patient is not None
                else None,
                "rate": float(line.rate) if line.rate is not None else None,
                "base": euros_to_json(line.base) if line.base is not None else None,
                "total": euros_to_json(line.total),
                "settled": line.settled,
                "source": line.source,
            }
            for line in result.majorations
        ],
        "ignored": result.ignored,
        "rosp": None
        if result.rosp is None
        else {
            "points": float(result.rosp.points),
            "patientele": result.rosp.patientele,
            "scale": float(result.rosp.scale),
            "point_value": euros_to_json(ROSP_POINT_VALUE),
            "value": euros_to_json(result.rosp.value),
        },
        "what_if": [
            {
                "lever": lever.lever,
                "patients": lever.patients,
                "category": lever.category,
                "amount_per_patient": euros_to_json(lever.amount_per_patient),
                "forfait_gain": euros_to_json(lever.forfait_gain),
                "rosp_gain": euros_to_json(lever.rosp_gain),
                "total": euros_to_json(lever.total),
                "settled": lever.settled,
            }
            for lever in result.what_if
        ],
        "candidates": [
            {
                "kind": item.kind,
                "patient_id": item.patient_id,
                "practitioner_id": item.practitioner_id,
                "date": item.date.isoformat(),
                "act": item.act,
                "amount": euros_to_json(item.amount),
                "yearly": euros_to_json(item.yearly),
                "message": item.message,
                "invoices": list(item.invoices),
            }
            for item in result.candidates
        ],
        "notes": list(result.notes),
    }
