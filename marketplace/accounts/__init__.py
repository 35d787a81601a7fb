"""Organisations, users, memberships and roles; authentication (JWT and API keys) and the route guard."""
