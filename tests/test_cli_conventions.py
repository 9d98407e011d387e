"""The conventions users of ruff, pytest and sqlfluff expect (SPEC §3), on the real validator.

``--select`` / ``--ignore`` / ``--extend-select``, ``-o`` (owner-only, atomic, full disk), ``-q`` /
``-v``, ``-h``, ``--statistics``, ``--color`` with NO_COLOR / FORCE_COLOR, ``--isolated``, folders
as input, the same file given twice, French severities, and click's own words in French.
"""

from __future__ import annotations

import ast
import csv
import errno
import io
import json
import os
import shutil
import stat
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from billing_rules import cli
from billing_rules.cli import french
from billing_rules.model import Severity
from billing_rules.selection import Selectors, matches, resolve, specificity, split_codes

REPO = Path(__file__).resolve().parents[1]
WEEK = REPO / "examples" / "week-2026-01.csv"
ANSI = "\x1b["

HEADER = "invoice_id;date;practitioner_id;patient_id;birth_date;ald;mt_status;place;codes;amount"
CLEAN_ROW = "F-1;2025-03-04;10001234567;P-1;1980-06-01;non;self;cabinet;G;30.00"
IMT_NO_ALD_ROW = "F-2;2024-03-04;10001234567;P-2;1960-01-01;non;none;cabinet;IMT;60.00"  # IMT-ALD
MEG_ROW = "F-4;2024-03-04;10001234567;P-4;2021-01-01;non;other;cabinet;G;26.50"  # OPP-MEG


