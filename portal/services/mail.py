"""Outgoing mail. Without MAIL_SERVER (development) messages are written to the log instead of sent."""
from __future__ import annotations

from flask import current_app
from flask_mail import Message

from portal.extensions import mail


def send_mail(to: str, subject: str, body: str) -> None:
    if not current_app.config["MAIL_SERVER"]:
        current_app.logger.warning("Mail (not sent, MAIL_SERVER unset) to %s: %s\n%s", to, subject, body)
        return
    mail.send(Message(subject=subject, recipients=[to], body=body))
