"""assignment: the member's switch, automatic assignment per service, capacity, API idempotency

Existing services keep assigning by hand (auto_assign false); new ones assign automatically (the model's default).
Every member starts with assignment on.

Revision ID: 4e6a8c0d2f35
Revises: 3d5f7b9e2c14
Create Date: 2026-11-29 13:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


revision = '4e6a8c0d2f35'
down_revision = '3d5f7b9e2c14'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assignment_on', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('assignment_off_until', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('assignment_note', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('assignment_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('assignment_changed_at', sa.DateTime(), nullable=True))
        batch_op.create_foreign_key('fk_member_assignment_by', 'member', ['assignment_by_id'], ['id'],
                                    ondelete='SET NULL')
    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.add_column(sa.Column('auto_assign', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('assign_mode', sa.Enum('round_robin', 'least_loaded', name='assign_mode',
                                                             native_enum=False, create_constraint=True, length=16),
                                      server_default='round_robin', nullable=False))
        batch_op.add_column(sa.Column('ticket_capacity', sa.Integer(), server_default='10', nullable=False))
        batch_op.create_check_constraint(op.f('ck_service_ticket_capacity'), 'ticket_capacity between 1 and 999')
    with op.batch_alter_table('service_member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ticket_capacity', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('last_assigned_at', sa.DateTime(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_service_member_ticket_capacity'),
                                         'ticket_capacity IS NULL OR ticket_capacity between 1 and 999')
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint('uq_ticket_service_id_idempotency_key', ['service_id', 'idempotency_key'])
    with op.batch_alter_table('migration_batch', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assign_after_apply', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index('ix_ticket_service_waiting', 'ticket', ['service_id', 'created_at', 'id'],
                    sqlite_where=sa.text("status = 'unassigned'"), postgresql_where=sa.text("status = 'unassigned'"))
    op.create_index('ix_activity_subject', 'activity', ['subject_type', 'subject_id', 'created_at'])


def downgrade():
    op.drop_index('ix_activity_subject', table_name='activity')
    op.drop_index('ix_ticket_service_waiting', table_name='ticket')
    with op.batch_alter_table('migration_batch', schema=None) as batch_op:
        batch_op.drop_column('assign_after_apply')
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_constraint('uq_ticket_service_id_idempotency_key', type_='unique')
        batch_op.drop_column('idempotency_key')
    with op.batch_alter_table('service_member', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_service_member_ticket_capacity'), type_='check')
        batch_op.drop_column('last_assigned_at')
        batch_op.drop_column('ticket_capacity')
    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_service_ticket_capacity'), type_='check')
        batch_op.drop_column('ticket_capacity')
        batch_op.drop_column('assign_mode')
        batch_op.drop_column('auto_assign')
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_constraint('fk_member_assignment_by', type_='foreignkey')
        batch_op.drop_column('assignment_changed_at')
        batch_op.drop_column('assignment_by_id')
        batch_op.drop_column('assignment_note')
        batch_op.drop_column('assignment_off_until')
        batch_op.drop_column('assignment_on')
