"""Operator commands: `flask org create`, `flask seed-demo`, `flask jobs …`, `flask cti simulate`,
`flask tickets simulate`, …"""
from __future__ import annotations

import click
from flask import Flask, current_app, url_for
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from jobs.cti import purge_expired
from jobs.migration import sweep_now
from portal.devtools.demo import seed_demo
from portal.devtools import ticket_simulator
from portal.devtools.load import fill_permission_log
from portal.extensions import db
from portal.models import CtiAgent, JobRun, Organization, Service, ServiceMember
from portal.services import Actor, ServiceError, cti_simulator
from portal.services.accounts import invitation_mail
from portal.services.cti import settings_of
from portal.services.jobs import job_message, periodic_jobs, reenqueue_lost_runs, schedule_next, start_job
from portal.services.mail import send_mail
from portal.services.organizations import provision_organization, rotate_api_key
from portal.services.permissions import verify_chain

org_cli = AppGroup("org", help="Organizations (the platform operator's commands).")
jobs_cli = AppGroup("jobs", help="Background jobs.")
audit_cli = AppGroup("audit", help="The permission change log.")
migration_cli = AppGroup("migration", help="Ticket migration batches.")
cti_cli = AppGroup("cti", help="CTI telephony: the simulator and the CTI log.")
tickets_cli = AppGroup("tickets", help="Tickets: the simulator of the Open API's ticket stream.")


def _invite_link(token: str) -> str:
    with current_app.test_request_context(base_url=current_app.config["PORTAL_URL"]):
        return url_for("auth.invite", token=token, _external=True)


@org_cli.command("create")
@click.option("--name", required=True, help="Organization name.")
@click.option("--domain", required=True, help="Domain: lowercase letters, digits, hyphens.")
@click.option("--admin-login", required=True, help="Login ID of the first org admin.")
@click.option("--admin-email", required=True)
@click.option("--admin-name", default=None, help="Defaults to the login ID.")
@click.option("--password", default=None, help="Set the admin's password now instead of e-mailing an invitation.")
def create_org(name, domain, admin_login, admin_email, admin_name, password):
    """Provision an organization with its first org admin. Running it again changes nothing."""
    try:
        done = provision_organization(
            name=name, domain=domain, admin_login=admin_login, admin_email=admin_email,
            admin_name=admin_name, password=password,
        )
    except ServiceError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()
    org = done.organization
    if not done.created:
        click.echo(f"Organization {org.domain} ({org.public_id}) already exists with admin {done.admin.login_id}; nothing changed.")
        return
    click.echo(f"Created organization {org.name} — domain {org.domain}, organization ID {org.public_id}.")
    if done.invitation_token:
        link = _invite_link(done.invitation_token)
        send_mail(done.admin.email, *invitation_mail(done.admin, link))
        click.echo(f"Invitation sent to {done.admin.email}. Link: {link}")
    else:
        click.echo(f"Admin {done.admin.login_id} can log in now.")


@click.command("seed-demo")
@with_appcontext
@click.option("--password", envvar="DEMO_PASSWORD", default="demo-pass-1234", show_default=True,
              help="Dev-only password of every demo member.")
def seed_demo_command(password):
    """Create the demo organization (domain `demo`) with an admin, a manager and agents. Idempotent."""
    try:
        result = seed_demo(password)
    except ServiceError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo("Demo data " + ("created." if result.created else "already present; nothing changed."))
    click.echo(f"Log in with organization '{result.domain}' and password '{password}' (development only) as:")
    for login, role in result.logins:
        click.echo(f"  {login:<10} {role}")


@jobs_cli.command("demo")
@click.option("-n", default=10, show_default=True)
def demo_job(n):
    """Enqueue the demonstration job and print its run ID (watch it with `flask jobs show ID`)."""
    run = start_job("demo.count_to", n, organization_id=None)
    db.session.commit()
    click.echo(f"Enqueued job run {run.id}.")


@jobs_cli.command("schedule")
def schedule_jobs():
    """Make sure every periodic job (declared with a schedule in jobs/) waits for its next run, and every pending run
    is in Redis (idempotent; run at every deploy, and after Redis lost its data)."""
    others = []
    for spec in periodic_jobs():
        run, action = schedule_next(spec)
        db.session.commit()
        if run is None:
            others.append(spec.title)
            continue
        click.echo({
            "created": f"{spec.title} scheduled (job run {run.id}).",
            "re-enqueued": f"{spec.title} job run {run.id} was pending but missing from Redis; enqueued it again.",
            "kept": f"{spec.title} job run {run.id} already waits in Redis; left as it is.",
        }[action])
    if others:
        listed = ", ".join(others[:-1]) + " and " + others[-1] if len(others) > 1 else others[0]
        click.echo(f"{listed[0].upper()}{listed[1:]} scheduled.")
    # Not only the periodic jobs: any pending run whose job Redis lost (a reserved batch's apply, a queued check).
    for run in reenqueue_lost_runs():
        click.echo(f"Job run {run.id} ({run.kind}) was pending but missing from Redis; enqueued it again.")
    db.session.commit()


