"""The five seed rules as a hand-written polars plan: the comparison point of issue 14's "0.8×" target.

What a developer fluent in polars would write for ``baseline.py``'s rules, on a file already in SPEC
§1 order (the generator's files are): one lazy scan, every column read as text (no validation), the
counts as window expressions over the file order. It must find exactly the hand loop's findings
(``main`` checks it when given ``--compare``); it says nothing about input errors, tariffs or the
other 30 codes, which is why the engine's full ``check`` is compared with the hand loop instead.

    python benchmarks/polars_plan.py FILE.csv [--compare]
"""

from __future__ import annotations

import sys
import time

TRUE = ["1", "true", "oui", "yes", "o", "vrai"]


def findings(path: str) -> list[tuple[int, str, str, str]]:
    """(line, rule, practitioner_id, invoice_id) of every finding, in file order."""
    import polars as pl

    def truthy(name: str) -> pl.Expr:
        return pl.col(name).str.to_lowercase().is_in(TRUE)

    rows = (
        pl.scan_csv(path, separator=";", infer_schema=False, encoding="utf8-lossy")
        .with_row_index("line", offset=2)
        .filter(pl.col("status") != "cancelled")
        .with_columns(pl.col("codes").str.split("+").alias("code_list"))
        .with_columns(
            pl.col("code_list").list.contains("IMT").alias("imt"),
            pl.col("code_list").list.contains("VL").alias("vl"),
            pl.col("code_list").list.contains("SNP").alias("snp"),
        )
        .filter(pl.col("imt") | pl.col("vl") | pl.col("snp"))
        .with_columns(pl.col("date").str.to_date(), pl.col("birth_date").str.to_date())
    )
    day, born = pl.col("date"), pl.col("birth_date")
    before_birthday = (day.dt.month() < born.dt.month()) | (
        (day.dt.month() == born.dt.month()) & (day.dt.day() < born.dt.day())
    )
    age = day.dt.year().cast(pl.Int32) - born.dt.year().cast(pl.Int32) - before_birthday.cast(pl.Int32)
    in_ald = truthy("ald") | truthy("neurodegenerative")
    imt = rows.filter(pl.col("imt")).with_columns(pl.int_range(pl.len()).over("patient_id").alias("nth"))
    vl = rows.filter(pl.col("vl")).with_columns(
        pl.int_range(pl.len()).over("patient_id", day.dt.year(), day.dt.quarter()).alias("nth")
    )
    snp = rows.filter(pl.col("snp")).with_columns(
        pl.int_range(pl.len()).over("practitioner_id", day.dt.iso_year(), day.dt.week()).alias("nth")
    )
    keep = ["line", "rule", "practitioner_id", "invoice_id"]
    parts = [
        imt.filter(~in_ald).with_columns(pl.lit("IMT-ALD").alias("rule")).select(keep),
        imt.filter(pl.col("nth") >= 1).with_columns(pl.lit("IMT-ONCE").alias("rule")).select(keep),
        vl.filter(
            (pl.col("nth") >= 1)
            & (pl.col("mt_status") == "self")
            & (truthy("neurodegenerative") | (truthy("ald") & (age >= 80)))
        )
        .with_columns(pl.lit("VL-QUARTER").alias("rule"))
        .select(keep),
        snp.filter(pl.col("nth") >= 20).with_columns(pl.lit("SNP-WEEK").alias("rule")).select(keep),
    ]
    order = {"IMT-ALD": 0, "IMT-ONCE": 1, "VL-QUARTER": 2, "SNP-WEEK": 3}
    found = pl.concat(parts).collect()
    result = [(int(line), rule, prac, invoice) for line, rule, prac, invoice in found.iter_rows()]
    result.sort(key=lambda item: (item[0], order[item[1]]))
    return result


def main(argv: list[str]) -> int:
    started = time.perf_counter()
    found = findings(argv[0])
    print(f"{len(found)} findings in {time.perf_counter() - started:.2f} s", file=sys.stderr)
    if "--compare" in argv:
        import baseline

        expected = list(baseline.findings(argv[0]))
        same = found == expected
        print("same findings as baseline.py" if same else "DIFFERENT from baseline.py", file=sys.stderr)
        return 0 if same else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
