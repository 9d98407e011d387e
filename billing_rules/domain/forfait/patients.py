"""The patient list file of ``forfait --patients`` (SPEC §6): patient_id, birth_date, ald, c2s.

Read like a billing file (CSV with ``;`` or ``,``, UTF-8 or Windows-1252, JSON, JSON Lines) and
checked field by field: every readable patient is kept, every bad field is one located error.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from billing_rules.domain.forfait.estimate import Patient


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


def read_patients(
    path: str | Path, *, input_format: str | None = None
) -> tuple[list[Patient], list[PatientRowError]]:
    """Read a patient list (CSV with ``;`` or ``,``, UTF-8 or Windows-1252; JSON array; JSON Lines).

    Returns every readable patient and one error per bad field; a file without the required
    columns raises :class:`~billing_rules.errors.ReadError`.
    """
    from billing_rules.errors import ReadError

    name = str(path)
    kind = (input_format or Path(name).suffix.lstrip(".") or "csv").lower()
    with open(name, "rb") as stream:
        if kind == "csv" or kind == "txt":
            rows = list(_csv_rows(stream, name))
        elif kind == "json":
            rows = _json_rows(stream, name)
        elif kind == "jsonl":
            rows = _jsonl_rows(stream, name)
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


def _csv_rows(stream: Any, name: str) -> Iterable[tuple[int | None, dict[str, Any]]]:
    import csv

    from billing_rules.errors import ReadError
    from billing_rules.readers.csv_reader import detect_delimiter, normalize_header
    from billing_rules.readers.encoding import TextSource

    text = TextSource(stream).text
    first = text.readline()
    if not first.strip():
        raise ReadError(f"« {name} » : fichier vide, la ligne d'en-tête manque")
    reader = csv.reader([first], delimiter=detect_delimiter(first))
    header = [normalize_header(cell) for cell in next(reader)]
    missing = [column for column in ("patient_id", "birth_date") if column not in header]
    if missing:
        raise ReadError(f"« {name} » : colonne(s) obligatoire(s) absente(s) : {', '.join(missing)}")
    body = csv.reader(text, delimiter=detect_delimiter(first))
    for index, fields in enumerate(body, start=2):
        if not any(cell.strip() for cell in fields):
            continue
        yield index, dict(zip(header, fields, strict=False))


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
