"""Assembling a rule set: every rule file, Python rule, tariff and function, from every source.

All rule files are parsed first and their declarations (codes, families, tariffs, defines) pooled,
so a plugin's rule may use a code another file declares; then the rules are compiled against that
pool. Clashes (one rule code from two sources, one tariff row twice) are errors naming both sides.
"""

from __future__ import annotations

import datetime as dt
import errno
import functools
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

from billing_rules.domain.forfait.tables import ForfaitTables
from billing_rules.domain.tariffs import CodeInfo, Tariff, TariffTable
from billing_rules.dsl import ast
from billing_rules.dsl.check import Checker
from billing_rules.dsl.parser import parse
from billing_rules.dsl.program import RuleSet
from billing_rules.dsl.vocabulary import BUILTIN_FUNCTIONS, Environment, Function
from billing_rules.engines.row.compiler import Compiler
from billing_rules.errors import (
    RuleClashError,
    RuleCompileError,
    RuleFileClashError,
    RuleFileError,
    RuleSyntaxError,
)
from billing_rules.rule import Rule


@attrs.frozen
class RuleText:
    """A rule file's text and where it came from (``source`` is ``builtin`` or a plugin's name)."""

    text: str
    path: str
    source: str = "builtin"

    @classmethod
    def from_path(cls, path: str | Path, source: str = "builtin") -> RuleText:
        """Read a rule file; a missing or unreadable file is an error naming it, not a traceback.

        Editors on Windows often save UTF-8 with a byte-order mark: it is accepted. A byte that is
        not UTF-8 (a file saved in Windows-1252) is located at its line and column.
        """
        from billing_rules.dsl.parser import MAX_RULE_FILE_CHARS
        from billing_rules.files import TooLarge, read_bounded

        try:
            # At most 4 bytes per character in UTF-8 (and 3 for a byte-order mark).
            data = read_bounded(path, 4 * MAX_RULE_FILE_CHARS + 3)
        except TooLarge:
            raise RuleFileError(
                f"fichier de règles trop grand (plus de {MAX_RULE_FILE_CHARS} caractères) : "
                "il n'a pas été lu en entier",
                path=str(path),
            ) from None
        except OSError as exc:
            reason = _OS_REASONS.get(exc.errno or 0, exc.strerror or exc.__class__.__name__)
            raise RuleFileError(f"fichier de règles illisible : {reason}", path=str(path)) from None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            start = data.rfind(b"\n", 0, exc.start) + 1
            end = data.find(b"\n", exc.start)
            line_bytes = data[start : end if end >= 0 else len(data)]
            raise RuleSyntaxError(
                f"octet 0x{data[exc.start]:02X} illisible : enregistrez le fichier de règles en UTF-8",
                path=str(path),
                line=data.count(b"\n", 0, exc.start) + 1,
                column=len(data[start : exc.start].decode("utf-8", errors="replace")) + 1,
                source_line=line_bytes.decode("utf-8", errors="replace"),
            ) from None
        return cls(text=text, path=str(path), source=source)


_OS_REASONS = {
    errno.ENOENT: "fichier introuvable",
    errno.EACCES: "accès refusé",
    errno.EPERM: "accès refusé",
    errno.EISDIR: "c'est un dossier, pas un fichier",
}


