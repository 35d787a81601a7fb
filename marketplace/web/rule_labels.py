"""The rules and the fields as a French reader names them, for the pages that show a refusal.

The domain services write their refusals in English (`detail`) with the rule's id and the field at fault; holders
(managers of nursing homes) and vendors' sales teams read French. So a refused act's page says first, in French,
what the rule is (`RULE_LABELS`: one plain sentence per id of docs/rules.md, written from the specifications
domain.md and reliability.md, which say each rule in full with its sources) and which field is at fault
(`FIELD_LABELS`: the API's field names, camelCase, as `field` carries them), then keeps the original detail as a
secondary line: it is precise (counts, limits, instants).

An id or a field without a label reads as itself (`rule_label`/`field_label` answer None): never a 500.
tests/web/test_rule_labels.py keeps `RULE_LABELS` complete against docs/rules.md and in French.
"""

from __future__ import annotations

import re

# One sentence each, plain French, in the order of docs/rules.md (law, programme, who decides, funder, SONS,
# properties of the receipt of offers, goals).
RULE_LABELS: dict[str, str] = {
    # The law of the SAD (domain.md §1.2, §11.3).
    "D2": "L'avis du SAD fixe sa période de validité (le début avant la fin) et dit si d'autres acheteurs que la "
          "centrale d'achat peuvent l'utiliser ; un besoin se rattache à un SAD publié, dont le marché spécifique "
          "est conduit par l'acheteur du SAD, par un autre acheteur si l'avis le permet, ou par le porteur en "
          "intermédiation.",
    "D3": "Les documents de la consultation du SAD restent publics et téléchargeables pendant toute sa validité, "
          "sans jamais être modifiés : une nouvelle version est un nouveau document.",
    "D4": "La première période de dépôt des demandes de participation dure au moins 30 jours calendaires "
          "(délai franc) à compter de l'envoi de l'avis.",
    "D5": "Les demandes de participation sont reçues à tout moment jusqu'à la fin de validité du SAD ; après "
          "elle, ni demande ni nouveau marché spécifique.",
    "D6": "Chaque demande de participation est évaluée dans les 10 jours ouvrés suivant sa réception, ou 15 jours "
          "ouvrés avec un motif de prolongation enregistré, une seule fois (article R2162-45).",
    "D7": "L'admission est un droit : le nombre d'admis n'est pas limité, la décision se fonde sur les seuls "
          "critères de sélection de la catégorie, et un éditeur refusé peut candidater de nouveau.",
    "D8": "Un marché spécifique invite par écrit, au même instant, tous les éditeurs admis dans sa catégorie à "
          "cet instant.",
    "D9": "La date limite de remise des offres est au moins 10 jours calendaires (délai franc) après "
          "l'invitation, y compris lorsqu'elle est reportée.",
    "D10": "Les critères d'attribution sont ceux de l'avis du SAD : l'invitation n'en fixe que les pondérations, "
           "dans les fourchettes de l'avis et pour un total de 100, chaque offre répond une fois à chaque critère, "
           "et le marché va à l'offre classée première (article R2162-51).",
    "D11": "L'acheteur peut demander à tout moment à un éditeur admis une déclaration sur l'honneur (DUME) à "
           "jour, à fournir dans les 5 jours ouvrés.",
    "D12": "Aucun frais, abonnement ni paiement n'est demandé aux éditeurs pour participer au SAD.",
    "D13": "Les offres restent confidentielles jusqu'à la date limite : personne, pas même l'acheteur, n'en lit "
           "le contenu avant l'ouverture des plis, et rien n'est évalué ni discuté avant.",
    "D14": "Une offre reçue en retard est refusée, à la seconde près selon l'horloge du serveur : reçue à la date "
           "limite exacte, elle est en retard (seule exception : le dépôt tardif admis par l'acheteur, D14c).",
    "D14a": "Chaque limite d'un dépôt (taille d'un fichier, taille totale de l'offre, nombre de fichiers, types "
            "acceptés, contenu des archives, date limite) est publiée avec le marché spécifique, et chaque refus "
            "nomme la limite atteinte et sa valeur.",
    "D14b": "Chaque dépôt refusé est inscrit au journal des dépôts (éditeur, offre, heure du serveur, octets reçus, "
            "erreur), sans jamais le contenu ni le nom d'un fichier ; l'éditeur le lit, et l'acheteur à partir "
            "de la date limite.",
    "D14c": "Après la date limite et avant l'ouverture des plis, l'acheteur peut admettre, par une décision "
            "motivée, un éditeur dont les dépôts commencés à temps ont été bloqués par la plateforme à déposer "
            "jusqu'à l'heure qu'il fixe ; personne d'autre ne dépose en retard.",
    "D15": "Une offre soupçonnée anormalement basse fait l'objet d'une demande de justification écrite et n'est "
           "rejetée que si cette justification est insuffisante ; pas d'attribution tant qu'une justification est "
           "attendue.",
    "D16": "Chaque éditeur non retenu est informé sans délai du nom de l'attributaire, des motifs du choix et de "
           "la date à partir de laquelle le marché peut être signé.",
    "D17": "Sur demande écrite, un éditeur écarté reçoit les motifs du rejet sous 15 jours et, si son offre "
           "n'était ni irrégulière, ni inacceptable, ni inappropriée, les caractéristiques de l'offre retenue et "
           "le nom de l'attributaire.",
    "D18": "Le délai de suspension de 11 jours entre les notifications et la signature n'est pas obligatoire pour "
           "un marché spécifique du SAD, mais il est respecté lorsque l'acheteur le choisit.",
    "D19": "Les avis d'attribution des marchés spécifiques peuvent être regroupés par trimestre et publiés au plus "
           "tard 30 jours après la fin du trimestre.",
    "D20": "Le SAD est divisé en catégories (secteur × mode de fourniture, chacune une seule fois), chacune avec "
           "ses propres critères de sélection.",
    # The ESMS numérique programme: an expression of need (domain.md §6).
    "N1": "Le porteur est un OG (FINESS EJ) ou une grappe d'OG avec un OG chef de file.",
    "N2": "Un projet de type 1 (acquisition d'un DUI) est porté par une grappe d'au moins 3 OG totalisant au "
          "moins 15 ESMS.",
    "N3": "Un projet de type 2 (mise en conformité d'un DUI existant) est porté par un seul OG d'au plus 30 ESMS "
          "et met en œuvre l'interopérabilité avec les services socles.",
    "N4": "Un projet de type 3 (équipement) est réservé à un petit OG (moins de 15 ESMS) qui porte aussi "
          "l'acquisition d'un DUI.",
    "N5": "Un projet de 50 ESMS ou plus relève de l'appel national (CNSA/DNS), un projet plus petit de l'appel de "
          "son ARS : le besoin le déclare et il est déposé à cet appel.",
    "N6": "En généralisation (depuis 2022), un regroupement compte au moins 15 ESMS (8 en Corse et outre-mer), et "
          "un regroupement sur plusieurs régions de moins de 50 ESMS relève d'une ARS.",
    "N7": "En amorçage (temps 2, 2021), une grappe compte au plus 49 ESMS, idéalement 15 ou plus.",
    "N8": "Parmi les services socles, l'INS est obligatoire et n'est pas compté, et le projet en retient au moins "
          "un autre : MSSanté, DMP ou e-prescription.",
    "N9": "Le porteur déclare la conformité du projet au RGPD.",
    "N10": "Le porteur déclare la convergence du projet avec la carte cible.",
    "N11": "Le porteur déclare un plan de continuité d'activité du DUI.",
    "N12": "Le logiciel choisi est référencé Ségur (couloirs MS1 et MS2), inscrit au guichet de référencement "
           "(AHI) ou dispensé (PJM), à partir de la campagne qui l'exige.",
    "N13": "L'aide à l'équipement est d'au plus 10 000 € par ESMS (campagne 2024).",
    "N14": "Le financement est versé en trois fois : 40 % au démarrage du projet, 40 % au recettage et 20 % une "
           "fois les usages constatés, dans cet ordre.",
    "N15": "Le financement dépend de l'atteinte des cibles d'usage : le besoin s'y engage, et la dernière tranche "
           "est demandée avec les indicateurs d'usage.",
    "N16": "Un besoin n'est publié sur le SAD qu'une fois retenu par le financeur de l'appel à projets où il est "
           "déposé (une décision de financement favorable).",
    "N17": "La candidature respecte le calendrier de son appel : les dates de la campagne pour le besoin, la "
           "période d'ouverture de l'appel à projets pour son dépôt.",
    "N18": "Chaque ESMS est un FINESS ET valide et connu, rattaché à l'un des OG du porteur, et aucun ESMS ne "
           "figure dans deux projets en cours de la même campagne.",
    "N19": "Un besoin vise une seule catégorie du SAD (secteur × mode de fourniture), que son SAD doit comporter.",
    # Who decides what on a specific contract (domain.md §11.1).
    "HC1": "Chaque SAD fixe la conduite de ses marchés spécifiques, en intermédiation (par défaut) ou centralisée, "
           "sans changement après sa publication ; chaque marché spécifique garde le mode sous lequel il a été "
           "publié.",
    "HC2": "En intermédiation, le porteur est l'acheteur de son marché spécifique (publication, ouverture des "
           "plis, dialogue, notation, attribution, réponses aux demandes de motifs, signature) ; la centrale "
           "d'achat suit la procédure en lecture seule et peut seulement répondre aux questions.",
    "HC3": "En conduite centralisée, la centrale d'achat est l'acheteur ; le porteur lit son marché spécifique "
           "(après l'ouverture : le procès-verbal, le classement et l'attribution) et siège à la commission "
           "d'évaluation s'il y est invité.",
    "HC4": "Les parties au contrat sont l'acheteur du marché spécifique (le porteur en intermédiation) et "
           "l'attributaire, qui signent chacun par leur administrateur.",
    "HC5": "Le besoin suit la procédure de son marché spécifique (publié, clos aux offres, en dialogue, choisi, "
           "contractualisé, ou sans suite ou infructueux), lue à jour à chaque consultation par le porteur.",
    "HC6": "Le marché spécifique passe d'« ouvert » à « clos aux offres » à la date limite exacte, pour tout le "
           "monde au même instant et sur chaque page.",
    # The funder (domain.md §11.2).
    "FU1": "Les financeurs sont des organisations : une ARS par région et un financeur national (CNSA/DNS).",
    "FU2": "Un financeur ouvre des appels à projets pour une campagne, avec une période d'ouverture (heure de "
           "Paris) et une enveloppe ; toute modification crée une nouvelle version, et l'enveloppe ne descend "
           "jamais sous ce qui a été accordé.",
    "FU3": "Le porteur dépose une seule fois son besoin soumis à l'appel que désigne la règle N5 ; le financeur le "
           "retient par une décision de financement (montant dans l'enveloppe restante, date, référence, document "
           "signé) ou le rejette avec ses motifs, une seule fois.",
    "FU4": "Un besoin n'est publié sur le SAD qu'avec une décision de financement favorable de son appel à "
           "projets (N16).",
    "FU5": "La subvention est versée en tranches de 40 %, 40 % et 20 % du montant décidé, dans l'ordre, chacune "
           "demandée avec ses justificatifs (la première une fois le contrat signé, la dernière avec les "
           "indicateurs d'usage), validée ou refusée avec motifs, puis payée de son montant exact.",
    "FU6": "Un financeur ne voit que les projets déposés à ses propres appels, et jamais une offre.",
    "FU7": "Les modalités de paiement du contrat (texte libre ou échéances totalisant son montant) relèvent du "
           "contrat, à part de la subvention.",
    # SONS purchase-for-account orders (domain.md §5, §12).
    "SN1": "Chaque dispositif (programme et vague) a sa base légale, sa vérification (VA ou MOM) et son "
           "calendrier en heure de Paris ; le montant HT d'un bon de commande reste sous le plafond de sa tranche, "
           "et chaque échéance est respectée à la seconde.",
    "SN2": "Le bon de commande d'une solution en SaaS indique que l'abonnement n'est pas financé.",
    "SN3": "Un bon de commande signé avant le référencement de la solution porte la mention « sous condition de "
           "référencement » et l'est au plus 120 jours avant le dossier de preuves complet ; l'inscription à "
           "l'ASP exige le numéro de référencement ANS d'une solution de l'éditeur.",
    "SN4": "Un seul service Ségur par bénéficiaire (site : FINESS ET ou SIRET), dispositif et vague ; une commande "
           "annulée, expirée ou rejetée le libère.",
    "SN5": "Chaque demande à l'ASP (avance, avenant, solde) suit ses statuts dans l'ordre permis, « décidée et "
           "payée » et « rejetée » étant définitifs ; rien n'est payé deux fois, et le solde est refusé tant "
           "qu'un avenant n'est pas décidé et payé.",
    "SN6": "Pour les couloirs MS1 et MS2, la VA porte le cas « Déploiement MSS », et un solde déposé à partir de "
           "la date fixée par le calendrier du dispositif porte le même cas.",
    "SN7": "Le solde exige la vérification signée (VA ou MOM) et une seule facture Factur-X pour 100 % de la "
           "commande (ses totaux HT et TTC), au nom du signataire de la vérification.",
    # Properties of the receipt of offers (reliability.md §1.7).
    "P1": "Chaque offre et chaque fichier reçoivent les heures de réception du serveur (début et fin), jamais "
          "celles de l'ordinateur de l'éditeur, et un accusé de réception signé par la plateforme.",
    "P2": "Une offre est acceptée si et seulement si elle est reçue strictement avant la date limite, contrôle "
          "fait par la plateforme et par sa base de données.",
    "P3": "Avant la date limite, personne d'autre que son auteur ne lit quoi que ce soit d'une offre (contenu, "
          "nombre, journaux, messages d'erreur, liens de téléchargement).",
    "P4": "Avant la date limite, les offres sont conservées chiffrées : aucune copie de la base ou du stockage "
          "ne contient leur contenu en clair.",
    "P6": "L'ouverture des plis exige que la date limite soit passée, un acheteur habilité de l'organisation et "
          "le nombre requis d'ouvreurs, chacun avec sa part de clé.",
    "P8": "Chaque acte sensible est inscrit dans un journal d'audit chaîné, où l'on ne fait qu'ajouter et que la "
          "plateforme ne peut pas réécrire.",
    "P9": "L'empreinte et la taille de chaque fichier sont enregistrées à la réception et revérifiées à "
          "l'ouverture et à chaque téléchargement ; un écart bloque le fichier et est signalé.",
    "P10": "Un fichier infecté trouvé par l'antivirus est mis en quarantaine avec sa trace (copie de sauvegarde) "
           "et l'offre signalée : il n'est jamais servi ni supprimé en silence.",
    "P11": "Le début de l'envoi est enregistré comme sa fin, pour prouver qu'une transmission a commencé avant la "
           "date limite.",
    "P12": "Les heures affichées indiquent leur fuseau (heure de Paris et son décalage) ; une heure locale qui "
           "n'existe pas ou est ambiguë est refusée.",
    # Goals (reliability.md §5).
    "G1": "Les offres restent scellées avant la date limite, y compris pour les administrateurs de la base et du "
          "stockage.",
    "G2": "L'ouverture des plis ne réussit qu'après la date limite, par des ouvreurs habilités réunissant le "
          "nombre requis de parts de clé.",
    "G3": "Une offre est acceptée si et seulement si elle est reçue avant la date limite, sans aucune tolérance, "
          "même lors d'envois simultanés.",
    "G4": "Chaque accusé de réception et chaque procès-verbal d'ouverture porte un horodatage qualifié (RFC 3161) "
          "d'une autorité d'horodatage, vérifiable sans la plateforme.",
    "G5": "Toute altération d'un fichier, d'un objet stocké ou d'une empreinte enregistrée est détectée, bloque "
          "son usage et est tracée.",
    "G6": "Aucune offre dont la réception a été accusée n'est perdue : l'accusé n'est envoyé qu'une fois "
          "l'enregistrement validé, même si un serveur, la base de données ou la file de tâches s'arrête.",
    "G7": "Une offre envoyée plusieurs fois avec la même clé d'envoi reçoit le même accusé de réception, sans "
          "doublon.",
    "G8": "La procédure avance dans l'ordre même lors d'actions simultanées : pas d'évaluation avant l'ouverture "
          "des plis, une seule attribution en cours par marché spécifique, plus rien après une annulation.",
    "G10": "Une saisie invalide est refusée en nommant le champ en cause, jamais par une erreur du serveur.",
    "G11": "Les fichiers déposés sont contrôlés (taille, type, archives piégées ou chiffrées, noms, virus), et un "
           "fichier non encore analysé n'est jamais déclaré sain.",
    "G12": "Quand un service dont la plateforme dépend (stockage, base de données, file de tâches) est "
           "indisponible, la réponse l'indique avec un délai de nouvel essai, rien n'est perdu, et le service "
           "reprend dès son retour.",
    "G14": "Le journal d'audit est infalsifiable : la plateforme ne peut pas le réécrire, et sa vérification "
           "désigne le premier maillon rompu.",
    "G16": "Les signatures électroniques du contrat sont vérifiées selon l'arrêté du 22 mars 2019, chaque contrôle "
           "étant rapporté, de même que celles du client sur un bon de commande SONS et sa VA.",
    "G18": "La base peut être restaurée à tout instant passé avec chaque offre reçue avant cet instant et ses "
           "fichiers vérifiés ; le contenu des offres est purgé cinq ans après la signature du marché "
           "(R2184-12), l'offre retenue et les accusés étant conservés.",
}

