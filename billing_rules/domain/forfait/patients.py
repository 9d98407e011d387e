"""The patient list file of ``forfait PATIENTS`` (SPEC §6): patient_id, birth_date, ald, c2s, last_seen.

Read like a billing file (CSV with ``;`` or ``,``, UTF-8 or Windows-1252, JSON, JSON Lines) and
understood like one (SPEC §1b): the same header matching (case, accents, spaces and punctuation
ignored), the same French aliases (``N° patient``, ``Date de naissance``, ``ALD``), the practice's
``[columns]`` / ``[values.FIELD]`` and ``--column``, all applied by
:class:`~billing_rules.readers.columns.ColumnMapping`, so a patient list exported by the practice
software next to its invoices needs no renaming. ``c2s`` and ``last_seen`` are no billing-file
fields: their French headers are listed here and matched the same way, and their explicit
headers (``[columns]``, ``--column``) are kept apart (:class:`OwnColumns`). Every readable
patient is kept, every bad field is one located error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from billing_rules.domain.forfait.estimate import Patient
from billing_rules.readers.columns import (
    DEFAULT_MAPPING,
    EXPLICIT,
    FIELDS,
    ColumnError,
    ColumnMapping,
    ValueTranslator,
    extra_name,
    normalize,
)

#: The fields a patient list can have, in SPEC §6 order.
PATIENT_FIELDS: tuple[str, ...] = ("patient_id", "birth_date", "ald", "c2s", "last_seen")

#: Those a billing file has too: their headers are resolved by the billing files' own mapping.
SHARED_FIELDS: tuple[str, ...] = tuple(field for field in PATIENT_FIELDS if field in FIELDS)

#: Those only a patient list has (no billing-file alias, ``[columns]`` entry or ``[values]`` table).
OWN_FIELDS: tuple[str, ...] = tuple(field for field in PATIENT_FIELDS if field not in FIELDS)

REQUIRED: tuple[str, ...] = ("patient_id", "birth_date")

# The headers practice software writes for the patient list's own fields, as people read them
# (normalised when loaded, like readers/aliases.py's). CMU-C is the C2S's name before 2019.
OWN_ALIAS_TEXT: dict[str, tuple[str, ...]] = {
    "c2s": (
        "C2S",
        "CSS",
        "Complémentaire santé solidaire",
        "Bénéficiaire C2S",
        "Patient C2S",
        "CMU-C",
        "CMU complémentaire",
        "Bénéficiaire CMU-C",
    ),
    "last_seen": (
        "Dernière consultation",
        "Date de dernière consultation",
        "Date dernière consultation",
        "Dernière visite",
        "Date de dernière visite",
        "Dernier passage",
        "Date du dernier passage",
        "Dernier acte",
        "Date du dernier acte",
        "Date dernier acte",
        "Dernière facture",
        "Date de dernière facture",
        "Dernier contact",
        "Vu le",
    ),
}

#: Normalised header -> own field: the field names themselves and every alias.
OWN_ALIASES: Mapping[str, str] = {
    **{normalize(alias): field for field, aliases in OWN_ALIAS_TEXT.items() for alias in aliases},
    **{normalize(field): field for field in OWN_FIELDS},
}


@attrs.frozen
class PatientRowError:
    """A bad field of the patient list, located like the input errors of ``check``.

    ``file``: the patient list, as named on the command line (messages and JSON name it, as
    ``check`` and ``ledger import`` do).
    """

    line: int | None
    field: str
    message: str
    file: str | None = None


@attrs.frozen
class OwnColumns:
    """The headers mapped explicitly to the patient list's own fields (``c2s``, ``last_seen``).

    Attributes:
        explicit: field -> header, the command line's ``--column`` over the configuration's
            ``[columns]``; matched the forgiving way, winning over the fields' aliases.
        strict: the fields given on the command line, whose header must be in a CSV file's
            header (a typo would otherwise go unseen while an alias reads another column). A
            ``[columns]`` entry serves every export of the practice and may be absent from one,
            as for billing files (``ColumnMapping.strict``).
    """

    explicit: Mapping[str, str] = attrs.field(factory=dict)
    strict: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls, command_line: Mapping[str, str], configured: Mapping[str, str], taken: Iterable[str] = ()
    ) -> OwnColumns:
        """``--column`` over ``[columns]``, as ``ColumnMapping.merged`` does for billing fields.

        A configured entry gives way to the command line's for the same field, and to any
        ``--column`` that reads its header as another field (``taken``: the headers the command
        line gives to billing fields).
        """
        given = {normalize(header) for header in (*command_line.values(), *taken)}
        explicit = {
            field: header
            for field, header in configured.items()
            if field not in command_line and normalize(header) not in given
        }
        explicit.update(command_line)
        return cls(explicit=explicit, strict=frozenset(command_line))


@attrs.frozen
class PatientHeader:
    """A patient list's header, resolved: the field each column feeds (``""``: none).

    ``translators`` apply the value tables of the mapped columns (``[values.ald]``...) by position.
    """

    names: tuple[str, ...]
    translators: tuple[tuple[int, ValueTranslator], ...] = ()

    def record(self, cells: Sequence[Any]) -> dict[str, Any]:
        """The fields of one record (cells in header order), values translated."""
        values = list(cells)
        for index, translate in self.translators:
            if index < len(values):
                values[index] = translate(values[index])
        return {name: value for name, value in zip(self.names, values, strict=False) if name}


def resolve_header(
    headers: Sequence[str],
    mapping: ColumnMapping = DEFAULT_MAPPING,
    own: OwnColumns | None = None,
    *,
    file: str | None = None,
    strict: bool = True,
) -> PatientHeader:
    """Which header feeds which patient field (SPEC §1b, as for billing files).

    ``mapping``: the practice's ``[columns]`` / ``[values]`` with the billing fields of
    ``--column`` on top; it resolves ``patient_id``, ``birth_date`` and ``ald`` exactly as a
    billing file's (a header mapped explicitly wins, two headers for one field is an error).
    ``own``: the headers mapped explicitly to ``c2s`` and ``last_seen``, matched the same
    forgiving way and winning over their aliases. ``strict``: every ``--column`` header must be
    in the header (a CSV file's; a JSON object may lack a key).

    Raises:
        ColumnError: two headers for one field, or a ``--column`` header absent (both named).
    """
    resolution = mapping.resolve(headers, file)
    if strict:
        mapping.check_present(resolution, file)
    names = [column.name if column.field in SHARED_FIELDS else "" for column in resolution.columns]
    translators = [
        (index, ValueTranslator(column.values))
        for index, column in enumerate(resolution.columns)
        if column.field in SHARED_FIELDS and column.values
    ]
    own = own or OwnColumns()
    explicit: dict[str, str] = {}
    for field, header in own.explicit.items():
        if normalize(header) in explicit:
            raise ColumnError(
                f"{_where(file)}la colonne « {header.strip()} » est attribuée à deux champs : "
                f"{explicit[normalize(header)]} et {field}"
            )
        explicit[normalize(header)] = field
    # (rank, index) of each header claiming an own field: 0 --column, 1 its name, 2 an alias.
    claims: dict[str, list[tuple[int, int]]] = {}
    for index, (header, column) in enumerate(zip(headers, resolution.columns, strict=True)):
        key = normalize(header)
        if key in explicit and column.how == EXPLICIT:
            raise ColumnError(
                f"{_where(file)}la colonne « {header.strip()} » est attribuée à deux champs : "
                f"{column.name} et {explicit[key]}"
            )
        if key in explicit:
            claims.setdefault(explicit[key], []).append((0, index))
        elif column.field is None and extra_name(header) in OWN_FIELDS:
            claims.setdefault(extra_name(header), []).append((1, index))
        elif column.field is None and key in OWN_ALIASES:
            claims.setdefault(OWN_ALIASES[key], []).append((2, index))
    for field, found in claims.items():
        best = min(found)
        if best[0] > 0 and len(found) > 1:
            # Both offered, as for billing fields: which one holds the field is the practice's to say.
            one, other = (headers[index].strip() for index in sorted(index for _, index in found)[:2])
            raise ColumnError(
                f"{_where(file)}les colonnes « {one} » et « {other} » désignent toutes deux le champ "
                f'{field} ; indiquez laquelle lire : --column {field}="{one}" ou --column {field}="{other}"'
            )
        names[best[1]] = field
        translators = [(index, translate) for index, translate in translators if index != best[1]]
    if strict:
        found_explicitly = {field for field, found in claims.items() if min(found)[0] == 0}
        for field, header in own.explicit.items():
            if field in own.strict and field not in found_explicitly:
                raise ColumnError(
                    f"{_where(file)}--column {field}={header} : aucune colonne de ce nom dans l'en-tête "
                    f"(colonnes : {_shown(headers)})"
                )
    return PatientHeader(tuple(names), tuple(translators))


def split_columns(columns: Mapping[str, str] | None) -> tuple[dict[str, str], dict[str, str]]:
    """``--column`` as (billing fields, the patient list's own fields): each goes its own way."""
    shared = {field: header for field, header in (columns or {}).items() if field not in OWN_FIELDS}
    own = {field: header for field, header in (columns or {}).items() if field in OWN_FIELDS}
    return shared, own


def read_patients(
    path: str | Path,
    *,
    input_format: str | None = None,
    columns: Mapping[str, str] | None = None,
    practice: ColumnMapping | None = None,
    practice_own: Mapping[str, str] | None = None,
) -> tuple[list[Patient], list[PatientRowError]]:
    """Read a patient list (CSV with ``;`` or ``,``, UTF-8 or Windows-1252; JSON array; JSON Lines).

    ``columns``: the command line's ``--column`` (field -> header, every patient field);
    ``practice``: the configuration's ``[columns]`` and ``[values]`` (under ``columns``);
    ``practice_own``: its ``[columns]`` entries for ``c2s`` and ``last_seen``
    (``PracticeConfig.patient_columns``), kept apart since no billing file has them.

    Returns every readable patient and one error per bad field; a file without the required
    columns, or with an ambiguous header, raises :class:`~billing_rules.errors.ReadError`.
    """
    from billing_rules.errors import ReadError

    name = str(path)
    shared, own_given = split_columns(columns)
    own = OwnColumns.of(own_given, practice_own or {}, taken=shared.values())
    command_line = ColumnMapping(explicit=shared, strict=frozenset(shared)) if shared else None
    mapping = (practice or DEFAULT_MAPPING).merged(command_line)
    kind = (input_format or Path(name).suffix.lstrip(".") or "csv").lower()
    with open(name, "rb") as stream:
        if kind == "csv" or kind == "txt":
            rows = list(_csv_rows(stream, name, mapping, own))
        elif kind in ("json", "jsonl"):
            objects = _json_rows(stream, name) if kind == "json" else _jsonl_rows(stream, name)
            rows = _mapped_objects(objects, name, mapping, own)
        else:
            raise ReadError(
                f"« {name} » : format de liste de patients inconnu « {kind} » (csv, json ou jsonl)"
            )
    patients: list[Patient] = []
    errors: list[PatientRowError] = []
    for line, values in rows:
        patient, found = _patient_from(values)
        errors += [
            PatientRowError(line=line, field=field, message=message, file=name) for field, message in found
        ]
        if patient is not None:
            patients.append(patient)
    return patients, errors


def _where(file: str | None) -> str:
    return "" if file is None else f"« {file} » : "


def _shown(headers: Sequence[str]) -> str:
    return ", ".join(f"« {header.strip()} »" for header in headers[:40]) + (" …" if len(headers) > 40 else "")


def _missing(names: Iterable[str], headers: Sequence[str], name: str) -> None:
    """Raise when a required field has no column, naming the headers read and the way to map one."""
    from billing_rules.errors import ReadError

    present = set(names)
    missing = [field for field in REQUIRED if field not in present]
    if not missing:
        return
    raise ReadError(
        f"« {name} » : colonne(s) obligatoire(s) absente(s) : {', '.join(missing)} (colonnes : "
        f"{_shown(headers)}) ; indiquez laquelle lire avec --column, par exemple "
        f'--column {missing[0]}="EN-TÊTE", ou avec [columns] dans billing-rules.toml'
    )


def _csv_rows(
    stream: Any, name: str, mapping: ColumnMapping, own: OwnColumns
) -> Iterable[tuple[int | None, dict[str, Any]]]:
    import csv

    from billing_rules.errors import ReadError
    from billing_rules.readers.csv_reader import detect_delimiter
    from billing_rules.readers.encoding import TextSource

    text = TextSource(stream, file=name).text
    first = text.readline()
    if not first.strip():
        raise ReadError(f"« {name} » : fichier vide, la ligne d'en-tête manque")
    delimiter = detect_delimiter(first)
    headers = next(csv.reader([first], delimiter=delimiter))
    seen: set[str] = set()
    for cell in map(extra_name, headers):
        if cell and cell in seen:
            raise ReadError(f"« {name} » : la colonne « {cell} » apparaît deux fois dans l'en-tête")
        seen.add(cell)
    header = resolve_header(headers, mapping, own, file=name)
    _missing(header.names, headers, name)
    for index, fields in enumerate(csv.reader(text, delimiter=delimiter), start=2):
        if not any(cell.strip() for cell in fields):
            continue
        yield index, header.record(fields)


def _mapped_objects(
    objects: list[tuple[int | None, dict[str, Any]]],
    name: str,
    mapping: ColumnMapping,
    own: OwnColumns,
) -> list[tuple[int | None, dict[str, Any]]]:
    """JSON objects with their keys resolved like a CSV header (objects of one export share keys)."""
    plans: dict[tuple[str, ...], PatientHeader] = {}
    rows: list[tuple[int | None, dict[str, Any]]] = []
    for line, item in objects:
        keys = tuple(str(key) for key in item)
        header = plans.get(keys)
        if header is None:
            header = resolve_header(keys, mapping, own, file=name, strict=False)
            plans[keys] = header
        rows.append((line, header.record(list(item.values()))))
    if not rows:
        return rows
    # A field no object of the file has is a column the file lacks: said once, as for a CSV header.
    every_key = list(dict.fromkeys(key for plan in plans for key in plan))
    _missing((field for header in plans.values() for field in header.names), every_key, name)
    return rows


def _json_rows(stream: Any, name: str) -> list[tuple[int | None, dict[str, Any]]]:
    import json

    from billing_rules.errors import ReadError

    try:
        data = json.loads(stream.read().decode("utf-8-sig"))
    except (ValueError, UnicodeError) as exc:
        raise ReadError(f"« {name} » : JSON illisible ({exc})") from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ReadError(f"« {name} » : un tableau JSON d'objets est attendu")
    return [(None, item) for item in data]


def _jsonl_rows(stream: Any, name: str) -> list[tuple[int | None, dict[str, Any]]]:
    import json

    from billing_rules.errors import ReadError

    rows: list[tuple[int | None, dict[str, Any]]] = []
    for index, raw in enumerate(stream.read().decode("utf-8-sig").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError:
            raise ReadError(f"« {name} », ligne {index} : JSON illisible") from None
        if not isinstance(item, dict):
            raise ReadError(f"« {name} », ligne {index} : un objet JSON est attendu")
        rows.append((index, item))
    return rows


def _patient_from(values: dict[str, Any]) -> tuple[Patient | None, list[tuple[str, str]]]:
    from billing_rules.readers import values as parse

    found: list[tuple[str, str]] = []
    read: dict[str, Any] = {}
    for column, parser, required in (
        ("patient_id", parse.read_private_text, True),
        ("birth_date", parse.read_birth_date, True),  # never quoted in a message: patient data
        ("ald", parse.read_bool, False),
        ("c2s", parse.read_bool, False),
        ("last_seen", parse.read_date, False),
    ):
        value = values.get(column)
        try:
            if value is None or value == "":
                raise parse.BlankValue
            read[column] = parser(value)
        except parse.BlankValue:
            if required:
                found.append((column, "valeur obligatoire manquante"))
        except parse.InvalidValue as exc:
            found.append((column, exc.message))
    if found:
        return None, found
    patient = Patient(
        read["patient_id"],
        read["birth_date"],
        read.get("ald", False),
        read.get("c2s", False),
        last_seen=read.get("last_seen"),
    )
    return patient, []
