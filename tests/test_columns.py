"""SPEC §1b: a practice's own export, read as it is.

French headers matched without case, accents, spaces or punctuation; the practice's ``[columns]``,
``--column`` and ``[values]``; per-act lines grouped into invoices; ``billing-rules columns``.
The acceptance test rewrites the reviewed example week as a practice's software would export it
(one line per act, French headers and values, Windows-1252, ``;``, ``26,50``, ``04/03/2024``) and
asks for exactly the findings of the week in SPEC columns.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from billing_rules.api.validator import Validator
from billing_rules.cli import main
from billing_rules.config import ConfigError, parse_config
from billing_rules.model import Event, InputError, MtStatus, Place, Status
from billing_rules.readers import CsvReader, InputStream
from billing_rules.readers.aliases import ALIAS_TEXT
from billing_rules.readers.columns import (
    ALIASES,
    DEFAULT_MAPPING,
    FIELDS,
    MAPPABLE,
    ColumnError,
    ColumnMapping,
    normalize,
)
from billing_rules.readers.rows import SPEC_COLUMNS

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
WEEK = EXAMPLES / "week-2026-01.csv"
EXPORT = EXAMPLES / "export-logiciel.csv"


# --- the normalising function ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("N° facture", "nfacture"),
        ("Nº facture", "nofacture"),
        ("Date de l'acte", "datedelacte"),
        ("DATE DE L’ACTE", "datedelacte"),  # typographic apostrophe, capitals
        ("  date_de-l.acte ", "datedelacte"),
        ("Régulé", "regule"),
        ("MALADIE NEURODÉGÉNÉRATIVE", "maladieneurodegenerative"),
        ("\ufeffinvoice_id", "invoiceid"),
        ("Montant (€)", "montant"),
        ("Né(e) le", "neele"),
        ("Kilomètres", "kilometres"),
        ("", ""),
        ("°-/", ""),
    ],
)
def test_normalize_drops_case_accents_spaces_and_punctuation(header: str, expected: str) -> None:
    assert normalize(header) == expected


def test_no_alias_names_two_fields() -> None:
    owner: dict[str, str] = {}
    for field, aliases in ALIAS_TEXT.items():
        assert field in MAPPABLE
        for alias in (*aliases, field):
            key = normalize(alias)
            assert owner.setdefault(key, field) == field, (alias, owner[key], field)


def test_every_field_has_french_aliases() -> None:
    assert set(ALIAS_TEXT) == set(MAPPABLE)
    assert all(ALIAS_TEXT[field] for field in MAPPABLE)
    assert set(SPEC_COLUMNS) <= set(FIELDS)


@pytest.mark.parametrize(
    ("header", "field"),
    [
        # SPEC §1b's list, as written there
        ("N° facture", "invoice_id"),
        ("Numéro de facture", "invoice_id"),
        ("Date de l'acte", "date"),
        ("Date acte", "date"),
        ("Heure", "time"),
        ("RPPS", "practitioner_id"),
        ("N° praticien", "practitioner_id"),
        ("N° patient", "patient_id"),
        ("Patient", "patient_id"),
        ("Date de naissance", "birth_date"),
        ("Actes", "codes"),
        ("Cotation", "codes"),
        ("Codes", "codes"),
        ("Montant", "amount"),
        ("Montant facturé", "amount"),
        ("Lieu", "place"),
        ("Régulé", "regulated"),
        ("Régulation", "regulated"),
        # the other fields, as practice exports name them
        ("Spécialité", "specialty"),
        ("Secteur", "sector"),
        ("ALD", "ald"),
        ("Soins palliatifs", "palliative"),
        ("Maladie neurodégénérative", "neurodegenerative"),
        ("Médecin traitant", "mt_status"),
        ("Statut MT", "mt_status"),
        ("Déclaration MT", "declares_mt"),
        ("Patient non déplaçable", "homebound"),
        ("Date d'adressage", "referral_at"),
        ("Heure de régulation", "referral_time"),
        ("Heure d'adressage", "referral_time"),
        ("Date de régulation", "referral_at"),
        ("Statut", "status"),
        ("Annulée", "status"),
        ("Date de sortie", "discharge_date"),
        ("Km", "km"),
        ("Kilomètres", "km"),
        ("Code acte", "code"),
        ("NUMERO DE FACTURE", "invoice_id"),
        ("date_de_naissance", "birth_date"),
    ],
)
def test_builtin_aliases(header: str, field: str) -> None:
    assert ALIASES[normalize(header)] == field
    assert DEFAULT_MAPPING.resolve(["x", header]).columns[1].field == field


# --- resolving a header --------------------------------------------------------------------------


def test_two_alias_columns_for_one_field_name_both() -> None:
    with pytest.raises(ColumnError) as caught:
        DEFAULT_MAPPING.resolve(["N° facture", "Date", "Numéro de facture"], "jour.csv")
    message = str(caught.value)
    assert "« N° facture »" in message and "« Numéro de facture »" in message
    assert "invoice_id" in message and "jour.csv" in message and "--column" in message


def test_code_and_codes_together_is_ambiguous() -> None:
    with pytest.raises(ColumnError, match="« Code acte » et « Cotation »"):
        DEFAULT_MAPPING.resolve(["Code acte", "Cotation"])


def test_an_explicit_code_or_codes_column_settles_the_layout() -> None:
    per_invoice = ColumnMapping(explicit={"codes": "Cotation"}).resolve(["Code acte", "Cotation"])
    assert per_invoice.names == ["code acte", "codes"] and not per_invoice.per_act
    per_act = ColumnMapping(explicit={"code": "Code acte"}).resolve(["code", "Code acte", "Cotation"])
    assert per_act.names == ["", "code", "cotation"] and per_act.per_act
    # A SPEC-named loser is dropped, never kept under a field's name.
    spec_named = ColumnMapping(explicit={"code": "Code acte"}).resolve(["codes", "Code acte"])
    assert spec_named.names == ["", "code"]


@pytest.mark.parametrize(
    ("headers", "first", "second"),
    [
        (["practitioner_id", "Médecin"], "practitioner_id", "Médecin"),
        (["N° facture", "date", "invoice_id"], "invoice_id", "N° facture"),  # the SPEC name first, always
        (["invoice_id", "date", "practitioner_id", "codes", "Date acte"], "date", "Date acte"),
        (["status", "Annulée"], "status", "Annulée"),
    ],
)
def test_a_spec_name_and_an_alias_for_one_field_name_both(
    headers: list[str], first: str, second: str
) -> None:
    """SPEC §1b: two headers for one field is an exit-2 error naming them, the SPEC name included."""
    with pytest.raises(ColumnError) as caught:
        DEFAULT_MAPPING.resolve(headers, "jour.csv")
    message = str(caught.value)
    assert f"« {first} » et « {second} »" in message and "jour.csv" in message
    field = ALIASES[normalize(second)]
    assert f'--column {field}="{first}" ou --column {field}="{second}"' in message


def test_an_explicit_mapping_settles_a_spec_name_and_an_alias() -> None:
    # Either column may be chosen; the alias left aside is kept for plugins, the SPEC name dropped.
    chosen_alias = ColumnMapping(explicit={"practitioner_id": "Médecin"})
    resolution = chosen_alias.resolve(["practitioner_id", "Médecin"])
    assert resolution.names == ["", "practitioner_id"]
    assert [column.how for column in resolution.columns] == ["replaced", "explicit"]
    chosen_spec = ColumnMapping(explicit={"practitioner_id": "practitioner_id"})
    resolution = chosen_spec.resolve(["practitioner_id", "Médecin"])
    assert resolution.names == ["practitioner_id", "médecin"]
    assert [column.how for column in resolution.columns] == ["explicit", "replaced"]
    assert resolution.columns[1].claimed == "practitioner_id"
    # The explicit column may come last, after both others.
    late = ColumnMapping(explicit={"invoice_id": "Réf"}).resolve(["invoice_id", "N° facture", "Réf"])
    assert late.names == ["", "n° facture", "invoice_id"]


def test_explicit_mapping_wins_over_alias_and_spec_name() -> None:
    mapping = ColumnMapping(explicit={"invoice_id": "n° fse", "patient_id": "Réf. bénéficiaire"})
    resolution = mapping.resolve(["invoice_id", "N° facture", "N° FSE", "Ref beneficiaire", "Patient"])
    # The SPEC-named column is dropped (its values would be read as the field); the alias is kept.
    assert resolution.names == ["", "n° facture", "invoice_id", "patient_id", "patient"]
    assert [column.how for column in resolution.columns] == [
        "replaced",
        "replaced",
        "explicit",
        "explicit",
        "replaced",
    ]
    assert resolution.missing() == ["date", "practitioner_id", "birth_date", "codes"]


def test_an_explicit_header_absent_from_the_file_leaves_the_aliases_at_work() -> None:
    """A practice's [columns] serves all its files; one without that header is read as usual."""
    mapping = ColumnMapping(explicit={"invoice_id": "N° FSE"})
    resolution = mapping.resolve(["N° facture", "Date", "RPPS", "Patient", "DDN", "Actes"])
    assert resolution.names[:2] == ["invoice_id", "date"] and resolution.missing() == []


