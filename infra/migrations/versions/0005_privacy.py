"""Operations: erasures of reporters' contact data (on request and by retention), recorded without the data

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('privacy_erasures',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('erasure_id', sa.String(length=64), nullable=False),
    sa.Column('report_id', sa.String(length=64), nullable=False),
    sa.Column('trigger', sa.String(length=12), nullable=False),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('report_erased', sa.Boolean(), nullable=False),
    sa.Column('outbox_rows', sa.Integer(), nullable=False),
    sa.Column('delivery_rows', sa.Integer(), nullable=False),
    sa.Column('dead_letters', sa.Integer(), nullable=True),
    sa.Column('notified', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_erasures')),
    sa.UniqueConstraint('erasure_id', name=op.f('uq_privacy_erasures_erasure_id'))
    )
    with op.batch_alter_table('privacy_erasures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_privacy_erasures_report_id'), ['report_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('privacy_erasures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_privacy_erasures_report_id'))

    op.drop_table('privacy_erasures')