# The API's field names (camelCase, as a refusal's `field` carries them; an index or a dotted path is read by
# `field_label`), those the domain services and the pages refuse most often.
FIELD_LABELS: dict[str, str] = {
    # Specific contracts, offers, deposits.
    "tenderDeadline": "date limite de remise des offres",
    "deadlineTo": "date limite de remise des offres (fin de la période)",
    "deadlineFrom": "date limite de remise des offres (début de la période)",
    "questionsCloseAt": "date limite des questions",
    "answerDueAt": "date limite de réponse",
    "awardCriteria": "critères d'attribution",
    "awardCriteria.weight": "pondération du critère d'attribution",
    "weight": "pondération",
    "specificContractId": "marché spécifique",
    "contractId": "contrat",
    "offerId": "offre",
    "offers": "offres",
    "upload": "fichier envoyé",
    "document": "document",
    "documents": "documents",
    "attachmentTypes": "types de fichiers acceptés",
    "depositUntil": "heure limite du dépôt tardif",
    "attemptIds": "tentatives de dépôt retenues",
    "sha256": "empreinte du fichier",
    "scanStatus": "résultat de l'analyse antivirus",
    "openers": "ouvreurs des plis",
    "openingThreshold": "nombre d'ouvreurs requis",
    "key": "clé",
    "limit": "limite de dépôt",
    "X-Filename": "nom du fichier",
    "Content-Type": "type du fichier",
    "Content-Length": "taille de l'envoi",
    "Idempotency-Key": "clé d'envoi",
    "holderInvited": "invitation du porteur",
    "conductMode": "conduite des marchés spécifiques",
    # Evaluation, award, contract.
    "scores": "notes",
    "scores.criterion": "critère noté",
    "criterion": "critère",
    "score": "note",
    "evaluatorId": "évaluateur",
    "declaration": "déclaration d'absence de conflit d'intérêts",
    "hasConflict": "conflit d'intérêts",
    "abnormallyLow": "offre anormalement basse",
    "justification": "justification",
    "justificationDueAt": "date limite de la justification",
    "grounds": "motif du rejet",
    "decision": "décision",
    "earliestSignAt": "date de signature au plus tôt",
    "standstillRequired": "délai de suspension",
    "signedAt": "date de signature",
    "signatoryName": "nom du signataire",
    "signatoryRole": "qualité du signataire",
    "paymentSchedule": "échéancier de paiement",
    "paymentTerms": "modalités de paiement",
    "priceSchedule": "bordereau des prix",
    "contract": "contrat",
    "answer": "réponse",
    "answers": "réponses",
    "question": "question",
    "side": "partie",
    "complete": "classement complet (chaque évaluateur a noté chaque critère)",
    "replaces": "document remplacé",
    "position": "rang",
    # The DPS, categories, admissions.
    "dpsId": "SAD",
    "validityStart": "début de validité du SAD",
    "validityEnd": "fin de validité du SAD",
    "initialWindowEnd": "fin de la première période de candidature",
    "usableByOtherBuyers": "utilisation par d'autres acheteurs",
    "categories": "catégories",
    "categories.requiredDocuments": "pièces demandées pour la catégorie",
    "categoryId": "catégorie",
    "category": "catégorie",
    "selectionCriteria": "critères de sélection",
    "requiredDocuments": "pièces demandées",
    "reasons": "motifs",
    "reason": "motif",
    "message": "message",
    "extensionReason": "motif de la prolongation",
    "decisionReasons": "motifs de la décision",
    "selfDeclaration": "déclaration sur l'honneur (DUME)",
    "taxAndSocialObligationsMet": "obligations fiscales et sociales à jour",
    "noExclusionGrounds": "absence de motif d'exclusion",
    "legalRepresentative": "représentant légal",
    "annualTurnoverEur": "chiffre d'affaires annuel",
    "staffCount": "effectif",
    "references": "références",
    "buyerOrganisationId": "organisme acheteur",
    "vendorOrganisationId": "éditeur",
    "holderOrganisationId": "porteur",
    "leadOrganisationId": "OG chef de file",
    "grappeMemberIds": "OG membres de la grappe",
    "validUntil": "date de fin de validité",
    # The need (its form's fields, and the rule engine's).
    "title": "titre",
    "description": "description",
    "campaign": "campagne",
    "projectType": "type de projet",
    "requestedCall": "appel à projets visé",
    "appliedOn": "date de candidature",
    "sector": "secteur",
    "deliveryMode": "mode de fourniture",
    "facilities": "établissements (ESMS)",
    "facilities.finessEt": "FINESS ET de l'établissement",
    "facilities.ogFinessEj": "OG de l'établissement",
    "facilities.equipmentBudgetCents": "budget d'équipement de l'établissement",
    "multiregional": "regroupement sur plusieurs régions",
    "holder": "porteur",
    "holder.ogs": "OG du porteur",
    "holder.isGrappe": "porteur en grappe",
    "holder.leadFinessEj": "OG chef de file (FINESS EJ)",
    "coreServices": "services socles",
    "software": "logiciel choisi",
    "software.couloir": "couloir du logiciel",
    "software.referenced": "référencement Ségur du logiciel",
    "software.registeredAtDesk": "inscription au guichet de référencement",
    "gdprCompliance": "conformité au RGPD",
    "targetMapConvergence": "convergence avec la carte cible",
    "businessContinuity": "plan de continuité d'activité",
    "companionDuiAcquisition": "acquisition d'un DUI portée avec l'équipement",
    "fundingSchedule": "échéancier du financement",
    "usageTargetsDeclared": "engagement sur les cibles d'usage",
    "cpvCodes": "codes CPV",
    "cpv": "code CPV",
    "status": "statut",
    # Funding.
    "callId": "appel à projets",
    "fundingDecision": "décision de financement",
    "funderOrganisationId": "financeur",
    "region": "région",
    "envelopeCents": "enveloppe",
    "closesAt": "clôture de l'appel",
    "opensAt": "ouverture de l'appel",
    "amountCents": "montant",
    "decidedOn": "date de la décision",
    "reference": "référence",
    "tranche": "tranche",
    "evidence": "justificatifs",
    "usageIndicators": "indicateurs d'usage",
    "paidOn": "date du paiement",
    "paidCents": "montant payé",
    "montant": "montant",
    # SONS orders.
    "orderRef": "référence du bon de commande",
    "dispositifId": "dispositif",
    "solutionId": "solution",
    "solution": "solution",
    "sites": "sites bénéficiaires",
    "sites.finessEt": "FINESS ET du site",
    "sites.siret": "SIRET du site",
    "amountHtCents": "montant HT",
    "amountTtcCents": "montant TTC",
    "vatRateBp": "taux de TVA",
    "installationScenario": "scénario d'installation",
    "subscriptionExcluded": "abonnement exclu du financement",
    "preReferencingMention": "mention « sous condition de référencement »",
    "proofFileSubmittedOn": "date du dossier de preuves complet",
    "referencedOn": "date du référencement",
    "referencingNumber": "numéro de référencement ANS",
    "mssCase": "cas « Déploiement MSS »",
    "mssAddress": "adresse de messagerie MSSanté",
    "ocid": "identifiant OCDS de la procédure",
    "preuve": "justificatif",
    "method": "mode de signature",
    "dps_id": "SAD",
    "to": "position de fin",
    "url": "adresse (URL) du webhook",
    "webhook_id": "webhook",
    "quarter": "trimestre (par exemple 2026-T3, écrit 2026-Q3)",
    "requestId": "demande à l'ASP",
    "calendar.referencingClosesAt": "fin de la fenêtre de référencement",
    "iban": "IBAN",
    "ribKey": "clé RIB",
    "bic": "BIC",
    "acceptance": "vérification (VA ou MOM)",
    "invoice": "facture",
    "swornStatement": "déclaration sur l'honneur",
    "clientRenunciation": "renoncement du client",
    # Organisations, people, identifiers.
    "finessEj": "FINESS EJ",
    "finessEt": "FINESS ET",
    "ogFinessEj": "FINESS EJ de l'OG",
    "siren": "SIREN",
    "siret": "SIRET",
    "departement": "département",
    "organisationId": "organisation",
    "userId": "utilisateur",
    "email": "adresse électronique",
    "password": "mot de passe",
    "roles": "rôles",
    "name": "nom",
    "code": "code",
    "version": "version",
    # Lists and searches.
    "sort": "tri",
    "cursor": "page",
    "targetType": "type d'objet",
    "du": "jour de début",
    "au": "jour de fin",
    "body": "formulaire",
    "header": "ligne d'en-tête du fichier CSV",
    "sandbox": "bac à sable",
    "days": "durée à avancer (bac à sable)",
}

