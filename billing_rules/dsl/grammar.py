"""The rule grammar: its text, and its LALR tables generated ahead of time and shipped as JSON.

Building the Lark parser from the grammar costs about a second (and more when ``interegular`` is
installed: Lark then checks every pair of terminals for collisions). ``billing-rules check`` on a
ten-line file must not pay that, so the tables Lark computes are written once, by the developers,
to ``grammar_tables.json`` next to this module, and loaded in a few milliseconds.

JSON, not pickle: loading the tables never runs code. The file records the SHA-256 of the grammar
and the Lark version it was made with; if either differs (grammar edited, Lark upgraded), the
tables are ignored and the parser is built from the grammar as before. A test keeps the shipped
file in step with the grammar. Regenerate with::

    python -m billing_rules.dsl.grammar
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

GRAMMAR_NAME = "billing_rules.lark"

TABLES_PATH = Path(__file__).with_name("grammar_tables.json")
_INT_KEYS = "__int_keys__"


def grammar_text() -> str:
    """The grammar, from the installed wheel or, in a checkout, from the top-level ``grammar/``."""
    packaged = resources.files("billing_rules") / "grammar" / GRAMMAR_NAME
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    checkout = Path(__file__).resolve().parents[2] / "grammar" / GRAMMAR_NAME
    return checkout.read_text(encoding="utf-8")


def build_parser(grammar: str):  # type: ignore[no-untyped-def]
    """The Lark parser built from the grammar's text (slow: see this module's docstring)."""
    import lark

    return lark.Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def grammar_digest(grammar: str) -> str:
    """What the tables are valid for: the grammar's exact text."""
    return hashlib.sha256(grammar.encode("utf-8")).hexdigest()


def _encode(value: Any) -> Any:
    # Lark's tables are dicts, lists, tuples and scalars; JSON has no integer keys (parser states,
    # memo ids), so such dicts are spelled as a list of pairs under a marker key.
    if isinstance(value, dict):
        if any(not isinstance(key, str) for key in value):
            return {_INT_KEYS: [[key, _encode(item)] for key, item in value.items()]}
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(item) for item in value]
    return value


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and _INT_KEYS in obj:
        return {key: item for key, item in obj[_INT_KEYS]}
    return obj


def load_parser(grammar: str, options: dict[str, Any]) -> Any | None:
    """The Lark parser from the shipped tables, or None if they do not match ``grammar``/Lark.

    ``options`` are the load-time options (``propagate_positions``); the parsing options were
    fixed when the tables were made.
    """
    import lark
    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    try:
        stored = json.loads(TABLES_PATH.read_text(encoding="utf-8"), object_hook=_decode)
    except (OSError, ValueError):
        return None
    if stored.get("grammar_sha256") != grammar_digest(grammar) or stored.get("lark") != lark.__version__:
        return None
    del Rule, TerminalDef  # (the classes named in the memo; imported so that Lark has loaded them)
    return lark.Lark._load_from_dict(stored["data"], stored["memo"], **options)


def write_tables(parser: Any, grammar: str, path: Path = TABLES_PATH) -> None:
    """Store ``parser``'s tables (built from ``grammar``) for :func:`load_parser`."""
    import lark
    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    data, memo = parser.memo_serialize([TerminalDef, Rule])
    document = {
        "grammar_sha256": grammar_digest(grammar),
        "lark": lark.__version__,
        "data": _encode(data),
        "memo": _encode(memo),
    }
    path.write_text(json.dumps(document, separators=(",", ":")) + "\n", encoding="utf-8")


def main() -> None:
    """Regenerate the shipped tables from the grammar."""
    grammar = grammar_text()
    write_tables(build_parser(grammar), grammar)
    print(f"{TABLES_PATH} écrit")


if __name__ == "__main__":
    main()
