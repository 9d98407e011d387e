"""The yardstick: the five seed rules written by hand in plain Python over the csv module.

This is what a developer would write without billing-rules, for a file already in SPEC §1 order
(the generator's files are): one pass, fields parsed only where a rule needs them, one dict per
window. The engine restricted to the same five rules must find exactly the same findings
(``tests/test_differential.py``) and go at least as fast (``benchmarks/run.py``).

- IMT-ALD: IMT for a patient not in ALD (a neurodegenerative ALD is an ALD);
- IMT-ONCE: a second IMT for the same patient, whoever billed;
- VL-QUARTER: a second VL in a calendar quarter for a patient whose MT bills it and who is 80+ in
  ALD or in ALD for a neurodegenerative disease (every VL of the quarter counts);
- VSP-NO-CAP: VSP is never capped, so nothing to flag;
- SNP-WEEK: the 21st and later SNP of one practitioner in one civil week.

    python benchmarks/baseline.py FILE.csv
"""

from __future__ import annotations

import csv
import datetime as dt
import sys
from collections.abc import Iterator

TRUE = frozenset({"1", "true", "oui", "yes", "o", "vrai"})


def findings(path: str) -> Iterator[tuple[int, str, str, str]]:
    """(line, rule, practitioner_id, invoice_id) of every finding, in file order."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        header = handle.readline()
        delimiter = ";" if header.count(";") >= header.count(",") else ","
        names = [name.strip().lower() for name in next(csv.reader([header], delimiter=delimiter))]
        col = {name: index for index, name in enumerate(names)}
        i_invoice, i_date, i_prac, i_patient = (
            col["invoice_id"],
            col["date"],
            col["practitioner_id"],
            col["patient_id"],
        )
        i_birth, i_codes, i_status = col["birth_date"], col["codes"], col.get("status")
        i_ald, i_neuro, i_mt = col.get("ald"), col.get("neurodegenerative"), col.get("mt_status")

        imt_patients: set[str] = set()
        vl_quarters: dict[tuple[str, int, int], int] = {}
        snp_weeks: dict[tuple[str, int, int], int] = {}
        week_of: dict[str, tuple[int, int]] = {}
        previous = ""
        line = 1
        for row in csv.reader(handle, delimiter=delimiter):
            line += 1
            if not row:
                continue
            date = row[i_date]
            if date < previous:
                raise ValueError(f"line {line}: the baseline needs a file sorted by date")
            previous = date
            if i_status is not None and row[i_status] == "cancelled":
                continue
            codes = row[i_codes]
            if "IMT" not in codes and "VL" not in codes and "SNP" not in codes:
                continue  # most invoices: nothing to do
            code_set = set(codes.split("+"))
            if "IMT" in code_set:
                patient = row[i_patient]
                in_ald = (i_ald is not None and row[i_ald].lower() in TRUE) or (
                    i_neuro is not None and row[i_neuro].lower() in TRUE
                )
                if not in_ald:
                    yield (line, "IMT-ALD", row[i_prac], row[i_invoice])
                if patient in imt_patients:
                    yield (line, "IMT-ONCE", row[i_prac], row[i_invoice])
                imt_patients.add(patient)
            if "VL" in code_set:
                day = dt.date.fromisoformat(date)
                key = (row[i_patient], day.year, (day.month - 1) // 3)
                count = vl_quarters.get(key, 0) + 1
                vl_quarters[key] = count
                if count > 1 and i_mt is not None and row[i_mt] == "self":
                    ald = i_ald is not None and row[i_ald].lower() in TRUE
                    neuro = i_neuro is not None and row[i_neuro].lower() in TRUE
                    if neuro or (ald and _age(row[i_birth], day) >= 80):
                        yield (line, "VL-QUARTER", row[i_prac], row[i_invoice])
            if "SNP" in code_set:
                week = week_of.get(date)
                if week is None:
                    iso = dt.date.fromisoformat(date).isocalendar()
                    week = week_of[date] = (iso[0], iso[1])
                key = (row[i_prac], *week)
                count = snp_weeks.get(key, 0) + 1
                snp_weeks[key] = count
                if count > 20:
                    yield (line, "SNP-WEEK", row[i_prac], row[i_invoice])


def _age(birth: str, day: dt.date) -> int:
    born = dt.date.fromisoformat(birth)
    years = day.year - born.year
    return years - 1 if (day.month, day.day) < (born.month, born.day) else years


def main(argv: list[str]) -> int:
    count = 0
    for finding in findings(argv[0]):
        print(*finding, sep=";")
        count += 1
    print(f"{count} findings", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
