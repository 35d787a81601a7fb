"""notification delivery failures and the inbox's read state; refresh-token families

`failed` notifications carry their reason and attempt count (notifications/jobs.py); `read_at` is the
inbox's read mark. Refresh tokens gain the family they rotate in (RFC 6819 §5.2.2.3, accounts/services.py):
each token issued before this revision starts a family of its own.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 09:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Committed on its own: the partial index below names the value, and PostgreSQL refuses a new enum
    # value in the transaction that adds it.
    with op.get_context().autocommit_block():
        op.execute("ALTER TYPE notification_email_status ADD VALUE IF NOT EXISTS 'failed'")
    op.add_column('notification', sa.Column('attempts', sa.SmallInteger(), server_default='0', nullable=False))
    op.add_column('notification', sa.Column('failed_at', DateTimeUTC(timezone=True), nullable=True))
    op.add_column('notification', sa.Column('failure_reason', sa.String(length=500), nullable=True))
    op.add_column('notification', sa.Column('read_at', DateTimeUTC(timezone=True), nullable=True))
    op.create_index('ix_notification_inbox', 'notification', ['recipient_email', 'created_at'], unique=False)
    op.create_index('ix_notification_failed', 'notification', ['failed_at'], unique=False,
                    postgresql_where=sa.text("email_status = 'failed'"))
    op.add_column('refresh_token', sa.Column('family_id', sa.Uuid(), nullable=True))
    op.execute("UPDATE refresh_token SET family_id = id")
    op.alter_column('refresh_token', 'family_id', nullable=False)
    op.create_index(op.f('ix_refresh_token_family_id'), 'refresh_token', ['family_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_refresh_token_family_id'), table_name='refresh_token')
    op.drop_column('refresh_token', 'family_id')
    op.drop_index('ix_notification_failed', table_name='notification')
    op.drop_index('ix_notification_inbox', table_name='notification')
    op.drop_column('notification', 'read_at')
    op.drop_column('notification', 'failure_reason')
    op.drop_column('notification', 'failed_at')
    op.drop_column('notification', 'attempts')
    # An enum value can't be dropped: the type is rebuilt without it (failed deliveries become pending).
    op.execute("ALTER TABLE notification ALTER COLUMN email_status DROP DEFAULT")
    op.execute("UPDATE notification SET email_status = 'pending' WHERE email_status = 'failed'")
    op.execute("ALTER TYPE notification_email_status RENAME TO notification_email_status_old")
    op.execute("CREATE TYPE notification_email_status AS ENUM ('pending', 'sending', 'sent', 'not_configured')")
    op.execute("ALTER TABLE notification ALTER COLUMN email_status TYPE notification_email_status "
               "USING email_status::text::notification_email_status")
    op.execute("DROP TYPE notification_email_status_old")
