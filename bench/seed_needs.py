"""Published needs in bulk for the search benchmark (and the search tests' query plans).

    .venv/bin/python bench/seed_needs.py --count 100000 --database-url postgresql://postgres@127.0.0.1:5432/db

Writes, as the schema owner, set-based (COPY, then one INSERT … SELECT): one buying organisation with an
active DPS of nine categories (3 sectors × 3 delivery modes), a few hundred holder organisations with
facilities spread over every département of France (FINESS numbers with a valid Luhn key), then `count`
needs already published, each with its specific contract, and their search documents, written by the very
statement the application runs at publication (`marketplace.tenders.search.INDEX_ALL_SQL`).

The text is French, drawn from the programme's vocabulary (dossier usager informatisé, INS, MSSanté,
DMP, services d'aide à domicile…) with a fixed random seed, so two runs write the same corpus. CPV codes
come from the divisions 48 (software) and 72 (IT services) of CPV 2008.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from stdnum import luhn

from marketplace.lib.geography import FINESS_OVERSEAS, REGION_OF
from marketplace.tenders.search import _INDEX, INDEX_ALL_SQL

SECTORS = ("grand_age", "handicap", "domicile")
MODES = ("saas", "on_premise", "hosted")
CPV_POOL = ("48000000-8", "48180000-3", "48814000-7", "48814100-8", "48814200-9", "48814400-1", "48311000-1",
            "48332000-4", "48444100-3", "48610000-7", "48613000-8", "48810000-9", "48811000-6", "48517000-5",
            "72000000-5", "72212000-4", "72260000-5", "72250000-2", "72263000-6", "72310000-1", "72510000-3",
            "72540000-2", "72611000-6", "72253000-3")

FACILITY_KINDS = {
    "grand_age": ("EHPAD", "Résidence autonomie", "SSIAD", "Accueil de jour", "USLD"),
    "handicap": ("IME", "ESAT", "MAS", "FAM", "SESSAD", "Foyer de vie", "SAMSAH"),
    "domicile": ("SAAD", "SSIAD", "SPASAD", "Service d'aide à domicile", "Centre de soins infirmiers"),
}
PLACES = ("Les Tilleuls", "Les Lilas", "Bellevue", "Le Clos Fleuri", "Les Jardins", "La Roseraie", "Les Cèdres",
          "Saint-Joseph", "Les Peupliers", "Le Val Joli", "Les Mimosas", "La Source", "Les Glycines",
          "Les Charmilles", "Le Parc", "Les Hortensias", "Sainte-Anne", "Les Oliviers", "Les Marronniers",
          "L'Orée du Bois")
TOWNS = ("Lyon", "Nantes", "Lille", "Rennes", "Dijon", "Besançon", "Limoges", "Pau", "Ajaccio", "Bastia",
         "Saint-Denis", "Fort-de-France", "Pointe-à-Pitre", "Cayenne", "Mamoudzou", "Strasbourg", "Metz",
         "Rouen", "Caen", "Tours", "Orléans", "Poitiers", "Montpellier", "Toulouse", "Marseille", "Nice",
         "Grenoble", "Clermont-Ferrand", "Brest", "Amiens", "Reims", "Nancy", "Perpignan", "Bordeaux", "Angers")
HOLDER_KINDS = ("Association", "Fondation", "CCAS de", "Mutualité", "Groupement de coopération",
                "Centre hospitalier de",
                "ADMR", "APF France handicap", "Adapei", "Groupe")

ACTIONS = ("Acquisition d'un", "Déploiement d'un", "Mise en conformité Ségur du", "Remplacement du",
           "Migration vers un nouveau", "Extension du", "Hébergement et maintenance du", "Renouvellement du")
OBJECTS = ("dossier usager informatisé (DUI)", "logiciel de soins", "logiciel de planification des interventions",
           "outil de télégestion", "logiciel de gestion administrative des résidents", "portail des familles",
           "module de facturation", "logiciel de gestion des admissions", "outil de pilotage de l'activité",
           "logiciel de coordination des parcours", "dossier de liaison d'urgence", "logiciel de circuit du médicament")
FOR = {
    "grand_age": ("pour les EHPAD du groupement", "pour un EHPAD", "pour les résidences autonomie",
                  "pour les accueils de jour", "pour les unités de soins de longue durée"),
    "handicap": ("pour les IME et SESSAD", "pour un foyer d'accueil médicalisé", "pour les ESAT",
                 "pour une maison d'accueil spécialisée", "pour les services d'accompagnement"),
    "domicile": ("pour les services d'aide à domicile", "pour un SSIAD", "pour les intervenants à domicile",
                 "pour un SPASAD", "pour les services de soins infirmiers à domicile"),
}
SENTENCES = (
    "Le projet vise l'informatisation complète du dossier usager dans le respect du référentiel Ségur.",
    "La solution devra alimenter le DMP (Mon espace santé) et envoyer les documents par messagerie MSSanté.",
    "L'identité des usagers sera qualifiée grâce à l'INS et au téléservice INSi.",
    "Une attention particulière est portée à l'interopérabilité avec les logiciels des partenaires de santé.",
    "Les professionnels de terrain utiliseront une application mobile, y compris hors connexion.",
    "Les données de santé seront hébergées chez un hébergeur certifié HDS.",
    "La reprise des données de l'outil actuel fait partie de la prestation.",
    "Le titulaire assurera la formation des équipes soignantes et administratives.",
    "La conformité au RGPD et la traçabilité des accès sont exigées.",
    "L'e-prescription et le circuit du médicament doivent être intégrés.",
    "La planification des tournées et la télégestion des interventions à domicile sont attendues.",
    "Le logiciel devra proposer un portail d'échanges sécurisés avec les familles.",
    "Les indicateurs d'activité seront transmis à l'ARS et au département.",
    "La solution doit permettre la facturation aux conseils départementaux et à l'Assurance maladie.",
    "Le projet s'inscrit dans le programme ESMS numérique et la trajectoire de la couronne 2.",
    "Les établissements du groupement partagent un même référentiel de résidents.",
    "L'authentification des professionnels passera par Pro Santé Connect et la carte CPS.",
    "Un accompagnement au changement est demandé pendant les six premiers mois.",
    "Le support doit être joignable en jours ouvrés, avec des délais de rétablissement garantis.",
    "Les projets personnalisés d'accompagnement seront suivis dans le dossier de chaque usager.",
    "Les transmissions ciblées entre équipes de jour et de nuit seront dématérialisées.",
    "La solution s'interfacera avec le logiciel de paie et de gestion des ressources humaines.",
)
OVERSEAS_PREFIX = {dep: prefix for prefix, dep in FINESS_OVERSEAS.items()}
# Needs (and their contracts) generated and copied per batch.
SEED_BATCH = 50_000
BUYER_NAME = "Centrale d'achat du numérique médico-social (banc d'essai)"


@dataclass(frozen=True)
class Holder:
    id: uuid.UUID
    name: str
    sector: str
    # (FINESS ET, facility name)
    facilities: tuple[tuple[str, str], ...]


def finess(rng: random.Random, departement: str, taken: set[str]) -> str:
    """A FINESS ET of the département, unused so far, with a valid Luhn key (Corsica: format only).
    Overseas numbers start with their territory's FINESS prefix ("9701…" for 971, domain.md §2.3)."""
    prefix = OVERSEAS_PREFIX.get(departement, departement)
    while True:
        body = prefix + "".join(rng.choice("0123456789") for _ in range(8 - len(prefix)))
        number = body + (str(rng.randrange(10)) if departement in ("2A", "2B") else luhn.calc_check_digit(body))
        if number not in taken:
            taken.add(number)
            return number


