"""The built-in rules whose advice depends on the invoice (``action`` / ``suggest`` alternatives).

* VL-QUARTER, VL-FIRST, VL-FIRST-AGE, VL-PALLIATIVE and VSP-PALLIATIVE: at the practice
  (cabinet, téléconsultation) the act is a consultation G, as VL-PLACE and VSP-PLACE say; at the
  patient's home (domicile, EHPAD) a visit.
* OPP-SNP: for a SAS request from 19:00 to 20:59, on an act from 2024-12-22, G+SNP+SHE (20 €),
  else G+SNP (15 €).
* SHE-TIME without any regulated referral takes the SNP off too, as SNP-REGULATED does.

Each case runs on the row engine and on DuckDB with the same expectations, so both agree.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from billing_rules.api.validator import Validator

NBSP = "\u00a0"


def _row(invoice: str, codes: str, date: str, **fields: str) -> dict[str, str]:
    row = {"invoice_id": invoice, "date": date, "practitioner_id": "10001", "patient_id": invoice}
    return row | {"birth_date": "1985-04-02", "codes": codes} | fields


QUARTER = {"mt_status": "self", "ald": "oui", "birth_date": "1940-01-01"}
FIRST = {"mt_status": "none", "declares_mt": "oui", "homebound": "oui", "ald": "oui"}
AGE_80 = {
    "mt_status": "none",
    "declares_mt": "oui",
    "homebound": "oui",
    "ald": "non",
    "birth_date": "1945-02-03",
}


def _history() -> list[dict[str, str]]:
    rows = []
    for place in ("cabinet", "domicile", "ehpad", "tele"):
        rows.append(
            _row(f"HQ-{place}", "VL+MD", "2024-02-05", place="domicile", **QUARTER) | {"patient_id": place}
        )
        rows.append(
            _row(f"HF-{place}", "VL", "2024-01-10", place="domicile", **FIRST) | {"patient_id": f"F-{place}"}
        )
    return rows


ROWS = [
    # VL-QUARTER: the 2nd VL of the quarter, by place (the 1st at home, on 2024-02-05).
    *(
        _row(f"Q-{place}", "VL+MD", "2024-03-20", place=place, **QUARTER) | {"patient_id": place}
        for place in ("cabinet", "domicile", "ehpad", "tele")
    ),
    # VL-FIRST: the 2nd first-registration VL.
    *(
        _row(f"F-{place}", "VL+MD", "2024-05-02", place=place, **FIRST) | {"patient_id": f"F-{place}"}
        for place in ("cabinet", "domicile")
    ),
    # VL-FIRST-AGE: 80 years old that day, out of ALD.
    *(_row(f"A-{place}", "VL+MD", "2025-02-03", place=place, **AGE_80) for place in ("cabinet", "domicile")),
    # VL-PALLIATIVE and VSP-PALLIATIVE.
    *(
        _row(f"P-{place}", "VL+MD", "2024-01-15", place=place, palliative="oui", mt_status="self")
        for place in ("cabinet", "domicile")
    ),
    *(
        _row(f"S-{place}", "VSP+MD", "2024-03-04", place=place, palliative="non", mt_status="self")
        for place in ("cabinet", "ehpad")
    ),
    # OPP-SNP: the request's hour (acts of Tuesday 2025-03-04 at 19:40, or of Wednesday at 10:00).
    _row("O-1859", "G", "2025-03-04", time="19:40", referral_at="2025-03-04T18:59", mt_status="other"),
    _row("O-1900", "G", "2025-03-04", time="19:40", referral_at="2025-03-04T19:00", mt_status="other"),
    _row("O-2059", "G", "2025-03-05", time="10:00", referral_at="2025-03-04T20:59", mt_status="other"),
    _row("O-2100", "G", "2025-03-05", time="10:00", referral_at="2025-03-04T21:00", mt_status="other"),
    # ... and the act's date: the SHE exists from 2024-12-22 (a Sunday: acts on the days around it).
    _row("O-1221", "G", "2024-12-21", time="11:00", referral_at="2024-12-20T19:30", mt_status="other"),
    _row("O-1223", "G", "2024-12-23", time="10:00", referral_at="2024-12-21T19:30", mt_status="other"),
    _row("O-1223E", "G", "2024-12-23", time="19:40", referral_at="2024-12-23T19:30", mt_status="other"),
    # SHE-TIME: no regulated referral (SNP off too), or a request out of 19:00-20:59 (SHE off).
    _row("H-NOREF", "G+SNP+SHE", "2025-03-04", time="19:30", mt_status="other"),
    _row("H-MRT", "G+MRT+SHE", "2025-03-04", time="19:30", mt_status="self"),
    _row(
        "H-2100", "G+SNP+SHE", "2025-03-05", time="10:00", referral_at="2025-03-04T21:00", mt_status="other"
    ),
]

AT_HOME_Q = "facturer VG+MD au lieu de VL+MD : la VL de ce trimestre a déjà été facturée le 05/02/2024"
AT_PRACTICE_Q = (
    "facturer G au lieu de VL+MD : la VL de ce trimestre a déjà été facturée le 05/02/2024, et au cabinet "
    "l'acte est une consultation"
)
#: A teleconsultation is coded TCG, not G (ngap-facts.md §1: the GP's teleconsultation).
AT_TELE_Q = (
    "facturer TCG au lieu de VL+MD : la VL de ce trimestre a déjà été facturée le 05/02/2024, et en "
    "téléconsultation l'acte est une téléconsultation (TCG)"
)
AT_HOME_F = (
    "facturer VG+MD au lieu de VL+MD : la VL de première inscription a déjà été facturée le 10/01/2024"
)
NO_REFERRAL = (
    "sans adressage par la régulation (SAS / centre 15), ni SHE, ni SNP, ni MRT ; si le patient a été "
    "adressé, reporter la régulation dans le fichier (regulated, referral_at, avec l'heure de la "
    "demande du SAS)"
)

#: (rule, invoice) -> (amount, suggestion, start of the action)
EXPECTED: dict[tuple[str, str], tuple[str, str | None, str]] = {
    ("VL-QUARTER", "Q-cabinet"): ("60.00", None, AT_PRACTICE_Q),
    ("VL-QUARTER", "Q-tele"): ("60.00", None, AT_TELE_Q),
    ("VL-QUARTER", "Q-domicile"): ("60.00", None, AT_HOME_Q),
    ("VL-QUARTER", "Q-ehpad"): ("60.00", None, AT_HOME_Q),
    ("VL-FIRST", "F-cabinet"): (
        "60.00",
        None,
        "facturer G au lieu de VL+MD : la VL de première inscription a déjà été facturée le 10/01/2024, et "
        "au cabinet l'acte est une consultation",
    ),
    ("VL-FIRST", "F-domicile"): ("60.00", None, AT_HOME_F),
    ("VL-FIRST-AGE", "A-cabinet"): (
        "None",
        None,
        "au cabinet, la VL n'est pas due, quel que soit l'âge : facturer G au lieu de VL+MD",
    ),
    ("VL-FIRST-AGE", "A-domicile"): (
        "None",
        None,
        "à 80 ans tout juste, les textes ne disent pas si la VL de première inscription est due : conserver "
        "au dossier ce qui la justifie, ou par prudence facturer VG+MD au lieu de VL+MD",
    ),
    ("VL-PALLIATIVE", "P-cabinet"): (
        "None",
        None,
        "au cabinet, ni VL ni VSP (des visites au domicile) : facturer G au lieu de VL+MD",
    ),
    ("VL-PALLIATIVE", "P-domicile"): (
        "None",
        None,
        "si vous êtes le médecin traitant du patient, facturer VSP+MD au lieu de VL+MD",
    ),
    ("VSP-PALLIATIVE", "S-cabinet"): (
        "60.00",
        None,
        "facturer G au lieu de VSP+MD : au cabinet, l'acte est une consultation",
    ),
    ("VSP-PALLIATIVE", "S-ehpad"): ("60.00", None, "facturer VG+MD au lieu de VSP+MD ; si le patient"),
    ("OPP-SNP", "O-1859"): ("15.00", "G+SNP", "facturer G+SNP au lieu de G"),
    ("OPP-SNP", "O-1900"): ("20.00", "G+SNP+SHE", "facturer G+SNP+SHE au lieu de G"),
    ("OPP-SNP", "O-2059"): ("20.00", "G+SNP+SHE", "facturer G+SNP+SHE au lieu de G"),
    ("OPP-SNP", "O-2100"): ("15.00", "G+SNP", "facturer G+SNP au lieu de G"),
    ("OPP-SNP", "O-1221"): ("15.00", "G+SNP", "facturer G+SNP au lieu de G"),
    ("OPP-SNP", "O-1223"): ("20.00", "G+SNP+SHE", "facturer G+SNP+SHE au lieu de G"),
    ("OPP-SNP", "O-1223E"): ("20.00", "G+SNP+SHE", "facturer G+SNP+SHE au lieu de G"),
    ("SHE-TIME", "H-NOREF"): ("5.00", None, f"facturer G au lieu de G+SNP+SHE : {NO_REFERRAL}"),
    # MRT too is billed only at the request of the centre 15 (ngap-facts.md §1.5).
    ("SHE-TIME", "H-MRT"): ("5.00", None, f"facturer G au lieu de G+MRT+SHE : {NO_REFERRAL}"),
    ("SHE-TIME", "H-2100"): (
        "5.00",
        None,
        "facturer G+SNP au lieu de G+SNP+SHE ; si la demande du SAS est arrivée entre 19 h et 21 h",
    ),
}

WATCHED = {rule for rule, _ in EXPECTED}


def _findings(validator: Validator, engine: str) -> list[Any]:
    rows = [Validator.invoice(row, seq=index) for index, row in enumerate(ROWS)]
    history = [Validator.invoice(row, seq=index) for index, row in enumerate(_history())]
    if engine == "row":
        return list(validator.check_events(rows, history=history).findings)
    pytest.importorskip("sqlglot")
    from billing_rules.engines.relational import api

    return list(api.check_events(validator, rows, history=history, engine=engine).findings)


@pytest.fixture(scope="module")
def by_engine() -> dict[str, list[Any]]:
    """The findings of each engine, computed once for the module's tests."""
    return {}


