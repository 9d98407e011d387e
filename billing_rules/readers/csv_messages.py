"""The words of misshapen CSV records.

The CSV reader (:mod:`billing_rules.readers.csv_reader`) reports a record it cannot read as a
row (an unclosed quote swallowing lines, too many or too few fields, the csv module's errors) in
these words, the columnar reader too (it splits records the same way).
"""

from __future__ import annotations

import csv

#: Largest field accepted. Python's default (128 KiB) is low for free-text extra columns; a field
#: above this is most likely an unclosed quote swallowing the following rows.
FIELD_SIZE_LIMIT = 10 * 1024 * 1024


#: The words of a record swallowed by an unclosed quote (:func:`unclosed_message`), of where the
#: reading resumed after it, of the lines skipped meanwhile, and of a quote open at the very end.
_UNCLOSED_TEXT = "guillemet non fermé : la ligne n'a pas été lue"
_TOO_LONG = f"champ trop long (plus de {FIELD_SIZE_LIMIT // (1024 * 1024)} Mo)"
_TOO_LONG_UNCLOSED = f"{_TOO_LONG} : guillemet non fermé ?"
_RESUMED = "lecture reprise à la ligne"
_SKIPPED = "ligne ignorée : elle suit le guillemet non fermé de la ligne"
_OPEN_AT_END = "guillemet ouvert jamais fermé avant la fin du fichier"


def unclosed_message(exc: csv.Error | None, first: int, resume: int, rest: int) -> str:
    """A record swallowed by an unclosed quote from line ``first``, and where reading resumed.

    ``rest``: the lines it swallowed after its first; ``resume``: how many of them were skipped
    before one read as a row (``rest`` when none did).
    """
    if exc is not None and "field larger than field limit" in str(exc):
        text = _TOO_LONG_UNCLOSED
    else:
        text = _UNCLOSED_TEXT
    if resume == 0 and rest:
        return f"{text} ; {_RESUMED} {first + 1}"
    if resume == 0:
        return text
    last = first + resume
    skipped = f"ligne {first + 1} ignorée" if resume == 1 else f"lignes {first + 1} à {last} ignorées"
    if resume < rest:
        return f"{text} ; {skipped}, {_RESUMED} {first + resume + 1}"
    return f"{text} ; {skipped} (aucune ne se lit comme une ligne de facture)"


def skipped_message(first: int) -> str:
    """A line swallowed by the unclosed quote of line ``first``, that does not read as a row."""
    return f"{_SKIPPED} {first} et ne se lit pas comme une ligne de facture"


def span(start: int, end: int) -> str:
    """What a record's message adds when it runs over several lines: likely an unclosed quote."""
    if end > start:
        return f" ; l'enregistrement court des lignes {start} à {end} : guillemet non fermé ?"
    return ""


def too_many_message(count: int, width: int, start: int, end: int) -> str:
    """A record of ``count`` fields under a header of ``width``: a separator inside a value?"""
    return (
        f"{count} champs au lieu des {width} de l'en-tête "
        f"(séparateur dans une valeur non entourée de guillemets ?){span(start, end)}"
    )


def too_few_message(count: int, width: int, start: int, end: int) -> str:
    """A record short of fields: read, its values would stand under the wrong columns."""
    return f"{count} champ(s) au lieu des {width} de l'en-tête (séparateur manquant ?){span(start, end)}"


def csv_error_message(exc: csv.Error, start: int, end: int) -> str:
    """The csv module's error in French: its own words are English and cryptic."""
    reason = str(exc)
    if "field larger than field limit" in reason:
        text = _TOO_LONG
    elif "unexpected end of data" in reason:
        text = _OPEN_AT_END
    elif "expected after" in reason:
        text = "texte collé après un guillemet fermant (guillemet à doubler dans la valeur ?)"
    else:
        text = f"ligne CSV illisible ({reason})"
    return text + span(start, end)
