"""Who may call every endpoint. `tests/test_access.py` fails when an endpoint is missing here, when a
view's declared level differs, or when the behaviour does not match: add a row with every new route.

level: public | member | service_member | service_manager | org_admin | api_key
path: with `{service}` for a service ID of the organization under test, `{token}` for an opaque token.
data: form fields for POST endpoints (the CSRF token is added by the test).
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rule:
    level: str
    path: str
    method: str = "GET"
    data: dict = field(default_factory=dict)


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
    "company_info.index": Rule("org_admin", "/admin/company-info"),
    "cti.settings": Rule("org_admin", "/admin/cti"),
    "cti.agents": Rule("org_admin", "/admin/cti/agents"),
    "permission_log.index": Rule("org_admin", "/admin/permission-log"),
    "migrations.index": Rule("org_admin", "/admin/migrations"),
    "me.settings": Rule("member", "/me/settings"),
    "me.performance": Rule("member", "/me/performance"),
    "me.cti_logs": Rule("member", "/me/cti-logs"),
    "me.switch_service": Rule("member", "/me/current-service", "POST", {"service_key": "{service}"}),
    "workspace.index": Rule("service_member", "/services/{service}/"),
}
