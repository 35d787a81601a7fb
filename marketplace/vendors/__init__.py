"""Vendors (software editors) and the DPS: categories, admission requests and decisions, the register."""
