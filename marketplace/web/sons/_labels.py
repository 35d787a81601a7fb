"""The words of the SONS pages: an order's and a request's statuses, the list's filters and sorts, the regions, the
client's signature methods and a signature report's verdicts, as a French reader reads them (never colour alone)."""

from __future__ import annotations

from marketplace.lib.geography import REGIONS
from marketplace.sons.listing import LIST_SORTS, Risk
from marketplace.sons.reports import NO_REQUEST, UNKNOWN_REGION
from marketplace.sons.states import AspStatus, OrderStatus, SignatureMethod

ORDER_LABELS = {
    "draft": "brouillon", "signed": "signée", "advance_requested": "avance demandée",
    "advance_incomplete": "avance incomplète", "advance_to_modify": "avance à modifier",
    "advance_validated": "avance validée", "advance_paid": "avance payée", "rejected": "rejetée",
    "deployed": "déployée", "accepted": "VA/MOM signée", "balance_requested": "solde demandé",
    "balance_incomplete": "solde incomplet", "balance_to_modify": "solde à modifier",
    "balance_validated": "solde validé", "balance_rejected": "solde rejeté", "paid": "payée",
    "cancelled": "annulée", "expired": "expirée"}
assert ORDER_LABELS.keys() == {s.value for s in OrderStatus}
ASP_LABELS = {"REQUESTED": "déposée", "INCOMPLETE": "incomplète", "TO_MODIFY": "à modifier",
              "VALIDATED": "validée", "DECIDED_PAID": "décidée et payée", "REJECTED": "rejetée",
              NO_REQUEST: "aucune demande"}
assert ASP_LABELS.keys() == {s.value for s in AspStatus} | {NO_REQUEST}
KIND_LABELS = {"advance": "Avance", "amendment": "Avenant à l'avance", "balance": "Solde"}
# The risk filter's values in the URL (the work queue's tiles link to them, web/templates/queue.html).
RISKS = {"tous": Risk.ANY, "echeance": Risk.DEADLINE, "a-modifier": Risk.TO_MODIFY}
RISK_LABELS = {"": "Toutes", "tous": "À risque (échéance ou à modifier)",
               "echeance": "Déploiement dans les 30 jours", "a-modifier": "Une demande à modifier"}
SORT_LABELS = {"ref": "Commande", "vendor": "Éditeur", "og": "OG", "dispositif": "Dispositif", "status": "Statut",
               "deadline": "Échéance de déploiement", "ttc": "Montant TTC", "created": "Créée le"}
assert SORT_LABELS.keys() == LIST_SORTS.keys()
REGION_LABELS = {**{code: name for code, (name, _) in REGIONS.items()}, UNKNOWN_REGION: "inconnue (sites par SIRET)"}

METHOD_LABELS = {"cpx_card": "Carte CPx", "pro_sante_connect": "Pro Santé Connect",
                 "rgs_certificate": "Certificat logiciel RGS",
                 "eidas": "Autre signature électronique (eIDAS simple au moins)"}
assert METHOD_LABELS.keys() == {m.value for m in SignatureMethod}
VERDICT_LABELS = {"valid": "valide", "invalid": "invalide", "unsupported": "format non pris en charge"}
CATEGORY_LABELS = {"qualified": "certificat qualifié", "not_qualified": "certificat non qualifié"}
