"""The embedding API, one invoice at a time: every way of holding a history behaves the same.

Three APIs check invoices one by one: the validator's own ``check_one``/``record``, a session
without a ledger (``validator.session()``) and a session on a ledger (SQLite, PostgreSQL). They
share one contract, tested here once on all of them: an invoice is never counted against itself
(SPEC §5: the input's copy replaces the history's), an invoice checked and not recorded counts
for the next checks until it is recorded or discarded, and a recorded cancellation removes it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import billing_rules
from billing_rules.api.validator import InvalidInvoice, Validator
from billing_rules.model import Event, MtStatus, Place, Sector, Status

# An 80+ patient in ALD followed by the billing MT, seen at home: one VL per quarter (VL-QUARTER).
VL_PATIENT = {
    "practitioner_id": "10001",
    "patient_id": "P-VL",
    "birth_date": "1940-01-01",
    "ald": "oui",
    "mt_status": "self",
    "place": "domicile",
    "codes": "VL+MD",
}
# An ALD patient without MT: the 3rd consultation within 12 months fires OPP-MT-DECLARE (a rolling
# window per patient and practitioner, a different kind of window from VL-QUARTER's quarter).
ALD_NO_MT = {
    "practitioner_id": "10001",
    "patient_id": "P-ALD",
    "birth_date": "1970-01-01",
    "ald": "oui",
    "mt_status": "none",
    "codes": "G",
}


def _vl(invoice_id: str, day: str, **changes: str) -> dict[str, str]:
    return {**VL_PATIENT, "invoice_id": invoice_id, "date": day, **changes}


def _g(invoice_id: str, day: str) -> dict[str, str]:
    return {**ALD_NO_MT, "invoice_id": invoice_id, "date": day}


def _rules(findings: list[billing_rules.Finding], *wanted: str) -> list[str]:
    return [finding.rule for finding in findings if not wanted or finding.rule in wanted]


@pytest.fixture(
    params=[
        "validator",
        "memory session",
        "sqlite session",
        pytest.param("postgres session", marks=pytest.mark.postgres),
    ]
)
def api(request: pytest.FixtureRequest, builtin_validator: Validator, tmp_path: Path) -> Iterator[Any]:
    """One of the APIs that check invoices one at a time, each with a fresh, empty history."""
    if request.param == "validator":
        # A validator of its own (its history is its own too), sharing the compiled rules.
        target: Any = Validator(builtin_validator.ruleset, manager=builtin_validator.manager)
    elif request.param == "memory session":
        target = builtin_validator.session()
    elif request.param == "sqlite session":
        target = builtin_validator.session(ledger=tmp_path / "registre.db")
    else:
        target = builtin_validator.session(ledger=request.getfixturevalue("postgres_schema"))
    yield target
    close = getattr(target, "close", None)
    if close is not None:
        close()


# --- point 2: never counted twice, on every API -----------------------------------------------------


def test_a_recorded_invoice_checked_again_is_not_counted_against_itself(api: Any) -> None:
    api.record(_vl("V1", "2026-02-02"))
    # The README's order: record, then check the same invoice (e.g. when it is reopened).
    assert _rules(api.check_one(_vl("V1", "2026-02-02"))) == []
    # A second VL of the quarter is still flagged: the history holds the first one once.
    assert _rules(api.check_one(_vl("V2", "2026-03-16"))) == ["VL-QUARTER"]


def test_a_code_list_element_with_a_plus_is_the_same_invoice_after_recording(api: Any) -> None:
    """``["G+MEG"]`` is G and MEG, as the ledger gives it back: the history never changes an invoice."""
    patient = {"birth_date": "1960-01-01", "ald": True, "mt_status": "none"}
    first = {**_g("A1", "2026-01-05"), **patient, "codes": ["G+MEG"]}
    second = {**_g("A2", "2026-02-05"), **patient, "codes": ["g + meg", ""]}
    for invoice in (first, second):
        # MEG from the 6th birthday: read as G and MEG, never as one unknown code "G+MEG".
        assert _rules(api.check_one(invoice)) == ["MEG-AGE"]
        api.record(invoice)
    # The third consultation of the 12 months, counted from the history as recorded.
    third = {**_g("A3", "2026-03-05"), **patient, "codes": ["G"]}
    assert _rules(api.check_one(third)) == ["OPP-MT-DECLARE"]


def test_a_changed_copy_of_a_recorded_invoice_replaces_it(api: Any) -> None:
    api.record(_vl("V1", "2026-02-02"))
    # Same practitioner and invoice id: the same invoice, corrected (another day of the quarter).
    assert _rules(api.check_one(_vl("V1", "2026-02-10", codes="VL"))) == []
    api.record(_vl("V1", "2026-02-10", codes="VL"))
    findings = api.check_one(_vl("V2", "2026-03-16"))
    assert _rules(findings) == ["VL-QUARTER"]
    assert "10/02/2026" in findings[0].message  # the corrected copy, not the first one


def test_a_rolling_window_counts_a_recorded_invoice_once(api: Any) -> None:
    api.record(_g("G1", "2026-01-05"))
    api.record(_g("G2", "2026-02-02"))
    # G2 again: it is the 2nd consultation of the 12 months, not the 3rd.
    assert _rules(api.check_one(_g("G2", "2026-02-02")), "OPP-MT-DECLARE") == []
    assert _rules(api.check_one(_g("G3", "2026-03-02")), "OPP-MT-DECLARE") == ["OPP-MT-DECLARE"]


def test_a_recorded_cancellation_removes_the_invoice(api: Any) -> None:
    api.record(_vl("V1", "2026-02-02"))
    api.record(_vl("V1", "2026-02-02", status="cancelled"))
    assert _rules(api.check_one(_vl("V2", "2026-03-16"))) == []


def test_a_checked_invoice_counts_until_recorded_or_discarded(api: Any) -> None:
    assert _rules(api.check_one(_vl("V1", "2026-02-02"))) == []
    # Checked again as the user edits it: still one invoice.
    assert _rules(api.check_one(_vl("V1", "2026-02-03"))) == []
    assert _rules(api.check_one(_vl("V2", "2026-03-16"))) == ["VL-QUARTER"]
    api.discard(_vl("V2", "2026-03-16"))
    api.discard(_vl("V1", "2026-02-03"))
    assert _rules(api.check_one(_vl("V2", "2026-03-16"))) == []
    api.record(_vl("V2", "2026-03-16"))
    assert _rules(api.check_one(_vl("V1", "2026-02-03"))) == ["VL-QUARTER"]


# --- point 4: one session type, with or without a ledger ------------------------------------------


def test_a_session_is_the_same_type_with_or_without_a_ledger(
    builtin_validator: Validator, tmp_path: Path
) -> None:
    with builtin_validator.session() as memory, builtin_validator.session(ledger=tmp_path / "r.db") as stored:
        assert type(memory) is type(stored) is billing_rules.Session
        for name in ("check_one", "record", "discard", "close", "pending", "ledger"):
            assert hasattr(memory, name), name


def test_the_user_never_gets_the_engine_session(builtin_validator: Validator) -> None:
    from billing_rules.engines.row import engine

    session = builtin_validator.session()
    assert not isinstance(session, engine.Session)
    assert not hasattr(session, "process")  # the engine's file loop is not part of the user's API


def test_a_session_without_ledger_records_dicts_and_keeps_them(builtin_validator: Validator) -> None:
    with builtin_validator.session() as session:
        assert session.check_one(_vl("V1", "2026-02-02")) == []
        assert [event.invoice_id for event in session.pending] == ["V1"]
        session.record(_vl("V1", "2026-02-02"))
        assert session.pending == ()
        assert [event.invoice_id for event in session.ledger.events()] == ["V1"]
        assert _rules(session.check_one(_vl("V2", "2026-03-16"))) == ["VL-QUARTER"]


def test_sessions_without_ledger_do_not_share_their_history(builtin_validator: Validator) -> None:
    first, second = builtin_validator.session(), builtin_validator.session()
    first.record(_vl("V1", "2026-02-02"))
    assert _rules(second.check_one(_vl("V2", "2026-03-16"))) == []
    assert _rules(first.check_one(_vl("V2", "2026-03-16"))) == ["VL-QUARTER"]


def test_the_validator_history_is_its_own_session(builtin_validator: Validator) -> None:
    validator = Validator(builtin_validator.ruleset, manager=builtin_validator.manager)
    validator.record(_vl("V1", "2026-02-02"))
    # A session is a fresh history: the validator's own invoices are not in it.
    assert _rules(validator.session().check_one(_vl("V2", "2026-03-16"))) == []
    assert _rules(validator.check_one(_vl("V2", "2026-03-16"))) == ["VL-QUARTER"]


# --- point 3: the values practice software holds ---------------------------------------------------

TEXT_VALUES: dict[str, object] = {
    "invoice_id": "F-1",
    "date": "2026-02-02",
    "time": "21:15",
    "practitioner_id": "10001",
    "specialty": "MG",
    "sector": "1",
    "patient_id": "P-1",
    "birth_date": "1941-03-02",
    "ald": "oui",
    "palliative": "non",
    "neurodegenerative": "0",
    "mt_status": "other",
    "declares_mt": "false",
    "place": "domicile",
    "homebound": "oui",
    "codes": "G+SNP",
    "amount": "41,50",
    "regulated": "oui",
    "referral_at": "2026-02-02T19:30",
    "status": "billed",
}
NATIVE_VALUES: dict[str, object] = {
    "invoice_id": "F-1",
    "date": dt.date(2026, 2, 2),
    "time": dt.time(21, 15),
    "practitioner_id": 10001,
    "specialty": "MG",
    "sector": Sector.ONE,
    "patient_id": "P-1",
    "birth_date": dt.date(1941, 3, 2),
    "ald": True,
    "palliative": False,
    "neurodegenerative": None,
    "mt_status": MtStatus.OTHER,
    "declares_mt": False,
    "place": Place.DOMICILE,
    "homebound": True,
    "codes": ("G", "SNP"),
    "amount": Decimal("41.50"),
    "regulated": True,
    "referral_at": dt.datetime(2026, 2, 2, 19, 30),
    "status": Status.BILLED,
}


def test_native_values_read_as_their_spellings() -> None:
    assert Validator.invoice(NATIVE_VALUES) == Validator.invoice(TEXT_VALUES)


def test_native_values_are_checked_and_recorded_like_text(api: Any) -> None:
    assert api.check_one(NATIVE_VALUES) == api.check_one(TEXT_VALUES)
    api.record(NATIVE_VALUES)
    api.discard(TEXT_VALUES)
    assert [finding.rule for finding in api.check_one({**TEXT_VALUES, "invoice_id": "F-2"})] == [
        finding.rule for finding in api.check_one({**NATIVE_VALUES, "invoice_id": "F-2"})
    ]


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (Decimal("30"), Decimal("30")),
        (Decimal("26.50"), Decimal("26.50")),
        (Decimal("1E+2"), Decimal("100")),
        (30, Decimal("30")),
        (26.5, Decimal("26.5")),
        (41.55, Decimal("41.55")),  # not exact in binary, but its shortest spelling is whole cents
        (None, None),
    ],
)
def test_amounts_in_python_types(amount: object, expected: Decimal | None) -> None:
    assert Validator.invoice({**TEXT_VALUES, "amount": amount}).amount == expected


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        (0.1 + 0.2, "Decimal"),  # 0.30000000000000004: not a number of cents
        (26.505, "Decimal"),
        (float("nan"), "montant invalide"),
        (Decimal("NaN"), "montant invalide"),
        (Decimal("-1"), "montant négatif"),
        (Decimal("1E+9"), "montant invraisemblable"),
        (True, "montant invalide"),
    ],
)
def test_amounts_refused(amount: object, words: str) -> None:
    with pytest.raises(InvalidInvoice) as caught:
        Validator.invoice({**TEXT_VALUES, "amount": amount})
    assert [error.field for error in caught.value.errors] == ["amount"]
    assert words in caught.value.errors[0].message


def test_optional_values_given_as_none_take_their_default() -> None:
    optional = {"time", "specialty", "sector", "ald", "palliative", "neurodegenerative", "mt_status"}
    optional |= {"declares_mt", "place", "homebound", "amount", "regulated", "referral_at", "status"}
    event = Validator.invoice({**TEXT_VALUES, **dict.fromkeys(optional)})
    required = {key: value for key, value in TEXT_VALUES.items() if key not in optional}
    assert event == Validator.invoice(required)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("date", dt.datetime(2026, 2, 2, 14, 30), "date-heure"),
        ("birth_date", dt.datetime(1941, 3, 2), "date-heure"),
        ("date", dt.date(1, 1, 1), "date hors limites"),
        ("birth_date", dt.date(2026, 2, 3), "postérieure à la date de l'acte"),
        ("time", dt.datetime(2026, 2, 2, 14, 30), "heure invalide"),
        ("time", dt.time(14, 30, tzinfo=dt.timezone.utc), "fuseau"),
        ("referral_at", dt.date(2026, 2, 2), "date-heure"),
        ("referral_at", dt.datetime(2026, 2, 2, 19, 30, tzinfo=dt.timezone.utc), "fuseau"),
        ("referral_at", dt.datetime(2026, 2, 2, 22, 0), "postérieure à l'acte"),
        ("mt_status", Place.DOMICILE, "valeur inconnue"),
        ("codes", {"G"}, "codes invalides"),
        ("codes", ("G", 3), "chaque code doit être un texte"),
        ("ald", 2, "oui/non"),
        ("invoice_id", True, "texte attendu"),
        ("invoice_id", dt.date(2026, 2, 2), "texte attendu"),
    ],
)
def test_native_values_get_the_readers_validation(field: str, value: object, words: str) -> None:
    with pytest.raises(InvalidInvoice) as caught:
        Validator.invoice({**TEXT_VALUES, field: value})
    assert [error.field for error in caught.value.errors] == [field]
    assert words in caught.value.errors[0].message


def test_a_time_with_microseconds_is_taken_to_the_second() -> None:
    event = Validator.invoice(
        {**TEXT_VALUES, "time": dt.time(21, 15, 7, 999), "referral_at": dt.datetime(2026, 2, 2, 19, 30, 1, 5)}
    )
    assert event.time == dt.time(21, 15, 7)
    assert event.referral_at == dt.datetime(2026, 2, 2, 19, 30, 1)


@pytest.mark.parametrize("value", [None, 42, "F-1", ["invoice_id", "F-1"], b"{}"])
def test_something_else_than_an_invoice_is_a_clear_invalid_invoice(value: object, api: Any) -> None:
    for call in (Validator.invoice, api.check_one, api.record):
        with pytest.raises(InvalidInvoice) as caught:
            call(value)
        assert "facture attendue" in str(caught.value)
        assert type(value).__name__ in str(caught.value)


def test_a_column_name_that_is_not_text_is_refused() -> None:
    with pytest.raises(InvalidInvoice) as caught:
        Validator.invoice({**TEXT_VALUES, 3: "x"})
    assert "nom de colonne" in str(caught.value)


_DAMAGED = [
    ("invoice_id", "F\x00-1"),
    ("practitioner_id", "100\x0001"),
    ("patient_id", "P-\ud800"),
    ("specialty", "M\x00G"),
    ("codes", ["G", "SN\udc00P"]),
    ("extra_column", "a\x00b"),
]


@pytest.mark.parametrize(("field", "value"), _DAMAGED)
def test_nul_and_lone_surrogates_are_refused_as_the_file_readers_do(
    field: str, value: object, builtin_validator: Validator, tmp_path: Path
) -> None:
    # The same row in a JSON Lines file (escapes spell the NUL and the half surrogate in ASCII).
    path = tmp_path / "day.jsonl"
    path.write_text(json.dumps({**TEXT_VALUES, field: value}) + "\n", encoding="ascii")
    report = builtin_validator.check_paths([str(path)])
    from_file = [(error.field, error.message) for error in report.input_errors]
    assert [field for field, _ in from_file] == [field]
    with pytest.raises(InvalidInvoice) as caught:
        Validator.invoice({**TEXT_VALUES, field: value})
    assert [(error.field, error.message) for error in caught.value.errors] == from_file


def test_an_event_built_by_hand_with_a_nul_is_refused(builtin_validator: Validator, tmp_path: Path) -> None:
    import attrs

    event = attrs.evolve(Validator.invoice(TEXT_VALUES), invoice_id="F\x00-1")
    with builtin_validator.session(ledger=tmp_path / "r.db") as session:
        with pytest.raises(InvalidInvoice) as caught:
            session.record(event)
        assert [error.field for error in caught.value.errors] == ["invoice_id"]
        assert list(session.ledger.events()) == []


def test_a_nul_never_reaches_the_ledger(builtin_validator: Validator, tmp_path: Path) -> None:
    with builtin_validator.session(ledger=tmp_path / "r.db") as session:
        with pytest.raises(InvalidInvoice):
            session.record({**TEXT_VALUES, "invoice_id": "F\x00-1"})
        with pytest.raises(InvalidInvoice):
            session.check_one({**TEXT_VALUES, "patient_id": "P\x00"})
        assert session.pending == ()
        assert list(session.ledger.events()) == []


def test_the_session_does_not_import_the_validator() -> None:
    """No import circle validator <-> session: the session is handed the plugins' adjust step."""
    import ast

    from billing_rules.api import session
    from billing_rules.readers import native

    for module in (session, native):
        tree = ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8"))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "billing_rules.api.validator" not in imported, module.__name__


