"""Files of one line per act, grouped column-wise: exactly the row readers' invoices and errors.

The columnar reader groups the plain invoices of a per-act CSV file itself and hands every other
one, with all its lines, to the row readers' grouping (``readers.columnar.per_act``). These files
mix both at random, with every way an invoice's lines can differ (SPEC §1b): agreeing values
written differently, gaps filled by a later line, a real disagreement, a missing or bad code, a
bad amount, one finer than the cent, lines without amount, lines far apart, lines that name no
invoice, broken and damaged lines, a referral's time alone, extra columns that differ, identifiers
with spaces (Python's and others) around them; and duplicates across files. Both readers must give
the same input errors, invoices, values and order, with chunk boundaries anywhere.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("polars", reason="the columnar reader needs polars (pip install '.[batch]')")

import test_columnar_reader as _cases  # noqa: E402  (its file builders and comparison)

from billing_rules.readers.columnar import act_spill, csv_source, per_act, read_invoices  # noqa: E402

chunks = _cases.chunks  # small chunks: boundaries anywhere, the csv module's path too


_ONE_ROUND = act_spill.SPILL_LINES  # the test files hold far fewer lines


def _spill_at(monkeypatch: Any, lines: int | None) -> None:
    """Rounds of ``lines`` lines, written to disk (None: the default, one round in memory here)."""
    monkeypatch.setattr(act_spill, "SPILL_LINES", lines or _ONE_ROUND)


@pytest.fixture(params=[None, 150], ids=["in-memory", "spilled"])
def grouping(request: Any, monkeypatch: Any) -> None:
    """Grouped whole in memory, or in parts of 150 lines on disk (the shuffled lines of an invoice
    then lie in several rounds)."""
    _spill_at(monkeypatch, request.param)


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

_HEADER = (
    "invoice_id;date;time;practitioner_id;specialty;sector;patient_id;birth_date;ald;mt_status;place;"
    "code;amount;regulated;referral_at;status;libellé;Heure de régulation"
)


def _invoice_lines(rng: random.Random, number: int) -> list[list[str]]:
    """The lines of one invoice, plain or spoiled in one of the ways the row readers judge."""
    codes = rng.choice([["G"], ["G", "MD"], ["VL", "MD", "IK"], ["G", "SNP"], ["IMT"], ["V", "MD"]])
    day = f"2025-0{rng.randint(1, 9)}-{rng.randint(10, 28)}"
    base = [
        f"F{number}",
        day,
        rng.choice(["08:30", "14:00", ""]),
        str(101 + number % 3),
        "MG",
        "1",
        f"P{number % 57}",
        rng.choice(["1950-02-01", "1944-07-14", "2021-03-03"]),
        rng.choice(["1", "0", ""]),
        rng.choice(["self", "none", "other"]),
        rng.choice(["cabinet", "domicile"]),
        "",
        "",
        rng.choice(["0", "1"]),
        "",
        "billed",
        "",
        "",
    ]
    lines = []
    for index, code in enumerate(codes):
        line = list(base)
        line[11] = code
        first = ["30.00", "26,50", "10", "0.00"]
        line[12] = rng.choice(first) if index == 0 else rng.choice(["0.00", "", "5"])
        line[16] = f"acte {index}"
        lines.append(line)
    spoil = rng.random()
    last = lines[-1]
    if spoil < 0.03:
        last[1] = day[8:10] + "/" + day[5:7] + "/" + day[:4]  # the same date written otherwise
    elif spoil < 0.06:
        lines[0][6] = ""  # the patient on a later line only
    elif spoil < 0.08:
        last[6] = "P-autre"  # a real disagreement
    elif spoil < 0.10:
        last[11] = rng.choice(["", "  ", "XYZ", "G++MD"])
    elif spoil < 0.12:
        last[12] = rng.choice(["abc", "12,345", "-3", "1e3", "0.005"])
    elif spoil < 0.14:
        last[12] = ""  # the total is unknown
    elif spoil < 0.16:
        last[0] = rng.choice([f" F{number} ", f"\u00a0F{number}", f"F{number}\u2003", f"F{number}\x1f"])
    elif spoil < 0.18:
        last[17] = rng.choice(["09:30", "25:00", "   "])  # a referral's time alone
    elif spoil < 0.19:
        last[0] = ""  # names no invoice
    elif spoil < 0.20:
        last[8] = "peut-être"
    elif spoil < 0.21:
        last[1] = "2025-13-01"  # a bad date on every line is one error, on the first
        for line in lines:
            line[1] = "2025-13-01"
    return lines


def _per_act_file(
    path: Path, seed: int, invoices: int = 700, start: int = 0, *, quoted: bool = False, **written: Any
) -> Path:
    """Invoices' lines, shuffled a little so that some invoices' lines lie far apart.

    ``quoted``: every field between quotes, as some software writes them; ``written``: the
    encoding, line ends or BOM of :func:`test_columnar_reader._write`.
    """
    rng = random.Random(seed)
    lines = [line for number in range(start, start + invoices) for line in _invoice_lines(rng, number)]
    for _ in range(len(lines) // 20):
        first, second = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[first], lines[second] = lines[second], lines[first]
    text = [_HEADER] + [";".join(f'"{cell}"' if quoted else cell for cell in line) for line in lines]
    for _ in range(4):  # broken lines: a field too many, a quote left open
        at = rng.randrange(1, len(text))
        text[at] = text[at] + ";de trop" if rng.random() < 0.5 else text[at].replace(";G;", ';"G;', 1)
    return _cases._write(path, text, **written)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_per_act_file_same_as_row_reader(tmp_path: Path, chunks: None, grouping: None, seed: int) -> None:
    path = _per_act_file(tmp_path / "actes.csv", seed)
    events, errors = _cases._compare([str(path)])
    assert events > 400 and errors > 20  # both kinds of invoices, and their errors


@pytest.mark.parametrize(
    "written",
    [
        {"quoted": True},
        {"encoding": "cp1252", "newline": "\r\n"},
        {"bom": True, "quoted": True, "newline": "\r\n"},
    ],
    ids=["quoted", "cp1252-crlf", "bom-quoted-crlf"],
)
def test_per_act_file_as_software_writes_it(
    tmp_path: Path, chunks: None, grouping: None, written: dict[str, Any]
) -> None:
    path = _per_act_file(tmp_path / "actes.csv", 4, invoices=400, **written)
    events, errors = _cases._compare([str(path)])
    assert events > 250 and errors > 10


def test_per_act_files_and_duplicates_across_files(tmp_path: Path, chunks: None, grouping: None) -> None:
    """An invoice in two files is a duplicate there, grouped or not, plain or in error."""
    first = _per_act_file(tmp_path / "a.csv", 7, invoices=300)
    second = _per_act_file(tmp_path / "b.csv", 8, invoices=300, start=250)
    events, errors = _cases._compare([str(first), str(second)])
    assert events > 300 and errors > 50


def test_per_act_windows_1252_export(tmp_path: Path) -> None:
    """The example export of a practice software (French headers and values, Windows-1252)."""
    export = Path(__file__).resolve().parents[1] / "examples" / "export-logiciel.csv"
    events, errors = _cases._compare([str(export)])
    assert events == 7 and errors == 0


def test_plain_invoices_grouped_column_wise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain invoices never reach the row readers' grouping; the others do, with all their lines."""
    path = _per_act_file(tmp_path / "actes.csv", 5)
    handed: list[int] = []
    real = per_act.group_lines

    def spy(rows: Any) -> Any:
        rows = list(rows)
        handed.append(len(rows))
        return real(iter(rows))

    monkeypatch.setattr(per_act, "group_lines", spy)
    result = read_invoices([str(path)])
    total = len(path.read_text(encoding="utf-8").splitlines()) - 1
    assert handed and 0 < handed[0] < total // 3  # a few in ten invoices need judgement
    assert result.events > 500


