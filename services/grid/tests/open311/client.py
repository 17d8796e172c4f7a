#!/usr/bin/env python3
"""Drive the grid's Open311 GeoReport v2 API with a client written by someone else.

The client is civicbot's `Open311Client` (PyPI `civicbot`, pinned in scripts/test): `georeport`,
the first choice, only reads (it has no way to create a request), and the older `open311` and
`three` packages are Python 2 only. Used as its authors intend: an `Endpoint`, a transport
(the client's extension point; this one adds the bearer token to the reads, which the grid
requires since incidents are not public), and `create_request(..., dry_run=False,
confirm="SEND", api_key=...)` for the one write.

Usage: client.py BASE_URL TOKEN HOUSE_CODE
Prints one JSON object: services, definition, created, listed, fetched.
"""
import json
import sys

try:
    from civicbot.http import HttpError, HttpTransport, RateLimiter
    from civicbot.open311 import Open311Client
    from civicbot.registry import Endpoint
except ImportError as e:  # the Rust test turns this into a failure with this message
    print(f"the Open311 client package is missing ({e}): python3 -m pip install civicbot==0.4.0",
          file=sys.stderr)
    sys.exit(3)


class BearerTransport(HttpTransport):
    """The stock transport, with `Authorization: Bearer` on every GET."""

    def __init__(self, token):
        super().__init__(rate_limiter=RateLimiter(min_interval=0.0))
        self.token = token

    def get_json(self, url, params=None, headers=None):
        return super().get_json(url, params, {"Authorization": f"Bearer {self.token}",
                                              **dict(headers or {})})


def main():
    base, token, house = sys.argv[1], sys.argv[2], sys.argv[3]
    endpoint = Endpoint(id="zhiwang-grid", name="Zhiwang grid", base_url=base, write=True)
    client = Open311Client(endpoint, transport=BearerTransport(token))
    out = {}
    try:
        out["services"] = client.list_services()
        out["definition"] = client.get_service_definition("hazard")
        prepared = client.create_request(
            "hazard",
            dry_run=False,
            confirm="SEND",
            api_key=token,
            validate_remote=True,
            address_id=house,
            address_string="Block 3, by the bicycle shed",
            description="Exposed wiring at the bicycle shed",
            email="reporter@example.org",
            first_name="Li",
            last_name="Lei",
            phone="13800138000",
        )
        out["created"] = prepared.response
        request_id = prepared.response[0]["service_request_id"]
        out["listed"] = client.list_requests(service_request_ids=[request_id])
        out["listed_open_hazards"] = client.list_requests(service_code="hazard", status="open")
        out["fetched"] = client.get_request(request_id)
    except HttpError as e:
        print(json.dumps({"error": {"status": e.status, "url": e.url, "body": e.body},
                          "so_far": out}))
        sys.exit(1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
