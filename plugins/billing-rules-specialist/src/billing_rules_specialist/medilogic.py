"""The ``medilogic`` input format: the CSV export of a (fictional) practice software, Medilogic.

Its columns have French names of its own and its act codes are separated by spaces. The reader only
renames columns and rewrites the codes into SPEC §1 spelling; every value is then read by the core
(:func:`billing_rules.readers.event_from_row`), so a Medilogic file gets exactly the validation and
the located input errors of a SPEC file. Select it with ``--input-format medilogic``: the file
ends in ``.csv`` like any other, so the extension cannot tell.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any, BinaryIO

from billing_rules.errors import ReadError
from billing_rules.readers import RawRow
from billing_rules.readers.encoding import TextSource

#: Medilogic column -> SPEC §1 column (or the extra column a rule of this plugin reads).
COLUMNS = {
    "num_facture": "invoice_id",
    "date_acte": "date",
    "heure_acte": "time",
    "rpps": "practitioner_id",
    "specialite": "specialty",
    "secteur": "sector",
    "id_patient": "patient_id",
    "date_naissance": "birth_date",
    "ald": "ald",
    "statut_mt": "mt_status",
    "lieu": "place",
    "actes": "codes",
    "montant": "amount",
    "annulee": "status",
    "adressage_mt": "mt_referral_at",
    "rpps_adresseur": "referrer_rpps",
}

#: Medilogic's words for the MT status, in SPEC §1 spelling.
MT_STATUS = {"moi": "self", "autre": "other", "aucun": "none", "": "unknown", "?": "unknown"}

REQUIRED = ("num_facture", "date_acte", "rpps", "id_patient", "date_naissance", "actes")


class MedilogicReader:
    """Rows of a Medilogic export, renamed to SPEC §1 columns."""

    name = "medilogic"
    extensions: tuple[str, ...] = ()  # chosen by name only (its files end in .csv too)

    def rows(self, stream: BinaryIO, file: str) -> Iterator[RawRow]:
        """One :class:`RawRow` per record; the header is line 1."""
        source = TextSource(stream)
        reader = csv.reader(source.text, delimiter=";")
        try:
            header = [name.strip().lower() for name in next(reader)]
        except StopIteration:
            raise ReadError(f"« {file} » : fichier Medilogic vide") from None
        missing = [name for name in REQUIRED if name not in header]
        if missing:
            raise ReadError(f"« {file} » : colonne(s) Medilogic absente(s) : {', '.join(missing)}")
        return self._records(reader, header, file)

    @staticmethod
    def _records(reader: Any, header: list[str], file: str) -> Iterator[RawRow]:
        line = reader.line_num
        for record in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                problem = ("_row", f"{len(record)} champs au lieu de {len(header)}")
                yield RawRow(line=start, values={}, file=file, problems=(problem,))
                continue
            yield RawRow(line=start, values=_translate(dict(zip(header, record, strict=True))), file=file)


def _translate(row: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in row.items():
        values[COLUMNS.get(name, name)] = value
    codes = values.get("codes", "")
    values["codes"] = "+".join(codes.replace(",", " ").split())
    status = values.get("mt_status")
    if status is not None:
        values["mt_status"] = MT_STATUS.get(status.strip().lower(), status)
    cancelled = values.get("status")
    if cancelled is not None:
        values["status"] = "cancelled" if cancelled.strip().lower() in {"oui", "o", "1"} else "billed"
    return values