def _holders(rng: random.Random, count: int, taken: set[str]) -> list[Holder]:
    departements = sorted(REGION_OF)
    by_region: dict[str, list[str]] = {}
    for dep, region in REGION_OF.items():
        by_region.setdefault(region, []).append(dep)
    holders = []
    for index in range(count):
        sector = SECTORS[index % len(SECTORS)]
        home = departements[index % len(departements)]
        # Most holders run facilities in one département; some span their region.
        neighbours = by_region[REGION_OF[home]]
        facilities = []
        for _ in range(rng.choice((1, 1, 2, 3, 5))):
            dep = home if rng.random() < 0.7 else rng.choice(neighbours)
            name = f"{rng.choice(FACILITY_KINDS[sector])} {rng.choice(PLACES)}"
            facilities.append((finess(rng, dep, taken), name))
        name = f"{rng.choice(HOLDER_KINDS)} {rng.choice(PLACES)} {rng.choice(TOWNS)}"
        holders.append(Holder(uuid.uuid4(), name, sector, tuple(facilities)))
    return holders


FEATURES = ("l'agenda partagé", "le plan de soins", "les transmissions ciblées", "la gestion des tournées",
            "le suivi des projets personnalisés", "la télégestion", "la facturation", "la gestion des stocks",
            "le cahier de liaison", "la gestion des chambres", "les évaluations AGGIR", "le suivi des chutes",
            "le dossier de liaison d'urgence", "la pharmacie à usage intérieur", "la gestion des rendez-vous",
            "la messagerie interne", "le suivi nutritionnel", "les statistiques d'activité", "l'annuaire santé",
            "la gestion documentaire", "le recueil des consentements", "la visioconsultation")
