"""What README.md and docs/ show is what the code does: their snippets run, their references are generated.

- every rule snippet (a fenced block in the rule language) passes ``billing-rules rules check``
  (docs/plugins.md's with the example plugin's functions, the plugin the page is about), and its
  ``example`` lines behave as written;
- every function of the rule language quoted in the prose has its real arity;
- the DSL vocabulary reference of docs/plugins.md is generated from ``billing_rules/dsl/vocabulary.py``;
- the guide documents every ``Event`` field and ``Hit`` argument a Python rule uses;
- the guide's complete Python examples run (the pytest example as a plugin author's test file);
- the README's commands after the Quick start run in the venv it made, and its forfait command runs
  on the example patients file shipped in examples/;
- the README's forfait figures on the example ledger (output block, yearly totals, not-seen lever)
  are what its own commands print.
"""

from __future__ import annotations

import json
import re
import shlex
import textwrap
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from billing_rules import cli
from billing_rules.dsl.vocabulary import BUILTIN_FUNCTIONS
from billing_rules.model import Event
from billing_rules.rule import Hit

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
GUIDE = REPO / "docs" / "plugins.md"
DOCS = [README, *sorted((REPO / "docs").glob("*.md"))]
SPECIALIST = REPO / "plugins" / "billing-rules-specialist"

_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
_RULE_LANGUAGE = re.compile(
    r"^(rule [A-Z][A-Z0-9-]* (error|warning|opportunity) |family [a-z_]+ =|tariff [A-Z]|define [a-z_]+ =)",
    re.MULTILINE,
)


def fenced_blocks(path: Path) -> list[tuple[str, str, int]]:
    """``(info string, text, line)`` of every fenced block of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return [
        (match.group(1).strip(), match.group(2), text.count("\n", 0, match.start()) + 1)
        for match in _FENCE.finditer(text)
    ]


def rule_snippets() -> list[tuple[Path, int, str]]:
    found = []
    for path in DOCS:
        for info, text, line in fenced_blocks(path):
            if info in ("", "text", "rules") and _RULE_LANGUAGE.search(text):
                found.append((path, line, text))
    return found


class _SpecialistFunctions:
    """The example plugin's DSL functions alone (its rule files would clash with the guide's copy)."""

    @staticmethod
    def register_functions(register):  # noqa: ANN001, ANN205
        from billing_rules_specialist.functions import FUNCTIONS

        for function in FUNCTIONS:
            register(function)


def test_the_docs_have_rule_snippets() -> None:
    where = {path.name for path, _, _ in rule_snippets()}
    assert where == {"README.md", "plugins.md"}


@pytest.mark.parametrize(
    ("path", "line", "text"),
    rule_snippets(),
    ids=[f"{path.name}:{line}" for path, line, _ in rule_snippets()],
)
def test_rule_snippet_passes_rules_check_and_its_examples(
    path: Path, line: int, text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing_rules import hookimpl
    from billing_rules.testing import build_validator, examples_of, run_example

    snippet = tmp_path / f"{path.stem}-{line}.rules"
    snippet.write_text(text, encoding="utf-8")
    if path == GUIDE:
        # The guide's rules use the example plugin's function mt_referral_at().
        monkeypatch.syspath_prepend(str(SPECIALIST / "src"))
        plugin = _SpecialistFunctions()
        plugin.register_functions = hookimpl(_SpecialistFunctions.register_functions)
        validator = build_validator([snippet], plugins=[("specialist", plugin)])
    else:
        result = CliRunner().invoke(cli.main, ["rules", "check", str(snippet)])
        assert result.exit_code == 0, f"{path.name}:{line}: {result.output}"
        validator = build_validator([snippet])
    examples = examples_of(validator, paths=[snippet])
    assert examples, f"{path.name}:{line}: a rule snippet shows at least one example"
    for example in examples:
        outcome = run_example(validator, example)
        assert outcome.ok, f"{path.name}:{line}: {outcome.message}"


def _arity(arguments: str) -> int:
    return 0 if not arguments.strip() else arguments.count(",") + 1


def test_functions_quoted_in_the_docs_have_their_real_arity() -> None:
    import sys

    sys.path.insert(0, str(SPECIALIST / "src"))
    try:
        from billing_rules_specialist.functions import FUNCTIONS
    finally:
        sys.path.remove(str(SPECIALIST / "src"))
    arity = {function.name: len(function.params) for function in (*BUILTIN_FUNCTIONS, *FUNCTIONS)}
    wrong = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for name, arguments in re.findall(r"(?<![.\w])([a-z_]+)\(([^()]*)\)", text):
            if name in arity and _arity(arguments) != arity[name]:
                wrong.append(f"{path.name}: {name}({arguments}) takes {arity[name]} argument(s)")
    assert wrong == []


def test_the_vocabulary_reference_is_generated_from_the_code() -> None:
    from billing_rules.docgen.reference import reference, replace_between_markers

    text = GUIDE.read_text(encoding="utf-8")
    assert replace_between_markers(text, reference()) == text, (
        "docs/plugins.md vocabulary out of date: run python -m billing_rules.docgen.reference docs/plugins.md"
    )


def test_the_vocabulary_reference_names_every_field_and_function_with_its_arity() -> None:
    from billing_rules.docgen.reference import reference
    from billing_rules.dsl.vocabulary import FIELDS

    generated = reference()
    for name in FIELDS:
        assert f"| `{name}` |" in generated, name
    for function in BUILTIN_FUNCTIONS:
        arguments = ", ".join(kind.name for kind in function.params)
        assert f"| `{function.name}({arguments})` |" in generated, function.name
    assert "| `weekday()` |" in generated


def test_the_examples_of_the_types_table_compile(tmp_path: Path) -> None:
    from billing_rules.docgen.reference import KIND_LITERALS

    rules = "".join(
        f'rule CAB-TYPE-{index} warning "exemple"\n  on G\n  when {condition}\nend\n'
        for index, (_, condition) in enumerate(KIND_LITERALS.values())
    )
    path = tmp_path / "types.rules"
    path.write_text(rules, encoding="utf-8")
    result = CliRunner().invoke(cli.main, ["rules", "check", str(path)])
    assert result.exit_code == 0, result.output


def _section(text: str, title: str) -> str:
    start = text.index(title)
    following = text.find("\n#", start + len(title))
    return text[start : following if following != -1 else len(text)]


def test_the_guide_documents_every_event_field_and_hit_argument() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    events = _section(text, "### The `Event` a rule receives")
    missing = [field.name for field in attrs.fields(Event) if f"`{field.name}`" not in events]
    assert missing == [], f"Event fields missing from the guide: {missing}"
    for name in ("key", "cancelled"):
        assert f"`{name}`" in events, name
    hits = _section(text, "### The `Hit` a rule returns")
    missing = [field.name for field in attrs.fields(Hit) if f"`{field.name}`" not in hits]
    assert missing == [], f"Hit arguments missing from the guide: {missing}"


def _python_examples() -> list[tuple[int, str]]:
    """The guide's complete Python examples: the blocks that start with their imports."""
    return [
        (line, text)
        for info, text, line in fenced_blocks(GUIDE)
        if info == "python" and text.lstrip().startswith(("import ", "from "))
    ]


