"""migration check attempts

Revision ID: 8d2f4b6a1c30
Revises: 5e1a9c3d7b20
Create Date: 2026-11-29 09:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8d2f4b6a1c30'
down_revision = '5e1a9c3d7b20'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('migration_batch', schema=None) as batch_op:
        batch_op.add_column(sa.Column('check_attempts', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('migration_batch', schema=None) as batch_op:
        batch_op.drop_column('check_attempts')
