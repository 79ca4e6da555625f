"""Open311: the clients' API keys (hashed) and their requests; a report may have a point and no street

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-03 11:20:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('open311_api_keys',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_open311_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_open311_api_keys_key_hash'))
    )
    op.create_table('open311_requests',
    sa.Column('service_request_id', sa.String(length=64), nullable=False),
    sa.Column('client', sa.String(length=100), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('service_code', sa.String(length=64), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('address_string', sa.String(length=300), nullable=True),
    sa.Column('address_id', sa.String(length=100), nullable=True),
    sa.Column('media_url', sa.String(length=1000), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('agency_responsible', sa.String(length=300), nullable=False),
    sa.Column('service_notice', sa.Text(), nullable=False),
    sa.Column('expected_date', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('service_request_id', name=op.f('pk_open311_requests'))
    )
    with op.batch_alter_table('open311_requests', schema=None) as batch_op:
        batch_op.create_index('ix_open311_requests_resend', ['client', 'fingerprint', 'requested_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_open311_requests_requested_at'), ['requested_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_open311_requests_service_code'), ['service_code'], unique=False)
    # A report may carry a point alone (ReportFiled 1.1): the router places it, or sends it to triage unplaced.
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.alter_column('street', existing_type=sa.String(length=200), nullable=True)
        batch_op.alter_column('postcode', existing_type=sa.String(length=4), nullable=True)
        batch_op.alter_column('district', existing_type=sa.String(length=100), nullable=True)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.alter_column('district', existing_type=sa.String(length=100), nullable=False)
        batch_op.alter_column('postcode', existing_type=sa.String(length=4), nullable=False)
        batch_op.alter_column('street', existing_type=sa.String(length=200), nullable=False)
    with op.batch_alter_table('open311_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_open311_requests_service_code'))
        batch_op.drop_index(batch_op.f('ix_open311_requests_requested_at'))
        batch_op.drop_index('ix_open311_requests_resend')
    op.drop_table('open311_requests')
    op.drop_table('open311_api_keys')