def test_mapping_to_an_unknown_field_lists_the_fields() -> None:
    with pytest.raises(ColumnError) as caught:
        ColumnMapping(explicit={"patient": "Identifiant assuré"})
    assert "« patient »" in str(caught.value)
    assert ", ".join(FIELDS) in str(caught.value)
    with pytest.raises(ColumnError, match="champ inconnu « mt »"):
        ColumnMapping(values={"mt": {"Moi": "self"}})


def test_one_header_for_two_fields_is_refused() -> None:
    with pytest.raises(ColumnError, match="attribuée à deux champs"):
        ColumnMapping(explicit={"date": "Date", "referral_at": "DATE"})


def test_a_value_mapping_must_give_a_value_of_the_field() -> None:
    with pytest.raises(ColumnError, match="« moi-même » n'est pas une valeur de mt_status"):
        ColumnMapping(values={"mt_status": {"Moi": "moi-même"}})


# --- config and command line ------------------------------------------------------------------


def test_config_columns_and_values() -> None:
    config = parse_config(
        {
            "columns": {"patient_id": "Identifiant assuré"},
            "values": {"mt_status": {"Moi": "self", "Autre médecin": "other"}, "ald": {"ALD 30": True}},
        }
    )
    assert config.columns.explicit == {"patient_id": "Identifiant assuré"}
    assert config.columns.values == {
        "mt_status": {"Moi": "self", "Autre médecin": "other"},
        "ald": {"ALD 30": "1"},
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"columns": {"patient": "X"}}, "champ inconnu « patient » (champs possibles : invoice_id, date"),
        ({"columns": {"patient_id": 3}}, "columns.patient_id : nom de colonne attendu"),
        ({"columns": {"patient_id": " "}}, "columns.patient_id : nom de colonne vide"),
        ({"columns": {"patient_id": "--"}}, "columns.patient_id : nom de colonne vide"),
        ({"values": {"place": "domicile"}}, "« values.place » doit être une table"),
        ({"values": {"plac": {"Visite": "domicile"}}}, "champ inconnu « plac »"),
    ],
)
def test_config_column_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match="billing-rules.toml : ") as caught:
        parse_config(data, Path("billing-rules.toml"))
    assert message in str(caught.value)


def test_pyproject_table_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.billing-rules.columns]\npatient_id = "{UNKNOWN_PATIENT_HEADER}"\n', encoding="utf-8"
    )
    data = _french_export(_week_rows(), unknown_patient_header=True, lines=False)
    (tmp_path / "export.csv").write_bytes(data)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "export.csv", "--format", "json"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["summary"]["events"] == 221


def test_unknown_field_in_config_is_exit_2_with_the_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "billing-rules.toml").write_text(
        '[columns]\npatient = "Identifiant assuré"\n', encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", str(EXPORT)])
    assert result.exit_code == 2
    assert "champ inconnu « patient »" in result.stderr and "patient_id" in result.stderr


def test_ledger_import_reads_the_nearest_config_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "billing-rules.toml").write_text(
        f'[columns]\npatient_id = "{UNKNOWN_PATIENT_HEADER}"\n', encoding="utf-8"
    )
    (tmp_path / "export.csv").write_bytes(_french_export(_week_rows()[:20], unknown_patient_header=True))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["ledger", "import", "export.csv", "--ledger", "registre.db"])
    assert result.exit_code == 0, result.output
    assert "20 factures importées" in result.stderr


def test_a_column_option_naming_no_header_is_exit_2(tmp_path: Path) -> None:
    """A typo in --column must not leave an alias quietly reading another column."""
    result = CliRunner().invoke(main, ["check", str(EXPORT), "--column", "patient_id=N° patinet"])
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "--column patient_id=N° patinet : aucune colonne de ce nom dans l'en-tête" in message
    assert "« N° patient »" in message
    columns = CliRunner().invoke(main, ["columns", str(EXPORT), "--column", "patient_id=N° patinet"])
    assert columns.exit_code == 2


def test_the_command_line_takes_a_header_from_the_config() -> None:
    config = ColumnMapping(explicit={"patient_id": "Dossier", "invoice_id": "N° FSE"})
    merged = config.merged(
        ColumnMapping(explicit={"practitioner_id": "dossier"}, strict=frozenset({"practitioner_id"}))
    )
    assert merged.explicit == {"invoice_id": "N° FSE", "practitioner_id": "dossier"}
    assert merged.strict == {"practitioner_id"}


def test_one_field_given_two_headers_on_the_command_line_is_exit_2(tmp_path: Path) -> None:
    """SPEC §1b: two headers for one field is exit 2 naming them, not "the last --column wins"."""
    commands = (
        ["check", str(EXPORT)],
        ["ledger", "import", str(EXPORT), "--ledger", str(tmp_path / "x.db")],
        ["forfait", "--invoices", str(EXPORT), "--year", "2026"],
        ["columns", str(EXPORT)],
    )
    for command in commands:
        result = CliRunner().invoke(
            main, [*command, "--column", "invoice_id=N° facture", "--column", "invoice_id=Réf"]
        )
        assert result.exit_code == 2, result.output
        message = " ".join(result.stderr.split())
        assert "le champ invoice_id est attribué à deux colonnes : « N° facture » et « Réf »" in message
    assert not (tmp_path / "x.db").exists()
    # The same header twice, in any spelling, is one mapping.
    result = CliRunner().invoke(
        main,
        ["columns", str(EXPORT), "--column", "invoice_id=N° facture", "--column", "invoice_id=n° FACTURE"],
    )
    assert result.exit_code == 0, result.output