_INDEX = re.compile(r"\[(\d+)\]")


def rule_label(rule: object) -> str | None:
    """The French statement of a rule id of docs/rules.md, or None (an id of no table, "§1.4", "CSV"…)."""
    return RULE_LABELS.get(rule.strip()) if isinstance(rule, str) else None


def field_label(field: object) -> str | None:
    """The French name of a field as a refusal names it: `tenderDeadline`, a path `holder.ogs`, an item
    `facilities[2].equipmentBudgetCents` (« … (n° 3) »), else its last part's name; None when unknown."""
    if not isinstance(field, str) or not field.strip():
        return None
    path = field.strip()
    plain = _INDEX.sub("", path)
    label = FIELD_LABELS.get(plain) or FIELD_LABELS.get(plain.rpartition(".")[2])
    if label is None:
        return None
    index = _INDEX.search(path)
    return f"{label} (n° {int(index.group(1)) + 1})" if index else label


_FRENCH_WORDS = re.compile(r"\b(?:le|la|les|des|du|une|un|est|et|pour|dans|avec|sans|pas|au|aux|ce|cette|"
                           r"sont|doit|ne|en|sur|par)\b", re.IGNORECASE)
_ENGLISH_WORDS = re.compile(r"\b(?:the|is|are|must|shall|of|to|not|and|at|be|no|for|with|this|its|an|a|or|"
                            r"than|has|have|was|from|only)\b", re.IGNORECASE)


def language_of(text: str) -> str:
    """The language of a refusal's detail, "fr" or "en" (the domain services write English, the pages French),
    by its function words: the page marks a change of language for screen readers (RGAA 8.7)."""
    return "en" if len(_ENGLISH_WORDS.findall(text)) > len(_FRENCH_WORDS.findall(text)) else "fr"
