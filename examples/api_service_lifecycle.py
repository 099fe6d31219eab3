"""Create a service, contract it, suspend it and terminate it through the Open API.

    PORTAL_URL=http://127.0.0.1:5000 PORTAL_API_KEY=oc_… python examples/api_service_lifecycle.py [service-id]

The organization key comes from Organization info → Issue API key. Every POST carries an Idempotency-Key, so
running a step twice (a retry after a timeout) never does it twice."""
from __future__ import annotations

import os
import sys
import uuid

import requests


def main() -> int:
    base = os.environ.get("PORTAL_URL", "http://127.0.0.1:5000").rstrip("/") + "/api/v1"
    key = os.environ.get("PORTAL_API_KEY")
    if not key:
        print("Set PORTAL_API_KEY to the organization key.", file=sys.stderr)
        return 2
    service_id = sys.argv[1] if len(sys.argv) > 1 else "apidemo" + uuid.uuid4().hex[:6].translate(
        str.maketrans("0123456789", "ghijklmnop"))
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {key}", "Accept-Language": "en"})

    def call(method: str, path: str, body: dict | None = None) -> dict:
        headers = {"Idempotency-Key": str(uuid.uuid4())} if method != "GET" else {}
        response = session.request(method, base + path, json=body, headers=headers, timeout=30)
        if response.status_code >= 400:
            problem = response.json()
            raise SystemExit(f"{method} {path} → {response.status_code} {problem['code']}: {problem['detail']}")
        return response.json()

    service = call("POST", "/services", {"service_id": service_id, "name": f"API demo {service_id}",
                                         "type": "counseling", "languages": ["ko", "en"], "default_language": "ko",
                                         "time_zone": "Asia/Seoul"})
    print(f"created {service['service_id']} ({service['status']})")
    quantities = {"base.seat": 5}
    estimate = call("POST", f"/services/{service_id}/contract/estimate", {"quantities": quantities})
    print(f"estimate: {estimate['total']:,} KRW a month")
    contract = call("PUT", f"/services/{service_id}/contract", {"quantities": quantities, "base_version": None})
    print(f"contract version {contract['version']} in force from {contract['effective_from']}")
    print(f"status: {call('POST', f'/services/{service_id}/suspend')['status']}")
    ended = call("POST", f"/services/{service_id}/terminate", {"confirm_service_id": service_id})
    print(f"status: {ended['status']} on {ended['terminated_on']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
