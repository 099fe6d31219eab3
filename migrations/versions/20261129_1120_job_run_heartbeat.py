"""job run heartbeat

A running job writes its heartbeat every few seconds, so a run whose worker was killed is seen from the database
alone and run again (the reconciler, every tick); attempts fence a stopped attempt out and cap the restarts, and
`stop` says why a run waits again or failed. The reconciler reads pending and running runs by state every tick.

Revision ID: 9a7c5e3b1f42
Revises: 8d1f5a3c7b20
Create Date: 2026-11-29 11:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9a7c5e3b1f42'
down_revision = '8d1f5a3c7b20'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('stop', sa.Enum('worker_stopped', 'given_up', name='job_stop', native_enum=False,
                                                      create_constraint=True, length=16), nullable=True))
        batch_op.create_index('ix_job_run_state_kind', ['state', 'kind'], unique=False)


def downgrade():
    with op.batch_alter_table('job_run', schema=None) as batch_op:
        batch_op.drop_index('ix_job_run_state_kind')
        batch_op.drop_column('stop')
        batch_op.drop_column('attempts')
        batch_op.drop_column('heartbeat_at')
