"""The words a rule may use: the event's fields and the functions supplied by Python code.

Rules stay declarative because anything that needs code (a holiday calendar, a tariff lookup, a
forfait table) is a named function here, registered by the default plugin or by third parties through
``register_functions``. The compiler resolves every name against this vocabulary once; nothing of the
rule's text is ever evaluated as Python.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from billing_rules.model import Event, MtStatus, Place, Sector, Status


class Kind(enum.Enum):
    """The type of a field or of a function's result, checked when a rule is compiled."""

    BOOL = "bool"
    NUMBER = "number"
    MONEY = "money"
    DATE = "date"
    TIME = "time"
    DATETIME = "datetime"
    TEXT = "text"
    ENUM = "enum"
    DURATION = "duration"
    CODE = "code"
    ANY = "any"


@attrs.frozen
class Field:
    """A readable attribute of :class:`Event`."""

    name: str
    kind: Kind
    doc: str
    enum_type: type[enum.Enum] | None = None


FIELDS: dict[str, Field] = {
    field.name: field
    for field in (
        Field("date", Kind.DATE, "jour de l'acte"),
        Field("time", Kind.TIME, "heure de l'acte, si connue"),
        Field("act_time", Kind.DATETIME, "date et heure de l'acte (fin de journée sans heure)"),
        Field("birth_date", Kind.DATE, "date de naissance"),
        Field("age", Kind.NUMBER, "âge en années révolues le jour de l'acte"),
        Field("invoice_id", Kind.TEXT, "numéro de facture"),
        Field("practitioner_id", Kind.TEXT, "identifiant du praticien"),
        Field("specialty", Kind.TEXT, "spécialité du praticien (MG, PSY, PED...)"),
        Field("sector", Kind.ENUM, "secteur conventionnel (1, 2, optam)", Sector),
        Field("ald", Kind.BOOL, "patient en ALD"),
        Field("palliative", Kind.BOOL, "patient en soins palliatifs"),
        Field("neurodegenerative", Kind.BOOL, "ALD pour maladie neurodégénérative"),
        Field("mt_status", Kind.ENUM, "médecin traitant déclaré avant l'acte", MtStatus),
        Field("declares_mt", Kind.BOOL, "le patient déclare le praticien MT lors de l'acte"),
        Field("place", Kind.ENUM, "lieu de l'acte", Place),
        Field("homebound", Kind.BOOL, "patient ne pouvant se déplacer"),
        Field("amount", Kind.MONEY, "montant facturé"),
        Field("regulated", Kind.BOOL, "patient adressé par la régulation (SAS / centre 15)"),
        Field("referral_at", Kind.DATETIME, "date et heure de l'adressage par la régulation"),
        Field("status", Kind.ENUM, "statut de la facture", Status),
        Field("discharge_date", Kind.DATE, "dernière sortie d'hospitalisation avant l'acte, si connue"),
        Field("km", Kind.NUMBER, "kilomètres facturés en IK (après abattement)"),
    )
}


@attrs.frozen
class Function:
    """A function rules may call: ``impl(env, event, *args)`` returns a value of ``returns``.

    ``params`` gives the kind of each argument (``Kind.CODE`` takes a literal code such as ``IMT``;
    other kinds take an expression). ``env`` is the :class:`Environment` of the rule set, so that a
    function can read tariffs without global state.

    ``reads`` (optional) names the invoice fields the function reads, ``"extra:COLUMN"`` for an
    extra column: ``explain`` shows them as the facts a rule calling it decided on.
    """

    name: str
    params: tuple[Kind, ...]
    returns: Kind
    impl: Callable[..., Any]
    doc: str = ""
    origin: str = "builtin"
    reads: tuple[str, ...] = ()


