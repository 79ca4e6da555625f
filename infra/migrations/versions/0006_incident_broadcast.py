"""Statistics: when the communication team's notice about an incident went out (IncidentBroadcast)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 16:10:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('stat_incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('broadcast_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('stat_incidents', schema=None) as batch_op:
        batch_op.drop_column('broadcast_at')
