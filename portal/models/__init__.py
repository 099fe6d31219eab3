"""All models, imported here so Alembic and `db.create_all` see every table."""
from portal.models.activity import Activity
from portal.models.api import IdempotentRequest
from portal.models.billing import MonthlyCharge
from portal.models.company_info import CompanyInfo, HelpCenterFooter
from portal.models.contract import Contract, ContractLine
from portal.models.cti import AgentStateInterval, Call, CtiAgent, CtiEvent, CtiSettings, CtiVersion
from portal.models.job_run import JobRun, JobState, JobStop
from portal.models.member import Invitation, Member, MemberStatus
from portal.models.migration_batch import BatchStatus, MigrationBatch, MigrationStagedChunk
from portal.models.organization import Organization
from portal.models.permission_change import Operation, PermissionChange
from portal.models.service import (
    CHANNELS,
    AssignMode,
    EditorType,
    Service,
    ServiceLanguage,
    ServiceMember,
    ServiceRole,
    ServiceStatus,
    ServiceType,
)
from portal.models.stored_file import StoredFile
from portal.models.ticket import FieldType, Ticket, TicketChannel, TicketField, TicketPriority, TicketStatus

__all__ = [
    "IdempotentRequest",
    "Activity",
    "AgentStateInterval",
    "Call",
    "CtiEvent",
    "CtiAgent",
    "CtiSettings",
    "CtiVersion",
    "BatchStatus",
    "CompanyInfo",
    "HelpCenterFooter",
    "FieldType",
    "MigrationBatch",
    "MigrationStagedChunk",
    "Ticket",
    "TicketChannel",
    "TicketField",
    "TicketPriority",
    "TicketStatus",
    "CHANNELS",
    "Contract",
    "ContractLine",
    "MonthlyCharge",
    "StoredFile",
    "EditorType",
    "Invitation",
    "JobRun",
    "JobState",
    "JobStop",
    "Member",
    "MemberStatus",
    "Operation",
    "Organization",
    "PermissionChange",
    "Service",
    "ServiceLanguage",
    "ServiceMember",
    "AssignMode",
    "ServiceRole",
    "ServiceStatus",
    "ServiceType",
]