def test_config_cannot_give_one_field_two_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TOML refuses a key given twice: a [columns] table cannot hold a duplicate silently."""
    (tmp_path / "billing-rules.toml").write_text(
        '[columns]\ninvoice_id = "N° facture"\ninvoice_id = "Réf"\n', encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    for command in (["check", str(EXPORT)], ["columns", str(EXPORT)]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2, result.output
        assert "billing-rules.toml : TOML invalide" in result.stderr


SPEC_AND_ALIAS_CSV = (
    "invoice_id,date,practitioner_id,patient_id,birth_date,codes,Date acte\n"
    "F1,2025-03-03,D1,P1,1960-01-01,G,2024-01-01\n"
)
SPEC_AND_ALIAS_JSON = [
    {"invoice_id": "F1", "N° facture": "F2", "date": "2025-03-03", "practitioner_id": "D1",
     "patient_id": "P1", "birth_date": "1960-01-01", "codes": "G"},
]  # fmt: skip


def test_check_refuses_a_spec_name_and_an_alias_for_one_field(tmp_path: Path, engine: str) -> None:
    csv_path = tmp_path / "a.csv"
    csv_path.write_text(SPEC_AND_ALIAS_CSV, encoding="utf-8")
    json_path = tmp_path / "a.json"
    json_path.write_text(json.dumps(SPEC_AND_ALIAS_JSON, ensure_ascii=False), encoding="utf-8")
    cases = ((csv_path, "date", "Date acte"), (json_path, "invoice_id", "N° facture"))
    for path, first, second in cases:
        result = CliRunner().invoke(main, ["check", str(path), "--engine", engine])
        assert result.exit_code == 2, result.output
        assert not result.stdout
        assert f"« {first} » et « {second} » désignent toutes deux le champ {first}" in result.stderr
        assert path.name in result.stderr
        # Saying which one to read settles it: the other is kept for plugins.
        for header in (first, second):
            settled = CliRunner().invoke(
                main,
                ["check", str(path), "--engine", engine, "--format", "json", "--column", f"{first}={header}"],
            )
            assert settled.exit_code == 0, settled.output
            assert json.loads(settled.stdout)["summary"]["events"] == 1


@pytest.mark.parametrize("spec_first", [True, False])
def test_the_ambiguity_hint_offers_both_columns_the_spec_one_first(
    tmp_path: Path, engine: str, spec_first: bool
) -> None:
    """``Patient`` holding names beside ``patient_id``: suggesting ``Patient`` alone would read names
    as patient ids; both are offered, the SPEC-named one first, wherever it stands."""
    headers = ["invoice_id", "date", "practitioner_id", "patient_id", "birth_date", "codes"]
    values = ["F1", "2025-03-03", "D1", "P1", "1960-01-01", "G"]
    if spec_first:
        headers, values = [*headers, "Patient"], [*values, "Dupont"]
    else:
        headers, values = ["Patient", *headers], ["Dupont", *values]
    path = tmp_path / "a.csv"
    path.write_text(";".join(headers) + "\n" + ";".join(values) + "\n", encoding="utf-8")
    records = [dict(zip(headers, values, strict=True))]
    json_path = tmp_path / "a.json"
    json_path.write_text(json.dumps(records), encoding="utf-8")
    for source in (path, json_path):
        result = CliRunner().invoke(main, ["check", str(source), "--engine", engine])
        assert result.exit_code == 2, result.output
        message = " ".join(result.stderr.split())
        assert "« patient_id » et « Patient » désignent toutes deux le champ patient_id" in message
        assert '--column patient_id="patient_id" ou --column patient_id="Patient"' in message
        assert '[columns] patient_id = "patient_id" ou "Patient"' in message
        assert "Dupont" not in message
        options = ["--engine", engine, "--format", "json", "--column", "patient_id=patient_id"]
        settled = CliRunner().invoke(main, ["check", str(source), *options])
        assert settled.exit_code == 0, settled.output
        assert json.loads(settled.stdout)["summary"]["events"] == 1


def test_the_ambiguity_hint_between_two_aliases_follows_the_header() -> None:
    with pytest.raises(ColumnError) as caught:
        DEFAULT_MAPPING.resolve(["Numéro de facture", "Date", "N° facture"])
    message = str(caught.value)
    assert "« Numéro de facture » et « N° facture »" in message
    assert '--column invoice_id="Numéro de facture" ou --column invoice_id="N° facture"' in message


def test_unknown_field_on_the_command_line_is_exit_2_with_the_fields() -> None:
    for command in (["check", str(EXPORT)], ["ledger", "import", str(EXPORT), "--ledger", "x.db"]):
        result = CliRunner().invoke(main, [*command, "--column", "patient=Identifiant"])
        assert result.exit_code == 2, result.output
        assert "champ inconnu « patient »" in result.stderr
        assert ", ".join(FIELDS) in " ".join(result.stderr.split())
    result = CliRunner().invoke(main, ["check", str(EXPORT), "--column", "patient_id"])
    assert result.exit_code == 2 and "CHAMP=EN-TÊTE" in result.stderr


# --- readers: CSV (both paths), JSON, values ------------------------------------------------------

FRENCH_CSV = (
    "N° facture;Date de l'acte;Heure;RPPS;N° patient;Date de naissance;ALD;Médecin traitant;Lieu;"
    "Actes;Montant;Annulée;Commentaire\n"
    "F-1;04/03/2024;09:30;101;P-1;01/02/1950;Oui;Moi;Cabinet;G+MD;40,00;Non;rien\n"
    "F-2;04/03/2024;10:00;101;P-2;01/02/1990;Non;Autre médecin;Visite à domicile;G;26,50;non;\n"
    "F-3;05/03/2024;;101;P-3;01/02/2022;non;aucun;Téléconsultation;TCG;25;X;annulée\n"
)


def _events(
    data: bytes, *, readers: Any = None, columns: ColumnMapping | None = None, **kwargs: Any
) -> list[Any]:
    path_name = kwargs.pop("name", "jour.csv")
    stream = InputStream(
        ["-"],
        input_format={".csv": "csv", ".json": "json", ".jsonl": "jsonl"}[Path(path_name).suffix],
        stdin=io.BytesIO(data),
        columns=columns,
        **({"readers": readers} if readers is not None else {}),
        **kwargs,
    )
    return list(stream)


class _GeneralPathOnly:
    """The CSV reader without its positional table: every row takes the general path."""

    name = "csv"
    extensions = (".csv",)

    def __init__(self, columns: ColumnMapping = DEFAULT_MAPPING) -> None:
        self.columns = columns

    def with_columns(self, columns: ColumnMapping) -> _GeneralPathOnly:
        return _GeneralPathOnly(columns)

    def rows(self, stream: Any, file: str) -> Any:
        return CsvReader(self.columns).rows(stream, file)


def test_french_csv_reads_with_french_values() -> None:
    events = _events(FRENCH_CSV.encode("cp1252"))
    assert all(isinstance(event, Event) for event in events), events
    first, second, third = events
    assert (first.invoice_id, first.ald, first.mt_status, first.place, first.codes) == (
        "F-1",
        True,
        MtStatus.SELF,
        Place.CABINET,
        ("G", "MD"),
    )
    assert first.amount == Decimal("40.00") and first.status is Status.BILLED
    assert first.extra == {"commentaire": "rien"}
    assert (second.mt_status, second.place, second.amount) == (
        MtStatus.OTHER,
        Place.DOMICILE,
        Decimal("26.50"),
    )
    assert (third.mt_status, third.place, third.status) == (MtStatus.NONE, Place.TELE, Status.CANCELLED)


def test_fast_and_general_paths_agree_on_a_mapped_file() -> None:
    mapping = ColumnMapping(values={"mt_status": {"Moi": "other"}, "place": {"Cabinet": "domicile"}})
    data = (FRENCH_CSV + "F-4;06/03/2024;;101;P-4;01/02/1950;peut-être;Moi;Cabinet;G;30;non;\n").encode(
        "cp1252"
    )
    fast = _events(data, columns=mapping)
    general = _events(data, columns=mapping, readers={"csv": _GeneralPathOnly()})
    assert fast == general
    assert [type(item) for item in fast] == [Event, Event, Event, InputError]
    assert fast[0].mt_status is MtStatus.OTHER and fast[0].place is Place.DOMICILE


def test_values_are_matched_the_forgiving_way() -> None:
    mapping = ColumnMapping(values={"mt_status": {"MT déclaré": "self", "Autre MT": "other"}})
    data = FRENCH_CSV.replace(";Moi;", ";mt declare;").replace("Autre médecin", "AUTRE-MT").encode("cp1252")
    first, second, _ = _events(data, columns=mapping)
    assert (first.mt_status, second.mt_status) == (MtStatus.SELF, MtStatus.OTHER)
    unmapped = _events(data)
    assert isinstance(unmapped[0], InputError) and unmapped[0].field == "mt_status"


def test_spec_named_columns_keep_spec_values_only() -> None:
    """French values come with French headers: a SPEC-named column reads exactly SPEC values."""
    header = ";".join(SPEC_COLUMNS[:8]) + ";codes;mt_status\n"
    data = (header + "F-1;2024-03-04;;101;MG;1;P-1;1950-02-01;G;Moi\n").encode()
    [error] = _events(data)
    assert isinstance(error, InputError) and error.field == "mt_status"
    [event] = _events(data, columns=ColumnMapping(values={"mt_status": {"moi": "self"}}))
    assert isinstance(event, Event) and event.mt_status is MtStatus.SELF


@pytest.mark.parametrize("name", ["jour.json", "jour.jsonl"])
def test_json_keys_are_mapped_like_headers(name: str) -> None:
    objects = [
        {"N° facture": "F-1", "Date de l'acte": "04/03/2024", "RPPS": 101, "N° patient": "P-1",
         "Date de naissance": "1950-02-01", "Médecin traitant": "Autre médecin", "Actes": ["G", "MD"],
         "Montant": 40, "Réf bénéficiaire": "x", "Commentaire": "Rien"},
    ]  # fmt: skip
    if name.endswith(".jsonl"):
        data = "\n".join(json.dumps(item, ensure_ascii=False) for item in objects).encode()
    else:
        data = json.dumps(objects, ensure_ascii=False).encode()
    [event] = _events(data, name=name)
    assert isinstance(event, Event), event
    assert (event.invoice_id, event.practitioner_id, event.mt_status, event.codes) == (
        "F-1",
        "101",
        MtStatus.OTHER,
        ("G", "MD"),
    )
    assert event.extra == {"Réf bénéficiaire": "x", "Commentaire": "Rien"}  # extra keys as written
    mapping = ColumnMapping(explicit={"patient_id": "ref beneficiaire"})
    [mapped] = _events(data, name=name, columns=mapping)
    # The alias the explicit mapping displaced is kept for plugins, as written.
    assert mapped.patient_id == "x" and mapped.extra == {"N° patient": "P-1", "Commentaire": "Rien"}
    ambiguous = json.dumps([{**objects[0], "Numéro de facture": "F-9"}]).encode()
    with pytest.raises(ColumnError, match="« N° facture » et « Numéro de facture »"):
        _events(ambiguous, name="jour.json")


# --- per-act lines ------------------------------------------------------------------------------

LINES_HEADER = "N° facture;Date de l'acte;RPPS;N° patient;Date de naissance;Code acte;Libellé;Montant\n"


def _lines(*rows: str) -> bytes:
    return (LINES_HEADER + "".join(row + "\n" for row in rows)).encode("cp1252")


def test_lines_are_grouped_wherever_they_stand() -> None:
    data = _lines(
        "F-1;04/03/2024;101;P-1;01/02/1950;G;Consultation;30,00",
        "F-2;04/03/2024;101;P-2;01/02/1950;VL;Visite longue;60,00",
        "F-1;04/03/2024;102;P-9;01/02/1990;G;Autre médecin, même numéro;30,00",
        "F-2;04/03/2024;101;P-2;01/02/1950;MD;Déplacement;10,00",
        "F-1;2024-03-04;101;P-1;1950-02-01;MD;Déplacement;10,10",
    )
    stream = InputStream(["-"], stdin=io.BytesIO(data))
    events = list(stream)
    assert [(e.practitioner_id, e.invoice_id, e.codes, e.amount, e.line) for e in events] == [
        ("101", "F-1", ("G", "MD"), Decimal("40.10"), 2),
        ("101", "F-2", ("VL", "MD"), Decimal("70.00"), 3),
        ("102", "F-1", ("G",), Decimal("30.00"), 4),
    ]
    assert events[0].extra == {"libellé": "Consultation"}  # the first line's extra columns
    assert stream.events == 3 and stream.input_errors == 0


def test_amounts_are_summed_exactly() -> None:
    rows = [f"F-1;04/03/2024;101;P-1;01/02/1950;G;;{cents}" for cents in ("0,10", "0,20", "1 234,05")]
    [event] = _events(_lines(*rows))
    assert event.amount == Decimal("1234.35")


def test_disagreeing_lines_are_input_errors_naming_the_lines() -> None:
    data = _lines(
        "F-1;04/03/2024;101;P-1;01/02/1950;G;;30,00",
        "F-2;04/03/2024;101;P-2;01/02/1950;G;;30,00",
        "F-1;05/03/2024;101;P-7;01/02/1950;MD;;10,00",
        "F-1;06/03/2024;101;P-8;01/02/1950;IK;;5,00",
    )
    stream = InputStream(["-"], stdin=io.BytesIO(data))
    items = list(stream)
    errors = [item for item in items if isinstance(item, InputError)]
    # One error per disagreeing field, on the first line that disagrees; F-1 is not checked.
    assert [(error.line, error.field, error.invoice_id) for error in errors] == [
        (4, "date", "F-1"),
        (4, "patient_id", "F-1"),
    ]
    assert all("la ligne 2" in error.message for error in errors)
    assert "P-1" not in errors[1].message and "P-7" not in errors[1].message  # patient ids stay private
    assert [item.invoice_id for item in items if isinstance(item, Event)] == ["F-2"]
    assert stream.events == 1 and stream.input_errors == 2


def test_empty_cells_agree_and_equal_values_in_two_spellings_agree() -> None:
    data = _lines(
        "F-1;04/03/2024;101;;;G;;30,00",
        "F-1;2024-03-04;101;P-1;1950-02-01;MD;;10,00",
    )
    [event] = _events(data)
    assert isinstance(event, Event) and event.patient_id == "P-1" and event.codes == ("G", "MD")


@pytest.mark.parametrize(
    ("column", "first", "second"),
    [
        ("ALD", "", "oui"),
        ("ALD", "Oui", ""),
        ("Médecin traitant", "", "Moi"),
        ("Lieu", "Domicile", ""),
        ("Secteur", "", "2"),
        ("Annulée", "", "oui"),
    ],
)
def test_an_empty_cell_is_the_default_and_disagrees_with_another_value(
    column: str, first: str, second: str
) -> None:
    """SPEC §1: an empty cell means the default; a line saying otherwise disagrees (SPEC §1b)."""
    header = f"N° facture;Date de l'acte;RPPS;N° patient;Date de naissance;Code acte;{column};Montant\n"
    data = (
        header
        + f"F-1;04/03/2024;101;P-1;01/02/1950;G;{first};30,00\n"
        + f"F-1;04/03/2024;101;P-1;01/02/1950;MD;{second};10,00\n"
        + "F-2;04/03/2024;101;P-2;01/02/1950;G;;30,00\n"
    ).encode("cp1252")
    stream = InputStream(["-"], stdin=io.BytesIO(data))
    items = list(stream)
    errors = [item for item in items if isinstance(item, InputError)]
    field = {"ALD": "ald", "Médecin traitant": "mt_status", "Lieu": "place", "Secteur": "sector"}.get(
        column, "status"
    )
    assert [(error.line, error.field, error.invoice_id) for error in errors] == [(3, field, "F-1")]
    assert f"{field} différent de celui de la ligne 2 pour la même facture" in errors[0].message
    assert [item.invoice_id for item in items if isinstance(item, Event)] == ["F-2"]
    assert (stream.events, stream.input_errors) == (1, 1)


@pytest.mark.parametrize(
    ("column", "value"),
    [("ALD", "non"), ("ALD", "N"), ("Médecin traitant", "Inconnu"), ("Lieu", "cabinet"), ("Secteur", "1")],
)
def test_an_empty_cell_agrees_with_the_default_spelt_out(column: str, value: str) -> None:
    header = f"N° facture;Date de l'acte;RPPS;N° patient;Date de naissance;Code acte;{column};Montant\n"
    for first, second in (("", value), (value, "")):
        data = (
            header
            + f"F-1;04/03/2024;101;P-1;01/02/1950;G;{first};30,00\n"
            + f"F-1;04/03/2024;101;P-1;01/02/1950;MD;{second};10,00\n"
        ).encode("cp1252")
        [event] = _events(data)
        assert isinstance(event, Event), event
        assert event.codes == ("G", "MD") and event.ald is False and event.mt_status is MtStatus.UNKNOWN


def test_json_lines_without_a_key_take_its_default_when_grouped() -> None:
    base = {"N° facture": "F-1", "Date de l'acte": "2024-03-04", "RPPS": 101, "N° patient": "P-1",
            "Date de naissance": "1950-02-01"}  # fmt: skip
    lines = [{**base, "Code acte": "G"}, {**base, "Code acte": "MD", "ALD": True, "Heure": "09:30"}]
    data = "\n".join(json.dumps(item, ensure_ascii=False) for item in lines).encode()
    [error] = _events(data, name="jour.jsonl")
    assert isinstance(error, InputError) and (error.line, error.field) == (2, "ald")
    # The key absent (default false) and false spelt out agree; a time given once fills the invoice.
    lines[1]["ALD"] = False
    data = "\n".join(json.dumps(item, ensure_ascii=False) for item in lines).encode()
    [event] = _events(data, name="jour.jsonl")
    assert isinstance(event, Event) and event.ald is False and event.time is not None


def test_check_reports_an_empty_flag_against_a_set_one(tmp_path: Path, engine: str) -> None:
    path = tmp_path / "actes.csv"
    path.write_text(
        "invoice_id;date;practitioner_id;patient_id;birth_date;code;ald;amount\n"
        "F1;2025-03-03;D1;P1;1960-01-01;G;;30\n"
        "F1;2025-03-03;D1;P1;1960-01-01;MD;oui;10\n"
        "F2;2025-03-03;D1;P2;1960-01-01;G;;30\n"
        "F2;2025-03-03;D1;P2;1960-01-01;MD;non;10\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["check", str(path), "--engine", engine, "--format", "json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert [(error["line"], error["field"]) for error in report["input_errors"]] == [(3, "ald")]
    assert report["summary"]["events"] == 1


def test_line_errors_stay_on_their_lines() -> None:
    data = _lines(
        "F-1;04/03/2024;101;P-1;01/02/1950;G;;30,00",
        "F-1;04/03/2024;101;P-1;01/02/1950;;;abc",
        "F-1;04/03/2024;101;P-1;01/02/1950;MD;;",
    )
    errors = _events(data)
    # The third line's empty amount is no error (SPEC §1: amount is optional), the second's are.
    assert [(error.line, error.field) for error in errors] == [(3, "code"), (3, "amount")]
    assert "montant invalide « abc »" in errors[1].message


def test_a_line_without_an_amount_leaves_the_total_unknown() -> None:
    """SPEC §1: an empty amount is an unknown one; a partial sum is never the invoice's total."""
    data = _lines(
        "F-1;04/03/2024;101;P-1;01/02/1950;G;;30,00",
        "F-1;04/03/2024;101;P-1;01/02/1950;MD;;",
        "F-2;04/03/2024;101;P-2;01/02/1950;G;;",
        "F-2;04/03/2024;101;P-2;01/02/1950;MD;;",
        "F-3;04/03/2024;101;P-3;01/02/1950;G;;30,00",
    )
    stream = InputStream(["-"], stdin=io.BytesIO(data))
    events = list(stream)
    assert [(e.invoice_id, e.codes, e.amount) for e in events] == [
        ("F-1", ("G", "MD"), None),
        ("F-2", ("G", "MD"), None),
        ("F-3", ("G",), Decimal("30.00")),
    ]
    assert stream.input_errors == 0
    # JSON Lines: an absent key or null is an empty amount too.
    base = {"invoice_id": "F-1", "date": "2024-03-04", "practitioner_id": "101", "patient_id": "P-1",
            "birth_date": "1950-02-01"}  # fmt: skip
    objects = [
        {**base, "code": "G", "amount": 30},
        {**base, "code": "MD", "amount": None},
        {**base, "code": "IK"},
    ]
    data = "\n".join(json.dumps(item) for item in objects).encode()
    [event] = _events(data, name="jour.jsonl")
    assert isinstance(event, Event) and event.codes == ("G", "MD", "IK") and event.amount is None


