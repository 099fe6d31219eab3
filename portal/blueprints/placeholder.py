"""Menus whose issue has not landed yet render this honest "coming soon" page."""
from flask import render_template


def coming_soon(title: str, *, admin: bool = True) -> str:
    return render_template("placeholder.html", title=title, admin=admin)