PARTNERS = ("le centre hospitalier de proximité", "les médecins traitants", "les pharmacies d'officine",
            "le département", "l'ARS", "la CPAM", "les infirmiers libéraux", "le DAC", "les laboratoires",
            "l'équipe mobile de gériatrie", "la MDPH", "les services de tutelle")


def _need_text(rng: random.Random, holder: Holder) -> tuple[str, str]:
    sector = holder.sector
    title = f"{rng.choice(ACTIONS)} {rng.choice(OBJECTS)} {rng.choice(FOR[sector])}"
    parts = rng.sample(SENTENCES, rng.randint(2, 4))
    features = rng.sample(FEATURES, 3)
    parts.append(f"Le périmètre couvre {features[0]}, {features[1]} et {features[2]}.")
    parts.append(f"Des échanges automatisés sont attendus avec {rng.choice(PARTNERS)} et {rng.choice(PARTNERS)}.")
    places = ", ".join(name for _, name in holder.facilities)
    parts.append(f"Établissements concernés : {places} ({rng.choice(TOWNS)}).")
    rng.shuffle(parts)
    return title, " ".join(parts)


async def seed(conn: asyncpg.Connection, count: int, *, now: datetime, random_seed: int = 2026,
               holders: int = 600, index: bool = True) -> int:
    """Write `count` published needs (and what they need) in the connection's transaction; returns the
    number of search documents written. Without `index`, none are: the caller runs `index_in_parallel` once
    this transaction is committed."""
    rng = random.Random(random_seed)
    buyer = uuid.uuid4()
    dps = uuid.uuid4()
    await conn.execute(
        "INSERT INTO organisation (id, kind, name, is_grappe, created_at, updated_at) "
        "VALUES ($1, 'buyer', $2, false, $3, $3)", buyer, BUYER_NAME, now)
    criteria = json.dumps([{"name": "Prix", "weightMin": 20, "weightMax": 50},
                           {"name": "Valeur technique", "weightMin": 50, "weightMax": 80}])
    await conn.execute(
        "INSERT INTO dps (id, buyer_organisation_id, title, description, validity_start, validity_end, "
        "usable_by_other_buyers, conduct_mode, status, award_criteria, created_at, updated_at) "
        "VALUES ($1, $2, 'SAD ESMS numérique — banc d''essai', 'Solutions logicielles pour les ESSMS.', $3, $4, "
        "true, 'centralised', 'active', $5::jsonb, $3, $3)", dps, buyer, now - timedelta(days=400),
        now + timedelta(days=1000), criteria)
    categories = {(s, m): uuid.uuid4() for s in SECTORS for m in MODES}
    await conn.copy_records_to_table("dps_category", columns=(
        "id", "dps_id", "sector", "delivery_mode", "title", "selection_criteria", "required_documents", "created_at",
        "updated_at"), records=[(cid, dps, s, m, f"DUI {s.replace('_', ' ')} en {m.replace('_', ' ')}",
                                 "Capacités techniques et professionnelles ; références.", "[]", now, now)
                                for (s, m), cid in categories.items()])

    # FINESS numbers are unique: a second run adds facilities beside those of the first.
    taken = set(await conn.fetchval("SELECT coalesce(array_agg(finess_et), '{}') FROM facility"))
    people = _holders(rng, holders, taken)
    await conn.copy_records_to_table("organisation", columns=(
        "id", "kind", "name", "is_grappe", "created_at", "updated_at"),
        records=[(h.id, "holder", h.name, False, now, now) for h in people])
    await conn.copy_records_to_table("facility", columns=(
        "id", "organisation_id", "name", "finess_et", "created_at", "updated_at"),
        records=[(uuid.uuid4(), h.id, name, number, now, now) for h in people for number, name in h.facilities])

    need_columns = ("id", "holder_organisation_id", "status", "title", "description", "campaign", "project_type",
                    "facilities", "requested_call", "multiregional", "core_services", "gdpr_compliance",
                    "target_map_convergence", "business_continuity", "usage_targets_declared",
                    "companion_dui_acquisition", "funding_schedule", "applied_on", "sector", "delivery_mode",
                    "cpv_codes", "submitted_at", "created_at", "updated_at")
    contract_columns = ("id", "need_id", "dps_id", "category_id", "buyer_organisation_id", "conduct_mode",
                        "dps_organisation_id", "holder_organisation_id", "status", "invited_at", "tender_deadline",
                        "award_criteria", "created_by", "created_at", "updated_at")
    # Written a batch at a time: a million needs' rows held at once would take gigabytes of this process's
    # memory. The random draws come in the same order whatever the batch, so the corpus is the same.
    for first in range(0, count, SEED_BATCH):
        needs: list[tuple[Any, ...]] = []
        contracts: list[tuple[Any, ...]] = []
        for _ in range(min(SEED_BATCH, count - first)):
            holder = rng.choice(people)
            sector = holder.sector
            mode = rng.choice(MODES)
            title, description = _need_text(rng, holder)
            facilities = json.dumps([{"finessEt": number, "equipmentBudgetCents": rng.randrange(0, 5_000_000)}
                                     for number, _ in holder.facilities])
            cpv = rng.sample(CPV_POOL, rng.randint(1, 3))
            invited_at = now - timedelta(seconds=rng.randrange(0, 365 * 86400))
            deadline = invited_at + timedelta(days=rng.randint(10, 60), hours=rng.randint(0, 23))
            status = "open" if deadline > now else rng.choice(("closed_for_offers", "evaluation", "contracted"))
            need_id = uuid.uuid4()
            needs.append((need_id, holder.id, "published", title, description, 2025, 2, facilities, "regional",
                          False, ["ins", "mss", "dmp"], True, True, True, True, False, [40, 40, 20],
                          date(2025, 3, 1), sector, mode, cpv, invited_at - timedelta(days=5),
                          invited_at - timedelta(days=30), invited_at))
            contracts.append((uuid.uuid4(), need_id, dps, categories[sector, mode], buyer, "centralised", buyer,
                              holder.id, status, invited_at, deadline, criteria, "seed", invited_at, invited_at))
        await conn.copy_records_to_table("need", columns=need_columns, records=needs)
        await conn.copy_records_to_table("specific_contract", columns=contract_columns, records=contracts)
    if not index:
        return 0
    await _index_settings(conn)
    # Every published need, the new ones and any already there: the statement is an upsert.
    result = await conn.execute(INDEX_ALL_SQL)
    return int(result.split()[-1])


