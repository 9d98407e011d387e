"""The two start-up caches of the DSL: pre-generated grammar tables and the parsed-tree cache."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from billing_rules.dsl import astcache, parser
from billing_rules.dsl import grammar as tables


def _builtin_rule_files() -> list[tuple[str, str]]:
    folder = resources.files("billing_rules") / "builtin" / "ngap"
    return [
        (item.name, item.read_text(encoding="utf-8"))
        for item in folder.iterdir()
        if item.name.endswith(".rules")
    ]


def test_the_shipped_grammar_tables_match_the_grammar() -> None:
    loaded = tables.load_parser(parser.grammar_text(), {"propagate_positions": True})
    assert loaded is not None, "grammar edited or Lark upgraded: run python -m billing_rules.dsl.grammar"


def test_the_tables_parse_exactly_like_the_grammar() -> None:
    grammar = parser.grammar_text()
    built = parser.build_parser(grammar)
    loaded = tables.load_parser(grammar, {"propagate_positions": True})
    assert loaded is not None
    for _name, text in _builtin_rule_files():
        assert loaded.parse(text) == built.parse(text)


def test_tables_of_another_grammar_are_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    grammar = parser.grammar_text()
    assert tables.load_parser(grammar + "\n// edited\n", {"propagate_positions": True}) is None
    monkeypatch.setattr(tables, "TABLES_PATH", tmp_path / "missing.json")
    assert tables.load_parser(grammar, {"propagate_positions": True}) is None


def test_a_parsed_tree_comes_back_equal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_RULES_CACHE_DIR", str(tmp_path))
    for name, text in _builtin_rule_files():
        tree = parser.parse(text, name)
        assert astcache.load(text, name) is None
        astcache.store(text, name, tree)
        assert astcache.load(text, name) == tree
        assert astcache.load(text + "\n", name) is None  # another text, another entry
        assert astcache.load(text, "other.rules") is None


def test_a_damaged_entry_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_RULES_CACHE_DIR", str(tmp_path))
    text = 'rule X-1 warning "m"\n  on G\nend\n'
    tree = parser.parse(text, "x.rules")
    astcache.store(text, "x.rules", tree)
    (entry,) = tmp_path.glob("*.json")
    document = json.loads(entry.read_text(encoding="utf-8"))
    document["tree"]["__t"] = "Path"  # a class outside the syntax tree is never built
    entry.write_text(json.dumps(document), encoding="utf-8")
    assert astcache.load(text, "x.rules") is None
    entry.write_text("{not json", encoding="utf-8")
    assert astcache.load(text, "x.rules") is None


def test_the_cache_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_RULES_CACHE_DIR", "off")
    text = 'rule X-1 warning "m"\n  on G\nend\n'
    astcache.store(text, "x.rules", parser.parse(text, "x.rules"))
    assert astcache.cache_dir() is None
    assert astcache.load(text, "x.rules") is None


def test_the_cache_keeps_only_the_newest_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_RULES_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(astcache, "MAX_ENTRIES", 3)
    for number in range(5):
        text = f'rule X-{number} warning "m"\n  on G\nend\n'
        astcache.store(text, "x.rules", parser.parse(text, "x.rules"))
    assert len(list(tmp_path.glob("*.json"))) == 3
