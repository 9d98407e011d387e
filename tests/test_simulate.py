"""``billing-rules simulate`` (SPEC §7): the example practice's activity under other texts.

The figures are checked by hand from the example history (``examples/history-2023-2025.csv``) and
the week (``examples/week-2026-01.csv``); each test says how.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from billing_rules.api.simulation import Simulation, simulate
from billing_rules.api.validator import Validator
from billing_rules.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HISTORY = EXAMPLES / "history-2023-2025.csv"
WEEK = EXAMPLES / "week-2026-01.csv"
DR_A = "10101234567"


def _invoke(args: list[str], exit_code: int = 0) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == exit_code, (args, result.output)
    return result.stdout


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The README's example ledger: the 2023-2025 history, then the week of January 2026."""
    path = str(tmp_path_factory.mktemp("simulation") / "cabinet.sqlite")
    _invoke(["ledger", "import", str(HISTORY), "--ledger", path])
    _invoke(["check", str(WEEK), "--ledger", path, "--record"], 1)
    return path


def _simulate(ledger: str, *args: str) -> dict[str, Any]:
    return json.loads(_invoke(["simulate", "--ledger", ledger, *args, "--format", "json", "--no-plugins"]))


def _rule(document: dict[str, Any], code: str) -> dict[str, Any]:
    return next(line for line in document["by_rule"] if line["rule"] == code)


def test_2024_g_invoices_under_the_2025_tariff(ledger: str) -> None:
    """2024 activity as of 2025-01-01: every G or VG billed at the 26,50 € tariff is 3,50 € short.

    By hand, from the history's 2024 rows (recounted below): 1 804 G at 26,50 €, 364 G+MEG at
    31,50 €, 63 G+MOP at 31,50 €, 122 G+SNP at 41,50 €, 25 G+SNP+MEG at 46,50 € and 468 VG+MD at
    36,50 € = 2 846 invoices; two of the G+MOP are MOP-MT errors, which get no opportunity (SPEC §5):
    2 844 × 3,50 € = 9 954,00 €. Under each date's own texts, only the 16 invoices of
    22-31 December still billed at 26,50 € are short: 16 × 3,50 € = 56,00 €.
    """
    with HISTORY.open(encoding="utf-8") as stream:
        rows = [row for row in csv.DictReader(stream, delimiter=";") if row["date"].startswith("2024")]
    old = {
        "G": "26.50",
        "G+MEG": "31.50",
        "G+MOP": "31.50",
        "G+SNP": "41.50",
        "G+SNP+MEG": "46.50",
        "VG+MD": "36.50",
    }
    short = Counter(
        row["codes"]
        for row in rows
        if row["status"] != "cancelled" and old.get(row["codes"]) == row["amount"]
    )
    assert sum(short.values()) == 2846

    document = _simulate(ledger, "--from", "2024-01-01", "--to", "2024-12-31", "--as-of", "2025-01-01")
    below = _rule(document, "AMOUNT-BELOW")
    assert (below["before"]["opportunities"], below["before"]["missed_revenue"]) == (16, 56.0)
    assert (below["after"]["opportunities"], below["after"]["missed_revenue"]) == (2844, 9954.0)
    assert below["difference"]["missed_revenue"] == 9898.0
    assert _rule(document, "MOP-MT")["after"]["errors"] == 2
    assert document["invoices"] == len(rows)


def test_2025_forfait_under_the_2026_texts(ledger: str) -> None:
    """Dr A's 2025 patientèle (538 patients, ages on 31/12/2025), priced by the FPMT 2025 then the FMT.

    FPMT 2025 (README): 52 × 6 + 300 × 5 + 52 × 46 + 89 × 46 + 45 × 70 = 11 448 €.
    FMT: 51 × 15 + 220 × 5 + 21 × 15 + 52 × 55 + 88 × 55 + 44 × 100 + 62 × 5 (not seen since
    2023) + 44 C2S × 10 = 765 + 1 100 + 315 + 2 860 + 4 840 + 4 400 + 310 + 440 = 15 030 €.
    """
    document = _simulate(
        ledger, "--from", "2025-01-01", "--to", "2025-12-31", "--as-of", "2026-01-01", "--practitioner", DR_A
    )
    (forfait,) = document["forfaits"]
    assert forfait["before"] == {"scheme": "FPMT", "patients": 538, "total": 11448.0, "settled": True}
    assert forfait["after"]["scheme"] == "FMT" and forfait["after"]["total"] == 15030.0
    assert forfait["after"]["settled"] is False
    assert forfait["difference"] == 3582.0
    assert [line["practitioner_id"] for line in document["by_practitioner"]] == [DR_A]
    # 2025 was priced at the 2026 tariffs already (G 30 € since 2024-12-22): no amount changes.
    assert document["total"]["difference"]["amount_at_risk"] == 0.0
    assert document["total"]["difference"]["missed_revenue"] == 0.0


