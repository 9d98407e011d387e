"""Which column of a practice's export is which SPEC §1 field (SPEC §1b).

Practice software writes its own headers (``N° facture;Date de l'acte;…;Actes;Montant``) and its
own values (``Moi``, ``Autre médecin``). This module is the one place that says how such a file
is understood, so that every reader (the CSV fast and general paths, JSON, JSON Lines, a
columnar reader) maps it the same way:

* :func:`normalize` reduces a header (or a value) to what is compared: no case, accents, spaces
  or punctuation, so ``N° de facture``, ``n_de_facture`` and ``N DE FACTURE`` are one name;
* :data:`ALIASES` lists the names exports use for every field;
* :class:`ColumnMapping` adds the practice's explicit mapping (``[columns]``, ``--column``) and
  value mapping (``[values.FIELD]``), and :meth:`ColumnMapping.resolve` applies all of it to a
  header, giving a :class:`HeaderResolution` (which header is which field, and why).

Matching is deliberately tolerant on spelling and strict on meaning: two headers for one field is
an error naming both, even when one of them is the SPEC name (a wrong guess would check the wrong
column), and a header explicitly mapped always wins over an alias or a SPEC name.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from billing_rules.errors import ReadError
from billing_rules.readers.aliases import ALIAS_TEXT, FRENCH_VALUES, YES_NO_HEADERS
from billing_rules.readers.base import file_label

#: The fields of a billing file: the SPEC §1 columns in SPEC order, then ``code`` (one act per
#: line, SPEC §1b).
FIELDS: tuple[str, ...] = (
    "invoice_id",
    "date",
    "time",
    "practitioner_id",
    "specialty",
    "sector",
    "patient_id",
    "birth_date",
    "ald",
    "palliative",
    "neurodegenerative",
    "mt_status",
    "declares_mt",
    "place",
    "homebound",
    "codes",
    "amount",
    "regulated",
    "referral_at",
    "status",
    "discharge_date",
    "km",
    "code",
)

#: Parts of a field that some exports write in a column of their own: ``referral_time``, the
#: referral's time of day alone (``Heure de régulation``), read into ``referral_at`` (see
#: :mod:`billing_rules.readers.aliases`). Mapped like fields; never an absent field of their own.
PARTS: tuple[str, ...] = ("referral_time",)

#: Every name a column can be mapped to.
MAPPABLE: tuple[str, ...] = (*FIELDS, *PARTS)

#: The per-act column: one code per line instead of ``codes`` per invoice.
CODE = "code"

#: Required fields (SPEC §1); ``code`` stands in for ``codes`` in a per-act file.
REQUIRED: tuple[str, ...] = ("invoice_id", "date", "practitioner_id", "patient_id", "birth_date", "codes")


class ColumnError(ReadError):
    """A header or a mapping that cannot be understood: two columns for one field, unknown field.

    A :class:`ReadError`: the file cannot be read as the user meant it, so nothing is checked.
    """


def normalize(text: str) -> str:
    """``Date de l'acte`` → ``datedelacte``: no case, accents, spaces or punctuation.

    NFKD splits an accented letter into the letter and its accent (dropped with every other
    character that is not a letter or a digit); ``casefold`` is ``lower`` for every script. The
    ordinal sign ``º`` of ``Nº`` becomes ``o`` under NFKD, the degree sign of ``N°`` vanishes:
    both spellings are listed among the aliases.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed.casefold() if char.isalnum())


_FIELD_SET = frozenset(MAPPABLE)
#: Normalised header -> field: the SPEC names themselves and every alias.
ALIASES: Mapping[str, str] = {
    **{normalize(alias): field for field, aliases in ALIAS_TEXT.items() for alias in aliases},
    **{normalize(field): field for field in MAPPABLE},
}

#: Normalised header -> value table of the yes/no headers (``Annulée``).
_HEADER_VALUES: dict[str, dict[str, str]] = {
    normalize(header): table for header, table in YES_NO_HEADERS.items()
}

