"""Every fact ``explain`` can show has a French label: no raw field name such as ``km``."""

from __future__ import annotations

from billing_rules.dsl.reads import _HIDDEN, FUNCTION_FACTS
from billing_rules.dsl.vocabulary import FIELDS
from billing_rules.explain import FACT_LABELS


def test_every_fact_explain_can_show_has_a_label() -> None:
    names = {"codes", *FIELDS, *(field.name for field in FIELDS.values())}
    names |= {name for read in FUNCTION_FACTS.values() for name in read}
    shown = {_HIDDEN.get(name, name) for name in names} - {None}
    missing = sorted(name for name in shown if name not in FACT_LABELS)
    assert missing == []


def test_discharge_date_and_km_labels() -> None:
    assert FACT_LABELS["discharge_date"] == "date de sortie d'hospitalisation"
    assert "IK" in FACT_LABELS["km"]
