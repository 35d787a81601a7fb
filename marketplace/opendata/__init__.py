"""Open data (domain.md §3, §4): OCDS 1.1.5 releases, records and packages of the DPS and its specific contracts, and
DECP 2.0.3 records of the contracts of at least 40,000 € HT, with their publication deadline.

A layer above every domain (it reads their rows, never writes them): `ocds.py` (releases, stored immutably;
`merge.py` compiles records), `decp.py` (records, obligations, reminders), `publisher.py` (the national portal's
adapter), `controllers.py` (the public routes), `jobs.py` (the worker's schedule).
"""
