"""The names and values French practice software writes, as data (SPEC §1b).

Kept apart from :mod:`billing_rules.readers.columns`, which applies them: adding a spelling met in
a real export is a one-line change here, and a test checks that no spelling names two fields.
Headers are written as people read them (they are normalised when loaded); values are already
normalised (see :func:`billing_rules.readers.columns.normalize`).
"""

from __future__ import annotations

# The headers practice software writes, as people read them (normalised when loaded). SPEC §1b
# lists the first ones of each field; the rest are the usual variants of French exports.
ALIAS_TEXT: dict[str, tuple[str, ...]] = {
    "invoice_id": (
        "N° facture",
        "Nº facture",
        "No facture",
        "Num facture",
        "Numéro de facture",
        "Numéro facture",
        "N° de facture",
        "Facture",
        "Référence facture",
        "Réf facture",
        "Identifiant facture",
        "Id facture",
        "N° FSE",
        "Numéro FSE",
        "Numéro de FSE",
        "FSE",
    ),
    "date": (
        "Date de l'acte",
        "Date acte",
        "Date des soins",
        "Date de soins",
        "Date soins",
        "Date de réalisation",
        "Date consultation",
        "Date de la consultation",
        "Date d'exécution",
    ),
    "time": ("Heure", "Heure de l'acte", "Heure acte", "Heure consultation", "Heure de la consultation"),
    "practitioner_id": (
        "RPPS",
        "N° RPPS",
        "Nº RPPS",
        "Numéro RPPS",
        "RPPS praticien",
        "RPPS du praticien",
        "N° praticien",
        "Nº praticien",
        "No praticien",
        "Numéro praticien",
        "Numéro de praticien",
        "Praticien",
        "Identifiant praticien",
        "Id praticien",
        "N° médecin",
        "Médecin",
        "Médecin exécutant",
        "Praticien exécutant",
    ),
    "specialty": ("Spécialité", "Spécialité du praticien", "Spécialité praticien", "Spé"),
    "sector": ("Secteur", "Secteur conventionnel", "Secteur de conventionnement", "Conventionnement"),
    "patient_id": (
        "N° patient",
        "Nº patient",
        "No patient",
        "Numéro patient",
        "Numéro de patient",
        "Patient",
        "Identifiant patient",
        "Id patient",
        "Réf patient",
        "Référence patient",
        "N° dossier",
        "Nº dossier",
        "Numéro de dossier",
        "Dossier",
        "Dossier patient",
    ),
    "birth_date": ("Date de naissance", "Date naissance", "Né le", "Né(e) le", "Naissance", "DDN"),
    "ald": (
        "ALD",
        "Patient en ALD",
        "Exonération ALD",
        "Affection de longue durée",
        "Affection longue durée",
    ),
    "palliative": ("Soins palliatifs", "Palliatif", "Patient en soins palliatifs"),
    "neurodegenerative": (
        "Maladie neurodégénérative",
        "Neurodégénératif",
        "Neurodégénérative",
        "ALD neurodégénérative",
    ),
    "mt_status": ("Médecin traitant", "Statut MT", "Statut médecin traitant", "MT"),
    "declares_mt": (
        "Déclaration MT",
        "Déclaration médecin traitant",
        "Déclaration de médecin traitant",
        "Déclare MT",
    ),
    "place": ("Lieu", "Lieu de l'acte", "Lieu acte", "Lieu d'exécution", "Lieu de réalisation"),
    "homebound": ("Patient non déplaçable", "Non déplaçable", "Patient non transportable"),
    "codes": ("Actes", "Cotation", "Cotations", "Codes", "Codes actes", "Codes NGAP", "Cotation NGAP"),
    "amount": (
        "Montant",
        "Montant facturé",
        "Montant total",
        "Montant honoraires",
        "Honoraires",
        "Total",
        "Total facturé",
    ),
    "regulated": ("Régulé", "Régulée", "Régulation", "Régulation SAS", "Adressé par le SAS"),
    # A regulation's referral is a moment (SPEC §1 ``referral_at``: SNP-48H counts hours from it).
    # The ``Date`` headers hold a date and time, or a date only beside an ``Heure`` column; the
    # ``Heure`` headers hold a time of day only, which is never read as a date-time: it is
    # ``referral_time``, combined with that date or else with the act's (see
    # :func:`billing_rules.readers.rows._referral_with_time`). A date only without a time column
    # is an input error on its row (SPEC §1): the hour is what the rules need.
    "referral_at": (
        "Date d'adressage",
        "Date adressage",
        "Date de régulation",
        "Date régulation",
        "Date et heure de régulation",
        "Date et heure d'adressage",
    ),
    "referral_time": (
        "Heure de régulation",
        "Heure régulation",
        "Heure d'adressage",
        "Heure adressage",
    ),
    "status": ("Statut", "Statut facture", "État", "État facture", "Annulée", "Annulé", "Annulation"),
    "discharge_date": (
        "Date de sortie",
        "Date sortie",
        "Sortie d'hospitalisation",
        "Date de sortie d'hospitalisation",
    ),
    "km": ("Km", "Kilomètres", "Kilométrage", "Nombre de km", "Distance", "IK km"),
    "code": ("Code acte", "Code", "Code NGAP", "Cotation acte", "Code de l'acte"),
}

# Values that French exports write in a column found by a French alias, normalised -> SPEC value.
# A column named by its SPEC name keeps exactly the SPEC values (and their speed); ``[values]``
# adds to or overrides these.
TRUE = ("oui", "o", "1", "true", "vrai", "yes", "x")
FALSE = ("non", "n", "0", "false", "faux", "no")
FRENCH_VALUES: dict[str, dict[str, str]] = {
    "mt_status": {
        "moi": "self",
        "moimeme": "self",
        "autre": "other",
        "autremedecin": "other",
        "autremt": "other",
        "aucun": "none",
        "sansmt": "none",
        "pasdemedecintraitant": "none",
        "inconnu": "unknown",
        "nonrenseigne": "unknown",
    },
    "place": {
        "domicile": "domicile",
        "visite": "domicile",
        "visiteadomicile": "domicile",
        "vad": "domicile",
        "teleconsultation": "tele",
        "teleconsult": "tele",
        "video": "tele",
        "tlc": "tele",
        "teleexpertise": "tele",
    },
    "sector": {"secteur1": "1", "s1": "1", "secteur2": "2", "s2": "2", "optamco": "optam"},
    "status": {
        "facturee": "billed",
        "facture": "billed",
        "payee": "billed",
        "reglee": "billed",
        "validee": "billed",
        "emise": "billed",
        "transmise": "billed",
        "annulee": "cancelled",
        "annule": "cancelled",
        "annulation": "cancelled",
    },
}
# Headers whose values say yes/no about the field: ``Annulée : oui`` is a cancelled invoice.
YES_NO_HEADERS: dict[str, dict[str, str]] = {
    header: {**dict.fromkeys(TRUE, "cancelled"), **dict.fromkeys(FALSE, "billed")}
    for header in ("Annulée", "Annulé", "Annulation")
}
