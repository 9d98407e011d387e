"""The shapes practice software writes, checked at the SPEC file's speed (``run.py --only exports``).

One generated file of ``--rows`` invoices, rewritten as exports write it (SPEC §1b): French headers
and values, every field quoted, two headers of the practice's own under ``--column``, the
referral's time in a column of its own (``Heure de régulation``), one object per invoice in JSON
Lines (texts, or JSON's own types), and one line per act (a ``code`` column, the amount on the
first line), that last also as Parquet, JSON Lines and a JSON array. Each is checked by a whole
``check --engine duckdb --format json`` process, as the SPEC file is; all must give the SPEC file's
summary (the same invoices, the same findings), and should take about its time: the columnar
reader reads them all (JSON Lines of one object per invoice decoded by polars, other JSON in
Python, line by line).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from relational_targets import HERE, timed_process

#: Check in a child process, the report kept, its peak RSS (KiB) printed last.
_CHILD = """
import contextlib, io, sys
sys.path.insert(0, sys.argv[1])
from run import _peak_kib
from billing_rules.cli import main
report, path, *extra = sys.argv[2:]
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(["check", "--engine", "duckdb", "--format", "json", "-o", report, "--fail-on", "never",
              *extra, path], standalone_mode=False)
    except SystemExit:
        pass
print(_peak_kib())
"""

#: The French values of a SPEC value, per field, as exports write them.
_FRENCH_VALUES = {
    "mt_status": {"self": "Moi", "other": "Autre médecin", "none": "Aucun", "unknown": "Inconnu"},
    "place": {"cabinet": "Cabinet", "domicile": "Domicile", "ehpad": "EHPAD", "tele": "Téléconsultation"},
}
_BOOLEANS = {"1": "Oui", "0": "Non"}


Rewrite = Callable[[list[str], Iterator[list[str]]], Iterator[list[str]]]


def _rewritten(source: Path, target: Path, rewrite: Rewrite, quoting: int = csv.QUOTE_MINIMAL) -> Path:
    """``target``: ``source``'s header and rows through ``rewrite`` (made once, then kept)."""
    if target.exists():
        return target
    partial = target.with_suffix(".partial")
    # Row by row: 10 M rows held as Python lists would take some 10 GB.
    with (
        source.open(encoding="utf-8", newline="") as handle,
        partial.open("w", encoding="utf-8", newline="") as out,
    ):
        rows = csv.reader(handle, delimiter=";")
        writer = csv.writer(out, delimiter=";", lineterminator="\n", quoting=quoting)
        writer.writerows(rewrite(next(rows), rows))
    partial.replace(target)
    return target


def _same(header: list[str], rows: Iterator[list[str]]) -> Iterator[list[str]]:
    yield header
    yield from rows


def _french(header: list[str], rows: Iterator[list[str]]) -> Iterator[list[str]]:
    from billing_rules.readers.aliases import ALIAS_TEXT

    yield [ALIAS_TEXT[name][0] if ALIAS_TEXT.get(name) else name for name in header]
    fields = {index: _FRENCH_VALUES.get(name) for index, name in enumerate(header)}
    flags = {index for index, name in enumerate(header) if name in ("ald", "palliative", "homebound")}
    for row in rows:
        out = list(row)
        for index, table in fields.items():
            if table is not None:
                out[index] = table.get(out[index], out[index])
        for index in flags:
            out[index] = _BOOLEANS.get(out[index], out[index])
        yield out


def _mapped(header: list[str], rows: Iterator[list[str]]) -> Iterator[list[str]]:
    own = {"invoice_id": "Réf pièce", "patient_id": "Dossier"}
    yield from _same([own.get(name, name) for name in header], rows)


def _referral_time(header: list[str], rows: Iterator[list[str]]) -> Iterator[list[str]]:
    at = header.index("referral_at")
    yield [*header, "Heure de régulation"]
    for row in rows:
        moment = row[at]
        row = list(row)
        row[at] = moment[:10]
        yield [*row, moment[11:16]]


def _per_act(header: list[str], rows: Iterator[list[str]]) -> Iterator[list[str]]:
    codes, amount = header.index("codes"), header.index("amount")
    yield [name if name != "codes" else "code" for name in header]
    for row in rows:
        for rank, code in enumerate(row[codes].split("+")):
            line = list(row)
            line[codes] = code
            if rank:
                line[amount] = "0.00"
            yield line


def _as_parquet(source: Path) -> Path:
    """``source`` (a CSV file) as Parquet, every column as text (made once, then kept)."""
    import polars as pl

    target = source.with_suffix(".parquet")
    if not target.exists():
        partial = target.with_suffix(".partial")
        pl.scan_csv(source, separator=";", infer_schema=False).sink_parquet(partial)
        partial.replace(target)
    return target


#: The SPEC §1 flags, written as JSON booleans by :func:`_natives`.
_FLAGS = ("ald", "palliative", "neurodegenerative", "declares_mt", "homebound", "regulated")


def _natives(row: dict[str, str]) -> dict[str, object]:
    """A row as a program writes JSON: flags as booleans, the amount as a number (``30`` beside
    ``26.5``, as JavaScript writes them), the codes as a list, no referral as ``null``."""
    out: dict[str, object] = dict(row)
    for name in _FLAGS:
        out[name] = {"1": True, "0": False}.get(row[name], row[name])
    amount = row["amount"]
    out["amount"] = int(amount[:-3]) if amount.endswith(".00") else float(amount)
    out["codes"] = row["codes"].split("+")
    out["referral_at"] = row["referral_at"] or None
    return out