def _found(builtin_validator: Validator, engine: str, cache: dict[str, list[Any]]) -> list[Any]:
    if engine not in cache:
        cache[engine] = _findings(builtin_validator, engine)
    return cache[engine]


def test_each_alternative_on_both_engines(
    builtin_validator: Validator, engine: str, by_engine: dict[str, list[Any]]
) -> None:
    found = {
        (f.rule, f.invoice_id): (str(f.amount), f.suggestion, f.action or "")
        for f in _found(builtin_validator, engine, by_engine)
        if f.rule in WATCHED
    }
    assert set(found) == set(EXPECTED)
    for key, (amount, suggestion, action) in EXPECTED.items():
        got_amount, got_suggestion, got_action = found[key]
        assert (got_amount, got_suggestion) == (amount, suggestion), key
        assert got_action.startswith(action), (key, got_action)


def test_opp_snp_names_what_was_billable(
    builtin_validator: Validator, engine: str, by_engine: dict[str, list[Any]]
) -> None:
    messages = {
        f.invoice_id: f.message for f in _found(builtin_validator, engine, by_engine) if f.rule == "OPP-SNP"
    }
    head = "Patient adressé par la régulation, hors patientèle MT : "
    assert messages["O-1900"] == f"{head}G+SNP+SHE était facturable, soit 20,00{NBSP}€ de plus"
    assert messages["O-1859"] == f"{head}G+SNP était facturable, soit 15,00{NBSP}€ de plus"


