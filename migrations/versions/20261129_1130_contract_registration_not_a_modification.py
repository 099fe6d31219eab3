"""contract registration is not a modification

The once-a-day rule counts modifications (수정) only: registering the first contract (등록, version 1) no longer
locks the day, so a contract registered today can be modified once today. Unique (service, effective_from) becomes
a partial unique index over versions after the first, and a version replaced the day it began may end that day.

Revision ID: 9b3e5d7f2a14
Revises: 9a7c5e3b1f42
Create Date: 2026-11-29 11:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9b3e5d7f2a14'
down_revision = '9a7c5e3b1f42'
branch_labels = None
depends_on = None

MODIFICATIONS = sa.text('version > 1')


def upgrade():
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('uq_contract_service_id_effective_from'), type_='unique')
        batch_op.drop_constraint(op.f('ck_contract_effective_range'), type_='check')
        batch_op.create_check_constraint(op.f('ck_contract_effective_range'), 'effective_to IS NULL OR effective_to >= effective_from')
        batch_op.create_index('uq_contract_one_modification_a_day', ['service_id', 'effective_from'], unique=True,
                              sqlite_where=MODIFICATIONS, postgresql_where=MODIFICATIONS)


def downgrade():
    # Fails while a contract registered and modified the same day exists: the old rule cannot hold it.
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_index('uq_contract_one_modification_a_day', sqlite_where=MODIFICATIONS,
                            postgresql_where=MODIFICATIONS)
        batch_op.drop_constraint(op.f('ck_contract_effective_range'), type_='check')
        batch_op.create_check_constraint(op.f('ck_contract_effective_range'), 'effective_to IS NULL OR effective_to > effective_from')
        batch_op.create_unique_constraint(op.f('uq_contract_service_id_effective_from'), ['service_id', 'effective_from'])
