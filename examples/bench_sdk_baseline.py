#!/usr/bin/env python3
"""Baseline 2 of keyplan's benchmark (docs/performance.md): what a user writes instead of keyplan.

It lists every project's API keys with the official Python SDK (pinecone==10.2.0), one project
after another, the way a short script would: token, list projects, then one listing per project.

    bench_sdk_baseline.py BASE_URL

Credentials come from PINECONE_CLIENT_ID and PINECONE_CLIENT_SECRET. The token endpoint is
BASE_URL/oauth/token (keyplan's emulator serves both). Prints one JSON line:
{"sdk_version", "projects", "keys", "import_seconds", "list_seconds"}; list_seconds runs from
the Admin client's construction (the token exchange) to the last listing. Exits non-zero on
any failure.
"""

import json
import os
import sys
import time


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: bench_sdk_baseline.py BASE_URL", file=sys.stderr)
        return 64
    base = sys.argv[1].rstrip("/")
    started = time.perf_counter()
    import pinecone  # noqa: PLC0415 - the import is part of what is measured
    from pinecone import Admin  # noqa: PLC0415

    imported = time.perf_counter()
    admin = Admin(
        client_id=os.environ["PINECONE_CLIENT_ID"],
        client_secret=os.environ["PINECONE_CLIENT_SECRET"],
        host=base,
        oauth_url=f"{base}/oauth/token",
    )
    projects = list(admin.projects.list())
    keys = 0
    for project in projects:
        keys += len(admin.api_keys.list(project_id=project.id))
    finished = time.perf_counter()
    print(
        json.dumps(
            {
                "sdk_version": getattr(pinecone, "__version__", "unknown"),
                "projects": len(projects),
                "keys": keys,
                "import_seconds": imported - started,
                "list_seconds": finished - imported,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
