"""``--format jsonl``: the JSON report's entries, one per line, then the summary line."""

from __future__ import annotations

import io
import json
from pathlib import Path

from click.testing import CliRunner

from billing_rules.cli import main
from billing_rules.reporters import BUILTIN_REPORTERS
from billing_rules.reporters.jsonl_report import write_lines

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "week-2026-01.csv"


def _run(*args: str) -> str:
    result = CliRunner().invoke(main, ["check", *args, "--fail-on", "never"])
    assert result.exit_code == 0, result.output
    return result.output


def _split(text: str) -> tuple[list[dict], list[dict], dict]:
    """(findings, input errors, summary) of a JSON Lines report, its line order checked."""
    lines = [json.loads(line) for line in text.splitlines()]
    kinds = [line.pop("type") for line in lines]
    assert kinds == sorted(kinds, key=["finding", "input_error", "summary"].index)
    assert kinds.count("summary") == 1 and kinds[-1] == "summary"
    findings = [line for line, kind in zip(lines, kinds, strict=True) if kind == "finding"]
    errors = [line for line, kind in zip(lines, kinds, strict=True) if kind == "input_error"]
    return findings, errors, lines[-1]


def test_same_content_as_the_json_report(tmp_path: Path) -> None:
    damaged = tmp_path / "day.csv"
    text = EXAMPLE.read_text(encoding="utf-8").splitlines()
    text.append(text[1].replace(text[1].split(";")[1], "2026-13-45", 1))  # an input error
    damaged.write_text("\n".join(text) + "\n", encoding="utf-8")
    report = json.loads(_run(str(damaged), "--format", "json"))
    findings, errors, summary = _split(_run(str(damaged), "--format", "jsonl"))
    assert report["findings"] and report["input_errors"]
    assert findings == report["findings"]
    assert errors == report["input_errors"]
    assert summary == report["summary"]
    assert list(findings[0]) == list(report["findings"][0])  # SPEC §2 key order


def test_several_files_carry_file(tmp_path: Path) -> None:
    second = tmp_path / "other.csv"
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    second.write_text("\n".join([lines[0], *(line.replace("F", "Z", 1) for line in lines[1:])]) + "\n")
    findings, _, summary = _split(_run(str(EXAMPLE), str(second), "--format", "jsonl"))
    assert {finding["file"] for finding in findings} == {str(EXAMPLE), str(second)}
    assert summary["events"] == 2 * (len(lines) - 1)


def test_registered_and_empty_report() -> None:
    assert BUILTIN_REPORTERS["jsonl"].name == "jsonl"
    out = io.StringIO()
    write_lines(iter(()), iter(()), {"events": 0}, out)
    assert out.getvalue() == '{"type":"summary","events":0}\n'
