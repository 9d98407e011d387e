"""Fuzzing campaign for the rule DSL: many random and mutated rule files, on demand (issue 7).

    python fuzz/fuzz_rules.py --seconds 180            # about three minutes
    python fuzz/fuzz_rules.py -n 5000 --seed 7         # a fixed number of texts, reproducible

Each text is built into a rule set together with the built-in catalogue (so that its references
resolve). The only acceptable outcomes are a compiled rule set that then checks a set of invoices
without any rule crashing, or a ``RuleFileError`` located at a line and a column. Anything else is
a crash: it is printed, and its text saved under ``--crash-dir`` to become a regression test.
Texts that take longer than ``--timeout`` seconds count as hangs.

The property tests in ``tests/test_dsl_fuzz.py`` run the same properties with a small budget.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import re
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Fuzzed texts are parsed for real, never read from nor written to the parsed-tree disk cache.
os.environ["BILLING_RULES_CACHE_DIR"] = "off"

from billing_rules.api.ruleset import RuleSet, RuleText, build_ruleset  # noqa: E402
from billing_rules.api.validator import Validator  # noqa: E402
from billing_rules.dsl.parser import MAX_NESTING, MAX_RULE_FILE_CHARS  # noqa: E402
from billing_rules.errors import RuleFileError  # noqa: E402
from billing_rules.model import Event  # noqa: E402
from billing_rules.plugins import rule_file_paths  # noqa: E402

BUILTIN = {
    path.name: path.read_text(encoding="utf-8") for path in rule_file_paths("billing_rules.builtin.ngap")
}
CATALOGUE = [RuleText(text, name) for name, text in BUILTIN.items()]
TOKEN = re.compile(
    r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|\d{4}-\d{2}-\d{2}|\d+(?:\.\d+)?[a-z]*|[A-Za-z_][A-Za-z0-9_-]*|\s+|.'
)

KEYWORDS = (
    "rule end family code tariff define on when from until valid source doc at most the per and or not "
    "billed is in given missing suggest add instead of amount example fires passes after counting any if "
    "error warning "
    "opportunity patient practitioner day week quarter year ever within months hours minutes 3rd 1st"
).split()
NAMES = (
    "age ald palliative neurodegenerative mt_status declares_mt place homebound regulated referral_at "
    "status sector specialty date time act_time birth_date amount invoice_id practitioner_id self other "
    "none unknown domicile ehpad cabinet tele tariff public_holiday pdsa_time weekday extra forfait_mt "
    "in_ald consultation "
    "visit agee patient_id code_set sort_key __class__ __import__ __builtins__ eval exec open compile"
).split()
CODES = "G GS VG VL VSP IMT SNP MOP MEG MD GL1 GL2 GL3 TCG ZZZZ ABCD123 IMT-ONCE VL-QUARTER".split()
ODD = [
    "(",
    ")",
    ",",
    "=",
    "<=",
    ">=",
    "!=",
    "<",
    ">",
    "+",
    "-",
    "{",
    "}",
    '"texte"',
    '"{date}"',
    '"{date:>999999999}"',
    '"{date.__class__}"',
    '"{"',
    '"\\"',
    "2024-02-30",
    "0000-00-00",
    "9999-12-31",
    "2024-01-01",
    "99999999999999999999999999",
    "999999999999",
    "0",
    "1.5",
    "0.000000000001",
    "\x00",
    "\ufeff",
    "\u202e",
    "é",
    "\u2028",
    "\x0c",
    "\r",
    "\n",
    "#",
    "$",
    ".",
    ";",
]
VOCABULARY = KEYWORDS + NAMES + CODES + ODD


def _invoice(index: int, **fields: Any) -> Event:
    values = {
        "invoice_id": f"F-{index}",
        "date": "2024-03-04",
        "practitioner_id": "10001",
        "patient_id": f"P-{index % 3}",
        "birth_date": "1950-01-01",
        "codes": "G",
        **fields,
    }
    return Validator.invoice(values, seq=index)


EVENTS = [
    _invoice(1),
    _invoice(2, codes="VL+MD", place="domicile", mt_status="self", ald="oui", birth_date="1940-01-01"),
    _invoice(3, codes="VL+MD", place="domicile", mt_status="self", ald="oui", birth_date="1940-01-01"),
    _invoice(4, codes="IMT", ald="oui", mt_status="none", declares_mt="oui"),
    _invoice(5, codes="G+SNP", regulated="oui", referral_at="2024-03-01T08:00", time="21:30"),
    _invoice(6, codes="VSP", palliative="oui", place="ehpad", mt_status="self"),
    _invoice(7, codes="G+MEG", birth_date="2021-05-01", amount="35,00", sector="optam"),
    _invoice(8, codes="GL1", date="2026-02-01", birth_date="1930-01-01", mt_status="self"),
    _invoice(9, codes="VG+MD", date="2024-07-14", place="domicile", neurodegenerative="oui", homebound="oui"),
    _invoice(10, codes="TCG+XYZ", place="tele", status="cancelled", centre="nord", tags=["a"]),
    _invoice(11, codes="G+MOP", birth_date="1935-01-01", mt_status="other", specialty="PSY", time="07:00"),
    _invoice(12, codes="G", date="2025-03-03", ald="oui", mt_status="none"),
    _invoice(13, codes="G", date="1900-01-01", birth_date="1900-01-01"),
    _invoice(14, codes="VL", date="2199-12-31", birth_date="1900-01-01", referral_at="2199-12-31T00:00"),
]

# --- text generators -------------------------------------------------------------------------


def mutated(rng: random.Random) -> tuple[str, list[RuleText]]:
    """One built-in file with a few token-level mutations, the rest of the catalogue unchanged."""
    name = rng.choice(sorted(BUILTIN))
    parts = TOKEN.findall(BUILTIN[name])
    alike_only = rng.random() < 0.4  # meaning changes only, to reach the compiler and the engine
    for _ in range(rng.randint(1, 6)):
        if not parts:
            parts = [rng.choice(VOCABULARY)]
        i, j = rng.randrange(len(parts)), rng.randrange(len(parts))
        operation = rng.choice(
            ["delete", "duplicate", "swap", "replace", "insert", "truncate", "nest", "bytes", *["alike"] * 4]
        )
        if alike_only or operation == "alike":  # a word of the same class: the text often still parses
            for _ in range(50):  # a token that has a class, when one is found quickly
                if _ALIKE.fullmatch(parts[i]) and parts[i] not in KEYWORDS:
                    break
                i = rng.randrange(len(parts))
            parts[i] = _alike(parts[i], rng)
        elif operation == "delete":
            del parts[i : i + rng.randint(1, 4)]
        elif operation == "duplicate":
            parts[i:i] = parts[i : i + rng.randint(1, 20)]
        elif operation == "swap":
            parts[i], parts[j] = parts[j], parts[i]
        elif operation == "replace":
            parts[i] = rng.choice(VOCABULARY)
        elif operation == "insert":
            parts[i:i] = [" ", rng.choice(VOCABULARY), " "]
        elif operation == "truncate":
            del parts[i:]
        elif operation == "nest":
            depth = rng.choice([MAX_NESTING - 5, MAX_NESTING, MAX_NESTING + 1, 500, 10_000])
            opening = rng.choice(["not ", "not (", "(", "ald and (", "1 + "])
            closing = ")" * opening.count("(")
            parts[i:i] = [" ", opening * depth, "ald", closing * depth, " "]
        else:
            parts[i:i] = ["".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randint(1, 10)))]
    text = "".join(parts)
    return "mutated", [
        RuleText(text if other == name else content, other) for other, content in BUILTIN.items()
    ]


_ALIKE = re.compile(r"\d{4}-\d{2}-\d{2}|\d+(\.\d+)?|[A-Z][A-Z0-9-]*|[a-z_][a-z0-9_]*")


def _alike(token: str, rng: random.Random) -> str:
    """Another word of the same class (name, code, number, date); keywords and the rest stay."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", token):
        return rng.choice(
            ["2024-02-29", "2023-02-29", "1900-01-01", "2199-12-31", "0001-01-01", "2024-13-01"]
        )
    if re.fullmatch(r"\d+(\.\d+)?", token):
        return rng.choice(["0", "1", "2", "20", "80", "1.5", "999999999999", "9999999999999"])
    if re.fullmatch(r"[A-Z][A-Z0-9-]*", token):
        return rng.choice(CODES)
    if re.fullmatch(r"[a-z_][a-z0-9_]*", token) and token not in KEYWORDS:
        return rng.choice(NAMES)
    return token


