"""The MT patientèle from the invoice history, and the levers that would make the forfait grow.

:func:`mt_patientele` finds the patients whose médecin traitant the practitioner is on 31 December;
:func:`find_candidates` lists the concrete patients behind each lever (an MT declaration not yet
made, a patient not seen for long, a VL or VSP that fits), each with what it would bring.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal

from billing_rules.domain.forfait.estimate import (
    _HOME,
    _PLAIN_VISITS,
    CONSULTATION_CODES,
    VISIT_CODES,
    VL_CASE_A_START,
    Candidate,
    Patient,
    _year_day,
)
from billing_rules.domain.forfait.tables import ForfaitTables, PractitionerFacts, not_seen_since
from billing_rules.model import Event, MtStatus, age_on
from billing_rules.money import format_euros


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
    practitioner: PractitionerFacts | None = None,
) -> list[Candidate]:
    """The patients behind the levers of ``practitioner_id`` in ``year``, from the invoice history.

    - ALD patients without MT seen 3 times or more in the 12 months ending ``as_of`` (the CPAM
      campaign "0 patient ALD sans MT"): IMT at the next consultation (unless one was already
      billed for the patient), then the yearly forfait;
    - own patients aged 80+ in ALD (or neurodegenerative ALD) with no VL in a quarter: one VL per
      quarter, recoding a plain home visit of that quarter when there was one;
    - palliative patients visited at home by their MT without VSP (from 2023-11-01);
    - own MT patients last seen before the two years ending 31 December (FMT): one invoice before
      then keeps their category's amount instead of the not-seen one.

    ``practitioner``: the doctor's facts, whose rate majorations scale every yearly forfait at
    stake (:meth:`~billing_rules.domain.forfait.tables.ForfaitTables.scaled`), as they scale the
    estimate's total.
    """
    year_end = _year_day(year)
    history = _billed(events, year_end)
    if as_of is None:
        # The history tells how far the year has gone: quarters not started yet are no lever.
        as_of = history[-1].date if history else year_end
    until = min(as_of, year_end)
    history = [event for event in history if event.date <= until]
    candidates: list[Candidate] = []
    candidates += _mt_declare_candidates(history, tables, practitioner_id, until, practitioner)
    patientele = mt_patientele(history, practitioner_id, year)
    own = {patient.patient_id for patient in patientele}
    candidates += _vl_candidates(history, tables, practitioner_id, year, until, own)
    candidates += _vsp_candidates(history, tables, practitioner_id, year, own)
    candidates += _not_seen_candidates(patientele, tables, practitioner_id, year, practitioner)
    order = {"mt_declare": 0, "vl_quarter": 1, "vsp": 2, "not_seen": 3}
    return sorted(candidates, key=lambda item: (order[item.kind], item.patient_id, item.date))


def _mt_declare_candidates(
    history: list[Event],
    tables: ForfaitTables,
    practitioner_id: str,
    until: dt.date,
    practitioner: PractitionerFacts | None = None,
) -> list[Candidate]:
    """ALD patients without MT seen 3 times in 12 months: the MT declaration, and the IMT if still due.

    The IMT is billable once per patient, whoever billed it (SPEC §5 IMT-ONCE, counted on the whole
    history, every practitioner's invoices): once one was billed, advising another would advise an
    error, so the lever is the yearly forfait alone. The forfait is scaled by the doctor's rate
    majorations, as the estimate's total is.
    """
    start = _one_year_before(until)
    seen: dict[str, list[Event]] = defaultdict(list)
    latest: dict[str, Event] = {}
    first_imt: dict[str, dt.date] = {}
    for event in history:
        if "IMT" in event.code_set:
            first_imt.setdefault(event.patient_id, event.date)  # history is in date order
        if event.practitioner_id != practitioner_id:
            continue
        latest[event.patient_id] = event
        if event.date > start and event.code_set & (CONSULTATION_CODES | VISIT_CODES):
            seen[event.patient_id].append(event)
    imt_exists = tables.tariffs.on("IMT", until) is not None
    result = []
    for patient_id, visits in seen.items():
        last = latest[patient_id]
        ald = last.ald or last.neurodegenerative
        if len(visits) < 3 or not ald or last.mt_status is not MtStatus.NONE or last.declares_mt:
            continue
        age = age_on(last.birth_date, until)
        amount = tables.amount_for(year=until.year, age=age, ald=True) or Decimal("0")
        yearly = tables.scaled(amount, until.year, practitioner)
        offer = (
            f"Patient en ALD sans médecin traitant vu {len(visits)} fois en 12 mois : proposez-lui "
            "de vous déclarer médecin traitant"
        )
        billed = first_imt.get(patient_id)
        if billed is not None:
            act, act_gain = "Déclaration MT", Decimal("0")
            message = (
                f"{offer} (IMT déjà facturée pour ce patient le {billed:%d/%m/%Y} : pas de nouvelle IMT)"
            )
        elif imt_exists:
            act, act_gain = "IMT", _tariff_gain(tables, "IMT", ("G",), until)
            message = f"{offer} et facturez IMT à la consultation de déclaration"
        else:
            act, act_gain, message = "Déclaration MT", Decimal("0"), offer
        result.append(
            Candidate(
                kind="mt_declare",
                patient_id=patient_id,
                practitioner_id=practitioner_id,
                date=last.date,
                act=act,
                amount=act_gain,
                yearly=yearly,
                message=message,
                invoices=tuple(event.invoice_id for event in visits),
            )
        )
    return result


def _not_seen_candidates(
    patientele: Sequence[Patient],
    tables: ForfaitTables,
    practitioner_id: str,
    year: int,
    practitioner: PractitionerFacts | None = None,
) -> list[Candidate]:
    """Own MT patients who fall to the 5 € row on 31 December of ``year`` unless seen before then.

    The forfait of ``year`` pays the not-seen amount for an MT patient with no invoice in the two
    years ending 31 December (:func:`~billing_rules.domain.forfait.tables.not_seen_since`): whoever
    was last seen before 1 January of the year before is at stake, however far the history runs
    (a threshold counted back from the latest invoice missed those not yet that old, while one
    visit before 31 December is all that saves them). The euros are what that visit keeps: the
    category's amount less the not-seen one, both scaled by the doctor's rate majorations (they
    apply to the categories' total; :meth:`ForfaitTables.scaled`). A category that pays no more
    than the not-seen row (7-74 years under the FMT) is no lever. FMT years only: the FPMT has no
    not-seen row.
    """
    year_end = _year_day(year)
    low = tables.amount("not_seen_2_years", year_end)
    if low is None:
        return []
    result = []
    for patient in patientele:
        last = patient.last_seen
        if last is None or not not_seen_since(last, year):
            continue
        normal = tables.category(day=year_end, age=age_on(patient.birth_date, year_end), ald=patient.ald)
        paid = tables.scaled(tables.amount(normal, year_end) or Decimal("0"), year, practitioner)
        fallen = tables.scaled(low, year, practitioner)
        if paid <= fallen:
            continue
        result.append(
            Candidate(
                kind="not_seen",
                patient_id=patient.patient_id,
                practitioner_id=practitioner_id,
                date=last,
                act="G",
                amount=Decimal("0"),
                yearly=paid - fallen,
                message=(
                    f"Patient MT non vu depuis le {last:%d/%m/%Y} : à revoir avant le 31/12/{year}, "
                    f"sinon son forfait {year} passe de {format_euros(paid)} à {format_euros(fallen)}"
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
            # VL-QUARTER's case (a): 80+ in ALD, or in ALD for a neurodegenerative disease.
            if last.ald and age >= 80:
                case = "de 80 ans et plus en ALD"
            elif last.neurodegenerative:
                case = "en ALD pour une maladie neurodégénérative"
            else:
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
                    f"T{quarter} {year} : aucune VL facturée pour ce patient {case} ; une visite longue "
                    "par trimestre est facturable si elle est médicalement justifiée"
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
