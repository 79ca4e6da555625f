"""statistics: stored facts (calls, reports, work orders, status changes, incidents) and counters

No personal data in any of these tables: the statistics consumer copies only what it counts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('stat_calls',
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('local_hour', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('topic', sa.String(length=20), nullable=False),
    sa.Column('subject', sa.String(length=100), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('duration_seconds', sa.Integer(), nullable=False),
    sa.Column('district', sa.String(length=100), nullable=True),
    sa.Column('outside_opening_hours', sa.Boolean(), nullable=False),
    sa.Column('related_report_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('call_id', name=op.f('pk_stat_calls'))
    )
    with op.batch_alter_table('stat_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stat_calls_local_date'), ['local_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_stat_calls_started_at'), ['started_at'], unique=False)

    # The primary key is the read path: metric, grain and dimension fixed, a range of period starts.
    op.create_table('stat_counters',
    sa.Column('metric', sa.String(length=20), nullable=False),
    sa.Column('period_kind', sa.String(length=8), nullable=False),
    sa.Column('dim_key', sa.String(length=32), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dim_value', sa.String(length=200), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.Column('sum_seconds', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('metric', 'period_kind', 'dim_key', 'period_start', 'dim_value', name=op.f('pk_stat_counters'))
    )

    op.create_table('stat_incidents',
    sa.Column('incident_id', sa.String(length=200), nullable=False),
    sa.Column('incident_key', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('waste_fraction', sa.String(length=40), nullable=True),
    sa.Column('district', sa.String(length=100), nullable=False),
    sa.Column('street', sa.String(length=200), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('detected_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('calls_in_window', sa.Integer(), nullable=True),
    sa.Column('reports_in_window', sa.Integer(), nullable=True),
    sa.Column('total_calls', sa.Integer(), nullable=True),
    sa.Column('total_reports', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('incident_id', name=op.f('pk_stat_incidents'))
    )
    with op.batch_alter_table('stat_incidents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stat_incidents_detected_at'), ['detected_at'], unique=False)

    op.create_table('stat_reports',
    sa.Column('report_id', sa.String(length=64), nullable=False),
    sa.Column('filed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('local_hour', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('waste_fraction', sa.String(length=40), nullable=True),
    sa.Column('district', sa.String(length=100), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('outside_opening_hours', sa.Boolean(), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('report_id', name=op.f('pk_stat_reports'))
    )
    with op.batch_alter_table('stat_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stat_reports_filed_at'), ['filed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_stat_reports_local_date'), ['local_date'], unique=False)

    op.create_table('stat_workorder_events',
    sa.Column('work_order_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('assignee', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('work_order_id', 'status', 'changed_at', name=op.f('pk_stat_workorder_events'))
    )

    op.create_table('stat_workorders',
    sa.Column('work_order_id', sa.String(length=64), nullable=False),
    sa.Column('report_id', sa.String(length=64), nullable=False),
    sa.Column('assignee', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('sla_working_days', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('work_order_id', name=op.f('pk_stat_workorders'))
    )
    with op.batch_alter_table('stat_workorders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stat_workorders_assignee'), ['assignee'], unique=False)
        batch_op.create_index(batch_op.f('ix_stat_workorders_local_date'), ['local_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_stat_workorders_report_id'), ['report_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('stat_workorders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stat_workorders_report_id'))
        batch_op.drop_index(batch_op.f('ix_stat_workorders_local_date'))
        batch_op.drop_index(batch_op.f('ix_stat_workorders_assignee'))
    op.drop_table('stat_workorders')
    op.drop_table('stat_workorder_events')
    with op.batch_alter_table('stat_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stat_reports_local_date'))
        batch_op.drop_index(batch_op.f('ix_stat_reports_filed_at'))
    op.drop_table('stat_reports')
    with op.batch_alter_table('stat_incidents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stat_incidents_detected_at'))
    op.drop_table('stat_incidents')
    op.drop_table('stat_counters')
    with op.batch_alter_table('stat_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stat_calls_started_at'))
        batch_op.drop_index(batch_op.f('ix_stat_calls_local_date'))
    op.drop_table('stat_calls')
