"""The OpenAPI document (/api/v1/openapi.json) and a readable, server-rendered docs page (/api/v1/docs)."""
from __future__ import annotations

from flask import jsonify, render_template

from portal.access import public
from portal.blueprints.api import api, bp

SECURED = {"orgKey": []}
TAGS = {"api_services": "Services", "api_reports": "Reports", "api_cti": "CTI"}
PROBLEM_RESPONSE = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def document() -> dict:
    """The generated document, with the organization key required everywhere, readable tag names, and
    flask-smorest's default error responses replaced by our problem documents."""
    spec = api.spec.to_dict()
    spec["security"] = [SECURED]
    for name, response in spec.get("components", {}).get("responses", {}).items():
        response.update(PROBLEM_RESPONSE)
    for schema in ("Error", "PaginationMetadata"):
        spec.get("components", {}).get("schemas", {}).pop(schema, None)
    for tag in spec.get("tags", []):
        tag["name"] = TAGS.get(tag["name"], tag["name"])
    for methods in spec["paths"].values():
        for op in methods.values():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            op["tags"] = [TAGS.get(t, t) for t in op.get("tags", [])]
            for status, response in op["responses"].items():
                if status.isdigit() and int(status) >= 400 and "content" in response:
                    # Any error can also come as a problem document (a request the schema refuses).
                    response["content"].setdefault("application/problem+json", PROBLEM_RESPONSE["content"]["application/problem+json"])
    return spec


@bp.get("/openapi.json")
@public
def openapi():
    return jsonify(document())


@bp.get("/docs")
@public
def docs():
    spec = document()
    operations = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            operations.append({"method": method.upper(), "path": path, "tag": (op.get("tags") or [""])[0],
                               "summary": op.get("summary", ""), "description": op.get("description", ""),
                               "parameters": op.get("parameters", []),
                               "body": (op.get("requestBody") or {}).get("content", {}).get("application/json", {})
                               .get("schema"),
                               "responses": op.get("responses", {})})
    return render_template("api/docs.html", spec=spec, operations=operations,
                           schemas=spec.get("components", {}).get("schemas", {}))