def test_she_time_and_snp_regulated_now_agree_without_a_referral(
    builtin_validator: Validator, engine: str, by_engine: dict[str, list[Any]]
) -> None:
    """Both recode G+SNP+SHE without regulation to G.

    SNP-REGULATED's euros count the SHE that falls with the SNP, and SHE-TIME's are the SHE's: the
    invoice's amount at risk, SPEC §2's sum of its findings, counts the SHE twice (SHE-TIME's doc
    says so).
    """
    found = {f.rule: f for f in _found(builtin_validator, engine, by_engine) if f.invoice_id == "H-NOREF"}
    assert "facturer G au lieu de G+SNP+SHE" in (found["SNP-REGULATED"].action or "")
    assert (found["SNP-REGULATED"].amount, found["SHE-TIME"].amount) == (Decimal("20.00"), Decimal("5.00"))


def test_the_engines_report_the_same_findings(
    builtin_validator: Validator, by_engine: dict[str, list[Any]]
) -> None:
    pytest.importorskip("duckdb")

    def key(finding: Any) -> tuple[Any, ...]:
        return (
            finding.rule,
            finding.invoice_id,
            finding.message,
            finding.amount,
            finding.suggestion,
            finding.action,
            finding.facts,
        )

    row = [key(f) for f in _found(builtin_validator, "row", by_engine)]
    assert [key(f) for f in _found(builtin_validator, "duckdb", by_engine)] == row


def _evening_referral(invoice: str, day: str) -> dict[str, str]:
    """G for a patient of another MT, SAS request at 19:30, seen at 19:40 (before PDSA time)."""
    return _row(invoice, "G", day, time="19:40", referral_at=f"{day}T19:30", mt_status="other")


@pytest.mark.parametrize(
    ("as_of", "invoice", "day", "suggestion", "amount"),
    [
        # Under the texts of 2024-06-01 the SHE does not exist: G+SNP for an act of 2025 too.
        ("2024-06-01", "S2025", "2025-03-04", "G+SNP", "15.00"),
        # Under those of 2025-06-01 it does: G+SNP+SHE for an act of June 2024 too.
        ("2025-06-01", "S2024", "2024-06-04", "G+SNP+SHE", "20.00"),
        # As the act's own texts.
        (None, "S2025", "2025-03-04", "G+SNP+SHE", "20.00"),
        (None, "S2024", "2024-06-04", "G+SNP", "15.00"),
    ],
)
def test_opp_snp_adds_the_she_where_the_texts_have_it(
    engine: str, as_of: str | None, invoice: str, day: str, suggestion: str, amount: str
) -> None:
    """``exists(SHE)``, not the act's date: a simulation's texts decide whether the SHE is due (SPEC §7)."""
    texts_as_of = dt.date.fromisoformat(as_of) if as_of else None
    validator = Validator.build(entry_points=False, texts_as_of=texts_as_of)
    rows = [Validator.invoice(_evening_referral(invoice, day), seq=0)]
    if engine == "row":
        found = list(validator.check_events(rows).findings)
    else:
        from billing_rules.engines.relational import api

        found = list(api.check_events(validator, rows, engine=engine).findings)
    opportunity = [(f.suggestion, str(f.amount)) for f in found if f.rule == "OPP-SNP"]
    assert opportunity == [(suggestion, amount)]