def test_check_of_lines_without_an_amount_skips_only_the_amount_rules(tmp_path: Path, engine: str) -> None:
    path = tmp_path / "actes.csv"
    rows = (
        "invoice_id;date;practitioner_id;patient_id;birth_date;code;amount;place\n"
        "F3;2025-03-03;D1;P1;1960-01-01;G;20,00;cabinet\n"
        "F3;2025-03-03;D1;P1;1960-01-01;SNP;;cabinet\n"
    )
    path.write_text(rows, encoding="utf-8")
    unknown = CliRunner().invoke(main, ["check", str(path), "--engine", engine, "--format", "json"])
    report = json.loads(unknown.stdout)
    assert report["input_errors"] == [] and report["summary"]["events"] == 1
    rules = {finding["rule"] for finding in report["findings"]}
    assert "SNP-REGULATED" in rules  # F3 is checked: an SNP without a regulated referral
    assert not any(rule.startswith("AMOUNT-") for rule in rules)  # 20,00 is no total (G alone is 30)
    # The same invoice on one line with its amount column empty: the same findings.
    single = tmp_path / "facture.csv"
    single.write_text(
        "invoice_id;date;practitioner_id;patient_id;birth_date;codes;amount;place\n"
        "F3;2025-03-03;D1;P1;1960-01-01;G+SNP;;cabinet\n",
        encoding="utf-8",
    )
    alone = CliRunner().invoke(main, ["check", str(single), "--engine", engine, "--format", "json"])
    assert json.loads(alone.stdout)["findings"] == report["findings"]


