"""Notifications: one row per message to one recipient, kept in the app and e-mailed when SMTP is set."""