def random_text(rng: random.Random) -> tuple[str, list[RuleText]]:
    """Random characters, from ASCII to the whole Basic Multilingual Plane, NUL included."""
    top = rng.choice([0x80, 0x800, 0xD7FF])
    text = "".join(chr(rng.randrange(0, top)) for _ in range(rng.randint(0, 600)))
    return "random", [RuleText(text, "random.rules")]


def token_soup(rng: random.Random) -> tuple[str, list[RuleText]]:
    """Words of the language in random order: gets past the lexer, rarely past the parser."""
    words = [rng.choice(VOCABULARY) for _ in range(rng.randint(1, 120))]
    if rng.random() < 0.5:
        words = ["rule", "X", "error", '"m"', *words, "end"]
    return "soup", [*CATALOGUE, RuleText(rng.choice([" ", "\n"]).join(words), "soup.rules")]


CONDITION_LEAVES = [
    "ald",
    "not palliative",
    "age >= 80",
    "age < 6",
    "mt_status is self",
    "mt_status in (none, other)",
    "mt_status is not unknown",
    "place in (domicile, ehpad)",
    "billed MD",
    "billed visit",
    "date >= 2024-01-01",
    "referral_at is given",
    "time is missing",
    "act_time > referral_at + 48 hours",
    "date < birth_date + 80 years",
    "pdsa_time",
    "public_holiday()",
    'extra("centre") = "nord"',
    'extra("centre") > 3',
    'extra("tags") in ("a", "b")',
    'extra("tags") not in ("a")',
    "extra(centre) is given",
    "extra(centre) + 1 > 2",
    "tariff(G) > 20",
    "tariff(ZZZZ) > 20",
    "weekday() = 7",
    "in_ald",
    "amount > tariff(G)",
    "specialty is PSY",
    "sector in (1, optam)",
    "status is cancelled",
    "forfait_mt() > 0",
]