#: How a header came to be understood, for ``billing-rules columns`` and its JSON.
SPEC_NAME = "spec"
ALIAS = "alias"
EXPLICIT = "explicit"
EXTRA = "extra"
REPLACED = "replaced"
EMPTY = "empty"
AMBIGUOUS = "ambiguous"


@attrs.frozen
class Column:
    """One header of a file and what it was understood as.

    Attributes:
        header: the header as written in the file.
        name: the key its values are read under: a field, the extra column's name (lower case,
            what plugins read with ``extra()``), or ``""`` for a column that carries nothing.
        how: :data:`SPEC_NAME`, :data:`ALIAS`, :data:`EXPLICIT`, :data:`EXTRA`, :data:`REPLACED`
            (its field is read from the column mapped explicitly: kept as an extra if an alias
            named it, dropped if it bears the field's SPEC name), :data:`EMPTY` (no name) or
            :data:`AMBIGUOUS` (one of two columns for one field: read from neither).
        values: normalised value -> SPEC value, applied to the column's cells (None: as written).
        claimed: for a :data:`REPLACED` or :data:`AMBIGUOUS` column, the field it names.
    """

    header: str
    name: str
    how: str
    values: Mapping[str, str] | None = None
    claimed: str | None = None

    @property
    def field(self) -> str | None:
        """The field this column feeds, None for an extra, displaced or empty column."""
        return self.name if self.how in (SPEC_NAME, ALIAS, EXPLICIT) else None


@attrs.frozen
class HeaderResolution:
    """A whole header, resolved: one :class:`Column` per header cell, in file order."""

    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        """The key of every column, in order (what a CSV table reads its records under)."""
        return [column.name for column in self.columns]

    @property
    def fields(self) -> set[str]:
        """The fields present."""
        return {column.field for column in self.columns if column.field is not None}

    @property
    def per_act(self) -> bool:
        """True when a ``code`` column carries one act per line (SPEC §1b)."""
        return CODE in self.fields

    def missing(self) -> list[str]:
        """The required fields no column feeds (``code`` stands in for ``codes``)."""
        fields = self.fields
        if CODE in fields:
            fields = fields | {"codes"}
        return [field for field in REQUIRED if field not in fields]

    def translations(self) -> list[tuple[int, Mapping[str, str]]]:
        """(position, value table) of the columns whose values are mapped."""
        return [(index, column.values) for index, column in enumerate(self.columns) if column.values]


def extra_name(header: str) -> str:
    """The key an unmapped column is kept under: its header without BOM nor spaces, lower case."""
    return header.replace("\ufeff", "").strip().lower()


