"""Patient identifiers never reach logs or error messages (they do reach the report, its purpose)."""

from __future__ import annotations

import logging
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from billing_rules import hookimpl
from billing_rules.api.validator import InvalidInvoice, Validator
from billing_rules.cli import main
from billing_rules.model import Severity

SECRET = "PATIENT-SECRET-1234"


@attrs.frozen
class _LeakyRule:
    """A plugin rule whose exception text quotes the patient, as careless code would."""

    code: str = "LEAKY-RULE"
    severity: Severity = Severity.ERROR
    source: str = "leaky"
    triggers: frozenset[str] | None = frozenset({"G"})

    def check(self, event, history):  # noqa: ANN001, ANN201 - the Rule protocol
        raise ValueError(f"patient {event.patient_id} introuvable")


class _LeakyPlugin:
    @hookimpl
    def register_rules(self, register) -> None:  # noqa: ANN001
        register(_LeakyRule())


def _invoice(**values: str) -> dict[str, str]:
    base = {
        "invoice_id": "F1",
        "date": "2026-01-05",
        "practitioner_id": "10001",
        "patient_id": SECRET,
        "birth_date": "1970-01-01",
        "codes": "G",
    }
    return {**base, **values}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_crashing_rule_logs_no_patient() -> None:
    validator = Validator.build(entry_points=False, plugins=[_LeakyPlugin()])
    # A handler on the package's logger itself: other tests may reconfigure the root logger.
    logger = logging.getLogger("billing_rules")
    collect = _Collect()
    logger.addHandler(collect)
    previous, logger.disabled = logger.disabled, False
    engine_logger = logging.getLogger("billing_rules.engines.row.engine")
    engine_previous, engine_logger.disabled = engine_logger.disabled, False
    try:
        report = validator.check_events([Validator.invoice(_invoice())])
    finally:
        logger.removeHandler(collect)
        logger.disabled = previous
        engine_logger.disabled = engine_previous
    caplog_records = [record for record in collect.records if record.levelno >= logging.INFO]
    crash = [finding for finding in report.findings if finding.rule == "INTERNAL-ERROR"]
    assert len(crash) == 1
    assert "LEAKY-RULE" in crash[0].message
    assert SECRET not in crash[0].message
    assert caplog_records, "the crash is logged"
    assert all(SECRET not in record.getMessage() for record in caplog_records)


def test_invalid_invoice_errors_do_not_quote_the_patient() -> None:
    with pytest.raises(InvalidInvoice) as caught:
        Validator.invoice(_invoice(birth_date="2027-01-01", date="2026-13-01"))
    assert SECRET not in str(caught.value)
    with pytest.raises(InvalidInvoice) as caught:
        Validator.invoice(_invoice(patient_id=[SECRET]))  # a JSON list where text was expected
    assert SECRET not in str(caught.value)


def test_cli_stderr_never_shows_patient_ids(tmp_path: Path) -> None:
    header = "invoice_id;date;practitioner_id;patient_id;birth_date;codes;mt_status\n"
    rows = [
        f"F1;2026-01-05;10001;{SECRET};1970-01-01;G;self\n",
        f"F2;2026-01-05;10001;{SECRET};1970-13-01;G;self\n",  # bad birth date
        f"F3;2026-01-05;10001;{SECRET}-B;2027-01-01;IMT;bogus\n",  # born after the act, bad status
        f"F1;2026-01-05;10001;{SECRET};1970-01-01;G;self\n",  # duplicate invoice
    ]
    path = tmp_path / "day.csv"
    path.write_text(header + "".join(rows), encoding="utf-8")
    for fmt in ("text", "json"):
        result = CliRunner().invoke(main, ["check", str(path), "--format", fmt])
        assert result.exit_code == 1
        assert SECRET not in result.stderr
        if fmt == "json":
            # Input errors name the line and field, never the patient.
            assert '"input_errors"' in result.stdout
            errors_part = result.stdout.split('"input_errors"', 1)[1]
            assert SECRET not in errors_part
