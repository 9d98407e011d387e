"""A practice's configuration: which rules and plugins, which severities, facts the export lacks.

Read from ``billing-rules.toml`` or from the ``[tool.billing-rules]`` table of a ``pyproject.toml``,
found in the current directory or its parents (the first one holding either wins), or given with
``--config``. The same keys in both places::

    [rules]
    ignore = ["OPP-MEG", "SPE-"]          # codes, prefixes (``SPE-``) or shell patterns (``SPE-*``)
    select = ["ALL"]                      # optional: only these rules run (default: every rule)
    extend-select = ["CAB-"]              # optional: added to ``select``
    files = ["cabinet.rules"]             # extra DSL rule files, relative to the config file

    [rules.severity]
    VL-CASE = "error"                     # error/erreur, warning/alerte, opportunity/opportunité

``select``, ``extend-select`` and ``ignore`` mean what they mean in ruff, and what ``check --select``
/ ``--extend-select`` / ``--ignore`` mean (:mod:`billing_rules.selection`; the command line's come
after these). ``enable`` and ``disable``, their first names, are still read as ``select`` and
``ignore``.

    [plugins]
    enable = ["specialist"]               # only these installed plugins (default: all)
    disable = ["other"]

    [practitioner]                        # facts for invoices whose export lacks the column
    sector = "2"
    specialty = "MG"

    [practitioners."10001234567"]         # ... or per practitioner
    sector = "optam"
    birth_date = 1958-03-14               # FMT majorations (SPEC §6): the doctor's age on 31/12,
    zip = true                            # practising in a zone d'intervention prioritaire,
    installed_on = 2025-09-01             # first installation (its calendar year is year 1)

    [columns]                             # headers of the practice's export no alias knows
    patient_id = "Identifiant assuré"     # field = header (SPEC §1b)
    c2s = "Bénéficiaire CSS"              # the forfait's patient list only (c2s, last_seen)

    [values.mt_status]                    # the export's own values of a field
    "Moi" = "self"
    "Autre médecin" = "other"

Everything is checked when the config is loaded and again against the loaded rules, so a typo (an
unknown key, a rule code that does not exist) is an error naming the file rather than a setting
silently ignored: a disabled rule that was never disabled is a legal risk for the practice.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import attrs

from billing_rules.errors import BillingRulesError
from billing_rules.files import TooLarge, read_bounded
from billing_rules.model import Sector, Severity
from billing_rules.readers.columns import DEFAULT_MAPPING, MAPPABLE, ColumnError, ColumnMapping, normalize
from billing_rules.selection import Selectors, matches, resolve, specificity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10; tomli is a dependency there
    import tomli as tomllib

CONFIG_FILE = "billing-rules.toml"
PYPROJECT_TABLE = "billing-rules"

_TOP_KEYS = {"rules", "plugins", "practitioner", "practitioners", "columns", "values"}
_RULES_KEYS = {"enable", "disable", "files", "severity", "select", "extend-select", "ignore"}
_PLUGINS_KEYS = {"enable", "disable"}
_FACT_KEYS = {"sector", "specialty", "birth_date", "zip", "installed_on"}


class ConfigError(BillingRulesError):
    """The practice configuration is invalid; the message names the file and the key."""


@attrs.frozen
class Facts:
    """What the practice knows of a practitioner that invoices do not say.

    ``sector`` and ``specialty`` fill the columns an export leaves empty (the export's own values
    always win). ``birth_date``, ``zip`` and ``installed_on`` set the FMT majorations of the forfait
    estimator (SPEC §6); they never reach an invoice.
    """

    sector: str | None = None
    specialty: str | None = None
    birth_date: dt.date | None = None
    zip: bool | None = None
    installed_on: dt.date | None = None

    def items(self) -> Iterator[tuple[str, str]]:
        """The column facts that are set, as (column, value)."""
        for name in ("sector", "specialty"):
            value = getattr(self, name)
            if value is not None:
                yield name, value


@attrs.frozen
class PracticeConfig:
    """A loaded configuration; ``path`` is what ``check`` announces on stderr."""

    path: Path | None = None
    selectors: tuple[Selectors, ...] = ()
    """Which rules run: ``[rules]``'s select/extend-select/ignore, then the command line's."""
    severity: Mapping[str, Severity] = attrs.field(factory=dict)
    rule_files: tuple[Path, ...] = ()
    plugins_enable: tuple[str, ...] | None = None
    plugins_disable: tuple[str, ...] = ()
    practitioner: Facts = Facts()
    practitioners: Mapping[str, Facts] = attrs.field(factory=dict)
    columns: ColumnMapping = DEFAULT_MAPPING
    patient_columns: Mapping[str, str] = attrs.field(factory=dict)
    """``[columns]`` entries for the fields only ``forfait``'s patient list has (``c2s``,
    ``last_seen``): one configuration serves every command, so they are accepted, and kept apart
    from ``columns`` because a billing file has no such field (``check`` keeps such a header as an
    extra column for plugins, as before)."""

    @property
    def has_facts(self) -> bool:
        """Whether readers need to fill in any column."""
        return any(True for _ in self.practitioner.items()) or bool(self.practitioners)

    # --- rules ---------------------------------------------------------------------------------

    def select_rules(self, rules: Sequence[Any]) -> list[Any]:
        """The rules to run: enabled, not disabled, with the practice's severities.

        Applied to the rules themselves (not to their findings) so that the engine's logic sees
        the practice's choices: an error demoted to a warning no longer blocks the opportunities
        of its invoice, and a disabled rule costs nothing.
        """
        codes = [rule.code for rule in rules]
        self._check_patterns(codes)
        chosen = resolve(self.selectors, codes)
        kept = []
        for rule in rules:
            if rule.code not in chosen:
                continue
            severity = self._severity_of(rule.code)
            kept.append(
                rule if severity is None or severity is rule.severity else _with_severity(rule, severity)
            )
        return kept

    def with_selectors(self, layer: Selectors) -> PracticeConfig:
        """This configuration with one more selection layer (the command line's) applied last."""
        return self if layer.empty else attrs.evolve(self, selectors=(*self.selectors, layer))

    def _severity_of(self, code: str) -> Severity | None:
        """The practice's severity for ``code``: its most specific key (``SNP-WEEK`` over ``SNP-``)."""
        found = [
            (specificity(pattern, code), index, severity)
            for index, (pattern, severity) in enumerate(self.severity.items())
            if matches(pattern, code)
        ]
        return max(found)[2] if found else None

    def _check_patterns(self, codes: Sequence[str]) -> None:
        for pattern in self.severity:
            if not any(matches(pattern, code) for code in codes):
                raise ConfigError(
                    f"{self._where()} : rules.severity : aucune règle chargée ne correspond à « {pattern} »"
                )

    def _where(self) -> str:
        return str(self.path) if self.path is not None else "configuration"

    # --- facts ---------------------------------------------------------------------------------

    def facts_for(self, practitioner_id: Any) -> Facts:
        """The practitioner's own facts over the practice-wide ones."""
        own = self.practitioners.get(str(practitioner_id).strip()) if practitioner_id is not None else None
        if own is None:
            return self.practitioner
        known = {name: value for name, value in attrs.asdict(own, recurse=False).items() if value is not None}
        return attrs.evolve(self.practitioner, **known)

    def wrap_readers(self, readers: Mapping[str, Any]) -> dict[str, Any]:
        """Readers that fill the configured facts into rows that lack them (empty or absent)."""
        if not self.has_facts:
            return dict(readers)
        return {name: FactsReader(reader, self) for name, reader in readers.items()}


class FactsReader:
    """A reader whose rows get the practice's facts where the export says nothing.

    Filling raw rows, before conversion, gives the configured values exactly the validation and
    the meaning of values read from the file.
    """

    def __init__(self, reader: Any, config: PracticeConfig) -> None:
        self.reader = reader
        self.config = config
        self.name = reader.name
        self.extensions = reader.extensions

    def rows(self, stream: BinaryIO, file: str) -> Iterator[Any]:
        """The wrapped reader's rows, completed."""
        for raw in self.reader.rows(stream, file):
            if raw.broken:
                yield raw
                continue
            values = raw.values
            missing = [
                (column, value)
                for column, value in self.config.facts_for(values.get("practitioner_id")).items()
                if values.get(column) is None
                or (isinstance(values.get(column), str) and not values[column].strip())
            ]
            yield attrs.evolve(raw, values={**values, **dict(missing)}) if missing else raw


def _with_severity(rule: Any, severity: Severity) -> Any:
    if attrs.has(type(rule)):
        return attrs.evolve(rule, severity=severity)
    import copy

    clone = copy.copy(rule)
    clone.severity = severity
    return clone


# --------------------------------------------------------------------------------------------------
# Finding and reading


def find_config(start: Path | None = None) -> Path | None:
    """The nearest ``billing-rules.toml``, or ``pyproject.toml`` with ``[tool.billing-rules]``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and _has_table(pyproject):
            return pyproject
    return None


def _has_table(pyproject: Path) -> bool:
    try:
        data = tomllib.loads(_read_limited(pyproject).decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, TooLarge):
        return False  # someone else's broken pyproject is not our configuration
    return isinstance(data.get("tool"), dict) and PYPROJECT_TABLE in data["tool"]


MAX_CONFIG_BYTES = 1_000_000
"""A practice configuration is a few kilobytes; anything past this is not one (``/dev/zero``...)."""


def _read_limited(path: Path) -> bytes:
    return read_bounded(path, MAX_CONFIG_BYTES)


_UNREADABLE = {
    IsADirectoryError: "c'est un dossier, pas un fichier",
    PermissionError: "permission refusée",
    UnicodeDecodeError: "pas en UTF-8 ; enregistrez le fichier en UTF-8",
}


def load_config(path: str | Path) -> PracticeConfig:
    """Read and check a configuration file (``billing-rules.toml`` or a ``pyproject.toml``)."""
    path = Path(path)
    try:
        data = tomllib.loads(_read_limited(path).decode("utf-8"))
    except TooLarge:
        raise ConfigError(
            f"fichier de configuration trop grand « {path} » (plus de {MAX_CONFIG_BYTES // 1000} ko) : "
            "il n'a pas été lu en entier"
        ) from None
    except FileNotFoundError:
        raise ConfigError(f"fichier de configuration introuvable : « {path} »") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = _UNREADABLE.get(type(exc), "erreur de lecture")
        raise ConfigError(f"configuration illisible « {path} » : {reason}") from None
    except tomllib.TOMLDecodeError as exc:  # its text is English: keep only the position
        at = re.search(r"line (\d+), column (\d+)", str(exc))
        raise ConfigError(
            f"{path} : TOML invalide" + (f" ligne {at[1]}, colonne {at[2]}" if at else "")
        ) from None
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get(PYPROJECT_TABLE)
        if not isinstance(table, dict):
            raise ConfigError(f"{path} : pas de table [tool.{PYPROJECT_TABLE}]")
        data = table
    return parse_config(data, path)


def parse_config(data: Mapping[str, Any], path: Path | None = None) -> PracticeConfig:
    """A :class:`PracticeConfig` from the TOML table; rule files are relative to ``path``'s folder."""
    where = str(path) if path is not None else "configuration"

    def fail(message: str) -> ConfigError:
        return ConfigError(f"{where} : {message}")

    _no_unknown(data, _TOP_KEYS, "", fail)
    rules = _table(data, "rules", fail)
    _no_unknown(rules, _RULES_KEYS, "rules.", fail)
    plugins = _table(data, "plugins", fail)
    _no_unknown(plugins, _PLUGINS_KEYS, "plugins.", fail)

    severities: dict[str, Severity] = {}
    for code, value in _table(rules, "severity", fail, "rules.severity").items():
        try:
            severities[str(code)] = Severity(value)
        except ValueError:
            raise fail(
                f"rules.severity.{code} : gravité inconnue « {value} » "
                "(error, warning, opportunity ou erreur, alerte, opportunité)"
            ) from None
    base = path.parent if path is not None else Path.cwd()
    files = tuple(base / name for name in _strings(rules, "files", fail, "rules.files") or ())
    per_practitioner = {
        str(practitioner_id): _facts(values, fail, f"practitioners.{practitioner_id}")
        for practitioner_id, values in _table(data, "practitioners", fail).items()
    }
    return PracticeConfig(
        path=path,
        selectors=_selectors(rules, where, fail),
        severity=severities,
        rule_files=files,
        plugins_enable=_strings(plugins, "enable", fail, "plugins.enable"),
        plugins_disable=_strings(plugins, "disable", fail, "plugins.disable") or (),
        practitioner=_facts(_table(data, "practitioner", fail), fail, "practitioner"),
        practitioners=per_practitioner,
        columns=_columns(data, fail),
        patient_columns=_patient_columns(data, fail),
    )


def _selectors(rules: Mapping[str, Any], where: str, fail: Any) -> tuple[Selectors, ...]:
    """``[rules]``'s selection layer; ``enable``/``disable`` are the older names of ``select``/``ignore``."""
    lists: dict[str, tuple[str, ...] | None] = {}
    labels: dict[str, str] = {}
    for key, older in (("select", "enable"), ("extend-select", None), ("ignore", "disable")):
        value = _strings(rules, key, fail, f"rules.{key}")
        labels[key] = f"{where} : rules.{key}"
        if older is not None and older in rules:
            if value is not None:
                raise fail(f"rules.{older} et rules.{key} disent la même chose : gardez rules.{key}")
            value = _strings(rules, older, fail, f"rules.{older}")
            labels[key] = f"{where} : rules.{older}"
        lists[key] = None if value is None else tuple(item.strip().upper() for item in value)
    layer = Selectors(
        select=lists["select"],
        extend_select=lists["extend-select"] or (),
        ignore=lists["ignore"] or (),
        labels=(labels["select"], labels["extend-select"], labels["ignore"]),
    )
    return () if layer.empty else (layer,)


def _columns(data: Mapping[str, Any], fail: Any) -> ColumnMapping:
    """``[columns]`` (field = header) and ``[values.FIELD]`` (value = SPEC value), SPEC §1b.

    Only the billing files' fields: the patient list's own ones are :func:`_patient_columns`'. A
    name that is neither is refused here, naming the key, rather than read as nothing.
    """
    explicit: dict[str, str] = {}
    for field, header in _table(data, "columns", fail).items():
        if not isinstance(header, str):
            raise fail(f"columns.{field} : nom de colonne attendu (un texte)")
        if not normalize(header):  # blank, or punctuation alone: it would match no header
            raise fail(f"columns.{field} : nom de colonne vide (écrivez l'en-tête du fichier)")
        if field in MAPPABLE:
            explicit[str(field)] = header
        elif field not in _own_fields():
            raise fail(f"columns.{field} : {_unknown_field(field, patient_list=True)}")
    values: dict[str, dict[str, str]] = {}
    for field, table in _table(data, "values", fail).items():
        if not isinstance(table, dict):
            raise fail(f"« values.{field} » doit être une table (valeur du fichier = valeur attendue)")
        if field not in MAPPABLE and field in _own_fields():
            raise fail(
                f"values.{field} : [values] ne vaut que pour les champs des fichiers de facturation ; "
                f"{field} (liste de patients de forfait) est lu tel qu'écrit"
            )
        if field not in MAPPABLE:
            raise fail(f"values.{field} : {_unknown_field(field, patient_list=False)}")
        values[str(field)] = {str(value): _target(target) for value, target in table.items()}
    try:
        return ColumnMapping(explicit=explicit, values=values)
    except ColumnError as exc:
        raise fail(str(exc)) from None


def _patient_columns(data: Mapping[str, Any], fail: Any) -> dict[str, str]:
    """``[columns]`` entries for ``forfait``'s patient list only (``c2s``, ``last_seen``).

    Checked by :func:`_columns` first; a header also given to a billing field is refused here,
    as two fields for one column are between billing fields.
    """
    table = _table(data, "columns", fail)
    mapped = {field: header for field, header in table.items() if field not in MAPPABLE}
    if not mapped:
        return {}
    taken = {normalize(header): field for field, header in table.items() if field in MAPPABLE}
    for field, header in mapped.items():
        other = taken.setdefault(normalize(header), field)
        if other != field:
            message = f"la colonne « {header.strip()} » est attribuée à deux champs : {other} et {field}"
            raise fail(f"columns.{field} : {message}")
    return mapped


def _own_fields() -> tuple[str, ...]:
    """The patient list's own fields, from the module that reads that list (one list, not two).

    Imported only for a name that is no billing field: ``check`` need not load the forfait code.
    """
    from billing_rules.domain.forfait.patients import OWN_FIELDS

    return OWN_FIELDS


def _unknown_field(field: str, *, patient_list: bool) -> str:
    """The French message for a field no file has, listing every name that may be written there."""
    more = f" ; liste de patients de forfait seulement : {', '.join(_own_fields())}" if patient_list else ""
    return f"champ inconnu « {field} » (champs possibles : {', '.join(MAPPABLE)}{more})"


def _target(target: Any) -> str:
    """A value of ``[values.FIELD]`` as the text the field reads (``true`` → ``1``)."""
    if isinstance(target, bool):
        return "1" if target else "0"
    return str(target)


def _no_unknown(table: Mapping[str, Any], known: set[str], prefix: str, fail: Any) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise fail(f"clé inconnue « {prefix}{unknown[0]} » (clés possibles : {', '.join(sorted(known))})")


def _table(data: Mapping[str, Any], key: str, fail: Any, label: str | None = None) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise fail(f"« {label or key} » doit être une table")
    return value


def _strings(data: Mapping[str, Any], key: str, fail: Any, label: str) -> tuple[str, ...] | None:
    if key not in data:
        return None
    value = data[key]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise fail(f"« {label} » doit être une liste de textes")
    return tuple(value)


def _facts(values: Any, fail: Any, label: str) -> Facts:
    if not isinstance(values, dict):
        raise fail(f"« {label} » doit être une table")
    _no_unknown(values, _FACT_KEYS, f"{label}.", fail)
    sector = values.get("sector")
    if sector is not None:
        sector = str(sector).strip().lower()
        if sector not in {item.value for item in Sector}:
            raise fail(f"{label}.sector : secteur inconnu « {sector} » (1, 2 ou optam)")
    specialty = values.get("specialty")
    if specialty is not None and (not isinstance(specialty, str) or not specialty.strip()):
        raise fail(f"{label}.specialty : texte attendu")
    zip_value = values.get("zip")
    if zip_value is not None and not isinstance(zip_value, bool):
        raise fail(f"{label}.zip : true ou false attendu")
    return Facts(
        sector=sector,
        specialty=specialty.strip().upper() if specialty else None,
        birth_date=_day(values, "birth_date", fail, label),
        zip=zip_value,
        installed_on=_day(values, "installed_on", fail, label),
    )


def _day(values: Mapping[str, Any], key: str, fail: Any, label: str) -> dt.date | None:
    """A date fact: a TOML date (``1958-03-14``) or an ISO string (``"1958-03-14"``)."""
    value = values.get(key)
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        raise fail(f"{label}.{key} : une date sans heure est attendue")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise fail(f"{label}.{key} : date attendue (AAAA-MM-JJ)")