@attrs.frozen
class ColumnMapping:
    """The practice's own mapping of headers and values, on top of the built-in aliases.

    Attributes:
        explicit: field -> header as written in the practice's export (``[columns]``,
            ``--column``); the header is matched the same forgiving way as aliases.
        values: field -> (value as written -> SPEC value) (``[values.FIELD]``); values are
            matched the forgiving way too (``Autre médecin`` = ``autre-medecin``).
        strict: fields mapped on the command line (``--column``), whose header must be in a CSV
            file's header: a typo would otherwise go unseen while an alias reads another column.
            A ``[columns]`` entry serves all the practice's files and may be absent from one.
    """

    explicit: Mapping[str, str] = attrs.field(factory=dict)
    values: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)
    strict: frozenset[str] = frozenset()

    def __attrs_post_init__(self) -> None:
        for field in (*self.explicit, *self.values):
            check_field(field)
        for field, table in self.values.items():
            for value, target in table.items():
                _check_target(field, value, target)
        headers: dict[str, str] = {}
        for field, header in self.explicit.items():
            key = normalize(header)
            if not key:
                raise ColumnError(f"correspondance de colonne vide pour « {field} »")
            if key in headers and headers[key] != field:
                raise ColumnError(
                    f"la colonne « {header} » est attribuée à deux champs : {headers[key]} et {field}"
                )
            headers[key] = field

    @property
    def is_default(self) -> bool:
        """True when nothing is added to the built-in aliases."""
        return not self.explicit and not self.values

    def merged(self, other: ColumnMapping | None) -> ColumnMapping:
        """This mapping with ``other``'s entries on top (the command line over the config)."""
        if other is None or other.is_default:
            return self
        values = {field: dict(table) for field, table in self.values.items()}
        for field, table in other.values.items():
            values.setdefault(field, {}).update(table)
        # A header the command line gives to a field is no longer the config's for another one.
        taken = {normalize(header) for header in other.explicit.values()}
        explicit = {
            field: header for field, header in self.explicit.items() if normalize(header) not in taken
        }
        explicit.update(other.explicit)
        return ColumnMapping(explicit=explicit, values=values, strict=self.strict | other.strict)

    def check_present(self, resolution: HeaderResolution, file: str | None = None) -> None:
        """Raise if a ``--column`` header is not in the file's header (see ``strict``).

        Raises:
            ColumnError: naming the option and the file's headers.
        """
        read = {column.field for column in resolution.columns if column.how == EXPLICIT}
        for field in sorted(self.strict - read, key=MAPPABLE.index):
            headers = [column.header.strip() for column in resolution.columns]
            shown = ", ".join(f"« {header} »" for header in headers[:40]) + (
                " …" if len(headers) > 40 else ""
            )
            raise ColumnError(
                f"{_where(file)}--column {field}={self.explicit[field]} : aucune colonne de ce nom dans "
                f"l'en-tête (colonnes : {shown})"
            )

    def resolve(
        self, headers: Sequence[str], file: str | None = None, problems: list[ColumnError] | None = None
    ) -> HeaderResolution:
        """What each header of ``headers`` is (see :class:`Column`).

        Each field takes the column mapped to it explicitly, else the one column named for it,
        exactly as in SPEC §1 or by an alias. Two such columns for one field are an error naming
        both (SPEC §1b), whether they are two aliases or the SPEC name and an alias: which one the
        export means is the practice's to say, with ``[columns]`` or ``--column``. A column that
        loses to an explicitly mapped one is kept as an extra if it was found by an alias, and
        dropped if it bears the field's SPEC name (its values would otherwise be read as the
        field's).

        ``problems`` (for ``billing-rules columns``, which shows the table before the error): the
        clashes are appended to it instead of raised, and their columns marked :data:`AMBIGUOUS`.

        Raises:
            ColumnError: two headers for one field and neither mapped explicitly, or two mapped
                explicitly (both are named), or both ``code`` and ``codes`` (one act per line, or
                one invoice per line?).
        """
        explicit = {normalize(header): field for field, header in self.explicit.items()}
        keys = [normalize(header) for header in headers]
        # (rank, field) of each header: 0 explicit, 1 SPEC name, 2 alias; None: no field.
        claims: list[tuple[int, str] | None] = []
        for header, key in zip(headers, keys, strict=True):
            if key in explicit:
                claims.append((0, explicit[key]))
            elif extra_name(header) in _FIELD_SET:
                claims.append((1, extra_name(header)))
            elif key in ALIASES:
                claims.append((2, ALIASES[key]))
            else:
                claims.append(None)
        claimants: dict[str, list[int]] = {}  # field -> its headers, in header order
        for index, claim in enumerate(claims):
            if claim is not None:
                claimants.setdefault(claim[1], []).append(index)
        # Two columns for one field are ambiguous (both named), unless exactly one is mapped
        # explicitly: it wins over a SPEC name or an alias, wherever it stands in the header. Two
        # explicit ones are reported first, then the earliest clash in header order.
        clashes: list[tuple[int, int, int, str]] = []  # (rank, second, first, field)
        best: dict[str, int] = {}  # field -> index of the header it is read from
        for field, indexes in claimants.items():
            mapped = [index for index in indexes if claims[index][0] == 0]  # type: ignore[index]
            if len(mapped) > 1:
                clashes.append((0, mapped[1], mapped[0], field))
            elif not mapped and len(indexes) > 1:
                clashes.append((1, indexes[1], indexes[0], field))
            best[field] = (mapped or indexes)[0]
        ambiguous: dict[int, str] = {}  # header index -> the field it clashes on
        for _, second, first, field in sorted(clashes):
            # The column bearing the SPEC name is offered first, wherever it stands.
            pair = sorted((first, second), key=lambda index: (claims[index][0], index))  # type: ignore[index]
            error = _ambiguous(headers[pair[0]], headers[pair[1]], field, file)
            if problems is None:
                raise error
            problems.append(error)
            ambiguous.update(dict.fromkeys(claimants[field], field))
            del best[field]
        if CODE in best and "codes" in best:
            ranks = {field: claims[best[field]][0] for field in (CODE, "codes")}  # type: ignore[index]
            if min(ranks.values()) == 0 and max(ranks.values()) > 0:
                # Mapped explicitly, one of them says how the file is laid out: the other is read no more.
                del best[CODE if ranks[CODE] else "codes"]
        if CODE in best and "codes" in best:
            first, second = sorted((best[CODE], best["codes"]))
            error = ColumnError(
                f"{_where(file)}les colonnes « {headers[first].strip()} » et « {headers[second].strip()} » "
                "donnent toutes deux les codes (code : un acte par ligne ; codes : une facture par "
                "ligne) ; indiquez laquelle lire avec [columns] ou --column"
            )
            if problems is None:
                raise error
            problems.append(error)
            ambiguous.update(dict.fromkeys((best.pop(CODE), best.pop("codes")), "codes"))
        how_of = {0: EXPLICIT, 1: SPEC_NAME, 2: ALIAS}
        columns = []
        for index, (header, key, claim) in enumerate(zip(headers, keys, claims, strict=True)):
            if claim is None:
                name = extra_name(header)
                columns.append(Column(header, name, EXTRA if name else EMPTY))
                continue
            rank, field = claim
            if index in ambiguous:
                columns.append(Column(header, "", AMBIGUOUS, claimed=ambiguous[index]))
                continue
            if best.get(field) != index:
                name = "" if rank == 1 else extra_name(header)
                columns.append(Column(header, name, REPLACED, claimed=field))
                continue
            how = how_of[rank]
            columns.append(Column(header, field, how, self._values_for(field, key, how)))
        return HeaderResolution(tuple(columns))

    def _values_for(self, field: str, key: str, how: str) -> Mapping[str, str] | None:
        table: dict[str, str] = {}
        if how != SPEC_NAME:
            table.update(FRENCH_VALUES.get(field, {}))
            table.update(_HEADER_VALUES.get(key, {}))
        own = self.values.get(field)
        if own:
            table.update({normalize(value): target for value, target in own.items()})
        return table or None


