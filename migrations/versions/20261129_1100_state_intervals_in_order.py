"""state intervals in order; CTI event error codes

Intervals of one member and channel never overlap and never have zero length: intervals stored before the
rule are repaired first (each is cut where the next one begins; empty ones are removed), then a check
constraint holds both databases to it and, on PostgreSQL, an exclusion constraint (btree_gist) refuses an
overlap outright. A member records when the latest telephony event applied to its phone state happened,
so an older one arriving later is known to be late. CTI events record why they drove nothing as a code and its parameters, shown in the
reader's language, instead of text in the language of whoever sent them.

Revision ID: 8d1f3b5c7e20
Revises: 6c4e8a2f1d97
Create Date: 2026-11-29 11:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8d1f3b5c7e20'
down_revision = '6c4e8a2f1d97'
branch_labels = None
depends_on = None

NEXT_START = """(SELECT min(b.started_at) FROM agent_state_interval b
    WHERE b.member_id = agent_state_interval.member_id AND b.channel = agent_state_interval.channel
      AND (b.started_at > agent_state_interval.started_at
           OR (b.started_at = agent_state_interval.started_at AND b.id > agent_state_interval.id)))"""


def upgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute("""UPDATE agent_state_interval a SET ended_at = n.next_start
            FROM (SELECT id, lead(started_at) OVER (PARTITION BY member_id, channel ORDER BY started_at, id)
                  AS next_start FROM agent_state_interval) n
            WHERE a.id = n.id AND n.next_start IS NOT NULL AND (a.ended_at IS NULL OR a.ended_at > n.next_start)""")
    else:
        op.execute(f"""UPDATE agent_state_interval SET ended_at = {NEXT_START}
            WHERE {NEXT_START} IS NOT NULL AND (ended_at IS NULL OR ended_at > {NEXT_START})""")
    op.execute("DELETE FROM agent_state_interval WHERE ended_at IS NOT NULL AND ended_at <= started_at")
    with op.batch_alter_table('agent_state_interval', schema=None) as batch_op:
        batch_op.create_check_constraint('ck_agent_state_not_empty', 'ended_at IS NULL OR ended_at > started_at')
    if postgresql:
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute("""ALTER TABLE agent_state_interval ADD CONSTRAINT ex_agent_state_no_overlap
            EXCLUDE USING gist (member_id WITH =, channel WITH =,
                                tsrange(started_at, coalesce(ended_at, 'infinity'::timestamp)) WITH &&)""")
    with op.batch_alter_table('cti_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('error_code', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('error_args', sa.JSON(), nullable=True))
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_cti_event_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_column('last_cti_event_at')
    with op.batch_alter_table('cti_event', schema=None) as batch_op:
        batch_op.drop_column('error_args')
        batch_op.drop_column('error_code')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE agent_state_interval DROP CONSTRAINT ex_agent_state_no_overlap")
    with op.batch_alter_table('agent_state_interval', schema=None) as batch_op:
        batch_op.drop_constraint('ck_agent_state_not_empty', type_='check')