def test_codes_absent_on_the_as_of_day_count_for_nothing(ledger: str) -> None:
    """The week of 2026 under the 2025 texts: GL1 did not exist, so GL-* and CODE-DATE say nothing."""
    document = _simulate(ledger, "--from", "2026-01-05", "--to", "2026-01-11", "--as-of", "2025-06-01")
    absent = {item["code"]: item["invoices"] for item in document["codes_absent_as_of"]}
    # F-2026-0057, F-2026-0078 and F-2026-0210 (F-2026-0043 is dated 2025-12-30).
    assert absent["GL1"] == 3
    rules = {line["rule"]: line for line in document["by_rule"]}
    assert rules["GL-MT"]["before"]["errors"] == 1 and rules["GL-MT"]["after"]["errors"] == 0
    assert rules["GL1-DISCHARGE"]["after"]["errors"] == 0
    # GL1+MIC (F-2026-0210): woken by the MIC, which has no dates, GL1-CUMUL is still silent.
    assert rules["GL1-CUMUL"]["before"]["errors"] == 1 and rules["GL1-CUMUL"]["after"]["errors"] == 0
    assert rules["OPP-MT-DECLARE"]["before"]["yearly_revenue_missed"] == 55.0  # FMT ALD < 80
    assert rules["OPP-MT-DECLARE"]["after"]["yearly_revenue_missed"] == 46.0  # FPMT 2025


def test_an_opportunity_never_suggests_a_code_absent_on_the_as_of_day(ledger: str) -> None:
    """2025 under the texts of 2022-10-15, in SNP's gap (SPEC §5 CODE-DATE: 2022-10-01 to 12-08).

    The 2025 invoices lose their SNP in the second run, and the regulated consultations without SNP
    must not be offered one either: an opportunity is compliant (SPEC §5), and SNP does not exist on
    that day, whatever the act's date.
    """
    document = _simulate(ledger, "--from", "2025-01-01", "--to", "2025-12-31", "--as-of", "2022-10-15")
    absent = {item["code"]: item["invoices"] for item in document["codes_absent_as_of"]}
    assert absent["SNP"] > 0
    rules = {line["rule"]: line for line in document["by_rule"]}
    assert "OPP-SNP" not in rules or rules["OPP-SNP"]["after"]["findings"] == 0
    assert rules["OPP-VL"]["after"]["findings"] == rules["OPP-VL"]["before"]["findings"] > 0


def test_a_draft_text_counts_in_the_second_run_only(ledger: str, tmp_path: Path) -> None:
    draft = tmp_path / "projet.rules"
    draft.write_text(
        'rule DRAFT-TCG warning "téléconsultation : justificatif à conserver"\n  on TCG\nend\n',
        encoding="utf-8",
    )
    args = ["--from", "2025-01-01", "--to", "2025-03-31", "--as-of", "2026-01-01", "--rules", str(draft)]
    document = _simulate(ledger, *args)
    line = _rule(document, "DRAFT-TCG")
    assert line["before"]["warnings"] == 0 and line["after"]["warnings"] > 0
    assert document["draft_rules"] == [str(draft)]


def test_text_report(ledger: str) -> None:
    output = _invoke(
        [
            "simulate",
            "--ledger",
            ledger,
            "--from",
            "01/01/2024",
            "--to",
            "31/12/2024",
            "--as-of",
            "01/01/2025",
        ]
    )
    assert output.startswith("Simulation : activité du 01/01/2024 au 31/12/2024 (tous les praticiens")
    assert "AMOUNT-BELOW" in output and "+9\u00a0898,00" in output
    assert "Forfait médecin traitant (patientèle MT au 31/12)" in output


def test_usage_errors(ledger: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "simulate",
            "--ledger",
            ledger,
            "--from",
            "2025-02-01",
            "--to",
            "2025-01-01",
            "--as-of",
            "2026-01-01",
        ],
    )
    assert result.exit_code == 2 and "précède" in result.output
    missing = CliRunner().invoke(
        main,
        ["simulate", "--ledger", str(tmp_path / "absent.db"), "--from", "2025-01-01", "--to", "2025-01-31"]
        + ["--as-of", "2026-01-01"],
    )
    assert missing.exit_code == 2


def test_same_texts_change_nothing(ledger: str) -> None:
    """Simulating a period under the texts of a day inside it, where none changed, is the identity.

    (Not the whole of 2025: the ledger holds a GL1 dated 2025-12-30, a CODE-DATE error under its own
    date's texts, and a code that counts for nothing under texts where GL1 does not exist.)
    """
    validator = Validator.build(entry_points=False)
    then = Validator.build(entry_points=False, texts_as_of=dt.date(2025, 6, 1))
    from billing_rules.ledger import open_ledger

    opened = open_ledger(ledger, create=False)
    try:
        events = list(opened.events(end=dt.date(2025, 6, 30)))
    finally:
        opened.close()
    result: Simulation = simulate(
        events,
        start=dt.date(2025, 1, 1),
        end=dt.date(2025, 12, 31),
        as_of=dt.date(2025, 6, 1),
        now=validator,
        then=then,
    )
    assert result.total.before == result.total.after
    assert all(forfait.change == 0 for forfait in result.forfaits)