async def _index_settings(conn: asyncpg.Connection) -> None:
    # A million search documents in one statement: memory for its sorts and for the GIN indexes' pending entries,
    # which would otherwise be flushed to the index every 4 MB.
    await conn.execute("SET LOCAL work_mem = '256MB'")
    await conn.execute("SET LOCAL gin_pending_list_limit = '64MB'")


async def index_in_parallel(dsn: str, parts: int) -> int:
    """The search documents of every published need, as `INDEX_ALL_SQL` writes them, in `parts` transactions run
    at once on as many connections, each over its own slice of the needs. Most of the statement's time is
    `to_tsvector` of French text, one core per statement (PostgreSQL runs no INSERT … SELECT in parallel), so
    at a million needs this divides the seeding's longest step by the cores there are."""
    async def one(part: int) -> int:
        conn = await asyncpg.connect(dsn)
        try:
            async with conn.transaction():
                await _index_settings(conn)
                # The application's statement with one more condition (the template's `where`, as `_INDEX_SOME`).
                sql = _INDEX.format(where=f"AND (hashtext(n.id::text) & 2147483647) % {parts} = {part}")
                return int((await conn.execute(sql)).split()[-1])
        finally:
            await conn.close()

    return sum(await asyncio.gather(*(one(part) for part in range(parts))))


async def _main(url: str, count: int) -> None:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        async with conn.transaction():
            await seed(conn, count, now=datetime.now(UTC), index=False)
        written = await index_in_parallel(dsn, len(os.sched_getaffinity(0)))
        await conn.execute("ANALYZE need_search; ANALYZE need; ANALYZE specific_contract")
        print(f"{count} published needs seeded, {written} search documents written, "
              f"in {time.perf_counter() - started:.1f} s")
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--database-url", required=True, help="the schema owner's URL (migrated database)")
    args = parser.parse_args(argv)
    asyncio.run(_main(args.database_url, args.count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
