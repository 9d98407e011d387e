"""Spark's timestamps do not depend on the session's time zone: ``TIMESTAMP_NTZ`` throughout.

The engine sets the session to UTC, but a cluster's defaults or a shared Spark Connect server may
say otherwise: here the session (a local one, and one through Spark Connect) runs in Europe/Paris,
on invoices of the DST days (31 March 2024, 27 October 2024, 30 March 2025) with referrals 47, 48
and 49 hours before the act, and the findings must still be the row engine's (a zoned timestamp
would move ``referral_at + 48 hours`` by an hour).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

from executors import SPARKS  # noqa: E402
from test_relational_differential import _both, _random_rows, _write_csv  # noqa: E402

from billing_rules.api.validator import Validator  # noqa: E402


@pytest.mark.parametrize("engine", SPARKS, indirect=True)
def test_findings_do_not_move_with_the_session_time_zone(
    engine: str, tmp_path: Path, builtin_validator: Validator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing_rules.engines.relational import spark_session as spark

    paris = {**spark.SESSION_CONF, "spark.sql.session.timeZone": "Europe/Paris"}
    monkeypatch.setattr(spark, "SESSION_CONF", paris)
    rows = _random_rows(11, 700)
    assert {"2024-03-31", "2024-10-27", "2025-03-30"} & {row["date"] for row in rows}
    path = str(_write_csv(tmp_path / "dst.csv", rows))
    expected, found = _both(builtin_validator, [path], engine)
    assert found == expected
    assert "SNP-48H" in {item[0] for item in expected}