def build_ruleset(
    texts: Sequence[RuleText],
    *,
    python_rules: Iterable[Rule] = (),
    tariffs: Iterable[Tariff] = (),
    functions: Iterable[Function] = (),
    as_of: dt.date | None = None,
) -> RuleSet:
    """Parse, pool and compile; raises :class:`RuleFileError` or :class:`RuleClashError`.

    ``as_of`` builds the rule set of the texts in force on that day, applied to every date (SPEC
    §7): the rules, tariffs and forfait rows of that day only, and no code validity (a code that
    does not exist then counts for nothing, which the simulation takes care of).
    """
    parsed = [(_parse(text.text, text.path), text) for text in texts]

    function_table: dict[str, Function] = {}
    for function in (*BUILTIN_FUNCTIONS, *functions):
        if function.name in function_table and function_table[function.name].origin != function.origin:
            raise RuleClashError(
                f"la fonction « {function.name} » est définie par {function_table[function.name].origin} "
                f"et par {function.origin}"
            )
        function_table[function.name] = function

    codes: dict[str, CodeInfo] = {}
    families: dict[str, frozenset[str]] = {}
    tariff_rows: list[Tariff] = list(tariffs)
    # Where each rule file's tariff row was declared, so that a clash names the file and line.
    tariff_places: dict[int, tuple[ast.RuleFile, ast.Span]] = {}
    pending_families: list[tuple[ast.FamilyDecl, ast.RuleFile]] = []
    defines: list[tuple[ast.DefineDecl, ast.RuleFile]] = []
    dsl_tariffs: dict[tuple[str, dt.date, str | None], str] = {}
    code_places: dict[str, str] = {}
    for rule_file, text in parsed:
        for decl in rule_file.declarations:
            if isinstance(decl, ast.CodeDecl):
                if decl.code in codes:
                    raise _located(
                        rule_file,
                        decl.span,
                        f"code « {decl.code} » déclaré deux fois (déjà par {code_places[decl.code]})",
                    )
                # Named as a rule or a tariff row is: the source, then the file and line.
                code_places[decl.code] = f"{text.source} ({rule_file.path}:{decl.span.line})"
                for period in decl.periods:
                    if period.end is not None and period.end < period.start:
                        raise _located(
                            rule_file, decl.span, "la fin de validité précède son début", clash=False
                        )
                periods = tuple((period.start, period.end) for period in decl.periods)
                codes[decl.code] = CodeInfo(
                    decl.code, decl.label, periods, origin=f"{text.source}:{rule_file.path}"
                )
            elif isinstance(decl, ast.TariffDecl):
                if decl.end is not None and decl.end < decl.start:
                    raise _located(rule_file, decl.span, "la fin du tarif précède son début", clash=False)
                key = (decl.code, decl.start, decl.sector)
                if key in dsl_tariffs:
                    raise _located(
                        rule_file,
                        decl.span,
                        f"le tarif de {decl.code}{_for_sector(decl.sector)} au {decl.start.isoformat()} "
                        f"est défini deux fois (déjà par {dsl_tariffs[key]})",
                    )
                dsl_tariffs[key] = f"{text.source} ({rule_file.path}:{decl.span.line})"
                row = Tariff(
                    decl.code,
                    decl.amount,
                    decl.start,
                    decl.end,
                    decl.source,
                    origin=text.source,
                    unit=decl.unit,
                    sector=decl.sector,
                )
                tariff_rows.append(row)
                tariff_places[id(row)] = (rule_file, decl.span)
            elif isinstance(decl, ast.FamilyDecl):
                pending_families.append((decl, rule_file))
            elif isinstance(decl, ast.DefineDecl):
                defines.append((decl, rule_file))
    _check_tariff_clashes(tariff_rows, tariff_places)
    table = TariffTable(tariff_rows)
    all_tariff_codes = table.codes()
    if as_of is not None:
        table = table.as_of(as_of)
        codes = {code: info.fixed_on(as_of) for code, info in codes.items()}

    # A code is known when a file declares it (``code``) or a tariff row prices it, whatever the
    # day of a simulation. Naming it in a family does not make it known: a family member is
    # checked like any code a rule names, so a typo there is an error, not a code never matched.
    known = set(codes) | set(all_tariff_codes)
    environment = Environment(tariffs=table, forfaits=ForfaitTables(table), codes=codes)
    # One check for both back ends: the row compiler and the relational plans build from a tree
    # whose names, kinds and words are known good.
    checker = Checker(known_codes=frozenset(known), families=families, functions=function_table)
    family_origins: dict[str, str] = {}
    for decl, rule_file in pending_families:
        checker.use_file(rule_file)
        if decl.name in families:
            raise _located(
                rule_file,
                decl.span,
                f"famille « {decl.name} » déclarée deux fois (déjà par {family_origins[decl.name]})",
            )
        families[decl.name] = checker.expand_codes(decl.codes)
        family_origins[decl.name] = f"{rule_file.path}:{decl.span.line}"
    # ``code SHE ... majoration of SNP, MRT``: its codes checked as a family's, every family known;
    # the rules' recodings and amounts read them from the environment.
    majorations: dict[str, frozenset[str]] = {}
    for rule_file, _text in parsed:
        checker.use_file(rule_file)
        for decl in rule_file.declarations:
            if isinstance(decl, ast.CodeDecl) and decl.majorates:
                majorations[decl.code] = checker.check_majoration(decl)
    environment = attrs.evolve(environment, majorations=majorations)
    define_origins: dict[str, str] = {}
    for decl, rule_file in defines:
        checker.use_file(rule_file)
        if decl.name in checker.defines:
            raise _located(
                rule_file,
                decl.span,
                f"« {decl.name} » défini deux fois (déjà par {define_origins[decl.name]})",
            )
        checker.add_define(decl)
        define_origins[decl.name] = f"{rule_file.path}:{decl.span.line}"
    for decl, rule_file in defines:  # once all are known: a define may name a later family
        checker.use_file(rule_file)
        checker.check_define(decl)

    compiler = Compiler(
        families=families, functions=function_table, environment=environment, defines=checker.defines
    )
    rules: list[Rule] = []
    origins: dict[str, str] = {}
    for rule_file, text in parsed:
        checker.use_file(rule_file)
        compiler.use_file(rule_file)
        for decl in rule_file.declarations:
            if not isinstance(decl, ast.RuleDecl):
                continue
            if decl.code in origins:
                raise _located(
                    rule_file, decl.span, f"la règle {decl.code} est déjà définie par {origins[decl.code]}"
                )
            try:
                checker.check_rule(decl)
                rule = compiler.compile_rule(decl, source=text.source, origin=rule_file.path)
            except RecursionError:  # pragma: no cover - parser and check bound the nesting first
                raise checker.error("règle trop imbriquée", decl.span) from None
            origins[decl.code] = f"{text.source} ({rule_file.path}:{decl.span.line})"
            if as_of is not None:
                if not _in_force_on(rule, as_of):
                    continue
                rule = attrs.evolve(rule, valid_from=None, valid_until=None)
            rules.append(rule)

    ruleset = RuleSet(
        rules=(),
        codes=codes,
        families=families,
        tariffs=table,
        functions=function_table,
        environment=environment,
    )
    for rule in python_rules:
        if rule.code in origins:
            raise RuleClashError(
                f"la règle {rule.code} est définie deux fois : par {origins[rule.code]} et par {rule.source}"
            )
        origins[rule.code] = rule.source
        if as_of is not None and not _in_force_on(rule, as_of):
            continue
        bind = getattr(rule, "bind", None)
        rules.append(bind(ruleset) if callable(bind) else rule)
    return attrs.evolve(ruleset, rules=tuple(rules))


