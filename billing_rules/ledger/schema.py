"""The ledger's schema, as numbered forward migrations for each back end.

A ledger records, in ``billing_rules_schema``, every migration applied to it. Opening a ledger
applies the missing ones in one transaction (never a downgrade: a ledger written by a newer
release is refused rather than damaged). Released migrations are never edited, only appended.

Design of the tables:

- ``invoices``: one row per (practitioner_id, invoice_id), the SPEC §1 columns, cancelled ones
  included (stored as cancelled, exported, counted nowhere).
- ``invoice_codes``: one row per billed code of each *billed* invoice, with the patient,
  practitioner and date copied in, so that every window query (codes × patient or practitioner ×
  days) is a range scan of one covering index. Cancelled invoices have no code rows, which is how
  they are counted nowhere without a filter in every query.
"""

from __future__ import annotations

#: The version a fresh ledger is migrated to; a ledger above it was written by a newer release.
LATEST = 3

SCHEMA_TABLE = "billing_rules_schema"

SQLITE: dict[int, tuple[str, ...]] = {
    1: (
        f"CREATE TABLE {SCHEMA_TABLE} (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
        """CREATE TABLE invoices (
            id INTEGER PRIMARY KEY,
            practitioner_id TEXT NOT NULL,
            invoice_id TEXT NOT NULL,
            date TEXT NOT NULL,
            time TEXT,
            specialty TEXT NOT NULL,
            sector TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            birth_date TEXT NOT NULL,
            ald INTEGER NOT NULL,
            palliative INTEGER NOT NULL,
            neurodegenerative INTEGER NOT NULL,
            mt_status TEXT NOT NULL,
            declares_mt INTEGER NOT NULL,
            place TEXT NOT NULL,
            homebound INTEGER NOT NULL,
            codes TEXT NOT NULL,
            amount TEXT,
            regulated INTEGER NOT NULL,
            referral_at TEXT,
            status TEXT NOT NULL CHECK (status IN ('billed', 'cancelled')),
            extra TEXT,
            recorded_at TEXT NOT NULL,
            UNIQUE (practitioner_id, invoice_id)
        )""",
        """CREATE TABLE invoice_codes (
            practitioner_id TEXT NOT NULL,
            invoice_id TEXT NOT NULL,
            code TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            date TEXT NOT NULL,
            PRIMARY KEY (practitioner_id, invoice_id, code)
        ) WITHOUT ROWID""",
    ),
    # The window queries (measured with EXPLAIN QUERY PLAN in tests/test_ledger_sql.py): per code and
    # patient (IMT, VL, GL, consultations), per code and practitioner (SNP of the week), and per
    # patient for counters without an ``on`` clause.
    2: (
        "CREATE INDEX invoice_codes_by_patient ON invoice_codes (code, patient_id, date)",
        "CREATE INDEX invoice_codes_by_practitioner ON invoice_codes (code, practitioner_id, date)",
        "CREATE INDEX invoices_by_patient ON invoices (patient_id, date)",
    ),
    # SPEC §1 gained two optional columns in 2026: the latest hospital discharge (GL1) and the
    # kilometres billed as IK. Older rows have neither, which is what NULL says.
    3: (
        "ALTER TABLE invoices ADD COLUMN discharge_date TEXT",
        "ALTER TABLE invoices ADD COLUMN km TEXT",
    ),
}

POSTGRES: dict[int, tuple[str, ...]] = {
    1: (
        f"CREATE TABLE {SCHEMA_TABLE} (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)",
        """CREATE TABLE invoices (
            id BIGSERIAL PRIMARY KEY,
            practitioner_id TEXT NOT NULL,
            invoice_id TEXT NOT NULL,
            date DATE NOT NULL,
            time TIME,
            specialty TEXT NOT NULL,
            sector TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            birth_date DATE NOT NULL,
            ald BOOLEAN NOT NULL,
            palliative BOOLEAN NOT NULL,
            neurodegenerative BOOLEAN NOT NULL,
            mt_status TEXT NOT NULL,
            declares_mt BOOLEAN NOT NULL,
            place TEXT NOT NULL,
            homebound BOOLEAN NOT NULL,
            codes TEXT NOT NULL,
            amount NUMERIC,
            regulated BOOLEAN NOT NULL,
            referral_at TIMESTAMP,
            status TEXT NOT NULL CHECK (status IN ('billed', 'cancelled')),
            extra TEXT,
            recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            UNIQUE (practitioner_id, invoice_id)
        )""",
        """CREATE TABLE invoice_codes (
            practitioner_id TEXT NOT NULL,
            invoice_id TEXT NOT NULL,
            code TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            date DATE NOT NULL,
            PRIMARY KEY (practitioner_id, invoice_id, code)
        )""",
    ),
    2: (
        "CREATE INDEX invoice_codes_by_patient ON invoice_codes (code, patient_id, date)",
        "CREATE INDEX invoice_codes_by_practitioner ON invoice_codes (code, practitioner_id, date)",
        "CREATE INDEX invoices_by_patient ON invoices (patient_id, date)",
    ),
    3: (
        "ALTER TABLE invoices ADD COLUMN discharge_date DATE",
        "ALTER TABLE invoices ADD COLUMN km NUMERIC",
    ),
}
