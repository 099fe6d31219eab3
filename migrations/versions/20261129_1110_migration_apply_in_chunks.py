"""migration apply in chunks

A batch is applied in short transactions, one per chunk of rows, instead of one transaction that held the
service's ticket counter for the whole apply: the batch records how many rows are tickets already, the ticket
numbers reserved for the next chunk, which run owns the apply, and what the rows are applied with (the
assignees the check found, the ticket fields when the apply started), so a restarted apply continues exactly.

Revision ID: 8d1f5a3c7b20
Revises: 8d1f3b5c7e20
Create Date: 2026-11-29 11:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8d1f5a3c7b20'
down_revision = '8d1f3b5c7e20'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('migration_batch', schema=None) as batch_op:
        batch_op.add_column(sa.Column('applied_rows', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('numbers_from', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('numbers_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('apply_runs', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('assignees', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('applied_fields', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('migration_batch', schema=None) as batch_op:
        batch_op.drop_column('applied_fields')
        batch_op.drop_column('assignees')
        batch_op.drop_column('apply_runs')
        batch_op.drop_column('numbers_count')
        batch_op.drop_column('numbers_from')
        batch_op.drop_column('applied_rows')