def _in_force_on(rule: Rule, day: dt.date) -> bool:
    """Whether ``rule`` applies to an act of ``day`` (its ``from`` / ``until``, when it has any)."""
    start = getattr(rule, "valid_from", None)
    end = getattr(rule, "valid_until", None)
    return (start is None or start <= day) and (end is None or day <= end)


# Parsed files are immutable values: a process that builds several validators (tests, a server
# reloading its configuration) parses the built-in catalogue once. Only small texts are kept.
_CACHED_TEXT_CHARS = 100_000


@functools.lru_cache(maxsize=64)
def _parse_cached(text: str, path: str) -> ast.RuleFile:
    # Across processes too: the command line reads the trees of unchanged files from disk.
    from billing_rules.dsl import astcache

    tree = astcache.load(text, path)
    if tree is None:
        tree = parse(text, path)
        astcache.store(text, path, tree)
    return tree


def _parse(text: str, path: str) -> ast.RuleFile:
    if len(text) <= _CACHED_TEXT_CHARS:
        return _parse_cached(text, path)
    return parse(text, path)


def _located(
    rule_file: ast.RuleFile, span: ast.Span, message: str, *, clash: bool = True
) -> RuleCompileError:
    """An error at ``span``; a clash (something declared twice) is also a :class:`RuleClashError`."""
    lines = rule_file.text.split("\n")  # as Lark counts lines
    source_line = lines[span.line - 1] if 0 < span.line <= len(lines) else None
    kind = RuleFileClashError if clash else RuleCompileError
    return kind(message, path=rule_file.path, line=span.line, column=span.column, source_line=source_line)


def _for_sector(sector: str | None) -> str:
    return f" (secteur {sector})" if sector is not None else ""


def _check_tariff_clashes(rows: list[Tariff], places: dict[int, tuple[ast.RuleFile, ast.Span]]) -> None:
    """Refuse two rows for one code, date and sector, or one code priced both per km and flat.

    A row declared in a rule file is located (``places``): the error then names that file and the
    line of the second, clashing declaration (:class:`RuleFileClashError`, still a
    :class:`RuleClashError`), as every other clash of the rule files does. Rows registered by Python
    code come first in ``rows`` and have no place: a clash between two of them names their plugins.
    """
    seen: dict[tuple[str, dt.date, str | None], Tariff] = {}
    first_of_code: dict[str, Tariff] = {}
    for row in rows:
        key = (row.code, row.start, row.sector)
        if key in seen:
            other = seen[key]
            _raise_clash(
                row,
                places,
                f"le tarif de {row.code}{_for_sector(row.sector)} au {row.start.isoformat()} est défini "
                f"deux fois (par {_where(other, places)} et par {_where(row, places)})",
            )
        seen[key] = row
        # One code is priced one way: a flat row beside a per-km row would make totals depend on
        # which row is in force, with nothing in the invoice to say why.
        first = first_of_code.setdefault(row.code, row)
        if (first.unit == "km") != (row.unit == "km"):
            _raise_clash(
                row,
                places,
                f"le code {row.code} a des tarifs par km et des tarifs forfaitaires "
                f"(le premier tarif : {_where(first, places)})",
            )


def _where(row: Tariff, places: dict[int, tuple[ast.RuleFile, ast.Span]]) -> str:
    """Who declared ``row``: its source, and its file and line when a rule file did."""
    place = places.get(id(row))
    if place is None:
        return row.origin
    rule_file, span = place
    return f"{row.origin} ({rule_file.path}:{span.line})"


def _raise_clash(row: Tariff, places: dict[int, tuple[ast.RuleFile, ast.Span]], message: str) -> None:
    place = places.get(id(row))
    if place is None:
        raise RuleClashError(message)
    rule_file, span = place
    raise _located(rule_file, span, message)
