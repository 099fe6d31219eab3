"""One package per menu; each exposes `bp`."""
from portal.blueprints.agent import bp as agent
from portal.blueprints.api import bp as api
from portal.blueprints.auth import bp as auth
from portal.blueprints.board import bp as board
from portal.blueprints.calls import bp as calls
from portal.blueprints.company_info import bp as company_info
from portal.blueprints.contracts import bp as contracts
from portal.blueprints.cti import bp as cti
from portal.blueprints.helpcenter import bp as helpcenter
from portal.blueprints.home import bp as home
from portal.blueprints.me import bp as me
from portal.blueprints.migrations import bp as migrations
from portal.blueprints.org_admins import bp as org_admins
from portal.blueprints.permission_log import bp as permission_log
from portal.blueprints.service_members import bp as service_members
from portal.blueprints.ticket_fields import bp as ticket_fields
from portal.blueprints.tickets import bp as tickets
from portal.blueprints.workspace import bp as workspace

BLUEPRINTS = [auth, home, contracts, org_admins, company_info, cti, permission_log, migrations, me, workspace,
              service_members, ticket_fields, tickets, helpcenter, agent, board, api, calls]
