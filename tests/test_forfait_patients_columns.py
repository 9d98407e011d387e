"""``forfait PATIENTS`` reads the practice's own patient export as billing files are read (SPEC §1b, §6).

The same aliases (``N° patient``, ``Date de naissance``, ``ALD``), the same ``[columns]``,
``[values.FIELD]`` and ``--column``, and French headers for the patient list's own ``c2s`` and
``last_seen``; a header it cannot understand is an exit-2 error naming the file and the columns.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from billing_rules.cli import main
from billing_rules.domain.forfait.patients import OWN_ALIASES, OWN_FIELDS, read_patients
from billing_rules.readers.columns import ALIASES, FIELDS

ISOLATED = ["--isolated", "--no-plugins"]


def forfait(*args: str) -> Result:
    return CliRunner().invoke(main, ["forfait", *args])


def categories(result: Result) -> dict[str, int]:
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    return {line["category"]: line["patients"] for line in report["categories"]} | {
        "c2s": report["c2s"]["patients"]
    }


@pytest.fixture
def french(tmp_path: Path) -> Path:
    """The reviewer's file: French headers, as the practice software writes them."""
    path = tmp_path / "patients.csv"
    path.write_text(
        "N° patient;Date de naissance;ALD;C2S\nA;01/02/1950;oui;non\nB;1940-01-01;non;oui\n",
        encoding="cp1252",
    )
    return path


def test_french_headers_are_understood(french: Path) -> None:
    found = categories(forfait(str(french), "--year", "2026", "--format", "json", *ISOLATED))
    assert found == {"ald_under_80": 1, "over_80": 1, "c2s": 1}


def test_column_naming_the_alias_itself_is_harmless(french: Path) -> None:
    result = forfait(str(french), "--year", "2026", "--format", "json", "--column", "patient_id=N° patient")
    assert categories(result)["c2s"] == 1


def test_utf8_bom_and_comma(tmp_path: Path) -> None:
    path = tmp_path / "patients.csv"
    path.write_text("\ufeffNuméro de dossier,Né(e) le,Exonération ALD\nA,1950-02-01,1\n", encoding="utf-8")
    patients, errors = read_patients(path)
    assert [(patient.patient_id, patient.ald) for patient in patients] == [("A", True)] and not errors


def test_last_seen_by_its_french_header(tmp_path: Path) -> None:
    path = tmp_path / "patients.csv"
    path.write_text(
        "Patient;Date de naissance;ALD;Dernière consultation\n"
        "OLD;1940-01-01;oui;31/12/2024\nSEEN;1940-01-01;oui;01/01/2025\nNEVER;1940-01-01;oui;\n",
        encoding="utf-8",
    )
    found = categories(forfait(str(path), "--year", "2026", "--format", "json", *ISOLATED))
    assert found == {"not_seen_2_years": 1, "ald_80_plus": 2, "c2s": 0}


def test_any_other_header_by_column(tmp_path: Path) -> None:
    path = tmp_path / "patients.csv"
    path.write_text(
        "Identifiant assuré;Naissance;Exonéré;Mutuelle solidaire;Date du dernier RDV\n"
        "A;1940-01-01;oui;oui;2024-06-01\nB;1980-01-01;non;non;2026-01-02\n",
        encoding="utf-8",
    )
    args = [str(path), "--year", "2026", "--format", "json", *ISOLATED]
    columns = [
        "--column",
        "patient_id=Identifiant assuré",
        "--column",
        "ald=exonere",  # matched without case or accents, as for billing files
        "--column",
        "c2s=Mutuelle solidaire",
        "--column",
        "last_seen=Date du dernier RDV",
    ]
    found = categories(forfait(*args, *columns))
    assert found == {"not_seen_2_years": 1, "adult_7_74": 1, "c2s": 1}


