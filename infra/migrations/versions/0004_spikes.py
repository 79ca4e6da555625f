"""Spikes: counts per incident key, alert state, alerts, silences, communication-team notifications

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 12:49:16.358657

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('alert_notifications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('notification_id', sa.String(length=300), nullable=False),
    sa.Column('alert_id', sa.String(length=300), nullable=False),
    sa.Column('routing_key', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_notifications')),
    sa.UniqueConstraint('notification_id', name=op.f('uq_alert_notifications_notification_id'))
    )
    with op.batch_alter_table('alert_notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_notifications_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index('ix_alert_notifications_due', ['next_attempt_at'], unique=False, postgresql_where=sa.text("state = 'pending'"), sqlite_where=sa.text("state = 'pending'"))

    op.create_table('alert_silences',
    sa.Column('silence_id', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=True),
    sa.Column('district', sa.String(length=100), nullable=True),
    sa.Column('street', sa.String(length=200), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('silence_id', name=op.f('pk_alert_silences'))
    )
    op.create_table('alerts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('alert_id', sa.String(length=300), nullable=False),
    sa.Column('incident_id', sa.String(length=200), nullable=False),
    sa.Column('incident_key', sa.String(length=400), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('district', sa.String(length=100), nullable=False),
    sa.Column('street', sa.String(length=200), nullable=True),
    sa.Column('event_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('onset', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('observed', sa.Integer(), nullable=False),
    sa.Column('expected', sa.Float(), nullable=False),
    sa.Column('p_value', sa.Float(), nullable=False),
    sa.Column('routing_key', sa.String(length=40), nullable=True),
    sa.Column('body', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts')),
    sa.UniqueConstraint('alert_id', name=op.f('uq_alerts_alert_id')),
    sa.UniqueConstraint('incident_id', 'kind', 'seq', name='uq_alerts_incident_kind_seq')
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_event_at'), ['event_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_incident_id'), ['incident_id'], unique=False)

    op.create_table('spike_assignments',
    sa.Column('report_id', sa.String(length=64), nullable=False),
    sa.Column('assignee', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('report_id', 'assignee', name=op.f('pk_spike_assignments'))
    )
    op.create_table('spike_contacts',
    sa.Column('contact_id', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('district', sa.String(length=100), nullable=False),
    sa.Column('street', sa.String(length=200), nullable=True),
    sa.Column('waste_fraction', sa.String(length=40), nullable=True),
    sa.Column('report_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('contact_id', name=op.f('pk_spike_contacts'))
    )
    with op.batch_alter_table('spike_contacts', schema=None) as batch_op:
        batch_op.create_index('ix_spike_contacts_group', ['category', 'district', 'at'], unique=False)

    op.create_table('spike_counts',
    sa.Column('key_id', sa.String(length=400), nullable=False),
    sa.Column('bucket_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('calls', sa.Integer(), nullable=False),
    sa.Column('reports', sa.Integer(), nullable=False),
    sa.Column('linked_calls', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key_id', 'bucket_start', name=op.f('pk_spike_counts'))
    )
    with op.batch_alter_table('spike_counts', schema=None) as batch_op:
        batch_op.create_index('ix_spike_counts_bucket_start', ['bucket_start'], unique=False)

    op.create_table('spike_state',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('baseline_day', sa.Date(), nullable=True),
    sa.Column('baseline', sa.JSON(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_spike_state'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('spike_state')
    with op.batch_alter_table('spike_counts', schema=None) as batch_op:
        batch_op.drop_index('ix_spike_counts_bucket_start')

    op.drop_table('spike_counts')
    with op.batch_alter_table('spike_contacts', schema=None) as batch_op:
        batch_op.drop_index('ix_spike_contacts_group')

    op.drop_table('spike_contacts')
    op.drop_table('spike_assignments')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_incident_id'))
        batch_op.drop_index(batch_op.f('ix_alerts_event_at'))

    op.drop_table('alerts')
    op.drop_table('alert_silences')
    with op.batch_alter_table('alert_notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_notifications_due', postgresql_where=sa.text("state = 'pending'"), sqlite_where=sa.text("state = 'pending'"))
        batch_op.drop_index(batch_op.f('ix_alert_notifications_alert_id'))

    op.drop_table('alert_notifications')