def test_an_invoice_left_unreadable_is_discarded_by_its_ids(builtin_validator: Validator) -> None:
    with builtin_validator.session() as session:
        session.check_one(_vl("V1", "2026-02-02"))
        session.discard(_vl("V1", "2026-02-31"))  # the user broke the date, then gave up
        assert session.pending == ()
        with pytest.raises(InvalidInvoice):
            session.discard({"invoice_id": "V1"})  # nothing says whose invoice it is


# --- every API, every window kind: the same findings as a whole check of the same history ---------

WINDOW_RULES = """
rule X-DAY warning "trop de factures ce jour pour ce patient"
  at most 2 per patient per day
end

rule X-ROLL warning "G déjà facturée dans les 2 semaines"
  on G
  at most 1 per patient and practitioner within 2 weeks
end

rule X-CODE warning "trop de ce code cette semaine"
  on G, VG
  at most 3 per code per week
end

rule X-YEARS warning "deux visites à domicile en deux ans"
  on VG
  at most 1 per practitioner and patient within 2 years counting place is domicile
end
"""


@pytest.mark.parametrize("seed", range(3))
def test_random_sessions_agree_with_a_whole_check(tmp_path: Path, seed: int) -> None:
    """Random check_one / record / discard on the three APIs at once: each check gives what
    ``check_events`` gives for that invoice against the recorded and pending invoices but itself."""
    import random

    rules = tmp_path / "windows.rules"
    rules.write_text(WINDOW_RULES, encoding="utf-8")
    validator = Validator.build(rule_files=[rules], entry_points=False)
    apis: list[Any] = [validator, validator.session(), validator.session(ledger=tmp_path / "r.db")]
    rnd = random.Random(seed)
    recorded: dict[tuple[str, str], Event] = {}
    pending: dict[tuple[str, str], Event] = {}
    fired: set[str] = set()
    for _ in range(70):
        values = {
            "invoice_id": f"F{rnd.randint(1, 25)}",
            "date": f"2026-{rnd.randint(1, 4):02d}-{rnd.randint(1, 28):02d}",
            "time": rnd.choice([None, dt.time(9), dt.time(21, 30)]),
            "practitioner_id": "A",  # one practitioner: an invoice id is one invoice
            "patient_id": rnd.choice(["P1", "P2"]),
            "birth_date": rnd.choice([dt.date(1935, 2, 1), dt.date(1970, 6, 15)]),
            "ald": rnd.choice([True, False]),
            "mt_status": rnd.choice(list(MtStatus)),
            "place": rnd.choice([Place.CABINET, Place.DOMICILE]),
            "codes": rnd.choice(["G", "VG+MD", "VL+MD", "IMT", "G+MOP", ("G", "SNP")]),
            "status": rnd.choice([Status.BILLED] * 5 + [Status.CANCELLED]),
        }
        event = Validator.invoice(values)
        operation = rnd.choice(["check", "check", "record", "discard"])
        if operation == "check":
            history = {**recorded, **pending}
            history.pop(event.key, None)
            expected = [
                (f.rule, f.message)
                for f in validator.check_events([event], history=history.values()).findings
            ]
            for api in apis:
                assert [(f.rule, f.message) for f in api.check_one(values)] == expected
            pending[event.key] = event
            fired.update(rule for rule, _ in expected)
        elif operation == "record":
            for api in apis:
                api.record(values)
            recorded[event.key] = event
            pending.pop(event.key, None)
        else:
            for api in apis:
                api.discard(values)
            pending.pop(event.key, None)
    for api in apis[1:]:
        assert sorted(e.key for e in api.pending) == sorted(pending)
        assert sorted(e.key for e in api.ledger.events()) == sorted(recorded)
        api.close()
    assert fired & {"X-DAY", "X-ROLL", "X-CODE", "X-YEARS", "VL-QUARTER", "IMT-ONCE"}


