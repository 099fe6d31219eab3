"""Who may call every endpoint. `tests/test_access.py` fails when an endpoint is missing here, when a
view's declared level differs, or when the behaviour does not match: add a row with every new route.

level: public | member | service_member | service_reader | service_manager | org_admin | api_key
path: with `{service}` for a service ID of the organization under test, `{member}` for a plain member of it,
`{agent}` for an agent of that service, `{invited}` for an invited member and `{token}` for their invitation's
token, `{batch}` for a migration batch of it (check failed, with an error report), `{ready_batch}` for one checked
without errors, `{field}` / `{custom_field}` for a system / custom ticket field of the service, `{ticket}` for a
ticket and `{call}` for a missed inbound call of it, `{company}` for a company info entry, `{export}` for a
finished CTI log export of the caller's own.
data: form fields for POST endpoints (the CSRF token is added by the test).
ok: what an admitted caller gets; never 404, which would pass when the path is wrong, and never a redirect with an
error message. A role the level admits but for whom the page does not exist by design goes in `not_found_for` (and
gets exactly 404); one the action refuses by design, with a message, in `refused_for`; the reason beside the row.
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rule:
    level: str
    path: str
    method: str = "GET"
    data: dict = field(default_factory=dict)
    ok: tuple = (200, 302, 303)  # what an admitted caller gets (422: admitted, and the dummy input refused)
    not_found_for: tuple = ()
    refused_for: tuple = ()

    def __post_init__(self):
        assert 404 not in self.ok, f"{self.path}: a 404 is no success; name the roles in not_found_for"


ACCESS = {
    "static": Rule("public", "/static/portal.css"),
    "auth.login": Rule("public", "/login"),
    "auth.logout": Rule("member", "/logout"),
    "auth.invite": Rule("public", "/invite/{token}"),
    "auth.language": Rule("public", "/language", "POST", {"code": "en"}),
    "home.index": Rule("member", "/"),
    "home.healthz": Rule("public", "/healthz"),
    "contracts.status": Rule("org_admin", "/admin/services"),
    "contracts.new_service": Rule("org_admin", "/admin/services/new"),
    "contracts.edit_service": Rule("org_admin", "/admin/services/{service}/edit"),
    "contracts.banner": Rule("member", "/admin/services/{service}/banner"),
    "contracts.contract": Rule("org_admin", "/admin/services/{service}/contract"),
    "contracts.contract_estimate": Rule("org_admin", "/admin/services/{service}/contract/estimate", "POST",
                                        {"use.base.seat": "on", "qty.base.seat": "3"}),
    "contracts.toggle_status": Rule("org_admin", "/admin/services/{service}/status", "POST", {"to": "suspended"}),
    "contracts.terminate": Rule("org_admin", "/admin/services/{service}/terminate"),
    "contracts.billing_page": Rule("org_admin", "/admin/billing"),
    "contracts.billing_export": Rule("org_admin", "/admin/billing.xlsx"),
    "contracts.organization": Rule("org_admin", "/admin/organization"),
    "contracts.rotate_key": Rule("org_admin", "/admin/organization/api-key"),
    "org_admins.index": Rule("org_admin", "/admin/org-admins"),
    "org_admins.invite": Rule("org_admin", "/admin/org-admins/invite"),
    "org_admins.resend": Rule("org_admin", "/admin/org-admins/invitations/{invited}/resend", "POST"),
    "org_admins.revoke_invitation": Rule("org_admin", "/admin/org-admins/invitations/{invited}/revoke", "POST"),
    "org_admins.add": Rule("org_admin", "/admin/org-admins/add"),
    "org_admins.search": Rule("org_admin", "/admin/org-admins/search?name=a"),
    "org_admins.grant": Rule("org_admin", "/admin/org-admins/{member}/grant", "POST"),
    "org_admins.revoke": Rule("org_admin", "/admin/org-admins/{member}/revoke"),
    "service_members.index": Rule("service_manager", "/services/{service}/members"),
    "service_members.search": Rule("service_manager", "/services/{service}/members/search?name=a"),
    "service_members.add": Rule("service_manager", "/services/{service}/members/add", "POST",
                                {"member_id": "{member}", "role": "agent"}),
    "service_members.channel": Rule("service_manager", "/services/{service}/members/{agent}/channel", "POST",
                                    {"channel": "chat", "value": "off"}),
    "service_members.role": Rule("service_manager", "/services/{service}/members/{agent}/role", "POST",
                                 {"role": "agent"}),
    "service_members.remove": Rule("service_manager", "/services/{service}/members/{agent}/remove"),
    "service_members.assignment_settings": Rule("service_manager", "/services/{service}/members/assignment", "POST",
                                                {"auto": "on", "mode": "least_loaded", "capacity": "12"}),
    "service_members.row": Rule("service_manager", "/services/{service}/members/{agent}"),
    "service_members.capacity_edit": Rule("service_manager", "/services/{service}/members/{agent}/capacity"),
    "service_members.capacity_save": Rule("service_manager", "/services/{service}/members/{agent}/capacity", "POST",
                                          {"capacity": "5"}),
    "company_info.index": Rule("org_admin", "/admin/company-info"),
    "company_info.new": Rule("org_admin", "/admin/company-info/new"),
    "company_info.edit": Rule("org_admin", "/admin/company-info/{company}"),
    "company_info.delete": Rule("org_admin", "/admin/company-info/{company}/delete", "POST"),
    "company_info.apply": Rule("org_admin", "/admin/company-info/apply"),
    "helpcenter.entry": Rule("public", "/hc/alpha/{service}/"),
    "helpcenter.switch": Rule("public", "/hc/alpha/{service}/switch?lang=ko"),
    "helpcenter.page": Rule("public", "/hc/alpha/{service}/ko/"),
    "helpcenter.document": Rule("public", "/hc/alpha/{service}/ko/terms"),
    "helpcenter.banner": Rule("public", "/hc/alpha/{service}/banner"),
    "cti.settings": Rule("org_admin", "/admin/cti"),
    "cti.toggle": Rule("org_admin", "/admin/cti/{service}/toggle", "POST", {"name": "log_monitoring", "value": "on"}),
    "cti.retention": Rule("org_admin", "/admin/cti/{service}/retention", "POST", {"days": "90"}),
    "cti.acw_limit": Rule("org_admin", "/admin/cti/{service}/acw-limit", "POST", {"seconds": "60"}),
    "cti.agents": Rule("org_admin", "/admin/cti/agents"),
    "cti.agent_row": Rule("org_admin", "/admin/cti/agents/{agent}"),
    "cti.agent_edit": Rule("org_admin", "/admin/cti/agents/{agent}/edit"),
    "cti.agent_save": Rule("org_admin", "/admin/cti/agents/{agent}", "POST", {"cti_id": "agt01", "cti_number": "7001"}),
    "permission_log.index": Rule("org_admin", "/admin/permission-log"),
    "permission_log.export": Rule("org_admin", "/admin/permission-log.xlsx"),
    "migrations.index": Rule("org_admin", "/admin/migrations"),
    "migrations.new": Rule("org_admin", "/admin/migrations/new?service={service}"),
    "migrations.template": Rule("org_admin", "/admin/migrations/template/{service}.xlsx"),
    "migrations.detail": Rule("org_admin", "/admin/migrations/{batch}"),
    "migrations.progress": Rule("org_admin", "/admin/migrations/{batch}/progress"),
    "migrations.errors": Rule("org_admin", "/admin/migrations/{batch}/errors.xlsx"),
    "migrations.confirm": Rule("org_admin", "/admin/migrations/{ready_batch}/confirm", "POST", {"understood": "on"}),
    "migrations.delete": Rule("org_admin", "/admin/migrations/{batch}/delete", "POST"),
    "ticket_fields.index": Rule("service_manager", "/services/{service}/ticket-fields"),
    "ticket_fields.add": Rule("service_manager", "/services/{service}/ticket-fields", "POST",
                              {"key": "extra", "type": "text", "label_ko": "추가", "label_en": "Extra"}),
    "ticket_fields.update": Rule("service_manager", "/services/{service}/ticket-fields/{field}", "POST",
                                 {"label_ko": "제목", "label_en": "Title", "required": "on"}),
    "ticket_fields.move": Rule("service_manager", "/services/{service}/ticket-fields/{field}/move", "POST",
                               {"direction": "down"}),
    "ticket_fields.delete": Rule("service_manager", "/services/{service}/ticket-fields/{custom_field}/delete", "POST"),
    "tickets.index": Rule("service_reader", "/services/{service}/tickets"),
    "tickets.assign": Rule("service_member", "/services/{service}/tickets/{ticket}/assign", "POST",
                           {"assignee": "{agent}"}),
    # The world's ticket has number 1 (tests/test_access.py) and waits unassigned: no move applies to it, so those
    # who may work on it are refused with a message; the agent, not its assignee, is refused before that.
    # tests/test_ticket_page.py checks the moves themselves.
    "tickets.detail": Rule("service_reader", "/services/{service}/tickets/1"),
    "tickets.move": Rule("service_reader", "/services/{service}/tickets/1/status", "POST", {"status": "resolved"},
                         refused_for=("agent", "manager", "admin")),
    "tickets.give_back": Rule("service_reader", "/services/{service}/tickets/1/return", "POST",
                              refused_for=("agent", "manager", "admin")),
    "calls.index": Rule("service_reader", "/services/{service}/calls"),
    "calls.called_back": Rule("service_member", "/services/{service}/calls/{call}/called-back", "POST"),
    # The widget is for members with CTI credentials in the service they work in (the agent and the manager
    # here); it has no ID in its path, the service is the member's own current one. The plain member and the
    # org admin work in no service: there is no widget for them.
    "agent.phone": Rule("member", "/agent/phone", not_found_for=("member", "admin")),
    "agent.phone_action": Rule("member", "/agent/phone/login", "POST", not_found_for=("member", "admin")),
    "board.index": Rule("service_manager", "/services/{service}/board"),
    "board.moved": Rule("service_manager", "/agent/{service}/board", ok=(301,)),
    "board.supervise_form": Rule("service_manager", "/services/{service}/board/members/{agent}/state"),
    "agent.state": Rule("member", "/agent/state", "POST", {"channel": "phone", "state": "offline"}),
    "board.supervise": Rule("service_manager", "/services/{service}/board/members/{agent}/state", "POST",
                            {"channel": "phone", "state": "offline", "reason": "end of shift"}),
    "board.assignment_form": Rule("service_manager", "/services/{service}/board/members/{agent}/assignment"),
    "board.assignment_switch": Rule("service_manager", "/services/{service}/board/members/{agent}/assignment",
                                    "POST", {"on": "off", "reason": "vacation"}),
    "api_cti.ingest": Rule("api_key", "/api/v1/cti/events", "POST"),
    "api.openapi": Rule("public", "/api/v1/openapi.json"),
    "api.docs": Rule("public", "/api/v1/docs"),
    "api_services.list_services": Rule("api_key", "/api/v1/services"),
    "api_services.create_service": Rule("api_key", "/api/v1/services", "POST"),
    "api_services.get_service": Rule("api_key", "/api/v1/services/{service}"),
    "api_services.update_service": Rule("api_key", "/api/v1/services/{service}", "PATCH"),
    "api_services.suspend_service": Rule("api_key", "/api/v1/services/{service}/suspend", "POST"),
    "api_services.resume_service": Rule("api_key", "/api/v1/services/{service}/resume", "POST"),
    "api_services.terminate_service": Rule("api_key", "/api/v1/services/{service}/terminate", "POST"),
    "api_services.get_contract": Rule("api_key", "/api/v1/services/{service}/contract"),
    "api_services.change_contract": Rule("api_key", "/api/v1/services/{service}/contract", "PUT"),
    "api_services.estimate_contract": Rule("api_key", "/api/v1/services/{service}/contract/estimate", "POST"),
    "api_tickets.create_ticket": Rule("api_key", "/api/v1/services/{service}/tickets", "POST"),
    "api_tickets.get_ticket": Rule("api_key", "/api/v1/services/{service}/tickets/1"),
    "api_reports.list_charges": Rule("api_key", "/api/v1/charges?from=2026-01&to=2026-02"),
    "api_reports.list_batches": Rule("api_key", "/api/v1/migration-batches"),
    "api_reports.get_batch": Rule("api_key", "/api/v1/migration-batches/{batch}"),
    "api_reports.list_permission_log": Rule("api_key", "/api/v1/permission-log"),
    "me.settings": Rule("member", "/me/settings"),
    "me.profile": Rule("member", "/me/settings/profile", "POST", {"name": "Same Name"}),
    "me.password": Rule("member", "/me/settings/password", "POST", {"current": "x", "new": "y", "confirm": "y"},
                        ok=(422,)),
    "me.assignment_settings": Rule("member", "/me/settings/assignment", "POST", {"state": "on"}),
    "me.assignment_toggle": Rule("member", "/me/assignment", "POST", {"on": "1"}),
    "me.performance": Rule("member", "/me/performance"),
    # The plain member and the org admin work in no service: no figures to export.
    "me.performance_export": Rule("member", "/me/performance.xlsx", not_found_for=("member", "admin")),
    "me.cti_logs": Rule("member", "/me/cti-logs"),
    # Only org admins and managers of the CTI service may start one (404 for the others).
    "me.cti_log_start": Rule("member", "/me/cti-logs", "POST", {"service": "{service}", "from": "2026-01-01"},
                             ok=(303,), not_found_for=("member", "agent")),
    "me.cti_log_export": Rule("member", "/me/cti-logs/exports/{export}"),
    "me.cti_log_file": Rule("member", "/me/cti-logs/exports/{export}/file"),
    # The plain member and the org admin are no members of the service: they cannot work in it.
    "me.switch_service": Rule("member", "/me/current-service", "POST", {"service_key": "{service}"},
                              refused_for=("member", "admin")),
    "workspace.index": Rule("service_member", "/workspace/{service}"),
    "workspace.moved": Rule("service_member", "/services/{service}/", ok=(301,)),
}