def test_the_guide_has_complete_python_examples() -> None:
    examples = _python_examples()
    assert any("def test_" in text for _, text in examples)
    assert any("@hookimpl" in text for _, text in examples)


@pytest.mark.parametrize(
    ("line", "text"), _python_examples(), ids=[str(line) for line, _ in _python_examples()]
)
def test_a_complete_python_example_of_the_guide_runs(line: int, text: str, pytester: pytest.Pytester) -> None:
    # Run where a plugin author runs it: a test file of the example plugin (its pytest settings,
    # the plugin importable); a hook module is registered as a plugin next to the example one.
    config = (SPECIALIST / "pyproject.toml").read_text(encoding="utf-8")
    pytester.makefile(
        ".toml", pyproject=config.replace('pythonpath = ["src"]', f'pythonpath = ["{SPECIALIST / "src"}"]')
    )
    if "def test_" in text:
        pytester.makepyfile(test_guide_example=text)
    else:
        pytester.makepyfile(guide_hooks=text)
        pytester.makepyfile(
            test_guide_hooks=textwrap.dedent(
                """
                import guide_hooks
                from billing_rules.testing import build_validator

                def test_loads_as_a_plugin():
                    validator = build_validator(plugins=[("guide", guide_hooks)])
                    own = {info.code for info in validator.rules if info.source == "guide"}
                    assert bool(own) == hasattr(guide_hooks, "register_rules")
                """
            )
        )
    pytester.syspathinsert()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "guide", "--strict-markers")
    assert result.ret == 0, f"docs/plugins.md:{line}\n" + "\n".join(result.outlines[-30:])


# -- README: the venv, the forfait example ----------------------------------------------------------


def test_readme_says_to_activate_the_venv_before_the_first_bare_command() -> None:
    text = README.read_text(encoding="utf-8")
    bare = re.search(r"^billing-rules ", text, re.MULTILINE)
    activate = text.find(". .venv/bin/activate")
    assert bare is not None
    assert 0 <= activate < bare.start(), "the README says how to put billing-rules on PATH before using it"
    assert activate < text.index("## Checking a billing file")


def _readme_forfait_commands() -> list[list[str]]:
    return [
        shlex.split(line.split("#", 1)[0])
        for info, block, _ in fenced_blocks(README)
        if info == "sh"
        for line in block.splitlines()
        if line.startswith("billing-rules forfait examples/")
    ]


