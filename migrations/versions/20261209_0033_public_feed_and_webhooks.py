"""public change feed and webhooks: feed events written by triggers on the open-data tables, numbered after
commit by a single sequencer; organisations' webhook subscriptions and their delivery log

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-09 09:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = '0033'
down_revision: str | None = '0032'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _audit_columns() -> list[sa.Column[object]]:
    return [sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
            sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
            sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False)]


def upgrade() -> None:
    op.create_table('feed_event',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('object_id', sa.String(length=400), nullable=False),
    sa.Column('subject_key', sa.String(length=200), nullable=False),
    sa.Column('url', sa.String(length=700), nullable=False),
    sa.Column('occurred_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    *_audit_columns(),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_event')),
    sa.UniqueConstraint('position', name=op.f('uq_feed_event_position'))
    )
    op.create_index(op.f('ix_feed_event_subject_key'), 'feed_event', ['subject_key'], unique=False)
    op.create_index('ix_feed_event_unsequenced', 'feed_event', ['created_at', 'id'], unique=False,
                    postgresql_where=sa.text('position IS NULL'))
    op.create_table('webhook',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('organisation_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('deleted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    *_audit_columns(),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_webhook_organisation_id_organisation'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook'))
    )
    op.create_index(op.f('ix_webhook_organisation_id'), 'webhook', ['organisation_id'], unique=False)
    op.create_table('webhook_delivery',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('webhook_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('event_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.Column('subject_key', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('last_attempt_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('delivered_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    *_audit_columns(),
    sa.ForeignKeyConstraint(['webhook_id'], ['webhook.id'], name=op.f('fk_webhook_delivery_webhook_id_webhook'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['event_id'], ['feed_event.id'], name=op.f('fk_webhook_delivery_event_id_feed_event'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_delivery')),
    sa.UniqueConstraint('webhook_id', 'event_id', name=op.f('uq_webhook_delivery_webhook_id'))
    )
    op.create_index(op.f('ix_webhook_delivery_webhook_id'), 'webhook_delivery', ['webhook_id'], unique=False)
    op.create_index('ix_webhook_delivery_queue', 'webhook_delivery', ['webhook_id', 'position'], unique=False,
                    postgresql_where=sa.text("status <> 'delivered'"))

    # Every public change lands in the feed in the very transaction that stores it, whichever code path stores
    # it: an event exists iff its change committed. Only the open-data tables feed it, and they never hold a
    # sandbox's object nor an offer's content (opendata/ocds.py, decp.py). The position is left NULL: the
    # sequencer (opendata/feed.py) numbers events once committed.
    op.execute("""
        CREATE FUNCTION feed_from_ocds_release() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO feed_event (id, position, kind, object_id, subject_key, url, occurred_at, created_at,
                                    updated_at)
            VALUES (gen_random_uuid(), NULL, 'ocds.release', NEW.release_id, NEW.ocid,
                    '/ocds/releases?ocid=' || NEW.ocid, NEW.date, clock_timestamp(), clock_timestamp());
            RETURN NULL;
        END $$;
    """)
    op.execute("""
        CREATE FUNCTION feed_from_decp_record() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO feed_event (id, position, kind, object_id, subject_key, url, occurred_at, created_at,
                                    updated_at)
            VALUES (gen_random_uuid(), NULL, 'decp.record', NEW.contract_id::text || '/' || NEW.sequence::text,
                    NEW.contract_id::text, '/decp/marches?contract=' || NEW.contract_id::text, NEW.created_at,
                    clock_timestamp(), clock_timestamp());
            RETURN NULL;
        END $$;
    """)
    op.execute("CREATE TRIGGER ocds_release_feed AFTER INSERT ON ocds_release "
               "FOR EACH ROW EXECUTE FUNCTION feed_from_ocds_release()")
    op.execute("CREATE TRIGGER decp_record_feed AFTER INSERT ON decp_record "
               "FOR EACH ROW EXECUTE FUNCTION feed_from_decp_record()")


def downgrade() -> None:
    op.execute("DROP TRIGGER decp_record_feed ON decp_record")
    op.execute("DROP TRIGGER ocds_release_feed ON ocds_release")
    op.execute("DROP FUNCTION feed_from_decp_record()")
    op.execute("DROP FUNCTION feed_from_ocds_release()")
    op.drop_index('ix_webhook_delivery_queue', table_name='webhook_delivery')
    op.drop_index(op.f('ix_webhook_delivery_webhook_id'), table_name='webhook_delivery')
    op.drop_table('webhook_delivery')
    op.drop_index(op.f('ix_webhook_organisation_id'), table_name='webhook')
    op.drop_table('webhook')
    op.drop_index('ix_feed_event_unsequenced', table_name='feed_event')
    op.drop_index(op.f('ix_feed_event_subject_key'), table_name='feed_event')
    op.drop_table('feed_event')
