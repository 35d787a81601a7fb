"""foundation: outbox, notifications, support requests

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 02:15:38.244166+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('job_intent',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('args', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('status', sa.Enum('pending', 'enqueued', 'done', 'failed', name='job_intent_status'), nullable=False),
    sa.Column('available_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('enqueued_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('done_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('relay_attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_intent'))
    )
    op.create_index('ix_job_intent_due', 'job_intent', ['available_at'], unique=False, postgresql_where=sa.text("status IN ('pending', 'enqueued')"))
    op.create_table('notification',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('recipient_email', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=100), nullable=False),
    sa.Column('about_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('email_status', sa.Enum('pending', 'sent', 'not_configured', name='notification_email_status'), nullable=False),
    sa.Column('emailed_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification'))
    )
    op.create_index(op.f('ix_notification_about_id'), 'notification', ['about_id'], unique=False)
    # Wake the outbox relay when an intent commits (NOTIFY is delivered at commit, never on rollback).
    op.execute("""
        CREATE FUNCTION job_intent_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('marketplace_outbox', '');
            RETURN NULL;
        END $$;
    """)
    op.execute("""
        CREATE TRIGGER job_intent_notify AFTER INSERT ON job_intent
        FOR EACH STATEMENT EXECUTE FUNCTION job_intent_notify();
    """)
    op.create_table('support_request',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('organisation', sa.String(length=300), nullable=True),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_request'))
    )


def downgrade() -> None:
    op.drop_table('support_request')
    op.drop_index(op.f('ix_notification_about_id'), table_name='notification')
    op.drop_table('notification')
    op.drop_index('ix_job_intent_due', table_name='job_intent', postgresql_where=sa.text("status IN ('pending', 'enqueued')"))
    op.execute("DROP TRIGGER job_intent_notify ON job_intent")
    op.execute("DROP FUNCTION job_intent_notify()")
    op.drop_table('job_intent')
    sa.Enum(name='notification_email_status').drop(op.get_bind())
    sa.Enum(name='job_intent_status').drop(op.get_bind())
