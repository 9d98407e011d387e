"""``billing-rules simulate`` for people (text) and for programs (JSON).

Every euro is shown as the change the other texts make (after − before): the question a practice
asks before a text applies is "what does it change for me", rule by rule and doctor by doctor.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from billing_rules.money import euros_to_json, format_euros

if TYPE_CHECKING:
    from billing_rules.api.simulation import Comparison, Simulation, Tally
    from billing_rules.domain.forfait.estimate import ForfaitEstimate


def _signed(amount: Decimal) -> str:
    return ("+" if amount > 0 else "") + format_euros(amount)


def text_lines(result: Simulation) -> Iterator[str]:
    """The French text report, line by line."""
    who = f"praticien {result.practitioner_id}" if result.practitioner_id else "tous les praticiens"
    yield (
        f"Simulation : activité du {result.start:%d/%m/%Y} au {result.end:%d/%m/%Y} ({who}, "
        f"{result.invoices} factures) sous les textes du {result.as_of:%d/%m/%Y}"
    )
    if result.engine != "row":
        yield f"Moteur : {result.engine}"
    for path in result.draft_files:
        yield f"Projet de texte ajouté à la seconde lecture : {path}"
    for code, count in result.dropped_codes:
        yield f"{code} n'existe pas au {result.as_of:%d/%m/%Y} : ignoré sur {count} facture(s)"
    yield ""
    header = ("", "Constats", "À risque", "Manqué", "Constats", "À risque", "Manqué")
    header += ("Écart risque", "Écart manqué")
    for title, lines in (("Par règle", result.by_rule), ("Par praticien", result.by_practitioner)):
        yield f"{title}  (avant = textes de chaque date ; après = textes du {result.as_of:%d/%m/%Y})"
        rows = [header] + [_row(line) for line in (*lines, result.total)]
        widths = [max(len(row[index]) for row in rows) for index in range(len(header))]
        for row in rows:
            figures = zip(row[1:], widths[1:], strict=True)
            cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in figures]
            yield "  " + "  ".join(cells).rstrip()
        yield ""
    yield "Forfait médecin traitant (patientèle MT au 31/12)"
    for forfait in result.forfaits:
        yield (
            f"  {forfait.practitioner_id} ({forfait.year}) : {_forfait(forfait.before)} → "
            f"{_forfait(forfait.after)}, écart {_signed(forfait.change)} par an"
        )
    yearly = result.total.after.yearly_missed - result.total.before.yearly_missed
    if result.total.before.yearly_missed or result.total.after.yearly_missed:
        yield ""
        before, after = result.total.before.yearly_missed, result.total.after.yearly_missed
        yield (
            f"Forfaits annuels manqués (OPP-MT-DECLARE) : {format_euros(before)} → "
            f"{format_euros(after)} ({_signed(yearly)})"
        )


def _row(line: Comparison) -> tuple[str, ...]:
    label = "Total" if line.key == "total" else line.key
    return (
        label,
        str(line.before.findings),
        format_euros(line.before.at_risk),
        format_euros(line.before.missed),
        str(line.after.findings),
        format_euros(line.after.at_risk),
        format_euros(line.after.missed),
        _signed(line.at_risk_change),
        _signed(line.missed_change),
    )


def _forfait(estimate: ForfaitEstimate | None) -> str:
    if estimate is None:
        return "aucun barème"
    mark = "" if estimate.settled else " (non confirmé)"
    return f"{format_euros(estimate.total)} ({estimate.scheme}, {estimate.patients} patients){mark}"


def to_dict(result: Simulation) -> dict[str, Any]:
    """The ``simulate --format json`` object (SPEC §7): English keys, ISO dates, euros as numbers."""
    return {
        "from": result.start.isoformat(),
        "to": result.end.isoformat(),
        "as_of": result.as_of.isoformat(),
        "practitioner_id": result.practitioner_id,
        "invoices": result.invoices,
        "draft_rules": list(result.draft_files),
        "engine": result.engine,
        "codes_absent_as_of": [{"code": code, "invoices": count} for code, count in result.dropped_codes],
        "by_rule": [_comparison(line, "rule") for line in result.by_rule],
        "by_practitioner": [_comparison(line, "practitioner_id") for line in result.by_practitioner],
        "total": _comparison(result.total, None),
        "forfaits": [
            {
                "practitioner_id": forfait.practitioner_id,
                "year": forfait.year,
                "before": _forfait_json(forfait.before),
                "after": _forfait_json(forfait.after),
                "difference": euros_to_json(forfait.change),
            }
            for forfait in result.forfaits
        ],
    }


def _tally(tally: Tally) -> dict[str, Any]:
    return {
        "findings": tally.findings,
        "errors": tally.errors,
        "warnings": tally.warnings,
        "opportunities": tally.opportunities,
        "amount_at_risk": euros_to_json(tally.at_risk),
        "missed_revenue": euros_to_json(tally.missed),
        "yearly_revenue_missed": euros_to_json(tally.yearly_missed),
    }


def _comparison(line: Comparison, key: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {key: line.key} if key else {}
    entry.update(
        {
            "before": _tally(line.before),
            "after": _tally(line.after),
            "difference": {
                "findings": line.after.findings - line.before.findings,
                "amount_at_risk": euros_to_json(line.at_risk_change),
                "missed_revenue": euros_to_json(line.missed_change),
                "yearly_revenue_missed": euros_to_json(line.after.yearly_missed - line.before.yearly_missed),
            },
        }
    )
    return entry


def _forfait_json(estimate: ForfaitEstimate | None) -> dict[str, Any] | None:
    if estimate is None:
        return None
    return {
        "scheme": estimate.scheme,
        "patients": estimate.patients,
        "total": euros_to_json(estimate.total),
        "settled": estimate.settled,
    }
