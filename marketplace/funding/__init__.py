"""Funders, their calls for projects, their decisions and the grants they pay (domain.md §11.2, FU1–FU7).

The funder (an ARS, one per region, or the national funder CNSA/DNS for national calls, N5) is an organisation of
kind `funder` (accounts/). It runs calls for projects (`calls.py`, FU2: a window of instants, the campaign's rule
set, an envelope, changed by appending a version). A holder files its submitted need to the call N5 routes it to,
within the call's window (`filing.py`, FU3, N17); the funder instructs it: selects it with a funding decision (an
amount within the envelope left, a date, a reference, the signed decision document) or rejects it with reasons
(`decisions.py`). Only a selected need is published on the SAD (FU4, N16: guarded by tenders/contracts.py, which
reads the need's `funding_status`). The grant is paid in three tranches of the decision's amount, 40/40/20
(`tranches.py`, FU5, N14, N15): the holder requests each with its evidence, in order, the funder validates or
refuses it, then records its payment. A funder sees the projects of its own calls only, never an offer (FU6,
`access.py`). The contract's own payment terms are the contract's (awards/, FU7).

The top layer: it reads needs (tenders/) and contracts (awards/); nothing below imports it.
"""
