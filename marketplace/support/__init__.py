"""Requests to the platform's support desk ("nous contacter"), open to anyone."""
