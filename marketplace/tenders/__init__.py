"""Tenders: expressions of need, specific contracts, invitations, Q&A, sealed offers and their opening."""
