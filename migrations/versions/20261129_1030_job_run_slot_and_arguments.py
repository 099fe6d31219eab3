"""job run slot and arguments

A job run records what its RQ job carried (its arguments and when it was to run), so the reconciler can enqueue
it again when Redis loses it; a periodic run names its slot, unique per job, so two `flask jobs schedule` at once
cannot create two month closings.

Revision ID: 6c4e8a2f1d97
Revises: 3f6b2d8e9a41
Create Date: 2026-11-29 10:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6c4e8a2f1d97'
down_revision = '3f6b2d8e9a41'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('args', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('run_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('slot', sa.String(length=32), nullable=True))
        batch_op.create_index('uq_job_run_slot', ['kind', 'slot'], unique=True,
                              sqlite_where=sa.text('slot IS NOT NULL'), postgresql_where=sa.text('slot IS NOT NULL'))


def downgrade():
    with op.batch_alter_table('job_run', schema=None) as batch_op:
        batch_op.drop_index('uq_job_run_slot', sqlite_where=sa.text('slot IS NOT NULL'),
                            postgresql_where=sa.text('slot IS NOT NULL'))
        batch_op.drop_column('slot')
        batch_op.drop_column('run_at')
        batch_op.drop_column('args')