@jobs_cli.command("show")
@click.argument("run_id", type=int)
def show_job(run_id):
    run = db.session.get(JobRun, run_id)
    if run is None:
        raise click.ClickException(f"No job run {run_id}.")
    stopped = ""
    if run.stop and run.heartbeat_at:  # its worker stopped: waiting again, or given up
        stopped = f" [{run.stop.value} after attempt {run.attempts}; last heartbeat {run.heartbeat_at:%H:%M} UTC]"
    click.echo(f"{run.kind}: {run.state.value} {run.progress}% {job_message(run) or ''}{stopped}")


@audit_cli.command("verify")
@click.option("--domain", default=None, help="Only this organization (default: all).")
def audit_verify(domain):
    """Check every organization's permission log chain; report the first broken link. Exit 1 if any is broken."""
    query = select(Organization).order_by(Organization.domain)
    if domain:
        query = query.where(Organization.domain == domain)
    orgs = list(db.session.scalars(query))
    if not orgs:
        raise click.ClickException(f"No organization {domain!r}.")
    broken = False
    for org in orgs:
        report = verify_chain(org.id)
        if report.ok:
            click.echo(f"{org.domain}: {report.rows} rows, chain intact.")
        else:
            broken = True
            click.echo(f"{org.domain}: BROKEN at row {report.broken_at_seq}: {report.reason}.")
    if broken:
        raise SystemExit(1)


@click.command("seed-load")
@with_appcontext
@click.option("--permission-log", "log_rows", type=int, default=0, help="Rows of permission log to add.")
@click.option("--domain", default="demo", show_default=True)
def seed_load_command(log_rows, domain):
    """Fill the database for benchmarks (on top of the demo data): a valid, chained permission log."""
    added = fill_permission_log(domain, log_rows, progress=lambda n: click.echo(f"  {n:,} rows…"))
    click.echo(f"Added {added:,} permission log rows to {domain}.")


@migration_cli.command("apply-due")
@click.option("--now", "now_", is_flag=True, help="Apply every reserved batch now, whatever its scheduled time.")
def migration_apply_due(now_):
    """Apply reserved batches that are due (or all reserved ones with --now), and restart dead checks."""
    result = sweep_now(force=now_)
    db.session.commit()
    applied = [state for state in result["applied"] if state]
    click.echo(f"Applied {len(applied)} batch(es): {', '.join(applied) or 'none due'}; "
               f"restarted {len(result['restarted_checks'])} check(s).")


def _one_service(service_key: str, domain: str | None) -> Service:
    query = select(Service).where(Service.service_key == service_key)
    if domain:
        query = query.join(Organization, Organization.id == Service.organization_id).where(Organization.domain == domain)
    found = list(db.session.scalars(query))
    if not found:
        raise click.ClickException(f"No service {service_key!r}.")
    if len(found) > 1:
        raise click.ClickException(f"Several organizations have a service {service_key!r}; give --domain.")
    return found[0]


def _api_key(service: Service, key: str | None, rotate_key: bool) -> str:
    """The key to post with: given, or (--rotate-key) a new one, printed once."""
    if rotate_key:
        key = rotate_api_key(Actor(service.organization_id, None), db.session.get(Organization, service.organization_id))
        db.session.commit()
        click.echo(f"New organization API key (the old one no longer works): {key}")
    if not key:
        raise click.ClickException("Give the organization API key with --key or PORTAL_API_KEY (or --rotate-key).")
    return key


@cti_cli.command("simulate")
@click.option("--service", "service_key", required=True, help="Service ID (a service with phone CTI).")
@click.option("--domain", default=None, help="Organization domain (needed when several have this service ID).")
@click.option("--agents", type=click.IntRange(1, 10_000), default=5, show_default=True,
              help="How many of the service's CTI agents take part.")