def test_the_memory_ledger_keeps_the_ledger_protocol() -> None:
    from billing_rules.ledger import Ledger
    from billing_rules.ledger.memory import MemoryLedger

    first = Validator.invoice(_vl("V1", "2026-02-02"))
    other = Validator.invoice(_vl("V2", "2025-11-03", practitioner_id="20002", status="cancelled"))
    ledger = MemoryLedger([first, other])
    assert isinstance(ledger, Ledger)
    assert [event.invoice_id for event in ledger.events()] == ["V2", "V1"]  # by date
    assert [event.invoice_id for event in ledger.events(practitioner_id="10001")] == ["V1"]
    stats = ledger.stats()
    assert (stats.invoices, stats.cancelled, stats.first_date, stats.last_date) == (
        2,
        1,
        dt.date(2025, 11, 3),
        dt.date(2026, 2, 2),
    )
    assert stats.per_month == (("10001", "2026-02", 1), ("20002", "2025-11", 1))
    assert ledger.record([Validator.invoice(_vl("V1", "2026-02-20"))]) == 1  # replaces, never doubles
    assert len(ledger) == 2
    assert ledger.forget(dt.date(2026, 1, 1)) == 1
    assert [event.date for event in ledger.events()] == [dt.date(2026, 2, 20)]


