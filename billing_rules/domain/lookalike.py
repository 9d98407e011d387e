"""The known code an unknown one was probably meant to be: one typo away, or a look-alike letter.

Practice software sometimes writes a code with a letter of another alphabet that looks the same
(a Cyrillic « Т » in ``IMТ``, pasted from a document), or with one key wrong (``MDD``). CODE-UNKNOWN
then says which code was meant and which character is at fault, by its Unicode name: no table of
confusables beyond the letters of the Cyrillic and Greek alphabets that look Latin, and no new
dependency.

The suggestion goes into the corrected coding the billing staff is told to bill: of several known
codes one typo away, it prefers one that exists on the act's date and whose validity the facts
do not doubt (``GG`` is G, never GS, which may no longer be accepted after 2024-12-22), then the
code the typo holds once a repeated letter is dropped (a key pressed twice), then the likelier
typo.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Mapping

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
_MEMO: dict[tuple[int, int, str, dt.date | None, int], tuple[str, str | None]] = {}
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


def one_edit_away(
    code: str,
    known: Iterable[str],
    *,
    day: dt.date | None = None,
    doubtful: Mapping[str, dt.date] | None = None,
) -> str | None:
    """The known code one edit away from ``code`` (a letter swapped, wrong, missing or extra).

    With several, the deterministic choice, safest for the billing staff first: on ``day`` (the
    act's date, when known), a code that exists that day (``known`` a mapping whose values have
    ``exists_on``, as the rule set's code table) and is not in ``doubtful`` from that day
    (code → first day its validity is UNCERTAIN in the facts); then ``code`` with a repeated
    letter dropped; then the likelier typo (swapped, then wrong, then missing or extra); then
    alphabetical order. Pseudo-codes with a dash (forfaits) are left out.
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
            info = known.get(other) if isinstance(known, Mapping) else None
            absent = hasattr(info, "exists_on") and not info.exists_on(day)  # type: ignore[union-attr]
            doubted = doubtful is not None and other in doubtful and day >= doubtful[other]
        found.append((absent, doubted, not repeated_letter_dropped(code, other), kind, other))
    return min(found)[-1] if found else None


def closest_code(
    code: str,
    known: Mapping[str, object],
    *,
    day: dt.date | None = None,
    doubtful: Mapping[str, dt.date] | None = None,
) -> tuple[str, str | None]:
    """(the hint in French, the code meant or None) for an unknown ``code``.

    The hint names each look-alike character (« le caractère « Т » (cyrillique) ressemble à
    « T » ») and asks « vouliez-vous dire IMT ? » when a known code is meant; it is empty when
    nothing resembles. ``day`` and ``doubtful``: see :func:`one_edit_away`.
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
    meant: str | None
    if candidate != code and candidate in known:
        meant = candidate
    else:
        meant = one_edit_away(candidate, known, day=day, doubtful=doubtful)
    parts = []
    if notes:
        parts.append(", ".join(notes))
    if meant is not None:
        parts.append(f"vouliez-vous dire {meant} ?")
    found = (" : ".join(parts), meant)
    if len(_MEMO) >= _MEMO_MAX:
        _MEMO.clear()
    _MEMO[key] = found
    return found
