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
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import attrs

from billing_rules.domain.forfait.tables import (
    C2S_CODE,
    CATEGORIES,
    RATE_MAJORATIONS,
    ForfaitTables,
    PractitionerFacts,
)
from billing_rules.model import Place, age_on
from billing_rules.money import round_cents

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
    #: The doctor's rate majorations, summed (0.40 is +40 %): ``forfait_gain`` includes them, while
    #: ``amount_per_patient`` is the table's row.
    majoration_rate: Decimal = Decimal("0")


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
    # The patients a lever adds join the categories' total, which the doctor's rates scale (SPEC §6):
    # the lever scales alike, so that it is what the total would grow by.
    rate = tables.majoration_scale(practitioner, year) - 1
    rates_settled = all(
        tables.settled(RATE_MAJORATIONS[name], day) for name, _ in tables.rates(practitioner, year)
    )
    for lever, count, category in (("ald", what_if_ald, "ald_under_80"), ("over_80", what_if_80, "over_80")):
        if not count:
            continue
        per_patient = tables.amount(category, day) or Decimal("0")
        forfait_gain = tables.scaled(per_patient * count, year, practitioner)
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
                settled=tables.settled(CATEGORIES[category], day) and rates_settled,
                majoration_rate=rate,
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
    for name, rate in tables.rates(practitioner, day.year):
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
                "majoration_rate": float(lever.majoration_rate),
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