@attrs.frozen
class Environment:
    """What functions and rules may read besides the event: the rule set's tables.

    Its tariffs, its forfait tables, its majorations (``code SHE ... majoration of SNP, MRT``) and
    the periods in which its codes exist.
    """

    tariffs: Any  # billing_rules.domain.tariffs.TariffTable (kept loose to avoid an import cycle)
    forfaits: Any = None  # billing_rules.domain.forfait.tables.ForfaitTables, when loaded
    #: ``code SHE ... majoration of SNP, MRT``: each majoration and the codes it is billed on top of,
    #: which a rule's recoding and amount follow (``dsl/program.py``).
    majorations: Mapping[str, frozenset[str]] = attrs.field(factory=dict, eq=False)
    #: The known codes and the periods in which each exists (``domain.tariffs.CodeInfo``): a rule
    #: never judges a code on a date where that code does not exist (``DslRule.judges``).
    codes: Mapping[str, Any] = attrs.field(factory=dict, eq=False)

    def exists(self, code: str, day: dt.date) -> bool:
        """Whether ``code`` exists on ``day`` under these texts (a code without periods: always).

        A simulation's texts (SPEC §7) fix the codes to one day: ``codes`` are then theirs.
        """
        info = self.codes.get(code)
        return info is None or bool(info.exists_on(day))


def _tariff(env: Environment, event: Event, code: str) -> Decimal | None:
    return env.tariffs.on(code, event.date, event.sector.value)


def _exists(env: Environment, event: Event, code: str) -> bool:
    return env.exists(code, event.date)


def _public_holiday(env: Environment, event: Event, day: dt.date | None = None) -> bool:
    from billing_rules.domain.calendar import is_public_holiday

    return is_public_holiday(day if day is not None else event.date)


def _pdsa_time(env: Environment, event: Event) -> bool:
    from billing_rules.domain.calendar import is_pdsa_time

    return is_pdsa_time(event.date, event.time)


def _weekday(env: Environment, event: Event) -> Decimal:
    return Decimal(event.date.isoweekday())


def _hour(env: Environment, event: Event, moment: dt.datetime | None) -> Decimal | None:
    return None if moment is None else Decimal(moment.hour)


def _extra(env: Environment, event: Event, column: str) -> Any:
    return event.extra.get(column.lower())


def _forfait_mt(env: Environment, event: Event) -> Decimal | None:
    if env.forfaits is None:
        return None
    # SPEC §1: a neurodegenerative patient is in ALD (for that disease), so priced as one.
    in_ald = event.ald or event.neurodegenerative
    return env.forfaits.amount_for(
        year=event.date.year, age=event.age, ald=in_ald, birth_date=event.birth_date
    )


BUILTIN_FUNCTIONS: tuple[Function, ...] = (
    Function("tariff", (Kind.CODE,), Kind.MONEY, _tariff, "tarif du code en vigueur le jour de l'acte"),
    Function(
        "exists",
        (Kind.CODE,),
        Kind.BOOL,
        _exists,
        "le code existe à la date de l'acte, selon les textes chargés (ceux du jour simulé pour simulate)",
    ),
    Function("public_holiday", (), Kind.BOOL, _public_holiday, "jour férié (France métropolitaine)"),
    Function("pdsa_time", (), Kind.BOOL, _pdsa_time, "horaires de permanence des soins (PDSA)"),
    Function("weekday", (), Kind.NUMBER, _weekday, "jour de la semaine, 1 = lundi ... 7 = dimanche"),
    Function(
        "hour",
        (Kind.DATETIME,),
        Kind.NUMBER,
        _hour,
        "heure (0 à 23) d'une date et heure, par exemple hour(referral_at) : 19 de 19:00 à 19:59",
    ),
    Function("extra", (Kind.TEXT,), Kind.ANY, _extra, "valeur d'une colonne supplémentaire du fichier"),
    Function(
        "forfait_mt",
        (),
        Kind.MONEY,
        _forfait_mt,
        "forfait médecin traitant annuel du patient (FPMT jusqu'en 2025, FMT ensuite)",
    ),
)