# --- one session, several threads (a server's workers) ------------------------------------------------


def test_worker_threads_share_one_session(api: Any) -> None:
    """Checks and records from worker threads give exactly what one thread gives: every invoice
    recorded once, the windows counting them all, and no ledger called damaged for a thread."""
    from concurrent.futures import ThreadPoolExecutor

    days = [f"2026-0{month}-{day:02d}" for month in (1, 2, 3) for day in range(5, 25)]

    def work(index: int) -> None:
        invoice = _vl(f"V{index}", days[index])
        api.check_one(invoice)
        api.record(invoice)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(work, range(len(days))))
    # All 60 VL of the quarter are in the history: the next one is the 61st of Q1.
    findings = api.check_one(_vl("V-LAST", "2026-03-30"))
    assert _rules(findings, "VL-QUARTER") == ["VL-QUARTER"]
    assert findings[0].window is not None and findings[0].window.count == 61


def test_a_closed_ledger_is_a_misuse_not_damage(builtin_validator: Validator, tmp_path: Path) -> None:
    """A program calling a closed session must not send staff to rebuild an intact ledger."""
    session = builtin_validator.session(ledger=tmp_path / "registre.db")
    session.record(_vl("V1", "2026-02-02"))
    session.close()
    with pytest.raises(billing_rules.LedgerError) as raised:
        session.check_one(_vl("V2", "2026-02-03"))
    assert "endommagé" not in str(raised.value) and "le fichier n'est pas en cause" in str(raised.value)


def test_check_paths_takes_a_ledger_path(builtin_validator: Validator, tmp_path: Path) -> None:
    day = tmp_path / "jour.csv"
    day.write_text(
        "invoice_id;date;practitioner_id;patient_id;birth_date;ald;mt_status;place;codes\n"
        "V2;2026-02-03;10001;P-VL;1940-01-01;oui;self;domicile;VL+MD\n",
        encoding="utf-8",
    )
    ledger = tmp_path / "registre.db"
    with builtin_validator.session(ledger=ledger) as session:
        session.record(_vl("V1", "2026-02-02"))
    report = builtin_validator.check_paths([str(day)], ledger=str(ledger))
    assert [finding.rule for finding in report.findings] == ["VL-QUARTER"]
    recorded = builtin_validator.check_paths([str(day)], ledger=ledger, record=True)
    assert recorded.events == 1
    with builtin_validator.session(ledger=ledger) as session:
        (third,) = [f for f in session.check_one(_vl("V3", "2026-02-04")) if f.rule == "VL-QUARTER"]
    assert third.window is not None and third.window.count == 3  # V1, then V2 recorded by check_paths