def test_json_lines_per_act_with_natives_and_keys_in_any_order() -> None:
    base = {"N° facture": "F-1", "Date de l'acte": "2024-03-04", "RPPS": 101, "N° patient": "P-1",
            "Date de naissance": "1950-02-01"}  # fmt: skip
    objects = [
        {**base, "Code acte": "G", "Montant": 30, "Secteur": 1},
        {"F": 1, "Code acte": "VL", "N° facture": "F-2", "RPPS": 101, "Date de l'acte": "2024-03-04",
         "N° patient": "P-2", "Date de naissance": "1950-02-01", "Secteur": True, "Montant": 60.5},
        {"Montant": "10,00", "Code acte": ["MD"], **base, "ALD": False},
    ]  # fmt: skip
    data = "\n".join(json.dumps(item, ensure_ascii=False) for item in objects).encode()
    items = _events(data, name="jour.jsonl")
    first, error = items
    assert isinstance(first, Event) and first.codes == ("G", "MD") and first.amount == Decimal("40.00")
    # An absent key is the default: "ALD": false agrees with the first line, "Secteur" with 1.
    assert first.ald is False and first.line == 1 and first.extra == {}
    # JSON true is no sector, even after an invoice whose sector was the number 1.
    assert isinstance(error, InputError) and (error.line, error.field) == (2, "sector")


@pytest.mark.parametrize("where", [0, 1])
def test_a_broken_line_spoils_its_invoice(where: int) -> None:
    good = ["F-1;04/03/2024;101;P-1;01/02/1950;G;;30,00", "F-1;04/03/2024;101;P-1;01/02/1950;MD;;10,00"]
    good.insert(where, "F-1;04/03/2024;101;P-1;01/02/1950;MD;déplacement;10;00")  # one ";" too many
    stream = InputStream(["-"], stdin=io.BytesIO(_lines(*good, "F-2;04/03/2024;101;P-2;01/02/1950;G;;30")))
    items = list(stream)
    assert [(type(item), item.line, item.invoice_id) for item in items] == [
        (InputError, 2 + where, "F-1"),  # the line's own error only: no duplicate, no check without it
        (Event, 5, "F-2"),
    ]
    assert "9 champs au lieu des 8" in items[0].message and items[0].field == "_row"
    assert (stream.events, stream.input_errors) == (1, 1)


