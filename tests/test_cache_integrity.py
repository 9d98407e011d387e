"""An edited entry of the rule-parse cache can only make start-up slower, never change a rule
(issue 16 point 6)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from billing_rules.dsl import astcache, parser

DAY = (
    "invoice_id;date;practitioner_id;patient_id;birth_date;codes;ald;mt_status;declares_mt\n"
    "F1;2023-06-12;10001;P1;1961-09-03;IMT;oui;none;oui\n"
    "F2;2024-02-01;10002;P1;1961-09-03;IMT;oui;other;oui\n"
)


def _cli(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, BILLING_RULES_CACHE_DIR=str(cache), BILLING_RULES_LOAD_PLUGINS="0")
    return subprocess.run(
        [sys.executable, "-m", "billing_rules", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _without_rule(node: Any, code: str) -> tuple[Any, bool]:
    """The JSON tree with the rule ``code`` removed wherever it is declared."""
    removed = False
    if isinstance(node, dict):
        if node.get("__t") == "tuple":
            kept = []
            for item in node["items"]:
                if isinstance(item, dict) and item.get("code") == code:
                    removed = True
                    continue
                item, inner = _without_rule(item, code)
                removed |= inner
                kept.append(item)
            return {**node, "items": kept}, removed
        result = {}
        for key, value in node.items():
            result[key], inner = _without_rule(value, code)
            removed |= inner
        return result, removed
    return node, False


def _codes(result: subprocess.CompletedProcess[str]) -> set[str]:
    return {rule["code"] for rule in json.loads(result.stdout)}


def test_an_edited_entry_does_not_remove_a_rule(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    day = tmp_path / "jour.csv"
    day.write_text(DAY, encoding="utf-8")
    first = _cli(cache, "rules", "list", "--format", "json")
    assert "IMT-ONCE" in _codes(first)
    edited = 0
    for entry in cache.glob("*.json"):
        document = json.loads(entry.read_text(encoding="utf-8"))
        document["tree"], removed = _without_rule(document["tree"], "IMT-ONCE")
        if removed:
            entry.write_text(json.dumps(document), encoding="utf-8")
            edited += 1
    assert edited == 1
    assert "IMT-ONCE" in _codes(_cli(cache, "rules", "list", "--format", "json"))
    report = json.loads(_cli(cache, "check", str(day), "--format", "json").stdout)
    assert ("F2", "IMT-ONCE") in {(f["invoice_id"], f["rule"]) for f in report["findings"]}


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_cache_folder_is_private_and_foreign_entries_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("BILLING_RULES_CACHE_DIR", str(cache))
    text = 'rule X-1 warning "m"\n  on G\nend\n'
    tree = parser.parse(text, "x.rules")
    previous = os.umask(0)
    try:
        astcache.store(text, "x.rules", tree)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    (entry,) = cache.glob("*.json")
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert astcache.load(text, "x.rules") == tree
    entry.chmod(0o666)  # writable by anyone: not trusted
    assert astcache.load(text, "x.rules") is None
    entry.chmod(0o600)
    cache.chmod(0o777)  # a folder anyone can write to: not trusted
    assert astcache.load(text, "x.rules") is None
    cache.chmod(0o700)
    assert astcache.load(text, "x.rules") == tree
