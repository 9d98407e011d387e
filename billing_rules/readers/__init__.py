"""Input files to :class:`~billing_rules.model.Event` values and located input errors (SPEC §1).

Two layers, so that formats and value rules evolve apart:

* a :class:`Reader` per format (``csv``, ``json``, ``jsonl``) streams a file as :class:`RawRow`
  values, never holding the whole file in memory;
* :func:`event_from_row` reads the values of any row into an ``Event``, or one ``InputError`` per
  bad field;
* :mod:`~billing_rules.readers.columns` says which header (or JSON key) is which field, and
  translates the practice's values (SPEC §1b): every reader, row-wise or columnar, resolves a
  header with :meth:`ColumnMapping.resolve`; :mod:`~billing_rules.readers.lines` groups the lines
  of a per-act export into invoices.

:class:`InputStream` ties them together for the validator: several files, in order, one sequence
of events and input errors, duplicates flagged.
"""

from billing_rules.readers.base import ROW_FIELD, RawRow, Reader
from billing_rules.readers.columns import ColumnMapping, HeaderResolution, normalize
from billing_rules.readers.csv_reader import CsvReader, detect_delimiter
from billing_rules.readers.encoding import detect_encoding
from billing_rules.readers.json_reader import JsonLinesReader, JsonReader
from billing_rules.readers.rows import KNOWN_COLUMNS, REQUIRED_COLUMNS, event_from_row
from billing_rules.readers.stream import BUILTIN_READERS, STDIN, InputStream, reader_for

__all__ = [
    "BUILTIN_READERS",
    "KNOWN_COLUMNS",
    "REQUIRED_COLUMNS",
    "ROW_FIELD",
    "STDIN",
    "ColumnMapping",
    "CsvReader",
    "HeaderResolution",
    "InputStream",
    "JsonLinesReader",
    "JsonReader",
    "RawRow",
    "Reader",
    "detect_delimiter",
    "detect_encoding",
    "event_from_row",
    "normalize",
    "reader_for",
]