def test_duplicates_still_flagged_for_per_invoice_files_and_across_files(tmp_path: Path) -> None:
    per_invoice = tmp_path / "factures.csv"
    per_invoice.write_text(
        "N° facture;Date de l'acte;RPPS;N° patient;Date de naissance;Actes\n"
        "F-1;04/03/2024;101;P-1;01/02/1950;G\n"
        "F-1;04/03/2024;101;P-1;01/02/1950;MD\n",
        encoding="utf-8",
    )
    items = list(InputStream([str(per_invoice)]))
    assert isinstance(items[1], InputError) and "en double" in items[1].message and items[1].line == 3
    # The same file read as per-act lines is one invoice...
    [event] = list(InputStream([str(per_invoice)], lines=True))
    assert event.codes == ("G", "MD")
    # ...and an invoice of a per-act file given again in another file is a duplicate.
    per_act = tmp_path / "actes.csv"
    per_act.write_bytes(_lines("F-1;04/03/2024;101;P-1;01/02/1950;G;;30,00"))
    again = list(InputStream([str(per_act), str(per_act)]))
    assert isinstance(again[0], Event) and isinstance(again[1], InputError)
    assert "déjà vue ligne 2" in again[1].message


def test_lines_option_reaches_check(tmp_path: Path) -> None:
    path = tmp_path / "factures.csv"
    path.write_text(
        "N° facture;Date de l'acte;RPPS;N° patient;Date de naissance;Actes;Montant\n"
        "F-1;04/03/2024;101;P-1;01/02/2023;G;26,50\n"
        "F-1;04/03/2024;101;P-1;01/02/2023;MEG;5,00\n",
        encoding="utf-8",
    )
    plain = json.loads(CliRunner().invoke(main, ["check", str(path), "--format", "json"]).stdout)
    assert plain["summary"]["input_errors"] == 1
    grouped = json.loads(CliRunner().invoke(main, ["check", str(path), "--lines", "--format", "json"]).stdout)
    assert grouped["summary"]["events"] == 1 and grouped["summary"]["input_errors"] == 0


# --- billing-rules columns -----------------------------------------------------------------------


def test_columns_command_shows_how_each_header_is_read() -> None:
    result = CliRunner().invoke(main, ["columns", str(EXPORT)])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "une ligne par acte" in text
    assert "N° facture         → invoice_id" in text
    assert "Médecin traitant   → mt_status        (nom reconnu d'office, valeurs traduites)" in text
    assert "Libellé            → ignorée (colonne supplémentaire, gardée pour les extensions)" in text
    assert "Tous les champs obligatoires sont présents" in text


