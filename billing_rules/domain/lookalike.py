"""The known code an unknown one was probably meant to be: one typo away, or a look-alike letter.

Practice software sometimes writes a code with a letter of another alphabet that looks the same
(a Cyrillic « Т » in ``IMТ``, pasted from a document), or with one key wrong (``MDD``). CODE-UNKNOWN
then says which code was meant and which character is at fault, by its Unicode name: no table of
confusables beyond the letters of the Cyrillic and Greek alphabets that look Latin, and no new
dependency.

The suggestion goes into the corrected coding the billing staff is told to bill, so it is always a
code that exists on the act's date: of several known codes one typo away, it prefers one whose
validity the facts do not doubt (``GG`` is G, never GS, which may no longer be accepted after
2024-12-22), then the code the typo holds once a repeated letter is dropped (a key pressed twice),
then one that keeps the typo's first letter, then the likelier typo. A code one typo away that
does not exist on the act's date (``SHR`` → SHE before 2024-12-22) is never billed: the hint names
it with the dates it exists, so that the staff checks the act's date.

Why the first letter: two letters swapped keep every letter typed, so they stay the likeliest typo
wherever they are (``DM`` is MD); otherwise an edit that changes the first letter ranks after every
edit that keeps it. Spelling correctors commonly trust the first letter, which real misspellings
seldom get wrong, and in the NGAP it names the kind of act (G, C consultations; V visits; M
majorations): ``GL`` is G, a consultation one letter extra, not VL, a home visit one letter wrong.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from billing_rules.money import french_date

#: Cyrillic and Greek letters drawn like a Latin capital, by the last word of their Unicode name.
_LOOKS_LATIN = {
    "CYRILLIC": {
        "A": "A", "VE": "B", "IE": "E", "KA": "K", "EM": "M", "EN": "H", "O": "O", "ER": "P",
        "ES": "C", "TE": "T", "U": "Y", "HA": "X", "I": "I", "JE": "J", "DZE": "S",
    },
    "GREEK": {
        "ALPHA": "A", "BETA": "B", "EPSILON": "E", "ZETA": "Z", "ETA": "H", "IOTA": "I", "KAPPA": "K",
        "MU": "M", "NU": "N", "OMICRON": "O", "RHO": "P", "TAU": "T", "UPSILON": "Y", "CHI": "X",
    },
}  # fmt: skip
_SCRIPT_WORDS = {"CYRILLIC": "cyrillique", "GREEK": "grec", "FULLWIDTH": "pleine chasse"}
_MEMO: dict[tuple[int, int, str, dt.date | None, int], Closest] = {}
_MEMO_MAX = 10_000


def latin_twin(char: str) -> tuple[str, str] | None:
    """(the Latin character ``char`` looks like, the French name of its script), or None.

    ``"Т"`` (Cyrillic) gives ``("T", "cyrillique")``; an accented Latin letter gives its bare
    letter (``"É"`` → ``("E", "accentué")``); a full-width letter its plain one.
    """
    if char.isascii():
        return None
    name = unicodedata.name(char, "")
    words = name.split()
    if not words:
        return None
    script = words[0]
    if script in _LOOKS_LATIN and "LETTER" in words:
        letter = " ".join(words[words.index("LETTER") + 1 :])
        twin = _LOOKS_LATIN[script].get(letter.replace("BYELORUSSIAN-UKRAINIAN ", ""))
        if twin is not None:
            return (twin if "CAPITAL" in words else twin.lower()), _SCRIPT_WORDS[script]
        return None
    plain = unicodedata.normalize("NFKD", char)
    base = "".join(part for part in plain if not unicodedata.combining(part))
    if len(base) == 1 and base.isascii() and base.isalnum():
        return base, _SCRIPT_WORDS.get(script, "accentué" if base != plain else "non latin")
    return None


_SWAPPED, _WRONG, _MISSING_OR_EXTRA = 0, 1, 2


def edit_kind(word: str, other: str) -> int | None:
    """How ``other`` is one edit from ``word`` (Damerau-Levenshtein distance 1), or None.

    Two letters swapped, one letter wrong, one letter missing or extra: in that order of likelihood
    as typos.
    """
    size, other_size = len(word), len(other)
    if word == other or abs(size - other_size) > 1:
        return None
    if size == other_size:
        diffs = [index for index in range(size) if word[index] != other[index]]
        if len(diffs) == 1:
            return _WRONG
        swapped = (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and word[diffs[0]] == other[diffs[1]]
            and word[diffs[1]] == other[diffs[0]]
        )
        return _SWAPPED if swapped else None
    shorter, longer = (word, other) if size < other_size else (other, word)
    if any(longer[:index] + longer[index + 1 :] == shorter for index in range(len(longer))):
        return _MISSING_OR_EXTRA
    return None


def repeated_letter_dropped(word: str, other: str) -> bool:
    """Whether ``other`` is ``word`` with one of two identical neighbouring letters dropped.

    ``GG`` → ``G``, ``MDD`` → ``MD``: a key pressed twice, the commonest typo on a short code, and
    one that leaves the code meant in plain sight.
    """
    return len(word) == len(other) + 1 and any(
        word[index] == word[index + 1] and word[:index] + word[index + 1 :] == other
        for index in range(len(word) - 1)
    )


def _ranked(
    code: str,
    known: Iterable[str],
    day: dt.date | None,
    doubtful: Mapping[str, dt.date] | None,
) -> list[tuple[bool, bool, bool, bool, int, str]]:
    """The known codes one edit from ``code``, best first, each with whether it is absent on ``day``.

    The order of :func:`one_edit_away`, led by absence: (absent, doubted, no repeated letter
    dropped, first letter changed, kind of typo, code).
    """
    found = []
    for other in known:
        if "-" in other:
            continue
        kind = edit_kind(code, other)
        if kind is None:
            continue
        absent = doubted = False
        if day is not None:
            absent = not _exists(known, other, day)
            doubted = doubtful is not None and other in doubtful and day >= doubtful[other]
        first_changed = kind != _SWAPPED and other[:1] != code[:1]
        found.append((absent, doubted, not repeated_letter_dropped(code, other), first_changed, kind, other))
    return sorted(found)


def _exists(known: object, code: str, day: dt.date) -> bool:
    """Whether ``code`` exists on ``day`` (``known`` a mapping to values with ``exists_on``)."""
    info = known.get(code) if isinstance(known, Mapping) else None
    return not hasattr(info, "exists_on") or info.exists_on(day)  # type: ignore[union-attr]


def one_edit_away(
    code: str,
    known: Iterable[str],
    *,
    day: dt.date | None = None,
    doubtful: Mapping[str, dt.date] | None = None,
) -> str | None:
    """The known code one edit away from ``code`` (a letter swapped, wrong, missing or extra).

    On ``day`` (the act's date, when known), only a code that exists that day (``known`` a mapping
    whose values have ``exists_on``, as the rule set's code table): the code is billed. With
    several, the deterministic choice, safest for the billing staff first: a code not in
    ``doubtful`` from that day (code → first day its validity is UNCERTAIN in the facts); then
    ``code`` with a repeated letter dropped; then a code with ``code``'s first letter, unless two
    letters are swapped (see the module's documentation); then the likelier typo (swapped, then
    wrong, then missing or extra); then alphabetical order. Pseudo-codes with a dash (forfaits)
    are left out.
    """
    for absent, *_, other in _ranked(code, known, day, doubtful):
        if not absent:
            return other
    return None


def periods_in_french(info: object) -> list[str]:
    """« du 11/07/2022 au 30/09/2022 », « à partir du 09/12/2022 »: the periods a code exists in.

    ``info`` has the ``periods`` of the code table (start, end or None). The empty period of a code
    that exists on no date (a simulation's table, ``CodeInfo.fixed_on``) is left out.
    """
    return [
        f"du {french_date(start)} au {french_date(end)}" if end else f"à partir du {french_date(start)}"
        for start, end in getattr(info, "periods", ())
        if end is None or start <= end
    ]


def when_it_exists(code: str, info: object, day: dt.date) -> str:
    """« SHE n'existe qu'à partir du 22/12/2024 »: the periods of a code absent on ``day``.

    A code that exists on no date (a simulation's table) « n'existe pas le 05/06/2024 ».
    """
    spans = periods_in_french(info)
    if not spans:
        return f"{code} n'existe pas le {french_date(day)}"
    text = spans[0] if len(spans) == 1 else ", ".join(spans[:-1]) + " et " + spans[-1]
    return f"{code} n'existe qu'{text}" if text.startswith("à") else f"{code} n'existe que {text}"


class Closest(NamedTuple):
    """What CODE-UNKNOWN says of an unknown code: its hint, the code to bill, a code absent that day."""

    #: In French, empty when nothing resembles: see :func:`closest_code`.
    hint: str
    #: The code meant, that exists on the act's date: it goes into the corrected coding.
    meant: str | None
    #: When no code meant exists that day: the one the typo resembles most, which the hint names
    #: with the dates it exists (never billed).
    absent: str | None = None


def closest_code(
    code: str,
    known: Mapping[str, object],
    *,
    day: dt.date | None = None,
    doubtful: Mapping[str, dt.date] | None = None,
) -> Closest:
    """(the hint in French, the code meant or None, a code absent on ``day`` or None) for ``code``.

    The hint names each look-alike character (« le caractère « Т » (cyrillique) ressemble à
    « T » ») and asks « vouliez-vous dire IMT ? » when a known code is meant; it is empty when
    nothing resembles. On ``day``, the code meant exists that day; when the code the typo
    resembles does not (``SHR`` before 2024-12-22), there is none, and the hint says so:
    « vouliez-vous dire SHE ? SHE n'existe qu'à partir du 22/12/2024 ». ``day`` and ``doubtful``:
    see :func:`one_edit_away`.
    """
    key = (id(known), len(known), code, day, id(doubtful))
    found = _MEMO.get(key)
    if found is not None:
        return found
    notes = []
    plain = []
    for char in code:
        twin = latin_twin(char)
        if twin is None:
            plain.append(char)
            continue
        notes.append(f"le caractère « {char} » ({twin[1]}) ressemble à « {twin[0]} »")
        plain.append(twin[0])
    candidate = "".join(plain).upper()
    if candidate != code and candidate in known:
        # The code written with look-alike letters: certainly the one meant, whatever its dates.
        ranked = [candidate]
    else:
        ranked = [entry[-1] for entry in _ranked(candidate, known, day, doubtful)]
    meant = absent = None
    if ranked and (day is None or _exists(known, ranked[0], day)):
        meant = ranked[0]
    elif ranked:
        absent = ranked[0]
    parts = []
    if notes:
        parts.append(", ".join(notes))
    if meant is not None:
        parts.append(f"vouliez-vous dire {meant} ?")
    elif absent is not None and day is not None:
        parts.append(f"vouliez-vous dire {absent} ? {when_it_exists(absent, known[absent], day)}")
    found = Closest(" : ".join(parts), meant, absent)
    if len(_MEMO) >= _MEMO_MAX:
        _MEMO.clear()
    _MEMO[key] = found
    return found