@pytest.mark.parametrize("spill", [None, 200, 1], ids=["in-memory", "spilled", "spilled-every-chunk"])
def test_invoices_in_several_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spill: int | None
) -> None:
    """Batches cut across every part of the file, in first-line order."""
    _spill_at(monkeypatch, spill)
    monkeypatch.setattr(csv_source, "CHUNK_CHARS", 3000)
    monkeypatch.setattr(per_act, "BATCH_INVOICES", 37)
    path = _per_act_file(tmp_path / "actes.csv", 6)
    events, errors = _cases._compare([str(path)])
    assert events > 400 and errors > 20


# --- any lines: property-based ---------------------------------------------------------------------

#: A few spellings per column, among them every way two lines can differ or agree.
_SPELLINGS = {
    "invoice_id": ["F1", "F2", " F1", "F1\u00a0", "", "F3"],
    "date": ["2025-03-04", "04/03/2025", "", "2025-02-30"],
    "time": ["", "10:00", "10:00:00", "25:00"],
    "practitioner_id": ["101", "102", "", " 101"],
    "patient_id": ["P1", "", "P2"],
    "birth_date": ["1950-02-01", "", "2030-01-01"],
    "ald": ["", "1", "0", "oui", "peut-être"],
    "code": ["G", "MD", "", " VL ", "XYZ", "G+MD", '"G"'],
    "amount": ["30.00", "", "0", "26,50", "abc", "-5"],
    "note": ["", "a", "b", '"q"', "x;y", '"ouvert'],  # quoted, a field too many, a quote left open
}


