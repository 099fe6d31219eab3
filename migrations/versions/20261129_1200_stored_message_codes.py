"""stored message codes

What a job or a check writes for people to read later is a code and its parameters, rendered in the reader's
language when shown: a migration batch's outcome, and a job run's progress and outcome. The text columns stay for
the rows written before (shown as they are).

Revision ID: 3d5f7b9e2c14
Revises: 9b3e5d7f2a14
Create Date: 2026-11-29 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3d5f7b9e2c14'
down_revision = '9b3e5d7f2a14'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('migration_batch', 'job_run'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('message_code', sa.String(length=40), nullable=True))
            batch_op.add_column(sa.Column('message_args', sa.JSON(), nullable=True))


def downgrade():
    for table in ('job_run', 'migration_batch'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('message_args')
            batch_op.drop_column('message_code')