def test_config_columns_and_values(tmp_path: Path) -> None:
    path = tmp_path / "patients.csv"
    path.write_text(
        "Identifiant assuré;Date de naissance;Affection de longue durée\n"
        "A;1970-01-01;Exonéré\nB;1970-01-01;-\n",
        encoding="utf-8",
    )
    config = tmp_path / "billing-rules.toml"
    config.write_text(
        '[columns]\npatient_id = "Identifiant assuré"\n\n[values.ald]\n"Exonéré" = true\n"-" = false\n',
        encoding="utf-8",
    )
    result = forfait(str(path), "--year", "2026", "--format", "json", "--config", str(config), "--no-plugins")
    assert categories(result) == {"ald_under_80": 1, "adult_7_74": 1, "c2s": 0}


def test_json_keys_are_matched_too(tmp_path: Path) -> None:
    path = tmp_path / "patients.json"
    path.write_text(
        json.dumps([{"N° patient": "A", "Date de naissance": "1940-01-01", "ALD": True, "CMU-C": "oui"}]),
        encoding="utf-8",
    )
    patients, errors = read_patients(path)
    assert [(patient.patient_id, patient.ald, patient.c2s) for patient in patients] == [("A", True, True)]
    assert not errors


# -- errors: in French, naming the file, the line, the field or the columns ----------------------------


def test_a_bad_value_names_file_line_and_field(french: Path) -> None:
    french.write_text(
        "N° patient;Date de naissance;ALD\nA;1950-02-01;oui\nB;1950-13-01;peut-être\n", encoding="utf-8"
    )
    result = forfait(str(french), "--year", "2026", *ISOLATED)
    assert result.exit_code == 1, result.output
    assert f"{french}, ligne 3 — colonne birth_date : date de naissance invalide" in result.stderr
    assert f"{french}, ligne 3 — colonne ald : " in result.stderr
    assert "1950-13-01" not in result.output


def test_missing_column_names_the_file_the_field_and_the_headers(tmp_path: Path) -> None:
    path = tmp_path / "patients.csv"
    path.write_text("Identifiant assuré;Date de naissance\nA;1950-01-01\n", encoding="utf-8")
    result = forfait(str(path), "--year", "2026", *ISOLATED)
    assert result.exit_code == 2
    assert f"« {path} » : colonne(s) obligatoire(s) absente(s) : patient_id" in result.stderr
    assert "« Identifiant assuré », « Date de naissance »" in result.stderr
    assert '--column patient_id="EN-TÊTE"' in result.stderr


def test_column_header_absent_from_the_file(french: Path) -> None:
    for column in ("patient_id=Identifiant", "c2s=CMU"):
        result = forfait(str(french), "--year", "2026", "--column", column, *ISOLATED)
        assert result.exit_code == 2, result.output
        assert f"--column {column} : aucune colonne de ce nom dans l'en-tête" in result.stderr
        assert str(french) in result.stderr


@pytest.mark.parametrize(
    ("header", "field", "second"),
    [
        ("N° patient;Patient;Date de naissance", "patient_id", "Patient"),
        ("N° patient;Date de naissance;C2S;CMU-C", "c2s", "CMU-C"),
    ],
)
def test_two_headers_for_one_field(tmp_path: Path, header: str, field: str, second: str) -> None:
    path = tmp_path / "patients.csv"
    path.write_text(f"{header}\n", encoding="utf-8")
    result = forfait(str(path), "--year", "2026", *ISOLATED)
    assert result.exit_code == 2, result.output
    assert f"désignent toutes deux le champ {field}" in result.stderr
    assert f"« {second} »" in result.stderr and f'--column {field}="{second}"' in result.stderr
    chosen = forfait(str(path), "--year", "2026", "--column", f"{field}={second}", *ISOLATED)
    assert chosen.exit_code == 0, chosen.output


