"""One semantics: the relational engine (DuckDB, Spark) finds exactly what the row engine finds.

The row engine is the reference. Every difference below is a bug of the relational engine, never a
tolerance: rule, invoice, line, file, severity, message, amount, suggestion and source must match,
in the same order. The corpora:

* the oracle cases of ``tests/rules/*.toml`` and every ``example`` line of the built-in rules and
  of the example plugin's rules (run all at once: each case gets its own practitioner and patient
  ids, so no window of one case sees another's invoices);
* generated files where every code of SPEC §5 and every built-in extension code fires (the test
  asserts it): shuffled days, half-untimed acts, 29 February births, New Year weeks, DST days, ledger copies;
* the benchmark generator's files, with a high violation rate.

Each test names the engines it runs on (``executors``): DuckDB runs every corpus, Spark (a local
session, and through Spark Connect) the small ones (the examples, the oracle cases, the plugin's
rules, the first generated file, the constructs), which between them exercise every construct
whose meaning differs between the two dialects: ISO weekdays and the civil week across New Year,
NULLs (untimed acts) sorted last, ``ROWS`` frames, timestamps without time zone across DST, list
membership, ``split`` as a regular expression.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs
import pytest
import tomllib

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

from billing_rules.api.validator import Validator  # noqa: E402
from billing_rules.engines.relational import api  # noqa: E402
from billing_rules.model import Event, Finding  # noqa: E402
from billing_rules.testing import examples_of, make_event  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CASES_DIR = REPO / "tests" / "rules"
SPECIALIST_SRC = REPO / "plugins" / "billing-rules-specialist" / "src"
sys.path.insert(0, str(REPO / "benchmarks"))

import generate  # noqa: E402
from executors import ALL, SPARKS, WITHOUT_CONNECT, reported, run_args  # noqa: E402
from spec_codes import SPEC_SECTION_5  # noqa: E402

SPEC_CODES = SPEC_SECTION_5
#: Built-in codes beyond SPEC §5 (facts the SPEC list does not name): the corpus must fire them too.
EXTENSION_CODES = {
    "IMT-OPPOSABLE", "GL-OPPOSABLE", "VL-FIRST-AGE", "VSP-MT", "MEG-AGE", "MRT-MT", "MOP-SECTOR",
    "MUT-MT", "MRT-CUMUL", "GL1-CUMUL", "MRT-REGULATED", "OPP-MRT", "MD-BASE", "OPP-MD",
}  # fmt: skip


def key(finding: Finding) -> tuple[Any, ...]:
    """Everything a report shows of a finding."""
    return (
        finding.rule,
        finding.severity.value,
        finding.invoice_id,
        finding.line,
        finding.file,
        finding.practitioner_id,
        finding.patient_id,
        finding.date,
        finding.message,
        finding.amount,
        finding.suggestion,
        finding.source,
        finding.citation,
        finding.action,
        finding.window,
        finding.yearly,
    )


# --- corpora of small cases, run in one batch ----------------------------------------------------


@attrs.frozen
class Case:
    name: str
    history: tuple[Event, ...]
    rows: tuple[Event, ...]


def _tagged(event: Event, tag: str, seq: int | None = None) -> Event:
    changes: dict[str, Any] = {
        "practitioner_id": f"{tag}|{event.practitioner_id}",
        "patient_id": f"{tag}|{event.patient_id}",
    }
    if seq is not None:
        changes["seq"] = seq
    return attrs.evolve(event, **changes)


def _untagged(finding: Finding) -> tuple[str, Finding]:
    tag, _, practitioner = finding.practitioner_id.partition("|")
    patient = finding.patient_id.partition("|")[2]
    window = finding.window
    if window is not None and window.first_practitioner_id is not None:
        first = window.first_practitioner_id.partition("|")[2]
        window = attrs.evolve(window, first_practitioner_id=first)
    return tag, attrs.evolve(finding, practitioner_id=practitioner, patient_id=patient, window=window)


def assert_batch_identical(validator: Validator, cases: list[Case], engine: str = "duckdb") -> None:
    """Each case alone on the row engine equals the same case inside one relational batch."""
    history: list[Event] = []
    rows: list[Event] = []
    for index, case in enumerate(cases):
        history += [_tagged(event, f"C{index}") for event in case.history]
        rows += [_tagged(event, f"C{index}", seq=len(rows) + n) for n, event in enumerate(case.rows)]
    report = api.check_events(validator, rows, history=history, **run_args(engine))
    assert report.engine == reported(engine)
    found: dict[str, list[tuple[Any, ...]]] = {}
    for finding in report.findings:
        tag, plain = _untagged(finding)
        found.setdefault(tag, []).append(key(plain))
    differences = []
    for index, case in enumerate(cases):
        expected = [key(f) for f in validator.check_events(case.rows, history=case.history).findings]
        if found.get(f"C{index}", []) != expected:
            differences.append((case.name, expected, found.get(f"C{index}", [])))
    assert not differences, differences[:3]


def _oracle_cases() -> list[Case]:
    cases = []
    for path in sorted(CASES_DIR.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        defaults = data.get("defaults", {})
        for case in data.get("case", []):
            history = [
                Validator.invoice({**defaults, **row}, seq=i) for i, row in enumerate(case.get("history", []))
            ]
            rows = [
                Validator.invoice({**defaults, **row}, seq=len(history) + i)
                for i, row in enumerate(case["rows"])
            ]
            cases.append(Case(f"{path.stem}:{case['name']}", tuple(history), tuple(rows)))
    return cases


def _example_cases(validator: Validator) -> list[Case]:
    cases = []
    for example in examples_of(validator):
        history = tuple(
            make_event(seq=i, **{"invoice_id": f"EX-H{i + 1}", **row})
            for i, row in enumerate(example.history)
        )
        row = make_event(seq=len(history), **{"invoice_id": "EX-1", **example.row})
        cases.append(Case(example.label, history, (row,)))
    return cases


# Not through Spark Connect: the same statements as the rules' examples below, on more rows (the
# Connect server runs them as a local session does; its own paths are covered by the other corpora).
@pytest.mark.parametrize("engine", WITHOUT_CONNECT, indirect=True)
def test_oracle_corpus_identical(builtin_validator: Validator, engine: str) -> None:
    cases = _oracle_cases()
    assert len(cases) > 400
    assert_batch_identical(builtin_validator, cases, engine)


@pytest.mark.parametrize("engine", ALL, indirect=True)
def test_rule_examples_identical(builtin_validator: Validator, engine: str) -> None:
    cases = _example_cases(builtin_validator)
    assert len(cases) > 50
    assert_batch_identical(builtin_validator, cases, engine)


@pytest.fixture(scope="module")
def specialist_validator() -> Validator:
    sys.path.insert(0, str(SPECIALIST_SRC))
    try:
        import billing_rules_specialist
    finally:
        sys.path.remove(str(SPECIALIST_SRC))
    return Validator.build(entry_points=False, plugins=[("specialist", billing_rules_specialist)])


@pytest.mark.parametrize("engine", ALL, indirect=True)
def test_plugin_rules_identical(specialist_validator: Validator, engine: str) -> None:
    cases = _example_cases(specialist_validator)
    assert {case.name.split(":")[0] for case in cases} >= {"SPE-MCU-48H", "SPE-APC-4M", "SPE-MCU-REFERRAL"}
    assert_batch_identical(specialist_validator, cases, engine)
    report = api.check_events(specialist_validator, [case.rows[0] for case in cases], **run_args(engine))
    # The plugin's Python rule and the rules calling its Python function run row by row: said so.
    assert set(report.row_rules) == {"SPE-RPPS-REFERRER", "SPE-MCU-48H", "SPE-MCU-REFERRAL"}


def test_plugin_python_rule_identical(specialist_validator: Validator) -> None:
    rows = [
        {"codes": "APC", "referrer_rpps": "10000000000", "mt_status": "other", "date": "2025-03-06"},
        {"codes": "CS+MCU", "referrer_rpps": "12345678903", "mt_referral_at": "2025-03-01T10:00"},
        {"codes": "CS+MCU", "referrer_rpps": "abc", "mt_referral_at": "not a date"},
        {"codes": "G", "referrer_rpps": "abc"},
    ]
    events = [
        make_event(seq=i, **{"invoice_id": f"F{i}", "date": "2025-03-06", **row})
        for i, row in enumerate(rows)
    ]
    expected = [key(f) for f in specialist_validator.check_events(events).findings]
    assert {item[0] for item in expected} >= {"SPE-RPPS-REFERRER", "SPE-MCU-48H", "SPE-MCU-REFERRAL"}
    assert [key(f) for f in api.check_events(specialist_validator, events).findings] == expected


# --- generated files ---------------------------------------------------------------------------

_CODINGS = [
    "G", "G+MEG", "G+SNP", "G+MOP", "G+SNP+MCG", "G+MU+SNP", "IMT", "IMT+G", "IMT+SNP", "VL", "VL+MD",
    "VG+MD", "V+MD", "VSP+MD", "VSP", "GL1", "GL2", "GL3", "GS", "C", "TCG", "TC+SNP", "G+DE", "CS+SNP",
    "G+XYZ", "DEQP003", "G+MOP+SNP", "VG+MD+MOP", "APC", "G+MRT", "VL+MD+MOP", "GL1+MOP",
    "SNP", "G+DE+SNP", "DEQP003+MOP", "G+SHE+SNP", "G+SHE", "VG+MD+SNP", "IMT+DE", "GL2+DA",
    "G+MUT", "G+MRT+MUT", "G+MRT+SHE+F", "GL1+MIC", "GL1+MSH+MIC", "G+MD", "VG", "V", "G+MRT+SHE",
]  # fmt: skip
_DAYS = [
    dt.date(2022, 7, 11), dt.date(2022, 10, 14), dt.date(2022, 12, 9), dt.date(2023, 5, 15),
    dt.date(2023, 10, 31), dt.date(2023, 11, 1), dt.date(2023, 12, 31), dt.date(2024, 1, 1),
    dt.date(2024, 2, 29), dt.date(2024, 3, 31), dt.date(2024, 4, 1), dt.date(2024, 10, 27),
    dt.date(2024, 12, 22), dt.date(2024, 12, 30), dt.date(2025, 1, 1), dt.date(2025, 1, 5),
    dt.date(2025, 3, 30), dt.date(2025, 7, 14), dt.date(2025, 12, 31), dt.date(2026, 1, 1),
    dt.date(2026, 1, 5), dt.date(2026, 3, 1),
]  # fmt: skip
_BIRTHS = ["1944-02-29", "1946-01-01", "1940-06-15", "1970-04-12", "2021-02-28", "2020-02-29", "1958-01-12"]


def _random_rows(seed: int, count: int) -> list[dict[str, str]]:
    """Invoices over a small population so windows fill up; every field drawn at random."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        day = rng.choice(_DAYS) + dt.timedelta(days=rng.choice([0, 0, 1, 2, 3, 5, 30, 60, 91]))
        timed = rng.random() < 0.5
        minute = rng.choice([0, 7 * 60 + 59, 8 * 60, 11 * 60 + 59, 12 * 60, 19 * 60 + 59, 20 * 60, 23 * 60])
        referral = ""
        if rng.random() < 0.5:
            at = dt.datetime.combine(day, dt.time()) + dt.timedelta(
                hours=rng.choice([-72, -49, -48, -47, -2, 1])
            )
            referral = at.strftime("%Y-%m-%dT%H:%M")
        discharge = (
            (day - dt.timedelta(days=rng.choice([1, 45, 46]))).isoformat() if rng.random() < 0.3 else ""
        )
        rows.append(
            {
                "invoice_id": f"R{seed}-{index}",
                "date": day.isoformat(),
                "time": f"{minute // 60:02d}:{minute % 60:02d}" if timed else "",
                "practitioner_id": rng.choice(["10001", "10002", "10003"]),
                "specialty": rng.choice(["MG", "MG", "MG", "PSY"]),
                "sector": rng.choice(["1", "1", "2", "optam"]),
                "patient_id": f"P{rng.randrange(12)}",
                "birth_date": rng.choice(_BIRTHS),
                "ald": rng.choice(["oui", "non"]),
                "palliative": rng.choice(["oui", "non", "non"]),
                "neurodegenerative": rng.choice(["oui", "non", "non", "non"]),
                "mt_status": rng.choice(["self", "other", "none", "unknown", ""]),
                "declares_mt": rng.choice(["oui", "non"]),
                "place": rng.choice(["cabinet", "domicile", "ehpad", "tele"]),
                "homebound": rng.choice(["oui", "non"]),
                "codes": rng.choice(_CODINGS),
                "amount": rng.choice(["", "", "25.00", "26,50", "30.00", "90.00", "60.005", "5"]),
                "regulated": rng.choice(["oui", "non", "non"]),
                "referral_at": referral,
                "status": rng.choice(["billed"] * 9 + ["cancelled"]),
                "discharge_date": discharge,
            }
        )
    rows += _scenarios(seed)
    rng.shuffle(rows)
    return rows