def run(*args: str, input: str | bytes | None = None) -> Result:
    return CliRunner().invoke(cli.main, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working folder (no configuration above it matters) and no third-party plugin."""
    monkeypatch.setenv("BILLING_RULES_LOAD_PLUGINS", "")
    for name in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_csv(path: Path, *rows: str) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def rules_found(result: Result) -> set[str]:
    assert result.exit_code in (0, 1), result.output
    return {finding["rule"] for finding in json.loads(result.stdout)["findings"]}


# -- --select / --ignore / --extend-select: the selection itself -------------------------------

CODES = ["SNP-WEEK", "SNP-MT", "SNPX-1", "IMT-ONCE", "IMT-ALD", "OPP-SNP", "G-1"]


def test_selector_forms() -> None:
    assert matches("SNP-", "SNP-WEEK") and matches("snp", "SNP-WEEK") and matches("SNP-WEEK", "SNP-WEEK")
    assert not matches("SNP", "SNPX-1") and not matches("SN", "SNP-WEEK") and not matches("SNP-", "OPP-SNP")
    assert matches("*SNP*", "OPP-SNP") and matches("ALL", "G-1")
    assert (
        specificity("SNP-WEEK", "SNP-WEEK") > specificity("SNP-", "SNP-WEEK") > specificity("S*", "SNP-WEEK")
    )
    assert specificity("SNP-", "SNP-WEEK") == specificity("SNP", "SNP-WEEK") > specificity("ALL", "SNP-WEEK")
    assert split_codes(["imt-once, SNP-", " ,VL"]) == ("IMT-ONCE", "SNP-", "VL")


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        ([], set(CODES)),
        ([Selectors(select=("SNP-",))], {"SNP-WEEK", "SNP-MT"}),
        ([Selectors(ignore=("SNP-",))], set(CODES) - {"SNP-WEEK", "SNP-MT"}),
        ([Selectors(select=("IMT-",), extend_select=("G-1",))], {"IMT-ONCE", "IMT-ALD", "G-1"}),
        # The most specific selector wins, whichever list it is in.
        (
            [Selectors(select=("ALL",), ignore=("SNP-",), extend_select=("SNP-MT",))],
            set(CODES) - {"SNP-WEEK"},
        ),
        ([Selectors(select=("SNP-MT",), ignore=("SNP-",))], {"SNP-MT"}),
        ([Selectors(select=("SNP-",), ignore=("SNP-MT",))], {"SNP-WEEK"}),
        # Equal specificity: ignore wins.
        ([Selectors(select=("SNP-",), ignore=("SNP",))], set()),
        # A later layer's select replaces; its extend-select and ignore adjust.
        ([Selectors(select=("IMT-",)), Selectors(select=("SNP-",))], {"SNP-WEEK", "SNP-MT"}),
        ([Selectors(select=("IMT-",)), Selectors(extend_select=("G-1",))], {"IMT-ONCE", "IMT-ALD", "G-1"}),
        ([Selectors(select=("IMT-",)), Selectors(ignore=("IMT-ALD",))], {"IMT-ONCE"}),
        # ruff: an ignore of the configuration does not survive a --select of the command line.
        ([Selectors(ignore=("SNP-WEEK",)), Selectors(select=("SNP-WEEK",))], {"SNP-WEEK"}),
    ],
)
def test_resolve_follows_ruff(layers: list[Selectors], expected: set[str]) -> None:
    assert resolve(layers, CODES) == expected


def test_a_selector_naming_no_rule_is_an_error_naming_it() -> None:
    from billing_rules.selection import SelectionError

    with pytest.raises(SelectionError, match="--ignore : aucune règle chargée ne correspond à « SNP-WEK »"):
        resolve([Selectors(ignore=("SNP-WEK",))], CODES)
    with pytest.raises(SelectionError, match="vouliez-vous dire : SNP-WEEK"):
        resolve([Selectors(ignore=("SNP-WEK",))], CODES)


# -- --select / --ignore / --extend-select on the command line and in the configuration -----------


def test_check_select_prefix(here: Path) -> None:
    result = run("check", str(WEEK), "--format", "json", "--select", "SNP-")
    found = rules_found(result)
    assert found and all(rule.startswith("SNP-") for rule in found)
    everything = rules_found(run("check", str(WEEK), "--format", "json"))
    assert found == {rule for rule in everything if rule.startswith("SNP-")}


def test_check_ignore_and_extend_select(here: Path) -> None:
    everything = rules_found(run("check", str(WEEK), "--format", "json"))
    ignored = rules_found(run("check", str(WEEK), "--format", "json", "--ignore", "SNP-,OPP-"))
    assert ignored == {rule for rule in everything if not rule.startswith(("SNP-", "OPP-"))}
    # The more specific --extend-select brings one SNP rule back; the rest of SNP- stays ignored.
    back = rules_found(
        run("check", str(WEEK), "--format", "json", "--ignore", "SNP-", "--extend-select", "SNP-WEEK")
    )
    assert back == {rule for rule in everything if not rule.startswith("SNP-")} | {"SNP-WEEK"}


def test_unknown_code_is_a_usage_error_exit_2(here: Path) -> None:
    result = run("check", str(WEEK), "--select", "IMT-ONCE,XYZ-")
    assert result.exit_code == cli.EXIT_ERROR and result.stdout == ""
    assert "--select : aucune règle chargée ne correspond à « XYZ- »" in result.stderr
    assert run("check", str(WEEK), "--select", " , ").exit_code == cli.EXIT_ERROR


def test_config_select_and_command_line(here: Path) -> None:
    (here / "billing-rules.toml").write_text(
        '[rules]\nselect = ["IMT-"]\nignore = ["IMT-MT"]\n[rules.severity]\nIMT-ALD = "alerte"\n',
        encoding="utf-8",
    )
    report = json.loads(run("check", str(WEEK), "--format", "json").stdout)
    found = {(finding["rule"], finding["severity"]) for finding in report["findings"]}
    assert {rule for rule, _ in found} == {"IMT-ALD", "IMT-CUMUL", "IMT-ONCE", "IMT-OPPOSABLE"}
    assert ("IMT-ALD", "warning") in found  # French severity in the configuration
    # --extend-select adds to the configuration's select; --select replaces it (its ignore too).
    extended = rules_found(run("check", str(WEEK), "--format", "json", "--extend-select", "SNP-WEEK"))
    assert extended == {"IMT-ALD", "IMT-CUMUL", "IMT-ONCE", "IMT-OPPOSABLE", "SNP-WEEK"}
    replaced = rules_found(run("check", str(WEEK), "--format", "json", "--select", "IMT-MT,SNP-WEEK"))
    assert replaced == {"IMT-MT", "SNP-WEEK"}


def test_config_severity_keys_take_prefixes_and_the_most_specific_wins() -> None:
    from billing_rules.api.validator import Validator
    from billing_rules.config import parse_config

    config = parse_config({"rules": {"severity": {"SNP-WEEK": "erreur", "SNP-": "alerte"}}})
    rules = {
        rule.code: rule.severity for rule in Validator.build(entry_points=False, config=config).ruleset.rules
    }
    assert rules["SNP-WEEK"] is Severity.ERROR
    assert rules["SNP-MT"] is rules["SNP-48H"] is Severity.WARNING


def test_config_older_names_and_both_spellings(here: Path) -> None:
    config = here / "billing-rules.toml"
    config.write_text('[rules]\nenable = ["IMT-"]\nselect = ["SNP-"]\n', encoding="utf-8")
    result = run("check", str(WEEK))
    assert result.exit_code == cli.EXIT_ERROR and "rules.enable et rules.select" in result.stderr
    config.write_text('[rules]\ndisable = ["IMT-ONE"]\n', encoding="utf-8")
    result = run("check", str(WEEK))
    assert result.exit_code == cli.EXIT_ERROR
    assert "rules.disable : aucune règle chargée ne correspond à « IMT-ONE »" in result.stderr


def test_rules_list_shows_the_selection(here: Path) -> None:
    result = run("rules", "list", "--format", "json", "--select", "VL-", "--ignore", "VL-CASE")
    codes = [rule["code"] for rule in json.loads(result.stdout)]
    assert codes and all(code.startswith("VL-") for code in codes) and "VL-CASE" not in codes


# -- French severities ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("french_word", "english"),
    [
        ("erreur", "error"),
        ("ERREUR", "error"),
        ("alerte", "warning"),
        ("opportunité", "opportunity"),
        ("opportunite", "opportunity"),
        ("Opportunité", "opportunity"),
        ("jamais", "never"),
    ],
)
def test_fail_on_in_french(here: Path, french_word: str, english: str) -> None:
    path = write_csv(here / "jour.csv", CLEAN_ROW, MEG_ROW)  # an opportunity only
    assert run("check", str(path), "--fail-on", french_word).exit_code == (
        run("check", str(path), "--fail-on", english).exit_code
    )


def test_fail_on_french_thresholds(here: Path) -> None:
    path = write_csv(here / "jour.csv", CLEAN_ROW, MEG_ROW)
    assert run("check", str(path), "--fail-on", "erreur").exit_code == cli.EXIT_OK
    assert run("check", str(path), "--fail-on", "opportunité").exit_code == cli.EXIT_FINDINGS
    bad = run("check", str(path), "--fail-on", "grave")
    assert bad.exit_code == cli.EXIT_ERROR and "« grave » n'est pas une gravité" in bad.stderr


def test_severity_reads_french_words() -> None:
    assert Severity("erreur") is Severity.ERROR
    assert Severity("Alerte") is Severity.WARNING
    assert Severity("OPPORTUNITÉ") is Severity.OPPORTUNITY is Severity("opportunite")
    assert [severity.french for severity in Severity] == ["opportunité", "alerte", "erreur"]
    with pytest.raises(ValueError):
        Severity("grave")


# -- -o / --output ------------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_output_is_owner_only_whatever_the_umask(here: Path) -> None:
    path = write_csv(here / "jour.csv", CLEAN_ROW, IMT_NO_ALD_ROW)
    expected = run("check", str(path), "--format", "json").stdout
    previous = os.umask(0)
    try:
        result = run("check", str(path), "--format", "json", "-o", "rapport.json")
    finally:
        os.umask(previous)
    assert result.exit_code == cli.EXIT_FINDINGS and result.stdout == ""
    assert (here / "rapport.json").read_text(encoding="utf-8") == expected
    assert mode(here / "rapport.json") == 0o600
    assert [item.name for item in here.iterdir() if item.name.startswith(".")] == []  # no temp left


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_output_replaces_an_existing_file_and_its_mode(here: Path) -> None:
    path = write_csv(here / "jour.csv", CLEAN_ROW)
    target = here / "rapport.txt"
    target.write_text("ancien rapport\n", encoding="utf-8")
    target.chmod(0o644)
    result = run("check", str(path), "--output", str(target))
    assert result.exit_code == cli.EXIT_OK
    assert "Contrôle de facturation NGAP" in target.read_text(encoding="utf-8")
    assert mode(target) == 0o600


@pytest.mark.parametrize("dangling", [True, False])
def test_output_refuses_a_symbolic_link(here: Path, dangling: bool) -> None:
    path = write_csv(here / "jour.csv", CLEAN_ROW)
    aimed = here / "ailleurs.txt"
    if not dangling:
        aimed.write_text("ne pas toucher\n", encoding="utf-8")
    link = here / "rapport.txt"
    link.symlink_to(aimed)
    result = run("check", str(path), "-o", str(link))
    assert result.exit_code == cli.EXIT_ERROR and result.stdout == ""
    assert "lien symbolique" in result.stderr and "rapport.txt" in result.stderr
    assert link.is_symlink()
    if dangling:
        assert not aimed.exists()  # never created through the link
    else:
        assert aimed.read_text(encoding="utf-8") == "ne pas toucher\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX named pipes")
def test_output_into_a_pipe_keeps_the_pipe(here: Path) -> None:
    """A FIFO read by another program (or a device) is written into, never replaced by a file."""
    import stat
    import threading

    path = write_csv(here / "jour.csv", CLEAN_ROW, IMT_NO_ALD_ROW)
    expected = run("check", str(path), "--format", "json").stdout
    pipe = here / "tube"
    os.mkfifo(pipe)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()), daemon=True)
    reader.start()
    result = run("check", str(path), "--format", "json", "-o", str(pipe))
    reader.join(timeout=30)
    assert result.exit_code == cli.EXIT_FINDINGS
    assert received and received[0].decode("utf-8") == expected
    assert stat.S_ISFIFO(pipe.lstat().st_mode)  # still a pipe, not a regular file put in its place
    assert [item.name for item in here.iterdir() if item.name.startswith(".")] == []


def test_output_to_a_folder_is_refused_before_checking(here: Path) -> None:
    path = write_csv(here / "jour.csv", CLEAN_ROW)
    result = run("check", str(path), "-o", str(here))
    assert result.exit_code == cli.EXIT_ERROR and "est un dossier" in result.stderr


def test_output_disk_full_exits_2_and_leaves_the_old_file(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(here / "jour.csv", CLEAN_ROW)
    target = here / "rapport.txt"
    target.write_text("ancien rapport\n", encoding="utf-8")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    result = run("check", str(path), "-o", str(target))
    assert result.exit_code == cli.EXIT_ERROR and result.stdout == ""
    assert f"impossible d'écrire « {target} » : disque plein" in result.stderr
    assert target.read_text(encoding="utf-8") == "ancien rapport\n"
    assert sorted(item.name for item in here.iterdir()) == ["jour.csv", "rapport.txt"]


def _tiny_filesystem_available() -> bool:
    if shutil.which("unshare") is None or sys.platform != "linux":
        return False
    probe = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", "mount -t tmpfs -o size=16k tmpfs /mnt 2>/dev/null || exit 3"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _tiny_filesystem_available(), reason="needs unshare and a user mount namespace")
def test_output_on_a_really_full_disk(here: Path) -> None:
    # A 4 KiB tmpfs (one page): the JSON report of the example week (about 14 KB) does not fit.
    script = (
        f"mount -t tmpfs -o size=4k tmpfs /mnt && cd {here} && "
        f"{sys.executable} -m billing_rules check {WEEK} --format json -o /mnt/rapport.json; "
        "echo rc=$?; ls -A /mnt"
    )
    completed = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", script], capture_output=True, text=True, check=False, timeout=120
    )
    assert "rc=2" in completed.stdout, completed.stderr
    assert completed.stdout.strip().endswith("rc=2")  # nothing left on the full disk
    assert "disque plein" in completed.stderr


@pytest.mark.slow
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_stdout_on_a_full_disk_exits_2(here: Path) -> None:
    with open("/dev/full", "w") as full:
        completed = subprocess.run(
            [sys.executable, "-m", "billing_rules", "check", str(WEEK), "--format", "json"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=120,
            cwd=here,
        )
    assert completed.returncode == cli.EXIT_ERROR
    assert "disque plein" in completed.stderr


def test_output_never_replaces_a_file_being_checked(here: Path) -> None:
    path = write_csv(here / "jour.csv", CLEAN_ROW)
    before = path.read_bytes()
    result = run("check", ".", "-o", "./jour.csv")
    assert result.exit_code == cli.EXIT_ERROR and "est un des fichiers que la commande lit" in result.stderr
    assert path.read_bytes() == before


def test_output_dash_is_standard_output(here: Path) -> None:
    path = write_csv(here / "jour.csv", CLEAN_ROW)
    assert run("check", str(path), "-o", "-").stdout == run("check", str(path)).stdout
    assert not (here / "-").exists()


def test_nothing_is_written_when_the_check_fails(here: Path) -> None:
    result = run("check", str(here / "absent.csv"), "-o", "rapport.txt")
    assert result.exit_code == cli.EXIT_ERROR and not (here / "rapport.txt").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["rules", "list"],
        ["rules", "show", "IMT-ONCE"],
        ["plugins", "--format", "json"],
        ["forfait", "--invoices", str(WEEK), "--practitioner", "10101234567", "--year", "2026"],
        ["rules", "test"],
        ["rules", "changes", "--since", "2024-12-22"],
    ],
)
def test_every_report_command_has_output(here: Path, args: list[str]) -> None:
    result = run(*args, "-o", "sortie.txt")
    assert result.exit_code == cli.EXIT_OK, result.output
    assert result.stdout == ""
    written = (here / "sortie.txt").read_text(encoding="utf-8")
    assert written == run(*args).stdout
    if sys.platform != "win32":
        assert mode(here / "sortie.txt") == 0o600


def test_ledger_export_and_stats_output(here: Path) -> None:
    ledger = here / "registre.db"
    imported = run("ledger", "import", str(WEEK), "--ledger", str(ledger), "-q")
    assert imported.exit_code == cli.EXIT_OK and imported.stderr == ""  # -q: no summary line
    for args in (["ledger", "export"], ["ledger", "stats"]):
        result = run(*args, "--ledger", str(ledger), "-o", "sortie.txt")
        assert result.exit_code == cli.EXIT_OK and result.stdout == ""
        assert (here / "sortie.txt").read_text(encoding="utf-8") == run(*args, "--ledger", str(ledger)).stdout
        if sys.platform != "win32":
            assert mode(here / "sortie.txt") == 0o600


# -- -q / -v / -h ----------------------------------------------------------------------------------


def test_quiet_and_verbose(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (here / "billing-rules.toml").write_text('[rules]\nignore = ["OPP-"]\n', encoding="utf-8")
    path = write_csv(here / "jour.csv", CLEAN_ROW, IMT_NO_ALD_ROW)
    normal = run("check", str(path))
    assert "configuration :" in normal.stderr
    quiet = run("check", str(path), "-q")
    assert quiet.stderr == "" and quiet.stdout == normal.stdout and quiet.exit_code == normal.exit_code
    verbose = run("check", str(path), "-v")
    assert verbose.stdout == normal.stdout
    for fragment in (
        "configuration :",
        "extensions : builtin",
        "moteur :",
        "règles appliquées",
        "fichiers lus (1)",
    ):
        assert fragment in verbose.stderr
    assert "OPP-MEG" not in verbose.stderr.split("règles appliquées")[1].splitlines()[0]
    both = run("check", str(path), "-q", "-v")
    assert both.exit_code == cli.EXIT_ERROR and "s'excluent" in both.stderr
    # -q: no progress line either.
    from billing_rules.cli import progress

    started: list[object] = []
    monkeypatch.setattr(progress, "start", lambda *args, **kwargs: started.append(args))
    run("check", str(path), "-q")
    assert started == []
    run("check", str(path))
    assert len(started) == 1


def test_verbose_names_the_files_of_explain_and_forfait(here: Path) -> None:
    """``-v`` says which files were read by every command that reads some, not only ``check``."""
    path = write_csv(here / "jour.csv", CLEAN_ROW, IMT_NO_ALD_ROW)
    explained = run("explain", str(path), "F-ABSENT", "-v")
    assert f"fichiers lus (1) : {path}" in explained.stderr
    assert "fichiers lus" not in run("explain", str(path), "F-ABSENT").stderr
    patients = here / "patients.csv"
    patients.write_text("patient_id;birth_date;ald\nP1;1950-01-01;oui\n", encoding="utf-8")
    estimated = run("forfait", str(patients), "--year", "2025", "-v")
    assert f"fichiers lus (1) : {patients}" in estimated.stderr
    history = run("forfait", "--invoices", str(path), "--year", "2025", "-v")
    assert f"fichiers lus (1) : {path}" in history.stderr


@pytest.mark.parametrize(
    "command",
    [[], ["check"], ["rules"], ["rules", "list"], ["ledger", "export"], ["forfait"], ["plugins"]],
)
def test_h_is_help_everywhere(command: list[str]) -> None:
    short, long = run(*command, "-h"), run(*command, "--help")
    assert short.exit_code == long.exit_code == 0
    assert short.stdout == long.stdout and short.stdout.startswith("Utilisation : billing-rules")


# -- --statistics --------------------------------------------------------------------------------


def test_statistics_counts_and_euros_per_rule(here: Path) -> None:
    report = json.loads(run("check", str(WEEK), "--format", "json").stdout)
    counts = Counter(finding["rule"] for finding in report["findings"])
    euros: dict[str, Decimal] = {}
    for finding in report["findings"]:
        if finding["amount"] is not None:
            euros[finding["rule"]] = euros.get(finding["rule"], Decimal(0)) + Decimal(str(finding["amount"]))
    result = run("check", str(WEEK), "--statistics", "--format", "json")
    assert result.exit_code == cli.EXIT_FINDINGS  # the exit code is the check's
    rows = json.loads(result.stdout)["rules"]
    assert {row["rule"]: row["count"] for row in rows} == dict(counts)
    assert {row["rule"]: Decimal(str(row["amount"])) for row in rows if row["amount"] is not None} == euros
    assert [row["count"] for row in rows] == sorted((row["count"] for row in rows), reverse=True)
    text = run("check", str(WEEK), "--statistics").stdout.splitlines()
    first = rows[0]
    assert text[0].split()[:3] == [str(first["count"]), first["rule"], Severity(first["severity"]).french]
    assert len(text) == len(rows)


def test_yearly_amounts_are_marked_in_every_format(here: Path) -> None:
    """OPP-MT-DECLARE's forfait is per year (SPEC §2): each format says so, and summing the other
    opportunities' amounts gives the report's « Manque à gagner »."""
    report = json.loads(run("check", str(WEEK), "--format", "json").stdout)
    yearly = [finding for finding in report["findings"] if finding.get("yearly")]
    assert {finding["rule"] for finding in yearly} == {"OPP-MT-DECLARE"}
    assert all(
        "yearly" not in finding for finding in report["findings"] if finding["rule"] != "OPP-MT-DECLARE"
    )
    daily = [f for f in report["findings"] if f["severity"] == "opportunity" and not f.get("yearly")]
    assert sum(Decimal(str(f["amount"])) for f in daily) == Decimal(str(report["summary"]["missed_revenue"]))
    assert sum(Decimal(str(f["amount"])) for f in yearly) == Decimal(
        str(report["summary"]["yearly_revenue_missed"])
    )
    run("check", str(WEEK), "--format", "csv", "-o", "rapport.csv")
    rows = list(
        csv.DictReader(io.StringIO((here / "rapport.csv").read_text(encoding="utf-8-sig")), delimiter=";")
    )
    assert {row["règle"] for row in rows if row["montant annuel"] == "oui"} == {"OPP-MT-DECLARE"}
    stats = json.loads(run("check", str(WEEK), "--statistics", "--format", "json").stdout)["rules"]
    assert [row["rule"] for row in stats if row.get("yearly")] == ["OPP-MT-DECLARE"]
    text = run("check", str(WEEK), "--statistics").stdout
    assert any("OPP-MT-DECLARE" in line and line.endswith(" par an") for line in text.splitlines())


def test_statistics_csv_and_input_errors(here: Path) -> None:
    path = write_csv(here / "jour.csv", IMT_NO_ALD_ROW, "F-9;2024-13-01;1;P;1960-01-01;non;none;cabinet;G;1")
    text = run("check", str(path), "--statistics").stdout
    assert (
        "IMT-ALD" in text and "60,00\u00a0€" in text and "1  champ illisible (lignes non contrôlées)" in text
    )
    run("check", str(path), "--statistics", "--format", "csv", "-o", "stats.csv")
    csv_text = (here / "stats.csv").read_bytes().decode("utf-8")
    assert csv_text.startswith(
        "\ufeffrègle;gravité;nombre;montant;montant annuel\r\nIMT-ALD;erreur;1;60,00;\r\n"
    )
    assert csv_text.endswith(";erreur de saisie;1;;\r\n")
    html = run("check", str(path), "--statistics", "--format", "html")
    assert html.exit_code == cli.EXIT_ERROR and "--statistics" in html.stderr


# -- --color, NO_COLOR, FORCE_COLOR ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "coloured"),
    [
        ([], {}, False),  # CliRunner's stdout is not a terminal
        (["--color", "always"], {}, True),
        (["--color", "always"], {"NO_COLOR": "1"}, True),  # the option wins
        ([], {"FORCE_COLOR": "1"}, True),
        ([], {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),  # NO_COLOR wins over FORCE_COLOR
        ([], {"FORCE_COLOR": ""}, False),  # only a non-empty value counts
        (["--color", "never"], {"FORCE_COLOR": "1"}, False),
    ],
)
def test_color(
    here: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str], coloured: bool
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = write_csv(here / "jour.csv", IMT_NO_ALD_ROW)
    result = run("check", str(path), *args)
    assert (ANSI in result.stdout) is coloured
    assert "ERREUR" in result.stdout


def test_color_always_reaches_an_output_file_only_when_asked(here: Path) -> None:
    path = write_csv(here / "jour.csv", IMT_NO_ALD_ROW)
    run("check", str(path), "-o", "a.txt")
    run("check", str(path), "-o", "b.txt", "--color", "always")
    assert ANSI not in (here / "a.txt").read_text(encoding="utf-8")
    assert ANSI in (here / "b.txt").read_text(encoding="utf-8")


# -- --isolated ----------------------------------------------------------------------------------


def test_isolated_ignores_the_configuration(here: Path) -> None:
    (here / "billing-rules.toml").write_text('[rules]\nignore = ["IMT-ALD"]\n', encoding="utf-8")
    path = write_csv(here / "jour.csv", IMT_NO_ALD_ROW)
    assert "IMT-ALD" not in rules_found(run("check", str(path), "--format", "json"))
    isolated = run("check", str(path), "--format", "json", "--isolated")
    assert "IMT-ALD" in rules_found(isolated) and isolated.stderr == ""
    # Even a broken configuration is not read.
    (here / "billing-rules.toml").write_text("[rules\n", encoding="utf-8")
    assert run("check", str(path), "--isolated").exit_code == cli.EXIT_FINDINGS
    both = run("check", str(path), "--isolated", "--config", "billing-rules.toml")
    assert both.exit_code == cli.EXIT_ERROR and "s'excluent" in both.stderr


# -- a folder as input, the same file twice -----------------------------------------------------


def test_a_folder_stands_for_its_billing_files(here: Path) -> None:
    folder = here / "exports"
    folder.mkdir()
    write_csv(folder / "b.csv", IMT_NO_ALD_ROW)
    write_csv(folder / "A.CSV", CLEAN_ROW)
    (folder / "c.json").write_text(json.dumps([]), encoding="utf-8")
    write_csv(folder / ".cache.csv", IMT_NO_ALD_ROW)  # hidden
    write_csv(folder / "~$b.csv", IMT_NO_ALD_ROW)  # an office lock file
    (folder / "notes.txt").write_text("à rappeler lundi\n", encoding="utf-8")
    (folder / "archives").mkdir()
    write_csv(folder / "archives" / "old.csv", IMT_NO_ALD_ROW)  # not recursive
    result = run("check", str(folder), "--format", "json")
    assert result.exit_code == cli.EXIT_FINDINGS, result.output
    report = json.loads(result.stdout)
    assert report["summary"]["events"] == 2
    assert [finding["file"] for finding in report["findings"]] == [str(folder / "b.csv")]
    verbose = run("check", str(folder), "-v")
    names = ", ".join(str(folder / name) for name in ("A.CSV", "b.csv", "c.json"))
    assert f"fichiers lus (3) : {names}" in verbose.stderr


def test_an_empty_folder_exits_2(here: Path) -> None:
    folder = here / "vide"
    folder.mkdir()
    (folder / "notes.txt").write_text("x\n", encoding="utf-8")
    result = run("check", str(folder))
    assert result.exit_code == cli.EXIT_ERROR and result.stdout == ""
    assert f"le dossier « {folder} » ne contient aucun fichier de facturation" in result.stderr
    # With the format given, .txt files are read as CSV.
    write_csv(folder / "notes.txt", CLEAN_ROW)
    assert run("check", str(folder), "--input-format", "csv").exit_code == cli.EXIT_OK


def test_the_same_file_twice_is_one_error(here: Path) -> None:
    shutil.copy(WEEK, here / "semaine.csv")
    result = run("check", "semaine.csv", "semaine.csv", "--format", "json")
    assert result.exit_code == cli.EXIT_ERROR and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "le fichier « semaine.csv » est donné deux fois" in result.stderr


@pytest.mark.parametrize("second", ["./semaine.csv", "lien.csv", "."])
def test_the_same_file_by_two_paths(here: Path, second: str) -> None:
    shutil.copy(WEEK, here / "semaine.csv")
    (here / "lien.csv").symlink_to(here / "semaine.csv")
    first = "semaine.csv" if second != "lien.csv" else "semaine.csv"
    result = run("check", first, second)
    assert result.exit_code == cli.EXIT_ERROR and result.stdout == ""
    assert "donné deux fois" in result.stderr and "semaine.csv" in result.stderr


def test_standard_input_twice_and_other_commands(here: Path) -> None:
    assert run("check", "-", "-", input=HEADER + "\n").exit_code == cli.EXIT_ERROR
    shutil.copy(WEEK, here / "semaine.csv")
    imported = run("ledger", "import", "semaine.csv", "./semaine.csv", "--ledger", "r.db")
    assert imported.exit_code == cli.EXIT_ERROR and "donné deux fois" in imported.stderr
    forfait = run("forfait", "--invoices", "semaine.csv", "--invoices", "semaine.csv")
    assert forfait.exit_code == cli.EXIT_ERROR and "donné deux fois" in forfait.stderr


# -- click's own words in French ------------------------------------------------------------------


def test_missing_argument_in_french() -> None:
    result = run("check")
    assert result.exit_code == cli.EXIT_ERROR
    # click ≥ 8.2 names the longest help option in the hint, earlier versions the first one.
    assert result.stderr.replace("check -h »", "check --help »") == (
        "Utilisation : billing-rules check [OPTIONS] FICHIER...\n"
        "Pour l'aide : « billing-rules check --help ».\n"
        "\n"
        "Erreur : Argument manquant 'FICHIER...'.\n"
    )


def test_no_such_option_in_french() -> None:
    result = run("check", "x.csv", "--zzz")
    assert result.exit_code == cli.EXIT_ERROR
    assert result.stderr.splitlines()[0] == "Utilisation : billing-rules check [OPTIONS] FICHIER..."
    assert result.stderr.splitlines()[-1] == "Erreur : Option inconnue : « --zzz »."


def test_bad_choice_and_unknown_command_in_french() -> None:
    result = run("check", "x.csv", "--color", "rouge")
    assert result.exit_code == cli.EXIT_ERROR
    assert result.stderr.splitlines()[-1] == (
        "Erreur : Valeur invalide pour '--color' : « rouge » n'est pas parmi 'auto', 'always', 'never'."
    )
    unknown = run("chek")
    assert unknown.stderr.splitlines()[-1].startswith("Erreur : Commande inconnue : « chek ».")
    assert unknown.stderr.splitlines()[0] == "Utilisation : billing-rules [OPTIONS] COMMANDE [ARGUMENTS]..."


def test_help_headings_in_french() -> None:
    text = run("check", "--help").stdout
    assert text.startswith("Utilisation : billing-rules check [OPTIONS] FICHIER...\n")
    assert "\nOptions :\n" in text
    assert "[défaut : text]" in text and "[default" not in text
    assert "-h, --help" in text and "Affiche cette aide et quitte." in text
    top = run("--help").stdout
    assert "\nCommandes :\n" in top and "Show this message" not in top


def test_click_is_english_again_outside_billing_rules() -> None:
    run("check")  # French inside

    @click.command()
    @click.argument("name")
    def other(name: str) -> None:
        """Someone else's command."""

    result = CliRunner().invoke(other, [])
    assert "Usage:" in result.output and "Missing argument" in result.output
    assert "Utilisation" not in result.output


# The messages people meet every day: each must be translated in the installed click.
EVERYDAY = {
    "Usage:",
    "Error: {message}",
    "Try '{command} {option}' for help.",
    "Missing argument",
    "Invalid value for {param_hint}: {message}",
    "default: {default}",
    "Show this message and exit.",
    "Options",
    "Commands",
}


def _click_messages() -> set[str]:
    found: set[str] = set()
    for name in french.CLICK_MODULES:
        module = sys.modules.get(f"click.{name}") or __import__(f"click.{name}")
        source = Path(module.__file__).read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("_", "ngettext")
            ):
                if (
                    node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    found.add(node.args[0].value)
    return found


def test_the_everyday_messages_of_this_click_are_translated() -> None:
    messages = _click_messages()
    assert EVERYDAY <= messages, "click's wording changed: update billing_rules/cli/french.py"
    unknown_option = {"No such option {name!r}.", "No such option: {name}"} & messages
    assert unknown_option and unknown_option <= set(french.MESSAGES)
    assert EVERYDAY <= set(french.MESSAGES)
    plural_ids = {"Got unexpected extra argument ({args})", "{value!r} is not {choice}."}
    assert plural_ids <= messages and plural_ids <= set(french.PLURALS)


@pytest.fixture
def recorded_ledger(here: Path) -> Path:
    ledger = here / "cabinet.sqlite"
    write_csv(here / "jour.csv", CLEAN_ROW)
    assert run("check", "jour.csv", "--ledger", str(ledger), "--record").exit_code == 0
    return ledger


@pytest.mark.parametrize(
    "args",
    [
        ["check", "jour.csv", "--ledger", "cabinet.sqlite", "--record"],
        ["check", "jour.csv", "--ledger", "cabinet.sqlite"],
        ["explain", "jour.csv", "F-1", "--ledger", "cabinet.sqlite"],
        ["ledger", "export", "--ledger", "cabinet.sqlite"],
        ["ledger", "stats", "--ledger", "cabinet.sqlite"],
        [
            "simulate",
            "--ledger",
            "cabinet.sqlite",
            "--from",
            "2025-01-01",
            "--to",
            "2025-12-31",
            "--as-of",
            "2026-01-01",
        ],
        ["forfait", "--ledger", "cabinet.sqlite", "--practitioner", "10001234567", "--year", "2025"],
    ],
    ids=["check-record", "check", "explain", "ledger-export", "ledger-stats", "simulate", "forfait"],
)
def test_output_never_replaces_the_ledger(recorded_ledger: Path, args: list[str]) -> None:
    """A report written over the SQLite ledger would lose the practice's whole history."""
    before = recorded_ledger.read_bytes()
    result = run(*args, "-o", "cabinet.sqlite")
    assert result.exit_code == cli.EXIT_ERROR, result.output
    assert "-o « cabinet.sqlite » est un des fichiers que la commande lit" in result.stderr
    assert recorded_ledger.read_bytes() == before


def test_output_never_replaces_the_ledger_named_by_the_environment(
    recorded_ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLING_RULES_LEDGER", str(recorded_ledger))
    before = recorded_ledger.read_bytes()
    result = run("ledger", "export", "-o", "cabinet.sqlite")
    assert result.exit_code == cli.EXIT_ERROR and "que la commande lit" in result.stderr
    assert recorded_ledger.read_bytes() == before


def test_output_never_replaces_a_file_sqlite_keeps_beside_the_ledger(recorded_ledger: Path) -> None:
    journal = recorded_ledger.with_name("cabinet.sqlite-journal")
    journal.write_bytes(b"")
    result = run("ledger", "stats", "--ledger", str(recorded_ledger), "-o", str(journal))
    assert result.exit_code == cli.EXIT_ERROR and "que la commande lit" in result.stderr
    assert journal.read_bytes() == b""


@pytest.mark.parametrize(
    ("name", "text", "args"),
    [
        (
            "patients.csv",
            "patient_id;birth_date;ald\nP-1;1980-06-01;non\n",
            ["forfait", "patients.csv", "--year", "2026"],
        ),
        ("jour.csv", None, ["columns", "jour.csv"]),
        ("jour.csv", None, ["explain", "jour.csv", "F-1"]),
        ("jour.csv", None, ["forfait", "--invoices", "jour.csv", "--year", "2025"]),
        (
            "ours.rules",
            'rule OURS-X warning "x"\n  on G\n  when ald\n',
            ["rules", "changes", "--since", "2025-01-01", "--rules", "ours.rules"],
        ),
        (
            "ours.rules",
            'rule OURS-X warning "x"\n  on G\n  when ald\n',
            ["rules", "list", "--rules", "ours.rules"],
        ),
        ("ours.toml", '[rules]\nignore = ["OPP-"]\n', ["check", "jour.csv", "--config", "ours.toml"]),
        ("billing-rules.toml", '[rules]\nignore = ["OPP-"]\n', ["check", "jour.csv"]),
        ("billing-rules.toml", '[rules]\nignore = ["OPP-"]\n', ["check", "jour.csv", "--isolated"]),
    ],
    ids=[
        "forfait-patients",
        "columns",
        "explain",
        "forfait-invoices",
        "rules-changes",
        "rules-list",
        "config",
        "found-config",
        "isolated-config",
    ],
)
def test_output_never_replaces_what_a_command_reads(
    here: Path, name: str, text: str | None, args: list[str]
) -> None:
    write_csv(here / "jour.csv", CLEAN_ROW)
    if text is not None:
        (here / name).write_text(text, encoding="utf-8")
    before = (here / name).read_bytes()
    result = run(*args, "-o", name)
    assert result.exit_code == cli.EXIT_ERROR, result.output
    assert f"-o « {name} » est un des fichiers que la commande lit" in result.stderr
    assert (here / name).read_bytes() == before


def test_output_beside_the_inputs_is_written(recorded_ledger: Path, here: Path) -> None:
    """The guard refuses only the files read: a practitioner number or a format is not one."""
    (here / "10001234567").write_text("not an input", encoding="utf-8")
    result = run(
        "ledger", "export", "--ledger", "cabinet.sqlite", "--practitioner", "10001234567", "-o", "export.csv"
    )
    assert result.exit_code == 0, result.output
    assert (here / "export.csv").read_text(encoding="utf-8").count("F-1") == 1


def test_output_never_replaces_a_ledger_about_to_be_created(here: Path) -> None:
    """``--record`` into a new ledger with ``-o`` naming it: the report would be written over it."""
    write_csv(here / "jour.csv", CLEAN_ROW)
    result = run("check", "jour.csv", "--ledger", "nouveau.sqlite", "--record", "-o", "nouveau.sqlite")
    assert result.exit_code == cli.EXIT_ERROR and "que la commande lit" in result.stderr
    assert not (here / "nouveau.sqlite").exists()


def test_output_never_replaces_a_ledger_named_with_its_scheme(recorded_ledger: Path) -> None:
    before = recorded_ledger.read_bytes()
    for target in ("cabinet.sqlite", "cabinet.sqlite-wal"):
        result = run("ledger", "stats", "--ledger", "sqlite:cabinet.sqlite", "-o", target)
        assert result.exit_code == cli.EXIT_ERROR and "que la commande lit" in result.stderr
    assert recorded_ledger.read_bytes() == before
    assert not (recorded_ledger.parent / "cabinet.sqlite-wal").exists()


def test_output_never_replaces_a_rule_file_the_configuration_loads(here: Path) -> None:
    write_csv(here / "jour.csv", CLEAN_ROW)
    rules = here / "cabinet.rules"
    rules.write_text('rule CAB-X warning "x"\n  on G\n  when ald\nend\n', encoding="utf-8")
    (here / "billing-rules.toml").write_text('[rules]\nfiles = ["cabinet.rules"]\n', encoding="utf-8")
    before = rules.read_bytes()
    result = run("check", "jour.csv", "-o", "cabinet.rules")
    assert result.exit_code == cli.EXIT_ERROR and "que la commande lit" in result.stderr
    assert rules.read_bytes() == before
