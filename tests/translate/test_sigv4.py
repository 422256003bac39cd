"""SigV4: our signature equals botocore's SigV4Auth for a fixed clock (botocore is test-only)."""

from __future__ import annotations

from datetime import datetime, timezone

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from crabllm.translate.sigv4 import canonical_query, canonical_uri, converse_path, sign

NOW = datetime(2024, 6, 20, 12, 34, 56, tzinfo=timezone.utc)
MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
HOST = "https://bedrock-runtime.us-east-1.amazonaws.com"


def botocore_authorization(monkeypatch: pytest.MonkeyPatch, url: str, headers: dict[str, str], body: bytes,
                           token: str | None) -> AWSRequest:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: NOW.replace(tzinfo=None))
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token), "bedrock", "us-east-1").add_auth(request)
    return request


def test_converse_path_encodes_the_model_id_once() -> None:
    assert converse_path(MODEL, False) == "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    assert converse_path(MODEL, True).endswith("/converse-stream")
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet"
    assert converse_path(arn, False) == "/model/" + arn.replace(":", "%3A").replace("/", "%2F") + "/converse"


def test_canonical_uri_double_encodes() -> None:
    assert canonical_uri(converse_path(MODEL, False)) == "/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse"
    assert canonical_uri("") == "/"
    assert canonical_uri("/a/./b/../c/") == "/a/c/"


def test_canonical_query_sorts_and_normalises_encoding() -> None:
    assert canonical_query("b=2&a=x y&a=1&c") == "a=1&a=x%20y&b=2&c="


@pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzEJr//////////session+token=="])
@pytest.mark.parametrize("query", ["", "?b=2&a=x%20y&empty="])
@pytest.mark.parametrize("stream", [False, True])
def test_signature_matches_botocore(monkeypatch: pytest.MonkeyPatch, token: str | None, query: str, stream: bool) -> None:
    url = HOST + converse_path(MODEL, stream) + query
    body = b'{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}'
    headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "crabllm"}
    ours = sign("POST", url, headers, body, access_key="AKIDEXAMPLE",
                secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", session_token=token,
                region="us-east-1", now=NOW)
    theirs = botocore_authorization(monkeypatch, url, {**headers, "X-Amz-Content-SHA256": ours["x-amz-content-sha256"]},
                                    body, token)
    assert ours["authorization"] == theirs.headers["Authorization"]
    assert ours["x-amz-date"] == theirs.headers["X-Amz-Date"] == "20240620T123456Z"
    assert ("x-amz-security-token" in ours) == (token is not None)
    if token:
        assert ours["x-amz-security-token"] == theirs.headers["X-Amz-Security-Token"] == token
    assert "Credential=AKIDEXAMPLE/20240620/us-east-1/bedrock/aws4_request" in ours["authorization"]
    assert "user-agent" not in ours["authorization"].split("SignedHeaders=")[1].split(",")[0]


def test_nonstandard_port_is_part_of_the_signed_host(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "http://127.0.0.1:8123" + converse_path(MODEL, False)
    ours = sign("POST", url, {}, b"{}", access_key="AK", secret_key="SK", region="eu-west-1", now=NOW)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: NOW.replace(tzinfo=None))
    request = AWSRequest(method="POST", url=url, data=b"{}", headers={"X-Amz-Content-SHA256": ours["x-amz-content-sha256"]})
    SigV4Auth(Credentials("AK", "SK"), "bedrock", "eu-west-1").add_auth(request)
    assert ours["authorization"] == request.headers["Authorization"]


def test_aws_documented_example_signing_key() -> None:
    # The signing-key example from AWS's SigV4 documentation.
    from crabllm.translate.sigv4 import signing_key
    key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
