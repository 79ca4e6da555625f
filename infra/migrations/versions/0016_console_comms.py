"""The communication team's console: its own text of an incident's notice per language

Revision ID: 0016
Revises: 0012
Create Date: 2026-12-03 15:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0016'
down_revision: Union[str, Sequence[str], None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('incident_drafts',
    sa.Column('incident_id', sa.String(length=200), nullable=False),
    sa.Column('lang', sa.String(length=2), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('edited_by', sa.String(length=100), nullable=False),
    sa.Column('edited_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('incident_id', 'lang', name=op.f('pk_incident_drafts'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('incident_drafts')
