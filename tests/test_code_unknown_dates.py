"""CODE-UNKNOWN never tells the billing staff to bill a code that does not exist on the act's date.

``G+SHR`` on 2024-06-05 once gave « SHR (vouliez-vous dire SHE ?) » and « facturer G+SHE au lieu de
G+SHR »: SHE exists only from 2024-12-22, so that coding raised CODE-DATE. A code absent on the
act's date is now never in the corrected coding (nor is a code still unknown); the hint may name it,
saying when it exists. And a typo keeps its first letter: ``GL`` on 2026-06-05 is G, a consultation,
not VL, a home visit one letter wrong.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_rules import cli
from billing_rules.api.validator import Validator
from billing_rules.builtin.ngap.python_rules import PYTHON_RULES
from billing_rules.domain.lookalike import closest_code, one_edit_away
from billing_rules.domain.tariffs import CodeInfo
from billing_rules.testing import check

SHE_LATER = "SHE n'existe qu'à partir du 22/12/2024"
FALLBACK = "dans le logiciel de facturation ; s'il est juste, installer l'extension qui le déclare"
CORRECTED = re.compile(r"facturer (\S+) au lieu de")

# The rows of both engines' test: (invoice, date, codes) → (hint after the code, action).
CASES = [
    (
        ("F-1", "2024-06-05", "G+SHR"),
        f"SHR (vouliez-vous dire SHE ? {SHE_LATER})",
        "vérifier la date de l'acte et le code SHR dans le logiciel de facturation : SHE ne peut pas "
        "être facturé le 05/06/2024",
    ),
    (
        ("F-2", "2025-01-06", "G+SHR"),
        "SHR (vouliez-vous dire SHE ?)",
        "corriger le code : facturer G+SHE au lieu de G+SHR",
    ),
    (
        ("F-3", "2024-06-05", "G+MEGG+SHR"),
        f"MEGG (vouliez-vous dire MEG ?), SHR (vouliez-vous dire SHE ? {SHE_LATER})",
        "corriger MEGG en MEG ; vérifier la date de l'acte et le code SHR dans le logiciel de "
        "facturation : SHE ne peut pas être facturé le 05/06/2024",
    ),
    (
        ("F-4", "2024-06-05", "G+QQQQ+MEGG"),
        "QQQQ, MEGG (vouliez-vous dire MEG ?)",
        f"corriger MEGG en MEG ; vérifier le code QQQQ {FALLBACK} (billing-rules plugins)",
    ),
    (
        ("F-5", "2024-06-05", "G+SH\u0415"),  # a Cyrillic « Е »: SHE is certainly meant
        f"SH\u0415 (le caractère « \u0415 » (cyrillique) ressemble à « E » : vouliez-vous dire SHE ? "
        f"{SHE_LATER})",
        "vérifier la date de l'acte et le code SH\u0415 dans le logiciel de facturation : SHE ne peut "
        "pas être facturé le 05/06/2024",
    ),
    (
        ("F-6", "2026-06-05", "GL"),  # G, a consultation: not VL, a home visit
        "GL (vouliez-vous dire G ?)",
        "corriger le code : facturer G au lieu de GL",
    ),
    (
        ("F-7", "2024-06-05", "GX+QQQQ+ZZZZ"),
        "GX (vouliez-vous dire GS ?), QQQQ, ZZZZ",
        "corriger GX en GS ; vérifier les codes QQQQ, ZZZZ dans le logiciel de facturation ; s'ils sont "
        "justes, installer les extensions qui les déclarent (billing-rules plugins)",
    ),
]


def test_corrected_coding_exists_on_the_acts_date_on_both_engines(tmp_path: Path, engine: str) -> None:
    path = tmp_path / "typos.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["invoice_id", "date", "practitioner_id", "patient_id", "birth_date", "codes"])
        for (invoice, day, codes), _, _ in CASES:
            writer.writerow([invoice, day, "101", f"P-{invoice}", "1970-01-01", codes])
    result = CliRunner().invoke(
        cli.main,
        ["check", str(path), "--engine", engine, "--format", "json", "--fail-on", "never", "--isolated"],
    )
    assert result.exit_code == 0, result.output
    found = {
        finding["invoice_id"]: (finding["message"].partition(" : ")[2], finding["action"])
        for finding in json.loads(result.stdout)["findings"]
        if finding["rule"] == "CODE-UNKNOWN"
    }
    assert found == {invoice: (hint, action) for (invoice, _, _), hint, action in CASES}


def _typos(code: str) -> set[str]:
    """Every spelling of ``code`` one typo away: a letter wrong, missing, extra, or two swapped."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123"
    found = set()
    for index in range(len(code) + 1):
        found.update(code[:index] + letter + code[index:] for letter in letters)
        if index < len(code):
            found.add(code[:index] + code[index + 1 :])
            found.update(code[:index] + letter + code[index + 1 :] for letter in letters)
        if index < len(code) - 1:
            found.add(code[:index] + code[index + 1] + code[index] + code[index + 2 :])
    return found


