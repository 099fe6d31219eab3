"""migration staged chunks

The check keeps the rows it found valid, normalized and compressed, chunk by chunk, so the apply inserts them
without reading or validating the file a second time. Rows are kept only until the batch ends.

Revision ID: 7e2a9c4b1d63
Revises: 4e6a8c0d2f35
Create Date: 2026-11-29 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


revision = '7e2a9c4b1d63'
down_revision = '4e6a8c0d2f35'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('migration_staged_chunk',
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('chunk', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('first_row', sa.Integer(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['migration_batch.id'],
                            name=op.f('fk_migration_staged_chunk_batch_id_migration_batch'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                            name=op.f('fk_migration_staged_chunk_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('batch_id', 'chunk', name=op.f('pk_migration_staged_chunk'))
    )
    with op.batch_alter_table('migration_staged_chunk', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_migration_staged_chunk_organization_id'), ['organization_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('migration_staged_chunk', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_migration_staged_chunk_organization_id'))
    op.drop_table('migration_staged_chunk')