def test_columns_command_writes_the_missing_config(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(_french_export(_week_rows()[:3], unknown_patient_header=True))
    result = CliRunner().invoke(main, ["columns", str(path)])
    assert result.exit_code == 1
    assert "Réf. bénéficiaire" in result.stdout and "→ ignorée" in result.stdout
    assert "Champs obligatoires absents : patient_id" in result.stdout
    # No alias looks like it: a placeholder, and the columns nobody reads to choose from.
    assert (
        '[columns]\npatient_id = "NOM DE LA COLONNE"  # une de : Réf. bénéficiaire, Libellé\n'
        in result.stdout
    )
    assert "--column patient_id='NOM DE LA COLONNE'" in result.stdout
    # What it wrote, with the column chosen, fixes the file.
    config = tmp_path / "billing-rules.toml"
    snippet = result.stdout.split("\n\n")[-2].replace("NOM DE LA COLONNE", "Réf. bénéficiaire")
    config.write_text(snippet + "\n", encoding="utf-8")
    fixed = CliRunner().invoke(main, ["columns", str(path), "--config", str(config), "--format", "json"])
    assert fixed.exit_code == 0, fixed.output
    report = json.loads(fixed.stdout)
    assert report["missing"] == [] and report["per_act"] is True
    assert {
        "header": "Réf. bénéficiaire",
        "field": "patient_id",
        "how": "explicit",
        "values_mapped": False,
    } in (report["columns"])
    # check's missing-column error points to the command.
    check = CliRunner().invoke(main, ["check", str(path)])
    assert check.exit_code == 2
    assert "patient_id" in check.stderr and f"billing-rules columns {path}" in " ".join(check.stderr.split())


def test_columns_command_suggests_a_look_alike_header(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("Facture;Date;RPPS;Identifiant du patient;Né le;Actes;Remarque\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["columns", str(path)])
    assert result.exit_code == 1
    assert '[columns]\npatient_id = "Identifiant du patient"\n' in result.stdout
    assert "--column patient_id='Identifiant du patient'" in result.stdout


def test_columns_command_reads_json_keys(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    first = {
        "N° facture": "F-1",
        "Date de l'acte": "2026-01-05",
        "RPPS": "1",
        "Patient": "P",
        "DDN": "1950-01-01",
    }
    second = {**first, "Cotation": "G", "Remarque": "x"}
    path.write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["columns", str(path), "--lines", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(entry["header"], entry["field"]) for entry in report["columns"]] == [
        ("N° facture", "invoice_id"),
        ("Date de l'acte", "date"),
        ("RPPS", "practitioner_id"),
        ("Patient", "patient_id"),
        ("DDN", "birth_date"),
        ("Cotation", "codes"),
        ("Remarque", None),
    ]
    assert report["per_act"] is True and report["missing"] == []


def test_columns_command_writes_to_an_owner_only_file(tmp_path: Path) -> None:
    target = tmp_path / "colonnes.json"
    result = CliRunner().invoke(main, ["columns", str(EXPORT), "--format", "json", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert not result.stdout and json.loads(target.read_text(encoding="utf-8"))["missing"] == []
    assert target.stat().st_mode & 0o077 == 0


def test_columns_command_shows_replaced_columns_and_ambiguity(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text(
        "invoice_id;N° facture;date;practitioner_id;patient_id;birth_date;codes\n", encoding="utf-8"
    )
    result = CliRunner().invoke(main, ["columns", str(path)])
    assert result.exit_code == 2
    assert "« invoice_id » et « N° facture » désignent toutes deux le champ invoice_id" in result.stderr
    result = CliRunner().invoke(main, ["columns", str(path), "--column", "invoice_id=invoice_id"])
    assert result.exit_code == 0, result.output
    assert "→ ignorée (invoice_id est lu dans « invoice_id »)" in result.stdout
    path.write_text("N° facture;Numéro de facture;date\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["columns", str(path)])
    assert result.exit_code == 2
    assert "« N° facture » et « Numéro de facture »" in result.stderr
    path.write_text(
        "N° facture;Numéro de facture;date;RPPS;Patient;DDN;Actes\nF;F;2026-01-05;1;P;1950-01-01;G\n"
    )
    check = CliRunner().invoke(main, ["check", str(path)])
    assert check.exit_code == 2 and not check.stdout
    assert "« N° facture » et « Numéro de facture » désignent toutes deux le champ invoice_id" in check.stderr


def test_columns_command_still_shows_the_table_of_an_ambiguous_header(tmp_path: Path) -> None:
    """The user runs ``columns`` to see how headers map: two for one field shows the table, then fails."""
    path = tmp_path / "f.csv"
    path.write_text("N° facture;Numéro de facture;Date;RPPS;Patient;DDN;Actes;Remarque\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["columns", str(path)])
    # As check: the file cannot be checked (SPEC §1b, §4), so exit 2, but after the table.
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    marked = "→ AMBIGUË : une autre colonne désigne aussi invoice_id (aucune n'est lue)"
    assert f"  N° facture         {marked}" in lines
    assert f"  Numéro de facture  {marked}" in lines
    assert "RPPS               → practitioner_id" in result.stdout
    assert "Remarque           → ignorée" in result.stdout
    assert "Champ invoice_id désigné par plusieurs colonnes (« N° facture » et « Numéro de facture »)" in (
        result.stdout
    )
    # Neither missing (no guessed config line) nor "ready to be checked".
    assert "Champs obligatoires absents" not in result.stdout
    assert "le fichier peut être contrôlé" not in result.stdout
    clash = "« N° facture » et « Numéro de facture » désignent toutes deux le champ invoice_id"
    assert clash in result.stderr
    # The JSON says the same, for programs.
    result = CliRunner().invoke(main, ["columns", str(path), "--format", "json"])
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["columns"][0] == {
        "header": "N° facture",
        "field": None,
        "how": "ambiguous",
        "claimed": "invoice_id",
        "values_mapped": False,
    }
    assert report["ambiguous"] == [{"field": "invoice_id", "headers": ["N° facture", "Numéro de facture"]}]
    assert report["missing"] == [] and report["config"] == ""
    assert len(report["errors"]) == 1 and "désignent toutes deux le champ invoice_id" in report["errors"][0]
    # Saying which one to read settles it: the other is displaced, exit 0.
    chosen = CliRunner().invoke(main, ["columns", str(path), "--column", "invoice_id=Numéro de facture"])
    assert chosen.exit_code == 0, chosen.output
    assert "N° facture         → ignorée (invoice_id est lu dans « Numéro de facture »)" in chosen.stdout


def test_columns_command_shows_every_clash_and_the_code_codes_one(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("invoice_id;N° facture;date;RPPS;Patient;DDN;Actes;code\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["columns", str(path), "--format", "json"])
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["ambiguous"] == [
        {"field": "invoice_id", "headers": ["invoice_id", "N° facture"]},
        {"field": "codes", "headers": ["Actes", "code"]},
    ]
    assert report["missing"] == [] and len(report["errors"]) == 2
    assert "désignent toutes deux le champ invoice_id" in result.stderr
    assert "donnent toutes deux les codes" in result.stderr
    # check, reading the same file, still stops on the first clash without a report.
    check = CliRunner().invoke(main, ["check", str(path)])
    assert check.exit_code == 2 and not check.stdout


# --- acceptance: the example week, as a practice's software exports it ---------------------------

FRENCH_HEADERS = {
    "invoice_id": "N° facture",
    "date": "Date de l'acte",
    "time": "Heure",
    "practitioner_id": "RPPS",
    "specialty": "Spécialité",
    "sector": "Secteur",
    "patient_id": "N° patient",
    "birth_date": "Date de naissance",
    "ald": "ALD",
    "palliative": "Soins palliatifs",
    "neurodegenerative": "Maladie neurodégénérative",
    "mt_status": "Médecin traitant",
    "declares_mt": "Déclaration MT",
    "place": "Lieu",
    "homebound": "Patient non déplaçable",
    "codes": "Code acte",
    "amount": "Montant",
    "regulated": "Régulé",
    "referral_at": "Date d'adressage",
    "status": "Statut",
    "discharge_date": "Date de sortie",
}
FRENCH_VALUES = {
    "mt_status": {"self": "Moi", "other": "Autre médecin", "none": "Aucun", "unknown": "Inconnu"},
    "place": {
        "cabinet": "Cabinet",
        "domicile": "Visite à domicile",
        "ehpad": "EHPAD",
        "tele": "Téléconsultation",
    },
    "status": {"billed": "Facturée", "cancelled": "Annulée"},
    "sector": {"1": "Secteur 1", "2": "Secteur 2", "optam": "OPTAM"},
}
BOOLEANS = {"ald", "palliative", "neurodegenerative", "declares_mt", "homebound", "regulated"}
UNKNOWN_PATIENT_HEADER = "Réf. bénéficiaire"


def _week_rows() -> list[dict[str, str]]:
    with WEEK.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream, delimiter=";"))


def _french_date(value: str) -> str:
    if not value:
        return value
    day, _, moment = value.partition("T")
    year, month, dom = day.split("-")
    return f"{dom}/{month}/{year}" + (f" {moment}" if moment else "")


# What the usual majorations cost, in cents: an export writes each act's own price.
_MAJORATIONS = {"MD": 1000, "MEG": 500, "MOP": 500, "SNP": 1500, "MU": 2260}


def _split_cents(amount: str, codes: list[str]) -> list[str]:
    """An invoice's amount over its acts, to the cent, French decimals: each majoration its
    price, the main act the rest (an even split when the prices do not fit)."""
    if not amount:
        return [""] * len(codes)
    cents = int(Decimal(amount) * 100)
    shares = [0] + [_MAJORATIONS.get(code, 0) for code in codes[1:]]
    if 0 in shares[1:] or sum(shares) >= cents:
        shares = [cents // len(codes)] * len(codes)
    shares[0] += cents - sum(shares)
    return [f"{share // 100},{share % 100:02d}" for share in shares]


def _french_export(
    rows: list[dict[str, str]], *, unknown_patient_header: bool = False, lines: bool = True
) -> bytes:
    """The rows as a practice's software writes them: one line per act (the last act of every
    third multi-act invoice moved to the end of the file), French headers and values,
    Windows-1252, ``;``, French decimals and dates, CRLF."""
    headers = dict(FRENCH_HEADERS)
    if unknown_patient_header:
        headers["patient_id"] = UNKNOWN_PATIENT_HEADER
    if not lines:
        headers["codes"] = "Actes"
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([*headers.values(), "Libellé"])
    moved: list[list[str]] = []
    multi = 0
    for row in rows:
        values = {}
        for field in FRENCH_HEADERS:
            value = row[field]
            if field in ("date", "birth_date", "referral_at", "discharge_date"):
                value = _french_date(value)
            elif field in FRENCH_VALUES and value:
                value = FRENCH_VALUES[field][value]
            elif field in BOOLEANS and value:
                value = {"oui": "Oui", "non": "Non"}[value]
            values[field] = value
        codes = row["codes"].split("+") if lines else [row["codes"]]
        amounts = _split_cents(row["amount"], codes) if lines else [row["amount"].replace(".", ",")]
        act_lines = []
        for code, amount in zip(codes, amounts, strict=True):
            act = {**values, "codes": code, "amount": amount}
            act_lines.append([*act.values(), f"Acte {code}"])
        if len(act_lines) > 1:
            multi += 1
            if multi % 3 == 0:
                moved.append(act_lines.pop())  # its last act: the codes keep their order
        writer.writerows(act_lines)
    writer.writerows(moved)
    return out.getvalue().encode("cp1252")


def _comparable(report: dict[str, Any]) -> tuple[Any, Any, Any]:
    """A report without lines: the same invoices sit on other lines of a per-act export."""
    findings = [
        {key: value for key, value in finding.items() if key != "line"} for finding in report["findings"]
    ]
    return report["summary"], findings, report["input_errors"]


@pytest.fixture(scope="module")
def spec_week() -> dict[str, Any]:
    result = CliRunner().invoke(main, ["check", str(WEEK), "--format", "json"])
    assert result.exit_code == 1, result.output
    return json.loads(result.stdout)


def test_the_french_week_is_really_french(tmp_path: Path) -> None:
    data = _french_export(_week_rows())
    text = data.decode("cp1252")
    assert b"\xb0" in data and "N° facture;Date de l'acte" in text  # Windows-1252 "°"
    assert "\r\n" in text and ";05/01/2026;" in text and ";Visite à domicile;" in text and ";Moi;" in text
    assert ";30,00;" in text and ";10,00;" in text  # French decimals
    lines = text.splitlines()
    assert len(lines) > 208  # more lines than invoices: one per act
    # Some invoices have a line far from the others (moved to the end of the file).
    first_of = {}
    for number, line in enumerate(lines[1:], start=2):
        key = tuple(line.split(";")[i] for i in (0, 3))
        first_of.setdefault(key, number)
    keys = [tuple(line.split(";")[i] for i in (0, 3)) for line in lines[1:]]
    assert any(number - first_of[key] > 50 for number, key in enumerate(keys, start=2))


def test_french_week_checked_as_it_is_gives_the_spec_findings(
    tmp_path: Path, spec_week: dict[str, Any]
) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(_french_export(_week_rows()))
    result = CliRunner().invoke(main, ["check", str(path), "--format", "json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["summary"]["events"] == 221
    assert _comparable(report) == _comparable(spec_week)
    assert report["findings"], "the week has findings"


def test_french_week_with_a_header_no_alias_knows(tmp_path: Path, spec_week: dict[str, Any]) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(_french_export(_week_rows(), unknown_patient_header=True))
    refused = CliRunner().invoke(main, ["check", str(path)])
    assert refused.exit_code == 2 and "patient_id" in refused.stderr
    config = tmp_path / "billing-rules.toml"
    config.write_text(f'[columns]\npatient_id = "{UNKNOWN_PATIENT_HEADER}"\n', encoding="utf-8")
    with_config = CliRunner().invoke(main, ["check", str(path), "--format", "json", "--config", str(config)])
    assert with_config.exit_code == 1, with_config.output
    assert _comparable(json.loads(with_config.stdout)) == _comparable(spec_week)
    with_option = CliRunner().invoke(
        main, ["check", str(path), "--format", "json", "--column", "patient_id=REF BENEFICIAIRE"]
    )
    assert with_option.exit_code == 1, with_option.output
    assert _comparable(json.loads(with_option.stdout)) == _comparable(spec_week)


def test_french_week_through_the_api(spec_week: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(_french_export(_week_rows(), unknown_patient_header=True))
    mapping = ColumnMapping(explicit={"patient_id": UNKNOWN_PATIENT_HEADER})
    report = Validator.build(entry_points=False, columns=mapping).check_paths([str(path)])
    assert report.events == 221 and not report.input_errors
    found = [(f.rule, f.invoice_id, f.practitioner_id, str(f.amount)) for f in report.findings]

    def amount(value: float | None) -> str:
        return "None" if value is None else str(Decimal(str(value)).quantize(Decimal("0.01")))

    expected = [
        (f["rule"], f["invoice_id"], f["practitioner_id"], amount(f["amount"])) for f in spec_week["findings"]
    ]
    assert found == expected


def test_ledger_import_and_forfait_read_the_french_export(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(_french_export(_week_rows(), unknown_patient_header=True))
    ledger = tmp_path / "registre.db"
    result = CliRunner().invoke(
        main,
        [
            "ledger",
            "import",
            str(path),
            "--ledger",
            str(ledger),
            "--column",
            f"patient_id={UNKNOWN_PATIENT_HEADER}",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "221 factures importées" in result.stderr
    options = ["--practitioner", "10101234567", "--year", "2026", "--format", "json"]
    column = ["--column", f"patient_id={UNKNOWN_PATIENT_HEADER}"]
    forfait = CliRunner().invoke(main, ["forfait", "--invoices", str(path), *options, *column])
    spec = CliRunner().invoke(main, ["forfait", "--invoices", str(WEEK), *options])
    assert json.loads(forfait.stdout) == json.loads(spec.stdout)
    assert forfait.exit_code == 0, forfait.output


# --- the example of the README -------------------------------------------------------------------


def _spec_rewrite_of_example(tmp_path: Path) -> Path:
    """examples/export-logiciel.csv written by hand in SPEC columns, one line per invoice."""
    path = tmp_path / "spec.csv"
    path.write_text(
        "invoice_id;date;time;practitioner_id;patient_id;birth_date;ald;mt_status;place;codes;amount\n"
        "F-0101;2026-01-12;08:30;10101234567;P-0001;1980-05-14;0;self;cabinet;G;30.00\n"
        "F-0102;2026-01-12;09:00;10101234567;P-0002;2023-02-03;0;self;cabinet;G;30.00\n"
        "F-0103;2026-01-12;09:20;10101234567;P-0003;1950-09-21;0;none;cabinet;IMT;60.00\n"
        "F-0104;2026-01-12;14:00;10101234567;P-0004;1940-03-02;1;self;domicile;VL+MD;70.00\n"
        "F-0105;2026-01-12;15:30;10101234567;P-0005;1938-11-17;1;self;cabinet;VL;60.00\n"
        "F-0106;2026-01-12;17:00;10101234567;P-0006;1990-08-08;0;other;domicile;G+MD;40.00\n"
        "F-0107;2026-01-13;08:30;10101234567;P-0001;1980-05-14;0;self;cabinet;G;30.00\n",
        encoding="utf-8",
    )
    return path


def test_readme_example_export_is_checked_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert EXPORT.read_bytes().decode("cp1252")  # Windows-1252, as practice software writes it
    result = CliRunner().invoke(main, ["check", str(EXPORT), "--format", "json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    spec = json.loads(
        CliRunner()
        .invoke(main, ["check", str(_spec_rewrite_of_example(tmp_path)), "--format", "json"])
        .stdout
    )
    assert _comparable(report) == _comparable(spec)
    assert [(f["rule"], f["invoice_id"]) for f in report["findings"]] == [
        ("OPP-MEG", "F-0102"),
        ("IMT-ALD", "F-0103"),
        ("VL-PLACE", "F-0105"),
        ("MD-BASE", "F-0106"),  # G+MD at the patient's home: a visit, VG+MD
    ]
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    monkeypatch.chdir(EXAMPLES.parent)  # the README runs from the repository's root
    text = CliRunner().invoke(main, ["check", "examples/export-logiciel.csv"]).stdout
    assert "$ billing-rules check examples/export-logiciel.csv\n" in readme
    for line in text.splitlines():
        if line.startswith(("Contrôle de facturation", "Facture ")):
            assert line in readme, line
    columns = CliRunner().invoke(main, ["columns", "examples/export-logiciel.csv"]).stdout
    assert "$ billing-rules columns examples/export-logiciel.csv\n" + columns in readme


# --- the CSV fast path and the general path agree on mapped files ------------------------------


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("rate", [0.0, 0.05])
def test_fast_and_general_paths_agree_on_damaged_french_files(tmp_path: Path, seed: int, rate: float) -> None:
    from test_fast_reader import _damaged_file, _same

    path = _damaged_file(tmp_path, seed, rate)
    lines = path.read_text(encoding="utf-8").split("\r\n")
    french = {**FRENCH_HEADERS, "codes": "Cotation", "patient_id": UNKNOWN_PATIENT_HEADER}
    lines[0] = ";".join(french.get(name, name) for name in lines[0].split(";"))
    path.write_bytes("\r\n".join(lines).encode("cp1252"))
    mapping = ColumnMapping(
        explicit={"patient_id": UNKNOWN_PATIENT_HEADER},
        values={"place": {"cabinet": "domicile"}, "mt_status": {"Moi": "other"}},
    )

    def read(reader: Any) -> tuple[list[Any], int, int]:
        stream = InputStream([str(path)], readers={"csv": reader})
        return list(stream), stream.events, stream.input_errors

    fast = read(CsvReader(mapping))
    general = read(_GeneralPathOnly(mapping))
    _same(fast[0], general[0])
    assert fast[1:] == general[1:]
    events = [item for item in fast[0] if isinstance(item, Event)]
    assert events and all(event.place is not Place.CABINET for event in events)  # the values mapped


def test_readme_configuration_snippet_is_valid() -> None:
    import tomllib

    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### The practice's own export (SPEC §1b)", 1)[1].split("\n### ", 1)[0]
    snippet = section.split("```toml\n", 1)[1].split("```", 1)[0]
    config = parse_config(tomllib.loads("\n".join(line.strip() for line in snippet.splitlines())))
    assert config.columns.explicit == {"patient_id": "Réf. bénéficiaire"}
    data = FRENCH_CSV.replace(";Moi;", ";MT déclaré;").replace("Autre médecin", "autre mt").encode("cp1252")
    first, second, _ = _events(data, columns=config.columns)
    assert (first.mt_status, second.mt_status) == (MtStatus.SELF, MtStatus.OTHER)


def test_lines_through_the_api(tmp_path: Path) -> None:
    from billing_rules import ColumnMapping as Exported

    assert Exported is ColumnMapping
    path = tmp_path / "factures.csv"
    path.write_text(
        "N° facture;Date de l'acte;RPPS;N° patient;Date de naissance;Actes;Montant\n"
        "F-1;04/03/2024;101;P-1;01/02/2023;G;26,50\n"
        "F-1;04/03/2024;101;P-1;01/02/2023;MEG;5,00\n",
        encoding="utf-8",
    )
    report = Validator.build(entry_points=False, lines=True).check_paths([str(path)])
    assert report.events == 1 and not report.input_errors
    plain = Validator.build(entry_points=False).check_paths([str(path)])
    assert plain.events == 1 and [error.line for error in plain.input_errors] == [3]