def test_the_readme_forfait_commands_run_on_the_shipped_patients_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    commands = _readme_forfait_commands()
    assert len(commands) >= 2, "the README shows forfait on the patients file of examples/"
    monkeypatch.chdir(REPO)
    for command in commands:
        assert (REPO / command[2]).is_file(), command[2]
        result = CliRunner().invoke(cli.main, [*command[1:], "--format", "json"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["patients"] == 18 and report["total"] > 0


def test_the_readme_shows_the_forfait_output_of_the_example(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    first = _readme_forfait_commands()[0]
    result = CliRunner().invoke(cli.main, first[1:])
    assert result.exit_code == 0, result.output
    shown = [text for info, text, _ in fenced_blocks(README) if info == "text" and "Forfait médecin" in text]
    assert result.stdout in shown, f"README's output of {' '.join(first)} is out of date:\n{result.stdout}"


def test_the_example_patients_file_has_the_forfait_columns() -> None:
    header = (REPO / "examples" / "patients.csv").read_text(encoding="utf-8").splitlines()[0]
    assert {"patient_id", "birth_date", "ald", "c2s"} <= set(re.split(r"[;,]", header))


# -- README: the forfait figures of the example ledger -----------------------------------------------

_LEDGER_FIGURE = re.compile(r"(\d[\d ]*,\d\d €) for (\d+) (?:patients )?in (\d{4})")


def _spaced(amount: float) -> str:
    """``format_euros`` with plain spaces, as the README's prose writes euros."""
    from decimal import Decimal

    from billing_rules.money import format_euros

    return format_euros(Decimal(str(amount))).replace("\u00a0", " ").replace("\u202f", " ")


def _readme_ledger_example() -> tuple[list[list[str]], str]:
    """The README's commands that build the example ledger and print its forfait, and the output shown."""
    blocks = fenced_blocks(README)
    (index,) = [
        index
        for index, (info, text, _) in enumerate(blocks)
        if info == "sh" and "ledger import examples/history-2023-2025.csv" in text
    ]
    commands = [
        shlex.split(line.split("#", 1)[0])
        for line in blocks[index][1].splitlines()
        if line.startswith("billing-rules ")
    ]
    assert blocks[index + 1][0] == "text"
    return commands, blocks[index + 1][1]


def test_the_readme_forfait_figures_of_the_example_ledger_are_real(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The README's figures on the example ledger are the command's: they once lagged an added invoice.

    The commands are the README's own (import the history, record the week, print the forfait),
    on a ledger in ``tmp_path``; the 2025 output shown, and the totals, patientèles and not-seen
    lever of the sentence after it, must be what ``forfait`` prints.
    """
    monkeypatch.chdir(REPO)
    ledger = str(tmp_path / "cabinet.sqlite")
    commands, shown = _readme_ledger_example()
    commands = [[ledger if word == "cabinet.sqlite" else word for word in command] for command in commands]
    assert [command[1] for command in commands] == ["ledger", "check", "forfait"]
    for command, exit_code in zip(commands, (0, 1, 0), strict=True):
        result = CliRunner().invoke(cli.main, command[1:])
        assert result.exit_code == exit_code, (command, result.output)
    printed = result.stdout.replace("\u00a0", " ")
    assert printed.startswith(shown), f"README's output of forfait --ledger is out of date:\n{printed}"
    forfait = commands[2]
    assert forfait[-2] == "--year"

    def report(year: str) -> dict:
        done = CliRunner().invoke(cli.main, [*forfait[1:-1], year, "--format", "json"])
        assert done.exit_code == 0, done.output
        return json.loads(done.stdout)

    text = README.read_text(encoding="utf-8")
    start = text.index("Same practitioner: ")
    passage = " ".join(text[start : text.index("\n\n", start)].split())
    figures = _LEDGER_FIGURE.findall(passage)
    assert [year for *_, year in figures] == ["2023", "2024", "2026"], passage
    reports = {year: report(year) for *_, year in figures}
    for total, patients, year in figures:
        assert (total, int(patients)) == (_spaced(reports[year]["total"]), reports[year]["patients"]), year
    fmt = reports["2026"]
    not_seen = next(line["patients"] for line in fmt["categories"] if line["category"] == "not_seen_2_years")
    levers = [item for item in fmt["candidates"] if item["kind"] == "not_seen"]
    said = re.search(r"(\d+) MT patients with no invoice since 01/01/2025", passage)
    assert said is not None and int(said.group(1)) == not_seen
    said = re.search(r"(\d+) C2S patients", passage)
    assert said is not None and int(said.group(1)) == fmt["c2s"]["patients"]
    said = re.search(r"(\d+) of the (\d+) not-seen patients .*?, (\d[\d ]*,\d\d €) a year at stake", passage)
    assert said is not None
    assert said.groups() == (str(len(levers)), str(not_seen), _spaced(sum(item["yearly"] for item in levers)))
