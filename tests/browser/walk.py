"""A walk of every page: each GET route of tests/access_table.py that renders a page, as the demo's admin, manager
and agent (and an anonymous visitor for the public pages), in Korean and English, 1440 and 390 px wide.

Each page is checked for what a person would see as broken: a server error, text left in the other language
(a catalog message shown untranslated), a page wider than the screen, a control past the screen's edge, a label,
badge or button whose short text wraps or is cut, a button that does nothing. `tests/browser/test_walk.py` runs
it; with WALK_SHOTS=1 it also saves a screenshot of every page under test-artifacts/walk/ for people to look at."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from babel.messages.pofile import read_po
from playwright.sync_api import Page

from tests.access_table import ACCESS

PO = Path(__file__).resolve().parents[2] / "portal/translations/ko/LC_MESSAGES/messages.po"
WIDTHS = (1440, 390)
HEIGHT = 900
LOCALES = ("ko", "en")

# GET routes that answer with something other than a page: files, images, fragments htmx asks for, redirects,
# the JSON API, and log-out (walked last by the smoke test).
NOT_PAGES = {
    "static", "home.healthz", "auth.logout", "auth.language", "contracts.banner", "contracts.billing_export",
    "permission_log.export", "migrations.template", "migrations.errors", "migrations.progress",
    "me.performance_export", "me.cti_log_file", "me.cti_log_export", "agent.phone", "board.moved",
    "workspace.moved", "helpcenter.banner", "helpcenter.switch", "cti.agent_row", "api.openapi",
}
ROLE_LEVELS = {
    "admin": {"member", "service_reader", "service_manager", "org_admin"},
    "manager": {"member", "service_member", "service_reader", "service_manager"},
    "agent": {"member", "service_member", "service_reader"},
    "anonymous": {"public"},
}


def page_paths(role: str, names: dict) -> list[tuple[str, str]]:
    """(endpoint, path) of every page `role` may open, by the access table."""
    out = []
    for endpoint, rule in sorted(ACCESS.items()):
        if rule.method != "GET" or endpoint in NOT_PAGES or endpoint.startswith("api_"):
            continue
        if rule.level not in ROLE_LEVELS[role] or role in rule.not_found_for:
            continue
        path = rule.path.replace("/hc/alpha/", "/hc/demo/")
        out.append((endpoint, path.format(**names)))
    return out


# -- the demo, with one of everything a page can show ----------------------------------------------------------

def build_world(app, live_server: str) -> dict:
    """The demo plus what `seed-demo` leaves out: migration batches (one applied, one checked, one failed with a
    report), tickets from the applied one, an invited member, a custom ticket field, a morning of simulated calls,
    and a finished CTI log export for each walker."""
    from sqlalchemy import select

    from jobs.migration import apply_now, check_now
    from portal.extensions import db
    from portal.models import (Call, CompanyInfo, CtiAgent, JobRun, JobState, Member, MigrationBatch, Organization,
                               Service, Ticket)
    from portal.services import Actor, cti_log, cti_simulator, migration, ticket_fields
    from portal.services.accounts import invite_member
    from portal.services.migration_files import template_workbook
    from portal.services.organizations import rotate_api_key
    from portal.services.storage import store
    from tests.browser.test_migration import BAD, GOOD
    from tests.migration_files import fill

    with app.app_context():
        org = db.session.scalars(select(Organization).filter_by(domain="demo")).one()
        support = db.session.scalars(select(Service).filter_by(organization_id=org.id, service_key="support")).one()
        support_id = support.id
        members = {m.login_id: m for m in db.session.scalars(select(Member).filter_by(organization_id=org.id))}
        actor = Actor(org.id, members["admin"].id)
        custom = ticket_fields.add_custom_field(actor, support, key="region", type="single_choice", label_ko="지역",
                                                label_en="Region", choices="서울\n부산")
        template = template_workbook(support, ticket_fields.fields_of(support), "ko")
        batches = {}
        for name, rows in (("applied", GOOD), ("ready", GOOD), ("failed", BAD)):
            batch = migration.upload(actor, support, f"{name}-tickets.xlsx", fill(template, rows))
            db.session.commit()
            batches[name] = check_now(batch.id).id
            db.session.commit()
        migration.confirm(actor, db.session.get(MigrationBatch, batches["applied"]))
        db.session.commit()
        apply_now(batches["applied"], force=True)
        db.session.commit()
        invited, token = invite_member(actor, name="윤초대", login_id="invited", email="invited@demo.example")
        key = rotate_api_key(Actor(org.id, None), org)
        cti_ids = sorted(db.session.scalars(select(CtiAgent.cti_id).filter_by(organization_id=org.id)))
        exports = {}
        for login in ("admin", "manager", "agent"):
            stored = store(org.id, purpose=cti_log.EXPORT_PURPOSE, filename=f"cti-log-{login}.xlsx",
                           content_type="application/octet-stream", data=b"x")
            run = JobRun(kind=cti_log.EXPORT_KIND, organization_id=org.id, member_id=members[login].id,
                         state=JobState.succeeded, progress=100, result={"file_id": stored.id})
            db.session.add(run)
            db.session.flush()
            exports[login] = run.id
        names = {"service": "support", "member": members["subadmin"].id, "agent": members["agent"].id,
                 "invited": invited.id, "token": token, "batch": batches["failed"], "ready_batch": batches["ready"],
                 "field": ticket_fields.fields_of(support)[0].id, "custom_field": custom.id,
                 "company": db.session.scalars(select(CompanyInfo.id).filter_by(organization_id=org.id)).first(),
                 "exports": exports}
        db.session.commit()
    cti_simulator.send(live_server, key, "support", cti_simulator.scenario(cti_ids, 30, seed=7))
    with app.app_context():
        names["ticket"] = db.session.scalars(select(Ticket.id).filter_by(service_id=support_id)).first()
        calls = select(Call.id).filter_by(service_id=support_id)
        names["call"] = (db.session.scalars(calls.where(Call.outcome == "abandoned")).first()
                         or db.session.scalars(calls).first())
    return names


# -- what is checked on a page ---------------------------------------------------------------------------------

def catalog() -> tuple[list[tuple[str, re.Pattern]], set[str]]:
    """The messages that Korean changes (as patterns, placeholders as wildcards), and their Korean texts."""
    with PO.open("rb") as f:
        cat = read_po(f, locale="ko")
    english, korean = [], set()
    for message in cat:
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for msgid in ids:
            if msgid in strings or not re.search(r"[A-Za-z]{2}", msgid):
                continue
            parts = re.split(r"%\([a-z_]+\)[sd]|%[sd]", msgid)
            # The spaces around a placeholder stay: "%(done)d of %(n)d" must not find the "of" inside "Wolof (wo)".
            pieces = [(r"\s+" if p[:1].isspace() else "") + re.escape(" ".join(p.split()))
                      + (r"\s+" if p[-1:].isspace() and p.strip() else "") for p in parts]
            pattern = re.compile(r"\s*" + r".+?".join(pieces) + r"\s*")
            english.append((msgid, pattern))
        korean.update(" ".join(s.split()) for s in strings if s and re.search(r"[가-힣]", s))
    return english, korean


CHECKS_JS = r"""
() => {
  const vw = window.innerWidth;
  const out = {overflow: 0, beyond: [], wrapped: [], clipped: [], dead: [], texts: []};
  const seen = (el) => {
    if (!el.getClientRects().length) return false;
    const s = getComputedStyle(el);
    if (s.visibility === "hidden" || el.closest("[hidden], [class*=visually-hidden], dialog:not([open]), details:not([open]) > :not(summary)")) return false;
    return true;
  };
  const name = (el) => {
    let n = el.tagName.toLowerCase();
    if (el.id) n += "#" + el.id;
    else if (el.getAttribute("name")) n += "[name=" + el.getAttribute("name") + "]";
    else if (el.className && typeof el.className === "string") n += "." + el.className.trim().split(/\s+/).join(".");
    return n + " '" + (el.innerText || el.value || el.placeholder || "").trim().slice(0, 40) + "'";
  };
  const scrolls = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (/(auto|scroll)/.test(s.overflowX) && p.scrollWidth > p.clientWidth) return true;
    }
    return false;
  };
  out.overflow = document.documentElement.scrollWidth - vw;
  if (out.overflow > 1) {  // name the innermost boxes that stick out, outside any scrolling box
    const wide = [...document.body.querySelectorAll("*")].filter(el => seen(el) && el.getBoundingClientRect().right > vw + 1 && !scrolls(el));
    out.wide = wide.filter(el => !wide.some(other => other !== el && el.contains(other))).slice(0, 5).map(name);
  }
  const controls = "input:not([type=hidden]), select, textarea, button, .btn, label, .badge, .status, .state-pill, th, h1, h2";
  for (const el of document.querySelectorAll(controls)) {
    if (!seen(el) || el.closest(".phone-widget:not(:has(details[open]))")) continue;
    const r = el.getBoundingClientRect();
    if (r.right > vw + 1 && !scrolls(el)) out.beyond.push(name(el));
  }
  // Short texts that should sit on one line: a badge, a button, a tab, a column head, a label beside its field.
  // Only the text a person sees counts (not a screen reader's visually hidden addition).
  const shown = (el) => {
    const nodes = [];
    const w = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let n = w.nextNode(); n; n = w.nextNode()) {
      if (n.textContent.trim() && !n.parentElement.closest("[class*=visually-hidden]")) nodes.push(n);
    }
    return nodes;
  };
  const lines = (el) => {  // boxes that overlap vertically share a line (a smaller word beside a heading does)
    const rows = [];
    for (const n of shown(el)) {
      const range = document.createRange(); range.selectNodeContents(n);
      for (const r of range.getClientRects()) {
        if (r.width > 1 && !rows.some(o => r.top < o.bottom - 2 && r.bottom > o.top + 2)) rows.push(r);
      }
    }
    return rows.length;
  };
  for (const el of document.querySelectorAll(".badge, .status, .state-pill, .btn, button, .tabs a, thead th, label, .lang-option, .steps li, summary, dt, h1")) {
    if (!seen(el) || el.closest("td label")) continue;  // a row's name in a table cell wraps like the cell's text
    const text = shown(el).map(n => n.textContent).join("").trim();
    if (!text || text.length > 30) continue;  // longer is a sentence, which may wrap
    if (lines(el) > 1) out.wrapped.push(name(el));
  }
  // Text cut off: a field narrower than the value, choice or placeholder it shows; a box that hides what it holds.
  const canvas = document.createElement("canvas").getContext("2d");
  const width = (el, text) => { const s = getComputedStyle(el); canvas.font = s.font; return canvas.measureText(text).width; };
  for (const el of document.querySelectorAll("select, input[type=text], input[type=search], input[type=email], input[type=tel], input:not([type]), .btn, button, .badge, .status, th, td, label")) {
    if (!seen(el)) continue;
    const s = getComputedStyle(el);
    if (el.tagName === "SELECT" || el.tagName === "INPUT") {
      const inner = el.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight) - (el.tagName === "SELECT" ? 18 : 0);
      const text = el.tagName === "SELECT" ? (el.selectedOptions.length ? el.selectedOptions[0].text : "") : (el.value || el.placeholder || "");
      if (text && width(el, text) > inner + 1) out.clipped.push(name(el) + " needs " + Math.ceil(width(el, text)) + "px, has " + Math.floor(inner));
    } else if (s.overflowX !== "visible" && s.overflowX !== "auto" && s.overflowX !== "scroll" && el.scrollWidth > el.clientWidth + 1) {
      out.clipped.push(name(el) + " hides " + (el.scrollWidth - el.clientWidth) + "px");
    }
  }
  // A button that does nothing: a plain button with no hook, a submit outside any form, a link going nowhere.
  for (const el of document.querySelectorAll("button, a")) {
    if (!seen(el) || el.disabled) continue;
    // data-close-dialog does something only in a dialog (a link with it still goes to its href elsewhere).
    const hooks = [...el.attributes].some(a => /^(hx-|data-copy|onclick)/.test(a.name)) ||
                  (el.hasAttribute("data-close-dialog") && el.closest("dialog"));
    if (el.tagName === "A") {
      const href = el.getAttribute("href");
      if ((!href || href === "#") && !hooks) out.dead.push(name(el));
    } else if (el.type === "button" && !hooks && !el.closest("[hx-post], [hx-get]")) out.dead.push(name(el));
    else if (el.type === "submit" && !el.form && !hooks) out.dead.push(name(el));
  }
  // Every visible text, placeholder and option label, for the language checks (the language switch names each
  // language in itself, on purpose).
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    const text = n.textContent.replace(/\s+/g, " ").trim();
    if (!text || !el || ["SCRIPT", "STYLE", "CODE", "OPTION"].includes(el.tagName) || el.closest("[lang]:not(html), code, .mono, script, style, template")) continue;
    if (!seen(el) && !el.closest("option")) continue;
    out.texts.push(text);
  }
  for (const el of document.querySelectorAll("[placeholder], [title], option, [aria-label], img[alt]")) {
    if (el.closest("[lang]:not(html)")) continue;
    for (const attr of ["placeholder", "title", "aria-label", "alt"]) { const v = el.getAttribute(attr); if (v) out.texts.push(v.trim()); }
    if (el.tagName === "OPTION") out.texts.push(el.text.trim());
  }
  return out;
}
"""


@dataclass
class Findings:
    """What the walk saw, by kind: each entry names the page (role, locale, width, path) and the element."""
    pages: int = 0
    shots: list[str] = field(default_factory=list)
    problems: dict[str, list[str]] = field(default_factory=dict)
    review: dict[str, set[str]] = field(default_factory=lambda: {"english_in_ko": set(), "hangul_in_en": set()})

    def add(self, kind: str, where: str, what: str) -> None:
        self.problems.setdefault(kind, []).append(f"{where}: {what}")

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps({"pages": self.pages, "shots": len(self.shots), "problems": self.problems,
                                    "review": {k: sorted(v) for k, v in self.review.items()}},
                                   ensure_ascii=False, indent=1))


def check_page(page: Page, where: str, locale: str, findings: Findings, messages) -> None:
    english, korean = messages
    seen = page.evaluate(CHECKS_JS)
    findings.pages += 1
    if seen["overflow"] > 1:
        findings.add("page wider than the screen", where, f"{seen['overflow']} px: {', '.join(seen.get('wide', []))}")
    for kind in ("beyond", "wrapped", "clipped", "dead"):
        label = {"beyond": "past the screen's edge", "wrapped": "short text wraps", "clipped": "text cut off",
                 "dead": "does nothing"}[kind]
        for what in seen[kind]:
            findings.add(label, where, what)
    for text in set(seen["texts"]) if locale in LOCALES else ():
        if locale == "ko":
            hit = next((msgid for msgid, pattern in english if pattern.fullmatch(text)), None)
            if hit:
                findings.add("untranslated", where, text)
            elif re.search(r"[A-Za-z]{3,}", text) and not re.search(r"[가-힣]", text):
                findings.review["english_in_ko"].add(text[:80])
        else:
            if text in korean:
                findings.add("Korean on an English page", where, text)
            elif re.search(r"[가-힣]", text):
                findings.review["hangul_in_en"].add(text[:80])
