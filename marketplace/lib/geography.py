"""French départements and the regions they belong to (INSEE COG 2024), as code data.

The territory changes rarely and by law (the last regional merger dates from 2016), so a table in the code
is enough: it is reviewed like code when INSEE publishes a new COG. Codes are INSEE's: a département is two
characters ("01"–"95", "2A", "2B") or three overseas ("971"–"976"); a region is two digits.

Overseas collectivities (975, 977, 978, 98x) have FINESS numbers but belong to no region: they are
départements here in the sense of "the first characters of a FINESS", with no region.

Source: INSEE, Code officiel géographique au 1er janvier 2024 (COG 2024), files `v_region_2024` and
`v_departement_2024`.
"""

from __future__ import annotations

# Region code → (name, its départements), COG 2024.
REGIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "01": ("Guadeloupe", ("971",)),
    "02": ("Martinique", ("972",)),
    "03": ("Guyane", ("973",)),
    "04": ("La Réunion", ("974",)),
    "06": ("Mayotte", ("976",)),
    "11": ("Île-de-France", ("75", "77", "78", "91", "92", "93", "94", "95")),
    "24": ("Centre-Val de Loire", ("18", "28", "36", "37", "41", "45")),
    "27": ("Bourgogne-Franche-Comté", ("21", "25", "39", "58", "70", "71", "89", "90")),
    "28": ("Normandie", ("14", "27", "50", "61", "76")),
    "32": ("Hauts-de-France", ("02", "59", "60", "62", "80")),
    "44": ("Grand Est", ("08", "10", "51", "52", "54", "55", "57", "67", "68", "88")),
    "52": ("Pays de la Loire", ("44", "49", "53", "72", "85")),
    "53": ("Bretagne", ("22", "29", "35", "56")),
    "75": ("Nouvelle-Aquitaine", ("16", "17", "19", "23", "24", "33", "40", "47", "64", "79", "86", "87")),
    "76": ("Occitanie", ("09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82")),
    "84": ("Auvergne-Rhône-Alpes", ("01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74")),
    "93": ("Provence-Alpes-Côte d'Azur", ("04", "05", "06", "13", "83", "84")),
    "94": ("Corse", ("2A", "2B")),
}

# Overseas collectivities: Saint-Pierre-et-Miquelon, Saint-Barthélemy, Saint-Martin, French Southern
# and Antarctic Lands, Wallis-et-Futuna, French Polynesia, New Caledonia.
COLLECTIVITIES: tuple[str, ...] = ("975", "977", "978", "984", "986", "987", "988")

REGION_OF: dict[str, str] = {dep: region for region, (_, deps) in REGIONS.items() for dep in deps}
DEPARTEMENTS: frozenset[str] = frozenset(REGION_OF) | frozenset(COLLECTIVITIES)


def region_of(departement: str) -> str | None:
    """The INSEE code of the département's region; None for an overseas collectivity or an unknown code."""
    return REGION_OF.get(departement)


def departements_of_region(region: str) -> tuple[str, ...]:
    """The départements of a region (empty for an unknown code)."""
    entry = REGIONS.get(region)
    return entry[1] if entry else ()


# FINESS numbers of the overseas territories start with 97/98, a zero and a territory digit, not with the
# INSEE code (domain.md §2.3, observed in the FINESS extraction): "9701…" is Guadeloupe, not "970".
FINESS_OVERSEAS: dict[str, str] = {"9701": "971", "9702": "972", "9703": "973", "9704": "974", "9805": "976",
                                   "9806": "986"}


def departement_of_finess(finess: str) -> str:
    """The INSEE département of a FINESS number: its first two characters in metropolitan France and
    Corsica; overseas, the territory its prefix names (an unknown overseas prefix gives its first three
    characters, which match no département)."""
    if finess[:2] in ("97", "98"):
        return FINESS_OVERSEAS.get(finess[:4], finess[:3])
    return finess[:2]


def departement_of_finess_sql(column: str) -> str:
    """The same rule as a SQL expression over a text column (the search document is written set-based)."""
    overseas = " ".join(f"WHEN '{prefix}' THEN '{dep}'" for prefix, dep in FINESS_OVERSEAS.items())
    return (f"CASE WHEN left({column}, 2) IN ('97', '98') THEN CASE left({column}, 4) {overseas} "
            f"ELSE left({column}, 3) END ELSE left({column}, 2) END")