def test_one_header_for_two_fields(french: Path) -> None:
    result = forfait(str(french), "--year", "2026", "--column", "ald=C2S", "--column", "c2s=C2S", *ISOLATED)
    assert result.exit_code == 2 and "attribuée à deux champs" in result.stderr


def test_column_fields_of_the_patient_list(french: Path, tmp_path: Path) -> None:
    unknown = forfait(str(french), "--year", "2026", "--column", "c3s=C2S", *ISOLATED)
    assert unknown.exit_code == 2 and "champ inconnu « c3s »" in unknown.stderr
    assert "du fichier PATIENTS seulement : c2s, last_seen" in unknown.stderr
    history = tmp_path / "factures.csv"
    history.write_text("invoice_id;date;practitioner_id;patient_id;birth_date;codes\n", encoding="utf-8")
    invoices = forfait("--invoices", str(history), "--year", "2026", "--column", "c2s=CMU", *ISOLATED)
    assert invoices.exit_code == 2 and "fichier PATIENTS seulement" in invoices.stderr


def test_help_says_what_column_maps() -> None:
    result = forfait("--help")
    assert "fichier PATIENTS (patient_id, birth_date" in " ".join(result.stdout.split())


def test_own_aliases_never_name_a_billing_field() -> None:
    assert not set(OWN_ALIASES) & set(ALIASES)
    assert not set(OWN_FIELDS) & set(FIELDS)


def test_forfait_column_option_maps_the_patient_list_own_fields() -> None:
    from billing_rules.cli.forfait import PATIENT_FIELDS

    assert PATIENT_FIELDS == OWN_FIELDS


def test_json_without_a_patient_key_is_a_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "patients.json"
    path.write_text(json.dumps([{"id": "A", "Date de naissance": "1940-01-01"}]), encoding="utf-8")
    result = forfait(str(path), "--year", "2026", *ISOLATED)
    assert result.exit_code == 2, result.output
    assert "colonne(s) obligatoire(s) absente(s) : patient_id (colonnes : « id », « Date de naissance »)" in (
        result.stderr
    )


def test_json_lines_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "patients.jsonl"
    path.write_text(
        '{"N° patient": "A", "Date de naissance": "1940-01-01"}\n'
        '{"N° patient": "B", "Date de naissance": "1940-01-01", "Dernière visite": "hier"}\n',
        encoding="utf-8",
    )
    patients, errors = read_patients(path)
    assert [patient.patient_id for patient in patients] == ["A"]
    assert [(error.file, error.line, error.field) for error in errors] == [(str(path), 2, "last_seen")]
    assert errors[0].message == "date invalide « hier »"


# -- [columns] of the configuration for the patient list's own fields ----------------------------------

OWN_EXPORT = (
    "Identifiant assuré;Naissance;ALD;Mutuelle solidaire;Date du dernier RDV\n"
    "A;1940-01-01;oui;oui;2024-06-01\nB;1980-01-01;non;non;2026-01-02\n"
)


def _config(tmp_path: Path, text: str) -> str:
    config = tmp_path / "billing-rules.toml"
    config.write_text(text, encoding="utf-8")
    return str(config)


def test_config_columns_map_the_patient_list_own_fields(tmp_path: Path) -> None:
    """``[columns] c2s = …`` does what ``--column c2s=…`` does: one configuration for every command."""
    path = tmp_path / "patients.csv"
    path.write_text(OWN_EXPORT, encoding="utf-8")
    config = _config(
        tmp_path,
        '[columns]\npatient_id = "Identifiant assuré"\nbirth_date = "Naissance"\n'
        'c2s = "mutuelle SOLIDAIRE"\nlast_seen = "Date du dernier RDV"\n',
    )
    args = [str(path), "--year", "2026", "--format", "json", "--config", config, "--no-plugins"]
    assert categories(forfait(*args)) == {"not_seen_2_years": 1, "adult_7_74": 1, "c2s": 1}
    # A [columns] entry serves every export of the practice: one whose header is absent is no error,
    # and the fields' French aliases still read a list that has them.
    french = tmp_path / "autre.csv"
    french.write_text("N° patient;Date de naissance;ALD;C2S\nA;1950-02-01;oui;oui\n", encoding="utf-8")
    other = forfait(str(french), "--year", "2026", "--format", "json", "--config", config, "--no-plugins")
    assert categories(other) == {"ald_under_80": 1, "c2s": 1}


