"""Incident orders: a live incident's reports folded into one work order per assignee (router_incidents,
incident_orders, incident_links; work_orders.kind), and the statistics' view of them (stat_workorders.incident_id,
stat_folded_reports)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 15:23:28.780413

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0015'
down_revision: Union[str, Sequence[str], None] = '0014'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('incident_links',
    sa.Column('report_id', sa.String(length=64), nullable=False),
    sa.Column('assignee', sa.String(length=64), nullable=False),
    sa.Column('work_order_id', sa.String(length=64), nullable=False),
    sa.Column('incident_id', sa.String(length=200), nullable=False),
    sa.Column('how', sa.String(length=10), nullable=False),
    sa.Column('merged_work_order_id', sa.String(length=64), nullable=True),
    sa.Column('street', sa.String(length=200), nullable=True),
    sa.Column('house_number', sa.String(length=20), nullable=True),
    sa.Column('filed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('announced', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('unfolded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('unfolded_by', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('report_id', 'assignee', name=op.f('pk_incident_links'))
    )
    with op.batch_alter_table('incident_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_links_work_order_id'), ['work_order_id'], unique=False)

    op.create_table('incident_orders',
    sa.Column('work_order_id', sa.String(length=64), nullable=False),
    sa.Column('incident_id', sa.String(length=200), nullable=False),
    sa.Column('assignee', sa.String(length=64), nullable=False),
    sa.Column('reports', sa.Integer(), nullable=False),
    sa.Column('first_report_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_report_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('pending', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('work_order_id', name=op.f('pk_incident_orders')),
    sa.UniqueConstraint('incident_id', 'assignee', name='uq_incident_orders_incident_assignee')
    )
    op.create_table('router_incidents',
    sa.Column('incident_id', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('district', sa.String(length=100), nullable=False),
    sa.Column('street', sa.String(length=200), nullable=True),
    sa.Column('waste_fraction', sa.String(length=40), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('detected_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('streets', sa.Text(), nullable=False),
    sa.Column('draft_nl', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('incident_id', name=op.f('pk_router_incidents'))
    )
    with op.batch_alter_table('router_incidents', schema=None) as batch_op:
        batch_op.create_index('ix_router_incidents_key', ['category', 'district'], unique=False)

    op.create_table('stat_folded_reports',
    sa.Column('report_id', sa.String(length=64), nullable=False),
    sa.Column('work_order_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('report_id', 'work_order_id', name=op.f('pk_stat_folded_reports'))
    )
    with op.batch_alter_table('stat_workorders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('incident_id', sa.String(length=200), nullable=True))

    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=10), server_default='report', nullable=False))
        batch_op.drop_constraint(batch_op.f('uq_work_orders_report_assignee'), type_='unique')
        batch_op.create_unique_constraint('uq_work_orders_report_assignee_kind', ['report_id', 'assignee', 'kind'])



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.drop_constraint('uq_work_orders_report_assignee_kind', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_work_orders_report_assignee'), ['report_id', 'assignee'])
        batch_op.drop_column('kind')

    with op.batch_alter_table('stat_workorders', schema=None) as batch_op:
        batch_op.drop_column('incident_id')

    op.drop_table('stat_folded_reports')
    with op.batch_alter_table('router_incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_router_incidents_key')

    op.drop_table('router_incidents')
    op.drop_table('incident_orders')
    with op.batch_alter_table('incident_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_links_work_order_id'))

    op.drop_table('incident_links')