@pytest.mark.parametrize("day", ["2022-08-01", "2023-06-05", "2024-06-05", "2025-06-05", "2026-06-05"])
def test_no_typo_of_a_dated_code_is_corrected_into_an_absent_code(
    builtin_validator: Validator, day: str
) -> None:
    """Every typo of every dated code (IMT, SNP, VSP, MOP, SHE, GL1-3...), on dates around theirs."""
    codes = builtin_validator.ruleset.codes
    date = dt.date.fromisoformat(day)
    dated = sorted(code for code, info in codes.items() if info.periods and "-" not in code)
    assert {"IMT", "SNP", "VSP", "MOP", "SHE", "GL1"} <= set(dated)
    typos = sorted({typo for code in dated for typo in _typos(code)} - set(codes))
    rows = [{"date": day, "codes": f"G+{typo}"} for typo in typos]
    report = check(builtin_validator, rows)
    unknown = [finding for finding in report.findings if finding.rule == "CODE-UNKNOWN"]
    assert len(unknown) == len(rows)
    corrected = 0
    for finding in unknown:
        assert finding.suggestion is None
        match = CORRECTED.search(finding.action or "")
        if match is None:
            continue
        corrected += 1
        for code in match.group(1).split("+"):
            assert code in codes and codes[code].exists_on(date), (finding.message, finding.action)
    assert corrected  # typos of a code in force still get their corrected coding


KNOWN = {
    **dict.fromkeys("G GS C MD VL VG V DE DA MEG".split()),
    "SHE": CodeInfo("SHE", periods=((dt.date(2024, 12, 22), None),)),
    "GL1": CodeInfo("GL1", periods=((dt.date(2026, 1, 1), None),)),
    "SNP": CodeInfo(
        "SNP", periods=((dt.date(2022, 7, 11), dt.date(2022, 9, 30)), (dt.date(2022, 12, 9), None))
    ),
}


def test_one_edit_away_never_returns_a_code_absent_on_the_day() -> None:
    before, after = dt.date(2024, 6, 5), dt.date(2024, 12, 22)
    assert one_edit_away("SHR", KNOWN, day=before) is None  # SHE, its only neighbour, is absent
    assert one_edit_away("SHR", KNOWN, day=after) == "SHE"
    assert one_edit_away("SHR", KNOWN) == "SHE"  # no date: every known code


def test_the_hint_says_when_an_absent_code_exists() -> None:
    assert closest_code("SHR", KNOWN, day=dt.date(2024, 6, 5)) == (
        "vouliez-vous dire SHE ? SHE n'existe qu'à partir du 22/12/2024",
        None,
        "SHE",
    )
    assert closest_code("SNR", KNOWN, day=dt.date(2022, 10, 5)) == (
        "vouliez-vous dire SNP ? SNP n'existe que du 11/07/2022 au 30/09/2022 et à partir du 09/12/2022",
        None,
        "SNP",
    )
    assert closest_code("SNR", KNOWN, day=dt.date(2022, 12, 9)) == ("vouliez-vous dire SNP ?", "SNP", None)
    never = {"SHE": KNOWN["SHE"].fixed_on(dt.date(2024, 6, 5))}  # a simulation's table: no date
    assert closest_code("SHR", never, day=dt.date(2025, 6, 5)) == (
        "vouliez-vous dire SHE ? SHE n'existe pas le 05/06/2025",
        None,
        "SHE",
    )


@pytest.mark.parametrize(
    ("code", "day", "meant"),
    [
        ("GL", "2026-06-05", "G"),  # G and GL1 keep the first letter, VL does not: G, alphabetical
        ("GL", "2025-06-05", "G"),  # GL1 absent, GS doubtful
        ("GL", "2024-06-05", "GS"),  # one letter wrong, first letter kept
        ("DM", "2024-06-05", "MD"),  # two letters swapped keep every letter: before DA, DE
        ("XG", "2024-06-05", "VG"),  # only a wrong first letter fits: still suggested
    ],
)
def test_a_typo_keeps_its_first_letter(code: str, day: str, meant: str) -> None:
    doubtful = {"GS": dt.date(2024, 12, 22)}
    assert one_edit_away(code, KNOWN, day=dt.date.fromisoformat(day), doubtful=doubtful) == meant


def test_the_rule_documents_its_choice() -> None:
    rule = next(rule for rule in PYTHON_RULES if rule.code == "CODE-UNKNOWN")
    assert "première lettre" in rule.doc
    assert "n'existe pas à la date de l'acte" in rule.doc