def test_column_option_wins_over_the_config_for_an_own_field(tmp_path: Path) -> None:
    path = tmp_path / "patients.csv"
    path.write_text(
        "N° patient;Date de naissance;ALD;CSS 2025;CSS 2026\nA;1950-02-01;oui;oui;non\n", encoding="utf-8"
    )
    config = _config(tmp_path, '[columns]\nc2s = "CSS 2025"\n')
    args = [str(path), "--year", "2026", "--format", "json", "--config", config, "--no-plugins"]
    assert categories(forfait(*args))["c2s"] == 1
    assert categories(forfait(*args, "--column", "c2s=CSS 2026"))["c2s"] == 0
    # The command line giving the configured header to another field takes it from c2s.
    taken = forfait(*args, "--column", "ald=CSS 2025")
    assert categories(taken) == {"ald_under_80": 1, "c2s": 0}


def test_config_with_patient_list_columns_is_accepted_by_check(tmp_path: Path) -> None:
    """A billing file has no c2s: ``check`` accepts the shared configuration and reads no such field."""
    config = _config(tmp_path, '[columns]\nc2s = "Mutuelle solidaire"\n')
    bills = tmp_path / "factures.csv"
    bills.write_text(
        "invoice_id;date;practitioner_id;patient_id;birth_date;codes;amount;Mutuelle solidaire\n"
        "F-1;2025-03-03;101;P-1;1970-01-01;G;30;oui\n",
        encoding="utf-8",
    )
    check = CliRunner().invoke(
        main, ["check", str(bills), "--config", config, "--no-plugins", "--format", "json"]
    )
    assert check.exit_code == 0, check.output
    assert json.loads(check.stdout)["summary"]["events"] == 1
    columns = CliRunner().invoke(main, ["columns", str(bills), "--config", config, "--format", "json"])
    assert columns.exit_code == 0, columns.output
    entry = json.loads(columns.stdout)["columns"][-1]
    assert (entry["header"], entry["field"], entry["how"]) == ("Mutuelle solidaire", None, "extra")


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        ('[columns]\nc3s = "CSS"\n', "columns.c3s : champ inconnu « c3s »"),
        ('[values.c3s]\n"x" = "y"\n', "values.c3s : champ inconnu « c3s »"),
        ('[values.c2s]\n"CSS" = true\n', "values.c2s : [values] ne vaut que pour les champs"),
        (
            '[columns]\npatient_id = "Dossier"\nc2s = "dossier"\n',
            "columns.c2s : la colonne « dossier » est attribuée à deux champs : patient_id et c2s",
        ),
    ],
)
def test_config_column_errors_name_the_file_and_the_key(
    tmp_path: Path, french: Path, toml: str, says: str
) -> None:
    config = _config(tmp_path, toml)
    for command in (["forfait", str(french), "--year", "2026"], ["columns", str(french)]):
        result = CliRunner().invoke(main, [*command, "--config", config])
        assert result.exit_code == 2, result.output
        assert f"{config} : {says}" in result.stderr


def test_unknown_config_column_lists_the_patient_list_fields_too(tmp_path: Path, french: Path) -> None:
    config = _config(tmp_path, '[columns]\nc3s = "CSS"\n')
    result = CliRunner().invoke(main, ["check", str(french), "--config", config])
    assert result.exit_code == 2
    assert "champs possibles : invoice_id, date" in result.stderr
    assert "; liste de patients de forfait seulement : c2s, last_seen)" in result.stderr