def condition(rng: random.Random, depth: int = 0) -> str:
    if depth > 6 or rng.random() < 0.35:
        leaf = rng.choice(CONDITION_LEAVES)
        return leaf if rng.random() > 0.05 else rng.choice(VOCABULARY)
    shape = rng.choice(["not {}", "({})", "{} and {}", "{} or {}"])
    return shape.format(*(condition(rng, depth + 1) for _ in range(shape.count("{}"))))


def generated(rng: random.Random) -> tuple[str, list[RuleText]]:
    """A rule with every clause drawn at random: gets to the compiler and the engine."""
    severity = rng.choice(["error", "warning", "opportunity"])
    lines = [f'rule FUZZ-{rng.randint(1, 9)} {severity} "{rng.choice(MESSAGES)}"']
    if rng.random() < 0.8:
        lines.append(
            "  on " + ", ".join(rng.sample(["G", "VL", "VG", "SNP", "visit", "consultation", "MEG"], 2))
        )
    if rng.random() < 0.2:
        lines.append(f"  from {rng.choice(['2023-01-01', '2024-03-04', '2030-01-01'])}")
    defines = ""
    if rng.random() < 0.3:
        defines = f"define fz_a = {condition(rng)}\ndefine fz_b = fz_a and {condition(rng)}\n"
        lines.append("  when fz_b or " + condition(rng))
    elif rng.random() < 0.8:
        lines.append(f"  when {condition(rng)}")
    if rng.random() < 0.5:
        lines.append("  " + rng.choice(FREQUENCIES).format(condition=condition(rng)))
    if severity == "opportunity" and rng.random() < 0.7:
        if rng.random() < 0.3:  # a guarded alternative first (now and then out of order)
            lines.append(f"  suggest add MEG, SNP if {condition(rng)}")
        lines.append("  " + rng.choice(["suggest add MEG", "suggest VL instead of VG, G", 'suggest "voir"']))
    if rng.random() < 0.3:
        guarded = f'  action without SNP if {condition(rng)} "facturer {{recoded}}"'
        default = rng.choice(['  action "voir {codes}"', '  action VG instead of VL "facturer {recoded}"'])
        lines += [guarded, default] if rng.random() < 0.9 else [default, guarded]
    if rng.random() < 0.3:
        lines.append(
            "  amount " + rng.choice(["tariff(VL) - tariff(VG)", "15", "forfait_mt()", 'extra("x")'])
        )
    if rng.random() < 0.3:
        lines.append('  example fires { codes = "VL", place = domicile } after { codes = VL }')
    lines.append("end")
    return "generated", [*CATALOGUE, RuleText(defines + "\n".join(lines) + "\n", "generated.rules")]