# ---- the HTML page ------------------------------------------------------------------------------

CHROMIUM = os.environ.get("BILLING_RULES_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("BILLING_RULES_CHROMEDRIVER", "/usr/bin/chromedriver")


def _html_page(ledger: str) -> str:
    """The page of the 2024 activity under the texts of 2025-01-01."""
    args = ["--from", "2024-01-01", "--to", "2024-12-31", "--as-of", "2025-01-01"]
    return _invoke(["simulate", "--ledger", ledger, *args, "--format", "html", "--no-plugins"])


def test_html_page(ledger: str) -> None:
    page = _html_page(ledger)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower()
    assert 'data-rule="AMOUNT-BELOW" data-count="16"' in page
    assert 'data-rule="AMOUNT-BELOW" data-count="2844"' in page


def test_html_page_shows_what_the_text_report_shows(ledger: str) -> None:
    """The yearly forfaits missed (OPP-MT-DECLARE) and the codes absent on ``--as-of``, as in the text.

    The week of 2026 under the 2025 texts: 55 € (FMT, ALD under 80) then 46 € (FPMT 2025), and GL1
    did not exist. Neither euro is in a row's "Manqué" (SPEC §2: never added to missed revenue), so
    without its own line the page would show 0,00 € where the text shows the forfait.
    """
    import html

    args = ["--from", "2026-01-05", "--to", "2026-01-11", "--as-of", "2025-06-01", "--no-plugins"]
    text = _invoke(["simulate", "--ledger", ledger, *args])
    page = html.unescape(_invoke(["simulate", "--ledger", ledger, *args, "--format", "html"]))
    wanted = [
        line.strip()
        for line in text.splitlines()
        if line.startswith("Forfaits annuels manqués") or "n'existe pas au" in line
    ]
    assert "Forfaits annuels manqués (OPP-MT-DECLARE) : 55,00\u00a0€ → 46,00\u00a0€ (-9,00\u00a0€)" in wanted
    assert "GL1 n'existe pas au 01/06/2025 : ignoré sur 3 facture(s)" in wanted  # with F-2026-0210
    for line in wanted:
        assert line in page


def test_html_page_in_headless_chromium(ledger: str, tmp_path: Path) -> None:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)) or not (
        os.path.exists(CHROMEDRIVER) or shutil.which(CHROMEDRIVER)
    ):
        if os.environ.get("BILLING_RULES_REQUIRE_CHROMIUM"):
            pytest.fail(f"Chromium required but absent ({CHROMIUM}, {CHROMEDRIVER})")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    page = tmp_path / "simulation.html"
    page.write_text(_html_page(ledger), encoding="utf-8")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        browser.get(page.as_uri())
        assert browser.title.startswith("Simulation sous les textes du 01/01/2025")
        before = browser.find_element(By.CSS_SELECTOR, '#chart-rules rect.before[data-rule="AMOUNT-BELOW"]')
        after = browser.find_element(By.CSS_SELECTOR, '#chart-rules rect.after[data-rule="AMOUNT-BELOW"]')
        # The bars are drawn to scale: 16 findings before, 2 844 after (the longest bar).
        assert after.rect["width"] > 50 * before.rect["width"] / 2
        assert (
            browser.find_element(By.CSS_SELECTOR, "#change-missed").text.replace("\u00a0", " ")
            == "+9 842,00 €"
        )
        rows = browser.find_elements(By.CSS_SELECTOR, "#forfaits tbody tr")
        assert len(rows) == 4
    finally:
        browser.quit()


def test_code_date_says_a_code_is_absent_from_the_texts_applied() -> None:
    """Under one day's texts a code may exist on no date: CODE-DATE never prints an empty period."""
    validator = Validator.build(entry_points=False, texts_as_of=dt.date(2022, 1, 1))
    invoice = Validator.invoice(
        {
            "invoice_id": "A",
            "date": "2024-02-01",
            "practitioner_id": "1",
            "patient_id": "P",
            "birth_date": "1960-01-01",
            "codes": "IMT",
            "ald": "oui",
            "mt_status": "none",
            "declares_mt": "oui",
        },
        seq=0,
    )
    (finding,) = [f for f in validator.check_events([invoice]).findings if f.rule == "CODE-DATE"]
    assert finding.message == "IMT n'existe pas à la date du 01/02/2024 (IMT : absent des textes appliqués)"
    assert "9999" not in (finding.action or "")
