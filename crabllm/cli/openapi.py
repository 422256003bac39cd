"""`crabllm openapi`: print the gateway's OpenAPI document (JSON) or its viewer page (HTML), offline."""

from __future__ import annotations

import argparse
import sys


def add_openapi_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "openapi", help="print the OpenAPI document",
        description="Print the OpenAPI 3.1 document the gateway serves at /openapi.json (or, with --format html, "
                    "the /docs viewer page). Needs no running gateway and no config file.")
    p.add_argument("--format", choices=("json", "html"), default="json", help="json (default) or html")


def run_openapi(args: argparse.Namespace) -> int:
    from crabllm.server.docs.openapi import docs_html, document_bytes

    document = document_bytes()
    if getattr(args, "format", "json") == "html":
        sys.stdout.write(docs_html(document).decode())
    else:
        import json

        sys.stdout.write(json.dumps(json.loads(document), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return 0