@st.composite
def _any_per_act_lines(draw: st.DrawFn) -> list[str]:
    names = list(_SPELLINGS)
    count = draw(st.integers(min_value=1, max_value=14))
    lines = [";".join(names)]
    for _ in range(count):
        lines.append(";".join(draw(st.sampled_from(_SPELLINGS[name])) for name in names))
    return lines


@_cases.reproducible(80)
@given(
    lines=_any_per_act_lines(),
    chunk=st.sampled_from([csv_source.CHUNK_CHARS, 60, 200]),
    spill=st.sampled_from([None, 1, 4]),
)
def test_any_per_act_lines_read_as_the_row_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[str], chunk: int, spill: int | None
) -> None:
    """Random lines of a few invoices: the same invoices, values and errors, in the same order,
    with chunk boundaries anywhere (a quote left open across one included), grouped in memory or
    partitioned on disk."""
    _spill_at(monkeypatch, spill)
    _cases.compare_in_chunks(tmp_path, monkeypatch, lines, chunk)


def test_big_file_partitioned_on_disk_then_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the bound the lines go to disk, in parts by round; nothing is left there after."""
    _spill_at(monkeypatch, 100)
    monkeypatch.setattr(csv_source, "CHUNK_CHARS", 5000)
    seen: list[tuple[bool, str]] = []
    real_close = act_spill.PartitionedLines.close

    def close(self: act_spill.PartitionedLines) -> None:
        folder = self._folder.name if self._folder is not None else ""
        real_close(self)
        seen.append((self.spilled, folder))

    monkeypatch.setattr(act_spill.PartitionedLines, "close", close)
    path = _per_act_file(tmp_path / "actes.csv", 9, invoices=900)
    events, errors = _cases._compare([str(path)])
    assert events > 600 and errors > 20
    assert seen and all(spilled for spilled, _ in seen)
    assert not any(Path(folder).exists() for _, folder in seen)


def test_invoices_of_one_hash_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two invoices whose hashes collide share a part; each still comes at its first line's turn.

    Every named invoice is given one of three hashes here: most share a part begun rounds before
    their first line, which the grouping must hold back, plain or judged alike.
    """
    _spill_at(monkeypatch, 60)
    monkeypatch.setattr(csv_source, "CHUNK_CHARS", 2000)
    colliding = act_spill._invoice_hash
    monkeypatch.setattr(act_spill, "_invoice_hash", lambda: colliding() % 3)
    path = _per_act_file(tmp_path / "actes.csv", 10, invoices=500)
    events, errors = _cases._compare([str(path)])
    assert events > 300 and errors > 20


def test_full_disk_while_grouping_said_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A temporary file that cannot be written is named as such, and no part is left behind."""
    import errno

    import polars as pl

    from billing_rules import scratch
    from billing_rules.errors import ReadError

    _spill_at(monkeypatch, 100)

    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pl.DataFrame, "write_ipc", full)
    path = _per_act_file(tmp_path / "actes.csv", 11, invoices=300)
    with pytest.raises(ReadError, match=r"fichier temporaire inutilisable \(No space left on device\)"):
        read_invoices([str(path)])
    assert not [name for name in Path(scratch.folder()).iterdir() if name.name.startswith("actes-")]