def _as_json(source: Path, *, array: bool = False, natives: bool = False) -> Path:
    """``source`` (a CSV file) as JSON Lines, or a JSON array, one object per row: of texts, or
    with JSON's own types (:func:`_natives`).

    Made once, then kept; written row by row (10 M rows held as texts would take gigabytes).
    """
    target = source.with_suffix((".natives" if natives else "") + (".json" if array else ".jsonl"))
    if not target.exists():
        partial = target.with_suffix(".partial")
        with (
            source.open(encoding="utf-8", newline="") as handle,
            partial.open("w", encoding="utf-8") as out,
        ):
            rows = csv.DictReader(handle, delimiter=";")
            texts = (json.dumps(_natives(row) if natives else row, ensure_ascii=False) for row in rows)
            if array:
                first = itertools.islice(texts, 1)
                out.writelines(itertools.chain(["["], first, (",\n" + text for text in texts), ["]\n"]))
            else:
                out.writelines(text + "\n" for text in texts)
        partial.replace(target)
    return target


def exports(args: argparse.Namespace, table: list[tuple[str, str]], spec_file: Path) -> None:
    """Each export shape's whole check, beside the SPEC file's, and whether its summary is the same."""
    folder = spec_file.parent

    def shape(name: str, rewrite: Rewrite, quoting: int = csv.QUOTE_MINIMAL) -> Path:
        return _rewritten(spec_file, folder / f"{spec_file.stem}.{name}.csv", rewrite, quoting)

    shapes: list[tuple[str, Path, list[str]]] = [
        ("SPEC §1 file", spec_file, []),
        ("French headers and values (SPEC §1b)", shape("french", _french), []),
        ("every field quoted", shape("quoted", _same, csv.QUOTE_ALL), []),
        (
            "two headers of the practice's own, --column",
            shape("mapped", _mapped),
            ["--column", "invoice_id=Réf pièce", "--column", "patient_id=Dossier"],
        ),
        ("referral's time alone (Heure de régulation)", shape("regulation", _referral_time), []),
        ("one object per invoice as JSON Lines (texts)", _as_json(spec_file), []),
        (
            "one object per invoice as JSON Lines (booleans, numbers, lists)",
            _as_json(spec_file, natives=True),
            [],
        ),
        ("one line per act (code column)", shape("per-act", _per_act), []),
        ("one row per act as Parquet (texts)", _as_parquet(shape("per-act", _per_act)), []),
        ("one row per act as JSON Lines", _as_json(shape("per-act", _per_act)), []),
        ("one object per act in a JSON array", _as_json(shape("per-act", _per_act), array=True), []),
    ]
    reference: dict[str, object] | None = None
    spec_wall = 0.0
    for label, path, extra in shapes:
        wall, cpu, kib, summary = _checked(path, extra, args.repeat)
        if reference is None:
            reference, spec_wall = summary, wall
        same = "same summary" if summary == reference else "SUMMARY DIFFERS"
        table.append(
            (
                f"check --engine duckdb, {label}",
                f"{wall:.2f} s (CPU {cpu:.2f} s, {wall / spec_wall:.2f}x the SPEC file), "
                f"peak RSS {kib / 1024:.0f} MiB, {same}",
            )
        )


def per_act_scale(args: argparse.Namespace, table: list[tuple[str, str]], spec_file: Path) -> None:
    """One line per act at ``spec_file``'s size (10 × ``--rows``): time and peak RSS (4 GiB at most).

    Such a file cannot be grouped before its last line is read; its lines go to disk in rounds
    (``readers.columnar.act_spill``). Its summary must be the SPEC file's, checked once beside it.
    The same lines as Parquet (texts) and as JSON Lines are grouped the same way.
    """
    per_act = _rewritten(spec_file, spec_file.parent / f"{spec_file.stem}.per-act.csv", _per_act)
    _, _, _, reference = _checked(spec_file, [], 1)
    with per_act.open("rb") as handle:
        lines = sum(1 for _ in handle) - 1
    for label, path in (
        ("CSV", per_act),
        ("Parquet", _as_parquet(per_act)),
        ("JSON Lines", _as_json(per_act)),
    ):
        wall, cpu, kib, summary = _checked(path, [], args.repeat)
        same = "same summary as the SPEC file" if summary == reference else "SUMMARY DIFFERS"
        table.append(
            (
                f"check --engine duckdb, one line per act as {label}, "
                + f"{lines:,} lines".replace(",", " "),
                f"{wall:.1f} s (CPU {cpu:.1f} s), peak RSS {kib / 1024:.0f} MiB (target <= 4096 MiB), {same}",
            )
        )


def _checked(path: Path, extra: list[str], repeat: int) -> tuple[float, float, int, dict[str, object]]:
    """The fastest of ``repeat`` whole checks of ``path``: wall, CPU, peak RSS (KiB), and its summary."""
    report = path.parent / f"{path.name}.report.json"  # one per file: per-act.csv, per-act.jsonl...
    command = [sys.executable, "-c", _CHILD, str(HERE), str(report), str(path), *extra]
    wall, cpu, kib = min(timed_process(command) for _ in range(repeat))
    summary = json.loads(report.read_text(encoding="utf-8"))["summary"]
    summary.pop("engine", None)
    return wall, cpu, kib, summary
