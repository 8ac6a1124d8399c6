"""The one place where route modules are registered: each service issue adds its module here."""

from __future__ import annotations

from flask import Flask

from services.gateway.routes import (
    annual_reports,
    applications,
    audit,
    funding,
    materials,
    notify,
    ops,
    panels,
    reports,
    review,
)

BLUEPRINTS = (
    ops.bp,
    applications.bp,
    annual_reports.bp,
    materials.bp,
    funding.bp,
    review.bp,
    panels.bp,
    notify.bp,
    reports.bp,
    audit.bp,
)


def register_routes(app: Flask) -> None:
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    undeclared = sorted(endpoint for endpoint, view in app.view_functions.items() if not hasattr(view, "operation"))
    if undeclared:
        raise RuntimeError(f"every route must be declared with @operation; not declared: {', '.join(undeclared)}")
