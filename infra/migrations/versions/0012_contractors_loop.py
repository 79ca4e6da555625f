"""Statistics in event time: a work order's report filing time; older orders move to their report's period

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 12:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0012'
down_revision: Union[str, Sequence[str], None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('stat_workorders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('filed_at', sa.DateTime(timezone=True), nullable=True))
    # Orders stored before: dated by their report's filing where the statistics have the report. The counters
    # follow with `hub stats rebuild`.
    op.execute(
        "UPDATE stat_workorders SET "
        "filed_at = (SELECT r.filed_at FROM stat_reports r WHERE r.report_id = stat_workorders.report_id), "
        "local_date = (SELECT r.local_date FROM stat_reports r WHERE r.report_id = stat_workorders.report_id) "
        "WHERE EXISTS (SELECT 1 FROM stat_reports r WHERE r.report_id = stat_workorders.report_id)"
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('stat_workorders', schema=None) as batch_op:
        batch_op.drop_column('filed_at')
