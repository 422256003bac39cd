"""OpenAPI document: structurally valid 3.1, covers every route, served live, toggled by config, printed by the CLI."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from crabllm.cli.openapi import add_openapi_parser, run_openapi
from crabllm.server.docs.openapi import build_document, docs_html, document_bytes, openapi_handlers
from tests.conftest import ADMIN, KEY, basic_config
from tests.fakes.gateway import GatewayServer
from tests.fakes.openai_upstream import FakeOpenAI

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
MOCK = '\n[providers.mock]\nkind = "mock"\nmodels = ["mock-gpt", "mock-embed"]\n'


def litestar_app(gw: GatewayServer) -> Any:
    """The Litestar app behind the gateway's ASGI entry point (which may wrap it for the fast path)."""
    return getattr(gw.app, "litestar", gw.app)


def ensure_openapi(gw: GatewayServer) -> GatewayServer:
    """Register /openapi.json and /docs on an app that does not wire them yet (a no-op once app.py does)."""
    app = litestar_app(gw)
    if not any(r.path == "/openapi.json" for r in app.routes):
        for handler in openapi_handlers():
            app.register(handler)
    return gw


@pytest.fixture
def docs_gateway(upstream: FakeOpenAI, make_gateway) -> GatewayServer:
    return ensure_openapi(make_gateway(basic_config(upstream.base_url) + MOCK))


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        out = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return out + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items() if method in METHODS]


def test_document_is_valid_openapi_31() -> None:
    from schemathesis.specs.openapi.definitions import OPENAPI_31  # the official 3.1 meta-schema, vendored

    doc = build_document()
    assert doc["openapi"] == "3.1.0"
    errors = [str(e) for e in jsonschema_rs.Draft202012Validator(OPENAPI_31).iter_errors(doc)]
    assert errors == []
    for name, schema in doc["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name
    for ref in refs(doc):
        resolve(doc, ref)  # every $ref resolves
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))
    schemes = set(doc["components"]["securitySchemes"])
    for path, method, op in operations(doc):
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), (method, path)
        assert op["responses"] and op["summary"], (method, path)
        for requirement in op["security"]:
            assert set(requirement) <= schemes


def test_every_route_has_schemas_and_errors() -> None:
    doc = build_document()
    by_id = {op["operationId"]: (path, op) for path, _, op in operations(doc)}
    chat = by_id["createChatCompletion"][1]
    assert chat["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ChatCompletionRequest"}
    ok = chat["responses"]["200"]["content"]
    assert set(ok) == {"application/json", "text/event-stream"}
    for status in ("400", "401", "403", "404", "405", "413", "429", "500", "502", "504"):
        assert resolve(doc, chat["responses"][status]["$ref"])["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorEnvelope"}
    messages = by_id["createMessage"][1]
    assert resolve(doc, messages["responses"]["400"]["$ref"])["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AnthropicError"}
    assert "multipart/form-data" in by_id["createTranscription"][1]["requestBody"]["content"]
    assert by_id["createKey"][1]["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/KeyCreated"}
    assert by_id["revokeKey"][1]["responses"]["204"] == {"description": "Revoked"}
    assert chat["security"] == [{"bearer": []}, {"xApiKey": []}]
    assert by_id["listKeys"][1]["security"] == [{"adminToken": []}]
    assert by_id["health"][1]["security"] == []
    request = doc["components"]["schemas"]["ChatCompletionRequest"]
    assert request["required"] == ["model", "messages"] and "additionalProperties" not in request
    assert doc["components"]["schemas"]["KeyCreate"]["additionalProperties"] is False


def test_every_registered_route_is_documented(docs_gateway: GatewayServer) -> None:
    doc = build_document()
    seen = set()
    for route in litestar_app(docs_gateway).routes:
        path = route.path_format
        assert path in doc["paths"], f"{path} is served but not documented"
        methods = {m.lower() for m in getattr(route, "methods", ())} - {"options", "head"}
        assert methods <= set(doc["paths"][path]), (path, methods)
        seen.add(path)
    # …and the document names nothing the app does not serve.
    assert set(doc["paths"]) == seen


def test_served_live_and_switched_off_by_config(docs_gateway: GatewayServer) -> None:
    with docs_gateway.client() as c:
        r = c.get("/openapi.json")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        assert r.content == document_bytes()
        page = c.get("/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "Scalar.createApiReference" in page.text and '"openapi":"3.1.0"' in page.text
        assert c.post("/openapi.json").status_code == 405
    path = docs_gateway.config_path
    path.write_text("openapi = false\n" + path.read_text())
    with docs_gateway.client(ADMIN) as a:
        assert a.post("/v1/admin/reload").status_code == 200
        for route in ("/openapi.json", "/docs"):
            r = a.get(route)
            assert r.status_code == 404 and "openapi = false" in r.json()["error"]["message"]
        with docs_gateway.client(KEY) as c:  # the rest of the gateway is unaffected
            assert c.post("/v1/chat/completions", json={"model": "mock-gpt", "messages": []}).status_code == 200


def test_docs_page_cannot_be_broken_by_the_document() -> None:
    page = docs_html(b'{"description": "</script><script>alert(1)</script>"}').decode()
    assert page.count("</script>") == 2  # the viewer's tag and the init tag only


def test_cli_prints_document_and_page(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no config file here, and no gateway anywhere
    parser = argparse.ArgumentParser(prog="crabllm")
    add_openapi_parser(parser.add_subparsers(dest="command"))
    assert run_openapi(parser.parse_args(["openapi"])) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == build_document()
    assert run_openapi(parser.parse_args(["openapi", "--format", "html"])) == 0
    html = capsys.readouterr().out
    assert html.startswith("<!doctype html>") and "/v1/chat/completions" in html


def test_crabllm_openapi_command(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "crabllm", "openapi"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert set(json.loads(r.stdout)["paths"]) == set(build_document()["paths"])
    r = subprocess.run([sys.executable, "-m", "crabllm", "openapi", "--format", "html"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "<html" in r.stdout