def check_field(field: str) -> str:
    """``field`` if it is one a column can be mapped to.

    Raises:
        ColumnError: naming the field and listing every possible one.
    """
    if field not in MAPPABLE:
        raise ColumnError(f"champ inconnu « {field} » (champs possibles : {', '.join(MAPPABLE)})")
    return field


def _check_target(field: str, value: str, target: str) -> None:
    """A value mapping must give a value the field reads (else every row would be in error)."""
    from billing_rules.readers.rows import UNREADABLE, value_of

    column = "codes" if field == CODE else field
    try:
        readable = value_of(column, target, None) is not UNREADABLE
    except KeyError:  # discharge_date, km: no reader of their own yet
        return
    if not readable:
        raise ColumnError(
            f"[values.{field}] « {value} » = « {target} » : « {target} » n'est pas une valeur de {field}"
        )


def _where(file: str | None) -> str:
    return "" if file is None else f"{file_label(file)} : "


def _ambiguous(first: str, second: str, field: str, file: str | None) -> ColumnError:
    """Two columns for one field: both named, and both offered as the choice (SPEC §1b).

    Which one holds the field is the practice's to say: suggesting one (the second, say) would
    read ``Patient`` names as patient ids as readily as the right column. ``first`` is the column
    bearing the SPEC name when there is one.
    """
    one, other = first.strip(), second.strip()
    return ColumnError(
        f"{_where(file)}les colonnes « {one} » et « {other} » désignent toutes deux le champ {field} ; "
        f'indiquez laquelle lire : --column {field}="{one}" ou --column {field}="{other}" (ou, dans '
        f'billing-rules.toml, [columns] {field} = "{one}" ou "{other}")'
    )