# Mostly valid messages, now and then a broken one.
MESSAGES = [
    "m",
    "{date} {first_date}",
    "{count}/{limit} {code} {codes}",
    "{amount} {suggestion} {age}",
] * 5 + [
    "{x}",
    "{date:>9}",
    "{",
]
FREQUENCIES = [
    "at most 1 per patient per quarter",
    "at most 20 per practitioner per week",
    "at most 0 per patient per day",
    "at most 1 per patient and practitioner per year",
    "at most 1 per patient and code per year",
    "at most 2 per patient ever counting {condition}",
    "the 3rd per patient and practitioner within 12 months",
    "the 1st per practitioner within 36600 days",
    "at most 1 per patient within 100 years",
    "at most 1 per patient within 2 weeks counting {condition}",
]


def near_limit(rng: random.Random) -> tuple[str, list[RuleText]]:
    """A file just under (or over) the size limit, made of the costliest constructs to parse."""
    size = MAX_RULE_FILE_CHARS + rng.choice([-200, -200, -200, 10])
    head = 'rule X error "m"\n  on G\n  when '
    unit = rng.choice(["ald and ", "ald or ", "not ", "(", "age > 3 and ", "1 + ", "#commentaire\n"])
    body = unit * ((size - len(head) - 10) // len(unit))
    tail = {"(": "ald" + ")" * body.count("("), "1 + ": "1 > 0"}.get(unit, "ald")
    return "limit", [*CATALOGUE, RuleText(head + body + tail + "\nend\n", "limit.rules")]


GENERATORS: list[tuple[Callable[[random.Random], tuple[str, list[RuleText]]], float]] = [
    (mutated, 5),
    (generated, 3),
    (token_soup, 1),
    (random_text, 1),
    (near_limit, 0.02),
]

# --- the property ----------------------------------------------------------------------------


class Timeout(Exception):
    """A text took longer than ``--timeout``."""


def _alarm(signum: int, frame: Any) -> None:
    raise Timeout


def judge(texts: list[RuleText]) -> tuple[str, str | None]:
    """``(outcome, crash description or None)`` for one rule set's texts."""
    try:
        ruleset = build_ruleset(texts)
    except RuleFileError as error:
        if error.line is None or error.column is None:
            return "unlocated", f"RuleFileError sans position : {error.message}"
        return type(error).__name__, None
    except Timeout:
        raise
    except BaseException as exc:  # noqa: BLE001 - anything else is what the campaign looks for
        return "crash", _describe(exc)
    try:
        report = Validator(ruleset).check_events(EVENTS[6:], history=EVENTS[:6])
    except Timeout:
        raise
    except BaseException as exc:  # noqa: BLE001
        return "crash", "au contrôle : " + _describe(exc)
    crashed = [finding.message for finding in report.findings if finding.rule == "INTERNAL-ERROR"]
    if crashed:
        return "crash", "règle en erreur au contrôle : " + crashed[0]
    return ("compiled" if isinstance(ruleset, RuleSet) else "?"), None


def _describe(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" ({Path(frame.filename).name}:{frame.lineno})" if frame else ""
    return f"{type(exc).__name__}{where}: {str(exc)[:200]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "-n", "--texts", type=int, default=None, help="number of texts (default: until --seconds)"
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="duration of the campaign")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--timeout", type=int, default=20, help="seconds after which a text is a hang")
    parser.add_argument("--crash-dir", type=Path, default=Path(__file__).parent / "crashes")
    args = parser.parse_args(argv)

    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    generators, weights = zip(*GENERATORS, strict=True)
    outcomes: collections.Counter[str] = collections.Counter()
    by_kind: collections.Counter[str] = collections.Counter()
    table: collections.Counter[tuple[str, str]] = collections.Counter()
    crashes: dict[str, tuple[int, str]] = {}
    slowest = (0.0, "", 0, 0)
    total_time = 0.0
    signal.signal(signal.SIGALRM, _alarm)
    warm_up = time.perf_counter()
    judge(CATALOGUE)  # builds the parser and parses the catalogue once: not a text's cost
    print(f"mise en route (grammaire, catalogue) : {time.perf_counter() - warm_up:.2f} s", flush=True)
    started = time.perf_counter()
    count = 0
    while True:
        if args.texts is not None and count >= args.texts:
            break
        if args.texts is None and time.perf_counter() - started >= args.seconds:
            break
        count += 1
        kind, texts = rng.choices(generators, weights)[0](rng)
        by_kind[kind] += 1
        size = sum(len(text.text) for text in texts)
        signal.alarm(args.timeout)
        begin = time.perf_counter()
        try:
            outcome, crash = judge(texts)
        except Timeout:
            outcome, crash = "hang", f"plus de {args.timeout} s"
        finally:
            signal.alarm(0)
        elapsed = time.perf_counter() - begin
        total_time += elapsed
        if elapsed > slowest[0]:
            slowest = (elapsed, kind, size, count)
        outcomes[outcome] += 1
        table[kind, outcome] += 1
        if crash is not None and crash not in crashes:
            args.crash_dir.mkdir(parents=True, exist_ok=True)
            saved = args.crash_dir / f"crash-{seed}-{count}.rules"
            saved.write_text(texts[-1].text, encoding="utf-8")
            crashes[crash] = (count, str(saved))
            print(f"CRASH #{count} ({kind}) : {crash}\n  texte : {saved}", flush=True)
        if count % 500 == 0:
            print(f"... {count} textes, {time.perf_counter() - started:.0f} s", flush=True)

    wall = time.perf_counter() - started
    print(f"graine : {seed}")
    print(f"textes fuzzés : {count} en {wall:.1f} s ({count / wall:.1f} textes/s)")
    print("générateurs : " + ", ".join(f"{kind} {number}" for kind, number in sorted(by_kind.items())))
    print("issues : " + ", ".join(f"{outcome} {number}" for outcome, number in outcomes.most_common()))
    for kind in sorted(by_kind):
        detail = ", ".join(
            f"{outcome} {table[kind, outcome]}"
            for outcome, _ in outcomes.most_common()
            if table[kind, outcome]
        )
        print(f"  {kind} : {detail}")
    print(f"plantages distincts : {len(crashes)}")
    for crash, (index, saved) in crashes.items():
        print(f"  #{index} {crash} -> {saved}")
    print(
        f"temps par texte : moyen {1000 * total_time / max(count, 1):.1f} ms, "
        f"maximum {1000 * slowest[0]:.0f} ms (texte #{slowest[3]}, {slowest[1]}, {slowest[2]} caractères)"
    )
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