@click.option("--calls", type=click.IntRange(0, 10_000_000), default=50, show_default=True)
@click.option("--rate", type=click.FloatRange(min=0.1), default=None, help="Events per second at most (default: as fast as possible).")
@click.option("--url", default=None, help="Portal address (default: PORTAL_URL).")
@click.option("--key", envvar="PORTAL_API_KEY", default=None, help="Organization API key (or PORTAL_API_KEY).")
@click.option("--rotate-key", is_flag=True, help="Issue a new organization key for this run (the old one stops working).")
@click.option("--batch", type=click.IntRange(1, 500), default=20, show_default=True, help="Events per request.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, show_default=True, help="Parallel connections.")
@click.option("--seed", type=int, default=None, help="Random seed, for a repeatable scenario.")
def cti_simulate(service_key, domain, agents, calls, rate, url, key, rotate_key, batch, concurrency, seed):
    """Post realistic CTI event streams (inbound and outbound calls, answered and abandoned, transfers,
    breaks) for the service's agents to the ingest endpoint over HTTP."""
    service = _one_service(service_key, domain)
    cti_ids = list(db.session.scalars(
        select(CtiAgent.cti_id).join(ServiceMember, ServiceMember.member_id == CtiAgent.member_id)
        .where(ServiceMember.service_id == service.id, ServiceMember.can_phone.is_(True)).order_by(CtiAgent.cti_id)
        .limit(agents)))
    if len(cti_ids) < agents:
        raise click.ClickException(f"{service_key} has {len(cti_ids)} phone agent(s) with CTI credentials; "
                                   f"give CTI IDs to more agents (CTI agents page) or ask for fewer.")
    key = _api_key(service, key, rotate_key)
    after_call_bulk = settings_of(service).after_call_bulk
    db.session.commit()
    streams = cti_simulator.scenario(cti_ids, calls, seed=seed, after_call_bulk=after_call_bulk)
    total = sum(len(s) for s in streams)
    target = url or current_app.config["PORTAL_URL"]
    click.echo(f"Posting {total} events of {calls} calls by {len(cti_ids)} agents to {target} …")
    try:
        stats = cti_simulator.send(target, key, service_key, streams, batch=batch, rate=rate, concurrency=concurrency)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(stats.summary())
    if stats.rejected:
        raise SystemExit(1)


@cti_cli.command("purge-log")
def cti_purge_log():
    """Delete CTI events older than each service's retention now (the daily job does the same)."""
    deleted = purge_expired()
    click.echo("Deleted " + (", ".join(f"{n:,} event(s) of {key}" for key, n in deleted.items()) or "nothing") + ".")


@tickets_cli.command("simulate")
@click.option("--service", "service_key", required=True, help="Service ID.")
@click.option("--domain", default=None, help="Organization domain (needed when several have this service ID).")
@click.option("--rate", type=click.FloatRange(min=0.1, max=10_000), default=5, show_default=True,
              help="Tickets per second.")
@click.option("--count", type=click.IntRange(1, 1_000_000), default=20, show_default=True, help="Tickets in all.")
@click.option("--url", default=None, help="Portal address (default: PORTAL_URL).")
@click.option("--key", envvar="PORTAL_API_KEY", default=None, help="Organization API key (or PORTAL_API_KEY).")
@click.option("--rotate-key", is_flag=True, help="Issue a new organization key for this run (the old one stops working).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True, help="Parallel connections.")
@click.option("--seed", type=int, default=None, help="Random seed, for a repeatable stream.")
@click.option("--quiet", is_flag=True, help="Only the summary, not a line per ticket.")
def tickets_simulate(service_key, domain, rate, count, url, key, rotate_key, concurrency, seed, quiet):
    """Post a realistic stream of web and e-mail tickets (Korean and English) to the service through the Open API,
    RATE a second, COUNT in all, and say which agent each one went to."""
    service = _one_service(service_key, domain)
    key = _api_key(service, key, rotate_key)
    db.session.commit()
    target = url or current_app.config["PORTAL_URL"]
    click.echo(f"Posting {count} tickets to {service_key} at {target}, {rate:g} a second …")

    def said(ticket: ticket_simulator.Created) -> None:
        if not quiet:
            click.echo(f"#{ticket.number} {ticket.channel:<5} → {ticket.assignee or '(queue)':<12} {ticket.title}")

    try:
        stats = ticket_simulator.send(target, key, service_key, ticket_simulator.tickets(count, seed=seed), rate=rate,
                                      concurrency=concurrency, on_created=said)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(stats.summary())


def register(app: Flask) -> None:
    app.cli.add_command(org_cli)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(seed_load_command)
    app.cli.add_command(audit_cli)
    app.cli.add_command(migration_cli)
    app.cli.add_command(cti_cli)
    app.cli.add_command(tickets_cli)
