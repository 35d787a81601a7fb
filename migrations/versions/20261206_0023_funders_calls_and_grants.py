"""funders (FU1), their calls for projects with versions (FU2), the need filed to a call and the funder's decision
(FU3, N16), the grant's tranches and their requests (FU5, N14, N15); the contract's own payment terms instead of
the funding milestones it carried (FU7)

Revision ID: 0023
Revises: 0025
Create Date: 2026-12-06 09:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0023'
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUID = advanced_alchemy.types.guid.GUID(length=16)
UTC = advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)
ENUMS = {
    'funding_call_scope': ('regional', 'national'),
    'funding_decision_outcome': ('selected', 'rejected'),
    'grant_tranche_kind': ('start', 'acceptance_testing', 'usage_verified'),
    'grant_tranche_status': ('pending', 'requested', 'validated', 'refused', 'paid'),
    'tranche_request_status': ('draft', 'requested', 'validated', 'refused'),
    'need_funding_status': ('filed', 'selected', 'rejected'),
}
ORGANISATION_KINDS = ('holder', 'vendor', 'buyer', 'platform')


def _enum(name: str) -> postgresql.ENUM:
    return postgresql.ENUM(*ENUMS[name], name=name, create_type=False)


def _audit_columns() -> list[sa.Column]:
    return [sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
            sa.Column('created_at', UTC, nullable=False), sa.Column('updated_at', UTC, nullable=False)]


def upgrade() -> None:
    # FU1: an organisation kind of its own. A new enum value can't be used in the transaction that adds it, and
    # ALTER TYPE ... ADD VALUE can't run in a transaction block before PostgreSQL 12: outside it.
    with op.get_context().autocommit_block():
        op.execute("ALTER TYPE organisation_kind ADD VALUE IF NOT EXISTS 'funder'")
    op.add_column('organisation', sa.Column('region', sa.String(length=2), nullable=True))
    op.create_check_constraint(op.f('ck_organisation_funder_region'), 'organisation', "kind = 'funder' OR region IS NULL")
    op.create_index('uq_organisation_funder_region', 'organisation', ['region'], unique=True,
                    postgresql_where=sa.text("kind = 'funder' AND region IS NOT NULL"))
    op.create_index('uq_organisation_national_funder', 'organisation', ['kind'], unique=True,
                    postgresql_where=sa.text("kind = 'funder' AND region IS NULL"))

    for name, values in ENUMS.items():
        postgresql.ENUM(*values, name=name).create(op.get_bind())

    op.create_table('funding_call',
    sa.Column('id', GUID, nullable=False),
    sa.Column('funder_organisation_id', GUID, nullable=False),
    sa.Column('scope', _enum('funding_call_scope'), nullable=False),
    sa.Column('region', sa.String(length=2), nullable=True),
    sa.Column('campaign', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.Column('opens_at', UTC, nullable=False),
    sa.Column('closes_at', UTC, nullable=False),
    sa.Column('envelope_cents', sa.BigInteger(), nullable=False),
    sa.Column('version', sa.SmallInteger(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    *_audit_columns(),
    sa.CheckConstraint('closes_at > opens_at', name=op.f('ck_funding_call_window')),
    sa.CheckConstraint('envelope_cents > 0', name=op.f('ck_funding_call_envelope_positive')),
    sa.CheckConstraint("(scope = 'regional') = (region IS NOT NULL)", name=op.f('ck_funding_call_scope_region')),
    sa.ForeignKeyConstraint(['funder_organisation_id'], ['organisation.id'],
                            name=op.f('fk_funding_call_funder_organisation_id_organisation'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_funding_call')),
    sa.UniqueConstraint('funder_organisation_id', 'reference', name=op.f('uq_funding_call_funder_organisation_id'))
    )
    op.create_index(op.f('ix_funding_call_campaign'), 'funding_call', ['campaign'], unique=False)
    op.create_index(op.f('ix_funding_call_closes_at'), 'funding_call', ['closes_at'], unique=False)
    op.create_index(op.f('ix_funding_call_funder_organisation_id'), 'funding_call', ['funder_organisation_id'],
                    unique=False)

    op.create_table('funding_call_version',
    sa.Column('id', GUID, nullable=False),
    sa.Column('call_id', GUID, nullable=False),
    sa.Column('version', sa.SmallInteger(), nullable=False),
    sa.Column('opens_at', UTC, nullable=False),
    sa.Column('closes_at', UTC, nullable=False),
    sa.Column('envelope_cents', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('changed_by', sa.String(length=200), nullable=False),
    sa.Column('changed_at', UTC, nullable=False),
    *_audit_columns(),
    sa.ForeignKeyConstraint(['call_id'], ['funding_call.id'], name=op.f('fk_funding_call_version_call_id_funding_call'),
                            ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_funding_call_version')),
    sa.UniqueConstraint('call_id', 'version', name=op.f('uq_funding_call_version_call_id'))
    )
    op.create_index(op.f('ix_funding_call_version_call_id'), 'funding_call_version', ['call_id'], unique=False)

    # FU3: the need filed to a call, and where it stands with its funder (written by funding/, read at publication).
    op.add_column('need', sa.Column('call_id', GUID, nullable=True))
    op.add_column('need', sa.Column('funding_status', _enum('need_funding_status'), nullable=True))
    op.add_column('need', sa.Column('funding_filed_at', UTC, nullable=True))
    op.create_index(op.f('ix_need_call_id'), 'need', ['call_id'], unique=False)
    op.create_foreign_key(op.f('fk_need_call_id_funding_call'), 'need', 'funding_call', ['call_id'], ['id'],
                          ondelete='RESTRICT')

    op.create_table('funding_decision',
    sa.Column('id', GUID, nullable=False),
    sa.Column('need_id', GUID, nullable=False),
    sa.Column('call_id', GUID, nullable=False),
    sa.Column('outcome', _enum('funding_decision_outcome'), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=True),
    sa.Column('decided_on', sa.Date(), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=True),
    sa.Column('reasons', sa.Text(), nullable=True),
    sa.Column('document_filename', sa.String(length=300), nullable=True),
    sa.Column('document_size', sa.BigInteger(), nullable=True),
    sa.Column('document_sha256', sa.String(length=64), nullable=True),
    sa.Column('decided_by', sa.String(length=200), nullable=False),
    sa.Column('decided_at', UTC, nullable=False),
    sa.Column('object_key', sa.String(length=500), nullable=True),
    *_audit_columns(),
    sa.CheckConstraint("outcome = 'rejected' OR (amount_cents > 0 AND reference IS NOT NULL AND object_key IS NOT NULL "
                       "AND document_sha256 IS NOT NULL)", name=op.f('ck_funding_decision_selection_complete')),
    sa.CheckConstraint("outcome = 'selected' OR (reasons IS NOT NULL AND amount_cents IS NULL)",
                       name=op.f('ck_funding_decision_rejection_complete')),
    sa.ForeignKeyConstraint(['call_id'], ['funding_call.id'], name=op.f('fk_funding_decision_call_id_funding_call'),
                            ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['need_id'], ['need.id'], name=op.f('fk_funding_decision_need_id_need'),
                            ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_funding_decision')),
    sa.UniqueConstraint('need_id', name=op.f('uq_funding_decision_need_id'))
    )
    op.create_index(op.f('ix_funding_decision_call_id'), 'funding_decision', ['call_id'], unique=False)

    op.create_table('grant_tranche',
    sa.Column('id', GUID, nullable=False),
    sa.Column('decision_id', GUID, nullable=False),
    sa.Column('need_id', GUID, nullable=False),
    sa.Column('position', sa.SmallInteger(), nullable=False),
    sa.Column('kind', _enum('grant_tranche_kind'), nullable=False),
    sa.Column('percent', sa.SmallInteger(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('status', _enum('grant_tranche_status'), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.Column('paid_amount_cents', sa.BigInteger(), nullable=True),
    sa.Column('payment_reference', sa.String(length=100), nullable=True),
    sa.Column('paid_recorded_by', sa.String(length=200), nullable=True),
    sa.Column('paid_recorded_at', UTC, nullable=True),
    *_audit_columns(),
    sa.CheckConstraint('amount_cents >= 0', name=op.f('ck_grant_tranche_amount_not_negative')),
    sa.CheckConstraint('paid_amount_cents IS NULL OR paid_amount_cents = amount_cents',
                       name=op.f('ck_grant_tranche_paid_exactly')),
    sa.CheckConstraint("(status = 'paid') = (paid_amount_cents IS NOT NULL)", name=op.f('ck_grant_tranche_paid_when_paid')),
    sa.ForeignKeyConstraint(['decision_id'], ['funding_decision.id'],
                            name=op.f('fk_grant_tranche_decision_id_funding_decision'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['need_id'], ['need.id'], name=op.f('fk_grant_tranche_need_id_need'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grant_tranche')),
    sa.UniqueConstraint('decision_id', 'position', name=op.f('uq_grant_tranche_decision_id'))
    )
    op.create_index(op.f('ix_grant_tranche_decision_id'), 'grant_tranche', ['decision_id'], unique=False)
    op.create_index(op.f('ix_grant_tranche_need_id'), 'grant_tranche', ['need_id'], unique=False)

    op.create_table('tranche_request',
    sa.Column('id', GUID, nullable=False),
    sa.Column('tranche_id', GUID, nullable=False),
    sa.Column('status', _enum('tranche_request_status'), nullable=False),
    sa.Column('usage_indicators', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('contract_id', GUID, nullable=True),
    sa.Column('uploaded_by', sa.String(length=200), nullable=False),
    sa.Column('uploaded_at', UTC, nullable=False),
    sa.Column('requested_by', sa.String(length=200), nullable=True),
    sa.Column('requested_at', UTC, nullable=True),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', UTC, nullable=True),
    sa.Column('refusal_reasons', sa.Text(), nullable=True),
    sa.Column('filename', sa.String(length=300), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('object_key', sa.String(length=200), nullable=False),
    *_audit_columns(),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_tranche_request_contract_id_contract'),
                            ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['tranche_id'], ['grant_tranche.id'],
                            name=op.f('fk_tranche_request_tranche_id_grant_tranche'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tranche_request')),
    sa.UniqueConstraint('object_key', name=op.f('uq_tranche_request_object_key'))
    )
    op.create_index(op.f('ix_tranche_request_tranche_id'), 'tranche_request', ['tranche_id'], unique=False)
    op.create_index('uq_tranche_request_one_draft', 'tranche_request', ['tranche_id'], unique=True,
                    postgresql_where=sa.text("status = 'draft'"))
    op.create_index('uq_tranche_request_one_pending', 'tranche_request', ['tranche_id'], unique=True,
                    postgresql_where=sa.text("status = 'requested'"))

    # FU7: the contract's own payment terms; the grant's 40/40/20 is the funder's (grant_tranche), no longer the
    # contract's. The milestones recorded so far go with their table (their evidence objects, named by no row any
    # more, with the orphan sweeper).
    op.add_column('contract', sa.Column('payment_terms', sa.Text(), nullable=True))
    op.add_column('contract', sa.Column('payment_schedule', postgresql.JSONB(astext_type=sa.Text()),
                                        server_default=sa.text("'[]'::jsonb"), nullable=False))
    op.drop_index(op.f('ix_contract_milestone_contract_id'), table_name='contract_milestone')
    op.drop_table('contract_milestone')
    sa.Enum(name='contract_milestone_kind').drop(op.get_bind(), checkfirst=False)


def downgrade() -> None:
    op.create_table('contract_milestone',
    sa.Column('id', GUID, nullable=False),
    sa.Column('contract_id', GUID, nullable=False),
    sa.Column('kind', sa.Enum('start', 'acceptance_testing', 'usage_verified', name='contract_milestone_kind'),
              nullable=False),
    sa.Column('position', sa.SmallInteger(), nullable=False),
    sa.Column('percent', sa.SmallInteger(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('validated_by', sa.String(length=200), nullable=True),
    sa.Column('validated_at', UTC, nullable=True),
    sa.Column('object_key', sa.String(length=500), nullable=True),
    sa.Column('evidence_size', sa.BigInteger(), nullable=True),
    sa.Column('evidence_sha256', sa.String(length=64), nullable=True),
    *_audit_columns(),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_contract_milestone_contract_id_contract'),
                            ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contract_milestone')),
    sa.UniqueConstraint('contract_id', 'kind', name=op.f('uq_contract_milestone_kind')),
    sa.UniqueConstraint('contract_id', 'position', name=op.f('uq_contract_milestone_position'))
    )
    op.create_index(op.f('ix_contract_milestone_contract_id'), 'contract_milestone', ['contract_id'], unique=False)
    # The milestones the contracts had before: 40/40/20 of the signed amount, the remainder on the last, none
    # validated (what was validated then is not known any more).
    op.execute("""
        INSERT INTO contract_milestone (id, contract_id, kind, position, percent, amount_cents, created_at, updated_at)
        SELECT gen_random_uuid(), c.id, m.kind::contract_milestone_kind, m.position, m.percent,
               CASE WHEN m.position = 3 THEN c.amount_cents - 2 * (c.amount_cents * 40 / 100)
                    ELSE c.amount_cents * m.percent / 100 END, now(), now()
        FROM contract c CROSS JOIN (VALUES ('start', 1, 40), ('acceptance_testing', 2, 40),
                                          ('usage_verified', 3, 20)) AS m(kind, position, percent)
    """)
    op.drop_column('contract', 'payment_schedule')
    op.drop_column('contract', 'payment_terms')

    op.drop_index('uq_tranche_request_one_pending', table_name='tranche_request',
                  postgresql_where=sa.text("status = 'requested'"))
    op.drop_index('uq_tranche_request_one_draft', table_name='tranche_request',
                  postgresql_where=sa.text("status = 'draft'"))
    op.drop_index(op.f('ix_tranche_request_tranche_id'), table_name='tranche_request')
    op.drop_table('tranche_request')
    op.drop_index(op.f('ix_grant_tranche_need_id'), table_name='grant_tranche')
    op.drop_index(op.f('ix_grant_tranche_decision_id'), table_name='grant_tranche')
    op.drop_table('grant_tranche')
    op.drop_index(op.f('ix_funding_decision_call_id'), table_name='funding_decision')
    op.drop_table('funding_decision')
    op.drop_constraint(op.f('fk_need_call_id_funding_call'), 'need', type_='foreignkey')
    op.drop_index(op.f('ix_need_call_id'), table_name='need')
    op.drop_column('need', 'funding_filed_at')
    op.drop_column('need', 'funding_status')
    op.drop_column('need', 'call_id')
    op.drop_index(op.f('ix_funding_call_version_call_id'), table_name='funding_call_version')
    op.drop_table('funding_call_version')
    op.drop_index(op.f('ix_funding_call_funder_organisation_id'), table_name='funding_call')
    op.drop_index(op.f('ix_funding_call_closes_at'), table_name='funding_call')
    op.drop_index(op.f('ix_funding_call_campaign'), table_name='funding_call')
    op.drop_table('funding_call')
    for name in ENUMS:
        sa.Enum(name=name).drop(op.get_bind(), checkfirst=False)

    # FU1 undone: the funders go (with their memberships and API keys, which cascade), then the enum value. An
    # enum value can't be dropped in PostgreSQL: the type is rebuilt without it.
    op.drop_index('uq_organisation_national_funder', table_name='organisation',
                  postgresql_where=sa.text("kind = 'funder' AND region IS NULL"))
    op.drop_index('uq_organisation_funder_region', table_name='organisation',
                  postgresql_where=sa.text("kind = 'funder' AND region IS NOT NULL"))
    op.drop_constraint(op.f('ck_organisation_funder_region'), 'organisation', type_='check')
    op.drop_column('organisation', 'region')
    op.execute("DELETE FROM organisation WHERE kind = 'funder'")
    op.drop_constraint(op.f('ck_organisation_holder_fields'), 'organisation', type_='check')
    op.execute("ALTER TYPE organisation_kind RENAME TO organisation_kind_with_funder")
    kinds = ", ".join(f"'{kind}'" for kind in ORGANISATION_KINDS)
    op.execute(f"CREATE TYPE organisation_kind AS ENUM ({kinds})")
    op.execute("ALTER TABLE organisation ALTER COLUMN kind TYPE organisation_kind USING kind::text::organisation_kind")
    op.execute("DROP TYPE organisation_kind_with_funder")
    op.create_check_constraint(op.f('ck_organisation_holder_fields'), 'organisation',
                               "kind = 'holder' OR (finess_ej IS NULL AND NOT is_grappe)")
