"""HTML report: self-contained, escaped, French money; rendered in a real headless Chromium."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
import tomllib
from click.testing import CliRunner

from billing_rules.api.validator import Validator
from billing_rules.cli import main
from billing_rules.model import Event, InputError, Report, Severity
from billing_rules.money import format_euros
from billing_rules.reporters import BUILTIN_REPORTERS
from billing_rules.reporters.html_report import MissingDependency, bar_chart, render_report, trend
from billing_rules.testing import make_finding

pytest.importorskip("jinja2")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "week-2026-01.csv"
# The reviewed intent of the example week: its totals, as the page must show them.
_INTENT = tomllib.loads(EXAMPLE.with_suffix(".expected.toml").read_text(encoding="utf-8"))
AT_RISK = format_euros(Decimal(str(_INTENT["amount_at_risk"])))
MISSED = format_euros(Decimal(str(_INTENT["missed_revenue"])))
YEARLY = format_euros(Decimal(str(_INTENT["yearly_revenue_missed"])))
ERRORS = str(_INTENT["errors"])
NBSP = "\u00a0"
HOSTILE_ID = '<script>alert("x")</script>'
HOSTILE_MESSAGE = '=HYPERLINK("http://evil.example/","<img src=x onerror=alert(1)>")'


@pytest.fixture(scope="module")
def example_report(builtin_validator: Validator) -> Report:
    return builtin_validator.check_paths([str(EXAMPLE)])


finding = make_finding


def test_registered() -> None:
    assert BUILTIN_REPORTERS["html"].name == "html"


def test_self_contained_and_french_money(example_report: Report) -> None:
    html = render_report(example_report)
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"(?i)(https?:|ftp:|//[a-z0-9.-]+\.[a-z]{2,}/)", html)
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert "Content-Security-Policy" in html
    assert f'id="total-at-risk">{AT_RISK}<' in html
    assert f'id="total-missed">{MISSED}<' in html
    assert f'id="total-yearly">{YEARLY}<' in html  # OPP-MT-DECLARE: a yearly forfait, apart
    rules = {finding.rule for finding in example_report.findings}
    # One bar per rule and per practitioner: the four doctors and the sector 2 colleague (MOP-SECTOR).
    assert html.count('<rect class="bar ') == len(rules) + 5
    assert html.count("<tr class=") == len(example_report.findings)


def test_thousands_are_grouped() -> None:
    html = render_report(Report(events=1, findings=(finding(),), input_errors=()))
    assert f"1{NBSP}234,50{NBSP}€" in html


def test_every_value_is_escaped() -> None:
    report = Report(
        events=2,
        findings=(
            finding(patient_id=HOSTILE_ID, message=HOSTILE_MESSAGE, suggestion="<b>G</b>"),
            finding(
                rule="<svg onload=alert(1)>", practitioner_id="</text><script>x()</script>", invoice_id="\"'&"
            ),
        ),
        input_errors=(InputError(line=3, field="date", message="<script>bad()</script>"),),
        files=("<a.csv>",),
    )
    html = render_report(report)
    assert "<script" not in html.lower()
    assert "<svg onload" not in html
    assert "<img" not in html
    assert "<b>G</b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "=HYPERLINK(&#34;http://evil.example/" in html  # shown as text, harmless in HTML
    assert "&lt;a.csv&gt;" in html


def test_charts_and_trend() -> None:
    findings = [
        finding(rule="A", date=dt.date(2024, 1, 1)),
        finding(rule="A", date=dt.date(2024, 1, 3), severity=Severity.OPPORTUNITY, amount=Decimal("5")),
        finding(
            rule="B", practitioner_id="2", severity=Severity.WARNING, amount=None, date=dt.date(2024, 1, 3)
        ),
    ]
    chart = bar_chart(findings, "rule")
    assert [(bar.label, bar.count, bar.at_risk, bar.missed) for bar in chart.bars] == [
        ("A", 2, Decimal("1234.5"), Decimal("5")),
        ("B", 1, 0, 0),
    ]
    assert chart.bars[0].width > chart.bars[1].width
    points = trend(findings)
    assert [(p.day.day, p.findings, p.at_risk, p.missed, p.invoices) for p in points] == [
        (1, 1, Decimal("1234.5"), 0, None),
        (2, 0, 0, 0, None),
        (3, 2, 0, Decimal("5"), None),
    ]
    history = [
        Event(
            invoice_id="H",
            date=dt.date(2023, 12, 30),
            practitioner_id="1",
            patient_id="p",
            birth_date=dt.date(1950, 1, 1),
            codes=("G",),
        ),
    ]
    with_history = trend(findings, history)
    assert with_history[0].day == dt.date(2023, 12, 30) and with_history[0].invoices == 1
    assert len(with_history) == 5


def test_empty_report() -> None:
    html = render_report(Report(events=0, findings=(), input_errors=()))
    assert "Aucune anomalie" in html
    assert 'class="bar ' not in html


def test_cli_html(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", str(EXAMPLE), "--format", "html"])
    assert result.exit_code == 1
    assert result.stdout.startswith("<!DOCTYPE html>")
    assert AT_RISK in result.stdout


def test_missing_jinja_is_a_french_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jinja2", None)
    with pytest.raises(MissingDependency, match=r"billing-rules\[report\]"):
        render_report(Report(events=0, findings=(), input_errors=()))
    result = CliRunner().invoke(main, ["check", str(EXAMPLE), "--format", "html"])
    assert result.exit_code == 2
    assert "pip install 'billing-rules[report]'" in result.stderr


# -- real browser -------------------------------------------------------------------------------

CHROMIUM = os.environ.get("BILLING_RULES_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("BILLING_RULES_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1300,1600",
)


def _browser_unavailable(reason: str) -> None:
    if os.environ.get("BILLING_RULES_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"BILLING_RULES_REQUIRE_CHROMIUM=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        _browser_unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium chromium-driver)")
    if not (os.path.exists(CHROMEDRIVER) or shutil.which(CHROMEDRIVER)):
        _browser_unavailable(f"no chromedriver at {CHROMEDRIVER} (apt-get install chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _browser_unavailable("selenium is not installed (pip install 'billing-rules[browser]')")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_example_report_in_headless_chromium(
    browser, example_report: Report, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    page = tmp_path / "rapport.html"
    page.write_text(render_report(example_report), encoding="utf-8")
    browser.get(page.as_uri())

    def text(selector: str) -> str:
        return browser.find_element(By.CSS_SELECTOR, selector).text.replace(NBSP, " ")

    assert browser.title == "Contrôle de facturation NGAP"
    assert text("#total-at-risk") == AT_RISK.replace(NBSP, " ")
    assert text("#total-missed") == MISSED.replace(NBSP, " ")
    assert text("#total-yearly") == YEARLY.replace(NBSP, " ")
    # Every finding shows its legal reference and what to do; a frequency finding its first invoice.
    rows = browser.find_elements(By.CSS_SELECTOR, "#findings tbody tr")
    for row in rows:
        assert row.find_element(By.CSS_SELECTOR, ".citation").text.startswith("Référence : ")
        assert row.find_element(By.CSS_SELECTOR, ".action").text.startswith("À faire : ")
        assert row.find_element(By.CSS_SELECTOR, ".action").is_displayed()
    snp_week = next(row for row in rows if "SNP-WEEK" in row.text)
    assert "À faire : facturer G au lieu de G+SNP" in snp_week.text
    assert (
        "Fenêtre : 21e SNP de la semaine (au plus 20) : la 1re est la facture F-2026-0040 du 05/01/2026"
        in snp_week.text
    )
    assert text("#count-errors") == ERRORS
    assert text("#count-warnings") == str(_INTENT["warnings"])
    assert text("#count-opportunities") == str(_INTENT["opportunities"])
    rules = {finding.rule for finding in example_report.findings}
    # The week exercises every rule but CODE-UNKNOWN and AMOUNT-* (tests/test_examples.py).
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart-rules rect.bar")) == len(rules) >= 40
    # Four doctors of the practice and the sector 2 colleague of one late invoice (MOP-SECTOR).
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart-practitioners rect.bar")) == 5
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart-trend rect.trend-count")) == 12  # 30/12 → 10/01
    assert len(browser.find_elements(By.CSS_SELECTOR, "#findings tbody tr")) == len(example_report.findings)
    # The bars are really drawn, to scale: the longest (the most frequent rule, 2 findings) is as many
    # times wider than the shortest (1 finding) as it has more findings.
    counts = Counter(finding.rule for finding in example_report.findings)
    widths = [bar.rect["width"] for bar in browser.find_elements(By.CSS_SELECTOR, "#chart-rules rect.bar")]
    assert max(counts.values()) == 2 * min(counts.values())
    assert max(widths) == pytest.approx(2 * min(widths), rel=0.02)
    assert widths[0] == max(widths)
    shot = tmp_path / "rapport.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    with capsys.disabled():  # visible in CI's output, not only with -s
        version = browser.capabilities.get("browserVersion", "?")
        print(f"\n[browser] Chromium {version}: HTML report checked, {len(rules)} bars; screenshot {shot}")


def test_trend_with_a_ledger(tmp_path: Path) -> None:
    ledger = tmp_path / "registre.sqlite"
    runner = CliRunner()
    assert (
        runner.invoke(
            main, ["check", str(EXAMPLE), "--ledger", str(ledger), "--record", "--fail-on", "never"]
        ).exit_code
        == 0
    )
    result = runner.invoke(main, ["check", str(EXAMPLE), "--ledger", str(ledger), "--format", "html"])
    assert result.exit_code == 1
    assert result.stdout.count("facture(s) au registre") == 12


def test_findings_show_reference_action_and_window(example_report: Report) -> None:
    """Issue 15 §2, without a browser: each row of the table says why and what to do."""
    html = render_report(example_report)
    table = html[html.index('<table id="findings">') : html.index("</table>")]
    rows = table.split("<tr class=")[1:]
    assert len(rows) == len(example_report.findings)
    for row in rows:
        assert '<div class="citation note">Référence : ' in row
        assert '<div class="action">À faire : ' in row
    snp = next(row for row in rows if "<td>SNP-WEEK</td>" in row)
    assert "À faire : facturer G au lieu de G+SNP" in snp
    assert (
        '<div class="window note">Fenêtre : 21e SNP de la semaine (au plus 20) : la 1re est la facture '
        "F-2026-0040 du 05/01/2026, Dr 10104567890</div>"
    ) in snp
    declare = next(row for row in rows if "<td>OPP-MT-DECLARE</td>" in row)
    assert f"55,00{NBSP}€ par an" in declare  # a yearly forfait, said so


def test_reference_and_action_are_escaped() -> None:
    hostile = finding(citation="<script>alert(1)</script>", action='<img src=x onerror="alert(1)">')
    html = render_report(Report(events=1, findings=(hostile,), input_errors=()))
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
