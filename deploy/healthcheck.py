#!/usr/bin/env python3
"""The image's HEALTHCHECK: exit 0 when the service answers 200 on /health.

Standard library only, so the image needs no curl. It asks the address the
server listens on (loopback when it listens on every interface) and never
goes through a proxy from the environment.
"""

from __future__ import annotations

import os
import sys
import urllib.request

WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def health_url() -> str:
    host = os.environ.get("ESTIMATOR_HOST", "127.0.0.1")
    host = WILDCARDS.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{os.environ.get('ESTIMATOR_PORT', '5000')}/health"


def main() -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(health_url(), timeout=3) as response:
            return 0 if response.status == 200 else 1
    except OSError as err:
        print(f"unhealthy: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
