"""The public API is typed: a vendor's ``mypy --strict`` sees real types, and every error is exported.

``billing_rules`` ships ``py.typed``; every function and method reachable from its exports says
what it returns (never ``Any``); every exception a user can catch is importable from the package
itself; and the embedding examples pass ``mypy --strict`` against the installed package, as a
vendor's code would.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import billing_rules

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

#: Exceptions that never reach a user's code: control flow caught inside the package, and the
#: pytest plugin's report of a failing rule example (pytest prints it; nobody catches it).
INTERNAL_EXCEPTIONS = {
    "OutOfOrder",
    # The relational engine hands these to the row path, never to a caller.
    "NeedsPython",
    "RuleExampleFailure",
    # Never reach a caller: a rule's wrong result or unreadable comparison becomes an INTERNAL-ERROR
    # finding, an oversized file a RuleFileError/ConfigError, a UTF-16/32 file without BOM a ReadError.
    "MalformedResult",
    "RuleValueError",
    "TooLarge",
    "WideWithoutBom",
    # A value's parser tells the readers of a blank or unreadable cell, which they turn into the
    # column's default or an InputError.
    "BlankValue",
    "InvalidValue",
}


def _modules() -> list[str]:
    names = ["billing_rules"]
    for info in pkgutil.walk_packages(billing_rules.__path__, "billing_rules."):
        if not info.name.endswith("__main__"):  # importing it runs the command line
            names.append(info.name)
    return names


def test_the_package_says_it_is_typed() -> None:
    assert (Path(billing_rules.__file__).parent / "py.typed").is_file()


def test_every_error_a_user_can_catch_is_exported() -> None:
    found = {}
    for name in _modules():
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == name
                and not attribute.startswith("_")
            ):
                found[attribute] = value
    missing = sorted(set(found) - set(billing_rules.__all__) - INTERNAL_EXCEPTIONS)
    assert missing == []
    for attribute, value in found.items():
        if attribute not in INTERNAL_EXCEPTIONS:
            assert getattr(billing_rules, attribute) is value, attribute


def test_one_ledger_error_whichever_module_it_is_imported_from() -> None:
    from billing_rules import errors, ledger

    assert ledger.LedgerError is errors.LedgerError is billing_rules.LedgerError


def _public_callables() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for name in billing_rules.__all__:
        value = getattr(billing_rules, name)
        if inspect.isclass(value):
            if issubclass(value, BaseException):
                continue
            for attribute, member in vars(value).items():
                if attribute.startswith("_") and attribute != "__init__":
                    continue
                function = (
                    member.fget if isinstance(member, property) else getattr(member, "__func__", member)
                )
                # The package's own code (a Protocol's generated __init__ is typing's).
                if inspect.isfunction(function) and function.__module__.startswith("billing_rules"):
                    found.append((f"{name}.{attribute}", function))
        elif inspect.isfunction(value):
            found.append((name, value))
    return found


def test_no_public_function_returns_any() -> None:
    untyped = []
    for label, function in _public_callables():
        annotation = inspect.signature(function).return_annotation  # type: ignore[arg-type]
        text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
        if annotation is inspect.Signature.empty or re.search(r"\bAny\b", text):
            untyped.append(f"{label} -> {text}")
    assert untyped == []


def test_the_typed_invoice_names_every_column_the_reader_knows() -> None:
    from typing import get_type_hints

    from billing_rules.readers.rows import KNOWN_COLUMNS, REQUIRED_COLUMNS

    typed = billing_rules.InvoiceValues
    assert set(get_type_hints(typed)) == KNOWN_COLUMNS
    assert typed.__required_keys__ == frozenset(REQUIRED_COLUMNS)


def _embedding_scripts() -> list[Path]:
    """The examples that use the library (a data generator beside them does not)."""
    uses = re.compile(r"^(import|from) billing_rules\b", re.MULTILINE)
    return sorted(path for path in EXAMPLES.glob("*.py") if uses.search(path.read_text(encoding="utf-8")))


@pytest.mark.slow
def test_examples_pass_mypy_strict(tmp_path: Path) -> None:
    try:
        import mypy  # noqa: F401
    except ImportError:  # pragma: no cover - mypy is in the test extra
        pytest.skip("mypy is not installed (pip install -e '.[test]' installs it)")
    scripts = _embedding_scripts()
    assert {path.name for path in scripts} >= {"embed.py", "embed_typed.py"}
    # The README's embedding snippet too: it is what a vendor copies first.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Embedding\n", 1)[1].split("\n## ", 1)[0]
    (snippet,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    scripts.append(tmp_path / "readme_embedding.py")
    scripts[-1].write_text(snippet, encoding="utf-8")
    # Run away from the repository, so the package is the installed one, seen as a vendor sees it.
    env = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "MYPYPATH"}}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            *map(str, scripts),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