class ValueTranslator:
    """Applies a column's value table to its cells, remembering each spelling it has seen.

    Exports repeat a few spellings (``Oui``, ``Autre médecin``) a million times: the normalising
    is done once per spelling. A spelling not in the table is left as written, so the field's own
    reading (and its input error) is unchanged.
    """

    _MEMO_MAX = 4096

    def __init__(self, table: Mapping[str, str]) -> None:
        self._table = table
        self._memo: dict[str, str] = {}

    def __call__(self, value: Any) -> Any:
        """The SPEC value for ``value``, or ``value`` itself; only text is translated."""
        if type(value) is not str:
            return value
        found = self._memo.get(value)
        if found is not None:
            return found
        found = self._table.get(normalize(value), value) if value.strip() else value
        if len(self._memo) < self._MEMO_MAX:
            self._memo[value] = found
        return found


def translate_rows(rows: Iterable[list[str]], translators: Sequence[tuple[int, ValueTranslator]]) -> None:
    """Apply value translators to positional records in place (the CSV path)."""
    for row in rows:
        if not row:  # a record the csv module could not read: nothing to translate
            continue
        for index, translate in translators:
            row[index] = translate(row[index])


DEFAULT_MAPPING = ColumnMapping()


#: New key of each key (``""``: dropped) and the translators of the mapped fields' values.
_Plan = tuple[tuple[str, ...], tuple[tuple[str, ValueTranslator], ...]]


class KeyMapper:
    """Renames the keys of JSON objects to fields and translates their values (SPEC §1b).

    Objects of one export share their keys, so each distinct key sequence is resolved once. Keys
    that are no field are kept exactly as written (JSON keys come from programs: an extra key is
    handed to plugins as spelt); a key displaced by an explicit mapping is dropped.
    """

    _PLANS_MAX = 1024

    def __init__(self, mapping: ColumnMapping, file: str | None) -> None:
        self._mapping = mapping
        self._file = file
        self._plans: dict[tuple[str, ...], _Plan | None] = {}

    def __call__(self, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` with field names as keys (the same object when nothing changes).

        Raises:
            ColumnError: two keys of the object designate one field.
        """
        plan = self.plan(tuple(values))
        if plan is None:
            return values
        names, translators = plan
        mapped = {name: value for name, value in zip(names, values.values(), strict=True) if name}
        for name, translate in translators:
            if name in mapped:
                mapped[name] = translate(mapped[name])
        return mapped

    def plan(self, keys: tuple[str, ...]) -> _Plan | None:
        """The name each of ``keys`` takes (``""``: dropped) and the translators; None: as they are.

        Raises:
            ColumnError: two of ``keys`` designate one field.
        """
        if keys in self._plans:
            return self._plans[keys]
        resolution = self._mapping.resolve(keys, self._file)
        names = tuple(
            column.name if column.field is not None else key if column.name else ""
            for key, column in zip(keys, resolution.columns, strict=True)
        )
        translators = tuple(
            (column.name, ValueTranslator(column.values)) for column in resolution.columns if column.values
        )
        plan = None if names == keys and not translators else (names, translators)
        if len(self._plans) < self._PLANS_MAX:
            self._plans[keys] = plan
        return plan