def _scenarios(seed: int) -> list[dict[str, str]]:
    """Compliant invoices that the random draw rarely makes: a full SNP week, two VL in a quarter..."""
    base = {key: "" for key in ("time", "amount", "referral_at", "discharge_date", "specialty", "sector")}
    base |= {"ald": "oui", "palliative": "non", "neurodegenerative": "non", "homebound": "non"}
    base |= {"declares_mt": "non", "regulated": "non", "status": "billed", "place": "cabinet"}
    rows = []
    for index in range(23):  # SNP-WEEK: the 21st SNP of the week and later; the week of New Year
        day = dt.date(2024, 12, 30) + dt.timedelta(days=index % 5)
        rows.append(
            base
            | {
                "date": day.isoformat(),
                "time": f"{9 + index % 9:02d}:{index:02d}" if index % 2 else "",
                "practitioner_id": "20001",
                "patient_id": f"S{index}",
                "birth_date": "1970-01-01",
                "mt_status": "other",
                "codes": "G+SNP",
                "referral_at": f"{day.isoformat()}T08:00",
            }
        )
    visit = base | {"place": "domicile", "practitioner_id": "20002", "birth_date": "1940-02-29"}
    rows.append(visit | {"date": "2024-01-15", "patient_id": "V1", "mt_status": "self", "codes": "VL+MD"})
    rows.append(visit | {"date": "2024-03-29", "patient_id": "V1", "mt_status": "self", "codes": "VL+MD"})
    first = visit | {"mt_status": "none", "declares_mt": "oui", "homebound": "oui", "codes": "VG+MD"}
    rows.append(first | {"date": "2025-02-03", "patient_id": "V2"})
    rows.append(visit | {"date": "2025-02-04", "patient_id": "V3", "mt_status": "self", "codes": "VG+MD"})
    # A first-registration VL on the 80th birthday, without ALD (VL-FIRST-AGE).
    eighty = first | {"codes": "VL+MD", "ald": "non", "birth_date": "1945-02-03", "patient_id": "V4"}
    rows.append(eighty | {"date": "2025-02-03"})
    # The third consultation in 12 months of an ALD patient without MT (OPP-MT-DECLARE).
    for day in ("2025-01-06", "2025-03-03", "2025-06-02"):
        rows.append(base | {"date": day, "practitioner_id": "20005", "patient_id": "M1", "mt_status": "none"})
        rows[-1] |= {"birth_date": "1960-01-01", "codes": "G"}
    she = {"date": "2025-03-04", "time": "19:45", "practitioner_id": "20004", "patient_id": "H1"}
    rows.append(base | she | {"mt_status": "other", "codes": "G+MRT", "referral_at": "2025-03-04T19:30"})
    rows.append(
        base | she | {"patient_id": "H2", "mt_status": "other", "codes": "G+SNP"} | {"regulated": "oui"}
    )
    rows[-1]["referral_at"] = "2025-03-04T19:10"
    rows[-2]["birth_date"] = rows[-1]["birth_date"] = "1970-01-01"
    imt_due = {"date": "2025-03-03", "practitioner_id": "20003", "patient_id": "I1"}
    imt_due["birth_date"] = "1960-01-01"
    rows.append(base | imt_due | {"mt_status": "none", "declares_mt": "oui", "codes": "G"})
    for index, row in enumerate(rows):
        row["invoice_id"] = f"S{seed}-{index}"
    return rows


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _both(
    validator: Validator, paths: list[str], engine: str = "duckdb"
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    row = validator.check_paths(paths)
    relational = api.check_paths(validator, paths, **run_args(engine))
    assert row.engine == "row" and relational.engine == reported(engine)
    assert relational.events == row.events
    assert relational.input_errors == row.input_errors
    return [key(f) for f in row.findings], [key(f) for f in relational.findings]


@pytest.mark.parametrize(
    ("seed", "engine"),
    [(1, "duckdb"), (2, "duckdb"), (3, "duckdb")]
    + [pytest.param(1, *param.values, marks=param.marks, id=f"1-{param.id}") for param in SPARKS],
    indirect=["engine"],
)
def test_random_files_identical_and_every_code_fires(
    tmp_path: Path, builtin_validator: Validator, seed: int, engine: str
) -> None:
    files = [
        str(_write_csv(tmp_path / f"a{seed}.csv", _random_rows(seed, 900))),
        str(_write_csv(tmp_path / f"b{seed}.csv", _random_rows(seed + 100, 300))),
    ]
    expected, found = _both(builtin_validator, files, engine)
    assert found == expected
    fired = {item[0] for item in expected}
    if seed == 1:
        # The corpus must exercise the catalogue: every SPEC §5 code and built-in extension fires.
        assert SPEC_CODES | EXTENSION_CODES <= {info.code for info in builtin_validator.rules}
        missing = (SPEC_CODES | EXTENSION_CODES) - fired
        assert not missing, missing


def _per_act(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Each invoice as one row per act, as exports write it: its amount on its first act's row."""
    acts = []
    for row in rows:
        for rank, code in enumerate(row["codes"].split("+")):
            act = {name: value for name, value in row.items() if name != "codes"} | {"code": code}
            if rank and act.get("amount"):
                act["amount"] = "0.00"
            acts.append(act)
    return acts


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_per_act_files_identical_and_every_code_fires(
    tmp_path: Path, builtin_validator: Validator, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The random invoices as one row per act, in Parquet and JSON Lines: the columnar engine's input
    (grouped column-wise, ``readers.columnar.per_act`` and ``json_per_act``), the row engine's
    findings."""
    import json

    pytest.importorskip("polars")
    from billing_rules.readers.columnar import json_per_act
    from billing_rules.readers.columnar import table as table_module

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("grouped by the row readers")

    monkeypatch.setattr(table_module, "grouped_batches", refused)
    monkeypatch.setattr(json_per_act, "grouped_batches", refused)

    paths = []
    for name, rows in (("a", _random_rows(1, 900)), ("b", _random_rows(101, 300))):
        acts = _per_act(rows)
        path = tmp_path / f"{name}.{fmt}"
        if fmt == "parquet":
            pl = pytest.importorskip("polars")
            pl.DataFrame({column: [act[column] for act in acts] for column in acts[0]}).write_parquet(path)
        else:
            path.write_text(
                "".join(json.dumps(act, ensure_ascii=False) + "\n" for act in acts), encoding="utf-8"
            )
        paths.append(str(path))
    assert api.columnar_files(paths, None)
    expected, found = _both(builtin_validator, paths)
    assert found == expected
    missing = (SPEC_CODES | EXTENSION_CODES) - {item[0] for item in expected}
    assert not missing, missing


@pytest.mark.parametrize(("seed", "start"), [(21, dt.date(2023, 12, 18)), (22, dt.date(2025, 12, 22))])
def test_generated_files_identical(
    tmp_path: Path, builtin_validator: Validator, seed: int, start: dt.date
) -> None:
    path = tmp_path / f"gen-{seed}.csv"
    generate.generate(str(path), rows=4000, practitioners=2, seed=seed, start=start, violations=40, ik=True)
    expected, found = _both(builtin_validator, [str(path)])
    assert len({item[0] for item in expected}) >= 10
    assert found == expected


def test_ledger_history_identical(tmp_path: Path, builtin_validator: Validator) -> None:
    """``check --ledger``: the ledger's rows count first; the input's copies replace them."""
    from billing_rules.ledger import open_ledger

    rows = _random_rows(7, 600)
    old = _write_csv(tmp_path / "old.csv", rows[:400])
    new = _write_csv(tmp_path / "new.csv", rows[300:])
    ledger = open_ledger(str(tmp_path / "ledger.sqlite"))
    try:
        builtin_validator.check_paths([str(old)], ledger=ledger, record=True)
        row = builtin_validator.check_paths([str(new)], ledger=ledger)
        relational = api.check_paths(builtin_validator, [str(new)], ledger=ledger)
    finally:
        ledger.close()
    assert [key(f) for f in relational.findings] == [key(f) for f in row.findings]
    assert row.findings


def _codes(findings: Iterable[Finding]) -> set[str]:
    return {finding.rule for finding in findings}


class _Boom:
    """A plugin whose Python rule and Python function fail on some invoices (INTERNAL-ERROR)."""

    from billing_rules import hookimpl

    @hookimpl
    def register_rules(self, register: Any) -> None:
        from billing_rules.model import Severity
        from billing_rules.rule import Hit

        @attrs.frozen
        class Fragile:
            code: str = "BOOM-RULE"
            severity: Severity = Severity.ERROR
            source: str = "boom"
            triggers: frozenset[str] | None = frozenset({"MEG"})

            def check(self, event: Event, history: Any) -> list[Hit]:
                if event.invoice_id.endswith("3"):
                    raise ValueError("patient P-1")
                return [Hit(message="MEG vue")] if event.invoice_id.endswith("1") else []

        register(Fragile())

    @hookimpl
    def register_functions(self, register: Any) -> None:
        from billing_rules.dsl.vocabulary import Function, Kind

        def fragile(env: Any, event: Event) -> bool:
            if event.invoice_id.endswith("5"):
                raise KeyError("x")
            return event.invoice_id.endswith("4")

        register(Function("fragile", (), Kind.BOOL, fragile, "échoue sur les factures en 5"))

    @hookimpl
    def register_rule_sets(self, register: Any) -> None:
        register(
            text='rule BOOM-OPP opportunity "MEG possible"\n  on G\n  when fragile()\n'
            "  suggest add MEG\nend\n"
            'rule BOOM-WARN warning "G fragile"\n  on G\n  when fragile()\nend\n',
            name="boom.rules",
        )


def test_crashes_reported_as_the_row_engine_does() -> None:
    validator = Validator.build(entry_points=False, plugins=[("boom", _Boom())])
    rows = []
    for index in range(12):
        codes = ["G", "G+MEG", "G+SNP", "G+MEG+SNP"][index % 4]
        rows.append(make_event(seq=index, invoice_id=f"F{index}", codes=codes, birth_date="2022-01-01"))
    expected = [key(f) for f in validator.check_events(rows).findings]
    assert {item[0] for item in expected} >= {"INTERNAL-ERROR", "BOOM-RULE", "BOOM-WARN"}
    assert [key(f) for f in api.check_events(validator, rows).findings] == expected


CONSTRUCTS = """
define weekend = weekday() >= 6
rule T-TARIFF warning "montant au tarif du G"
  on G
  when amount is given and amount + 0.50 > tariff(G) - 1 and amount != tariff(G)
end
rule T-HOLIDAY warning "jour férié ou week-end le {date}"
  when public_holiday() or weekend
end
rule T-DATES warning "naissance récente ou adressage ancien"
  on G, VG
  when birth_date + 6 years > date or referral_at + 1 day < act_time or date - 2 weeks > 2025-01-01
end
rule T-TIME warning "heure après l'adressage"
  on SNP
  when time is given and referral_at is given and act_time >= referral_at + 90 minutes
end
rule T-TEXT warning "spécialité ou secteur"
  when specialty in (PSY, "MG") and sector is not optam and invoice_id != practitioner_id
end
rule T-YEAR error "{count}e G de l'année (depuis le {first_date}, dernier le {last_date})"
  on G, GS
  at most 2 per patient and code per year counting not declares_mt
end
rule T-DAY error "{count}e acte du jour pour ce praticien"
  at most 3 per practitioner per day
end
rule T-ROLL warning "3e visite en 30 jours (depuis le {first_date})"
  on VG, V, VL, VSP
  the 3rd per patient within 30 days
end
rule T-WEEKS error "2e IMT en 2 semaines"
  on IMT
  at most 1 per patient within 2 weeks
end
"""


@pytest.mark.parametrize("engine", ALL, indirect=True)
def test_language_constructs_identical(tmp_path: Path, engine: str) -> None:
    """Functions, durations, texts, windows of every kind: on rows drawn at random."""
    rules = tmp_path / "constructs.rules"
    rules.write_text(CONSTRUCTS, encoding="utf-8")
    validator = Validator.build(entry_points=False, rule_files=[rules])
    path = str(_write_csv(tmp_path / "constructs.csv", _random_rows(5, 1200)))
    expected, found = _both(validator, [path], engine)
    assert found == expected
    fired = {item[0] for item in expected}
    assert fired >= {"T-TARIFF", "T-HOLIDAY", "T-DATES", "T-TIME", "T-TEXT", "T-YEAR", "T-DAY", "T-ROLL"}


class _Faulty:
    """A plugin failing in every way the row engine contains, in its rules and in its functions.

    Each fault happens on one invoice (``FAULTS``): ``SystemExit``, a ``ValueError``, a
    ``KeyboardInterrupt`` the plugin raised itself, a result that is not a list of hits (``["x"]``)
    and a hit whose message is no text; in a Python rule's ``check``, in a DSL condition calling a
    Python function (run row by row by the relational engine) and in a DSL amount calling one.
    """

    from billing_rules import hookimpl

    @hookimpl
    def register_rules(self, register: Any) -> None:
        from billing_rules.model import Severity
        from billing_rules.rule import Hit

        @attrs.frozen
        class Faulty:
            code: str
            fault: str
            severity: Severity = Severity.ERROR
            source: str = "faulty"
            triggers: frozenset[str] | None = frozenset({"G"})

            def check(self, event: Event, history: Any) -> Any:
                if event.invoice_id == "F12":
                    return [Hit(message=f"{self.code} vue")]
                if event.invoice_id != _Faulty.FAULTS[self.fault]:
                    return []
                return _Faulty.fail(self.fault)

        for fault in ("exit", "value", "interrupt", "text", "message"):
            register(Faulty(f"FAULT-{fault.upper()}", fault))
        # A warning rule of the suggested coding that crashes: a warning, not an error (the
        # opportunity stays), as ``Session._has_error`` and ``_warning_count`` count it.
        register(Faulty("FAULT-WARN", "warn", Severity.WARNING, triggers=frozenset({"MEG"})))

    @hookimpl
    def register_functions(self, register: Any) -> None:
        from billing_rules.dsl.vocabulary import Function, Kind

        def condition(fault: str) -> Function:
            def impl(env: Any, event: Event) -> bool:
                if event.invoice_id == _Faulty.FAULTS[fault]:
                    _Faulty.fail(fault)
                # FAULT-OPP is also offered where a warning rule crashes (F6) and an error rule
                # crashes (F7): only the error rule's crash leaves the invoice not known compliant.
                opportunity = ("F6", "F7", "F11", "F12")
                return event.invoice_id in opportunity if fault == "opp-exit" else event.invoice_id == "F12"

            return Function(fault.replace("-", "_"), (), Kind.BOOL, impl, "échoue sur une facture")

        for fault in ("cond-exit", "cond-value", "cond-interrupt", "opp-exit"):
            register(condition(fault))

        def amount(env: Any, event: Event) -> Any:
            if event.invoice_id == _Faulty.FAULTS["amount-exit"]:
                raise SystemExit(3)
            return "1.50"

        register(Function("shaky_amount", (), Kind.MONEY, amount, "échoue sur une facture"))

    @hookimpl
    def register_rule_sets(self, register: Any) -> None:
        register(
            text='rule FAULT-COND-EXIT warning "condition qui quitte"\n  on G\n  when cond_exit()\nend\n'
            'rule FAULT-COND-VALUE error "condition en erreur"\n  on G\n  when cond_value()\nend\n'
            'rule FAULT-COND-INTERRUPT warning "condition interrompue"\n  when cond_interrupt()\nend\n'
            # G+MCG, compliant (G+MD would be MD-BASE's error: no opportunity to test).
            'rule FAULT-OPP opportunity "MCG possible"\n  on G\n  when opp_exit()\n  suggest add MCG\nend\n'
            'rule FAULT-AMOUNT error "montant calculé"\n  on SNP\n  amount shaky_amount()\nend\n',
            name="faulty.rules",
        )

    #: The invoice each fault happens on.
    FAULTS = {
        "exit": "F1",
        "value": "F2",
        "interrupt": "F3",
        "text": "F4",
        "message": "F5",
        "cond-exit": "F6",
        "cond-value": "F7",
        "cond-interrupt": "F8",
        "amount-exit": "F9",
        "opp-exit": "F10",
        "warn": "F11",
    }

    @staticmethod
    def fail(fault: str) -> Any:
        if fault.endswith("exit") or fault == "warn":
            raise SystemExit(3)
        if fault.endswith("value"):
            raise ValueError("patient P-1")
        if fault.endswith("interrupt"):
            raise KeyboardInterrupt
        if fault == "text":
            return ["x"]
        from billing_rules.rule import Hit

        return [Hit(message=123)]  # type: ignore[arg-type]


def _faulty_rows() -> list[Event]:
    codes = {"F9": "G+SNP", "F13": "SNP"}
    return [
        make_event(
            seq=index, invoice_id=f"F{index}", codes=codes.get(f"F{index}", "G"), birth_date="1970-01-01"
        )
        for index in range(1, 14)
    ]


@pytest.mark.parametrize("engine", ALL, indirect=True)
def test_faulty_plugin_contained_as_the_row_engine_does(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """SystemExit, ValueError, a plugin's own KeyboardInterrupt, ``["x"]``, ``Hit(message=123)``: in a
    rule's check, a Python condition or a Python amount, one INTERNAL-ERROR on that invoice with
    both engines, and the same findings everywhere else."""
    from billing_rules import interrupt

    # As under the CLI: its SIGINT handler is installed, and no Ctrl-C arrived.
    monkeypatch.setitem(interrupt._state, "installed", True)
    monkeypatch.setitem(interrupt._state, "received", False)
    validator = Validator.build(entry_points=False, plugins=[("faulty", _Faulty())])
    rows = _faulty_rows()
    expected = [key(f) for f in validator.check_events(rows).findings]
    crashes = {
        (item[2], item[8].split(" : ")[1].split(" ;")[0]) for item in expected if item[0] == "INTERNAL-ERROR"
    }
    assert crashes >= {
        ("F1", "SystemExit"),
        ("F2", "ValueError"),
        ("F3", "KeyboardInterrupt"),
        ("F4", "MalformedResult"),
        ("F5", "MalformedResult"),
        ("F6", "SystemExit"),
        ("F7", "ValueError"),
        ("F8", "KeyboardInterrupt"),
        ("F9", "SystemExit"),
        ("F10", "SystemExit"),
    }
    offered = {(item[0], item[2]) for item in expected}
    assert ("FAULT-OPP", "F11") in offered  # despite FAULT-WARN's crash on the suggested coding
    assert ("FAULT-OPP", "F6") in offered  # despite FAULT-COND-EXIT's crash (a warning rule)
    assert ("FAULT-OPP", "F7") not in offered  # FAULT-COND-VALUE (an error rule) crashed
    assert all(isinstance(item[8], str) for item in expected)
    assert [key(f) for f in api.check_events(validator, rows, **run_args(engine)).findings] == expected


@pytest.mark.parametrize("where", ["check", "condition"])
@pytest.mark.parametrize(("installed", "received"), [(False, False), (True, True)])
def test_a_real_interrupt_stops_both_engines(
    monkeypatch: pytest.MonkeyPatch, where: str, installed: bool, received: bool
) -> None:
    """A real Ctrl-C (or any ``KeyboardInterrupt`` when no handler can tell) stops both engines."""
    from billing_rules import interrupt

    monkeypatch.setitem(interrupt._state, "installed", installed)
    monkeypatch.setitem(interrupt._state, "received", received)
    validator = Validator.build(entry_points=False, plugins=[("faulty", _Faulty())])
    invoice = _Faulty.FAULTS["interrupt" if where == "check" else "cond-interrupt"]
    rows = [event for event in _faulty_rows() if event.invoice_id == invoice]
    with pytest.raises(KeyboardInterrupt):
        validator.check_events(rows)
    with pytest.raises(KeyboardInterrupt):
        api.check_events(validator, rows)


class _Dated:
    """A plugin's Python rule in force from 2025-01-01 to 2025-06-30 only (its own dates)."""

    from billing_rules import hookimpl

    @hookimpl
    def register_rules(self, register: Any) -> None:
        from billing_rules.model import Severity
        from billing_rules.rule import Hit

        @attrs.frozen
        class Dated:
            code: str = "DATED-G"
            severity: Severity = Severity.WARNING
            source: str = "dated"
            triggers: frozenset[str] | None = frozenset({"G"})
            valid_from: dt.date | None = dt.date(2025, 1, 1)
            valid_until: dt.date | None = dt.date(2025, 6, 30)

            def check(self, event: Event, history: Any) -> Any:
                return [Hit(message="G de la période")]

        register(Dated())


@pytest.mark.parametrize("engine", ALL, indirect=True)
def test_python_rule_runs_only_on_the_acts_of_its_dates(engine: str) -> None:
    """A Python rule's ``valid_from`` / ``valid_until`` hold on every engine: the day before, the
    first day, the last day and the day after."""
    validator = Validator.build(entry_points=False, builtin=False, plugins=[("dated", _Dated())])
    days = ["2024-12-31", "2025-01-01", "2025-06-30", "2025-07-01"]
    rows = [
        make_event(seq=index, invoice_id=f"D{index}", date=day, codes="G", patient_id=f"P{index}")
        for index, day in enumerate(days)
    ]
    expected = [key(f) for f in validator.check_events(rows).findings]
    assert [item[2] for item in expected] == ["D1", "D2"]
    assert [key(f) for f in api.check_events(validator, rows, **run_args(engine)).findings] == expected
