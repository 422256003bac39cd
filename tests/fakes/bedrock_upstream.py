"""A scripted fake Bedrock Runtime (Converse JSON, ConverseStream event-stream) that checks SigV4 with botocore."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from crabllm.translate.eventstream import encode_frame
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import Received, Script

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "us-west-2"
_SIGNED = re.compile(r"SignedHeaders=([^,\s]+)")


@dataclass
class SignatureCheck:
    ok: bool
    expected: str
    received: str


def converse_response(content: list[dict[str, Any]], stop: str = "end_turn", usage: tuple[int, int] = (15, 5)) -> dict[str, Any]:
    return {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop,
            "usage": {"inputTokens": usage[0], "outputTokens": usage[1], "totalTokens": sum(usage)},
            "metrics": {"latencyMs": 42}}


def frame(event_type: str, payload: dict[str, Any]) -> bytes:
    return encode_frame({":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
                        json.dumps(payload).encode())


def exception_frame(kind: str, message: str) -> bytes:
    return encode_frame({":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"},
                        json.dumps({"message": message}).encode())


def text_stream(pieces: list[str], usage: tuple[int, int] = (15, 5)) -> list[bytes]:
    out = [frame("messageStart", {"role": "assistant"})]
    out += [frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": p}}) for p in pieces]
    out += [frame("contentBlockStop", {"contentBlockIndex": 0}), frame("messageStop", {"stopReason": "end_turn"}),
            frame("metadata", {"usage": {"inputTokens": usage[0], "outputTokens": usage[1], "totalTokens": sum(usage)},
                               "metrics": {"latencyMs": 7}})]
    return out


def tool_stream(tool_id: str, name: str, parts: list[str], usage: tuple[int, int] = (40, 12)) -> list[bytes]:
    out = [frame("messageStart", {"role": "assistant"}),
           frame("contentBlockStart", {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": tool_id, "name": name}}})]
    out += [frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": p}}}) for p in parts]
    out += [frame("contentBlockStop", {"contentBlockIndex": 0}), frame("messageStop", {"stopReason": "tool_use"}),
            frame("metadata", {"usage": {"inputTokens": usage[0], "outputTokens": usage[1], "totalTokens": sum(usage)}})]
    return out


def expected_authorization(request: web.Request, body: bytes, token: str | None) -> str:
    """The Authorization botocore computes for the request as received (same clock, same signed headers)."""
    received = request.headers.get("Authorization", "")
    match = _SIGNED.search(received)
    names = match.group(1).split(";") if match else []
    skip = {"host", "x-amz-date", "x-amz-security-token"}
    headers = {name: request.headers[name] for name in names if name not in skip and name in request.headers}
    url = f"http://{request.headers.get('Host', request.host)}{request.raw_path}"
    aws = AWSRequest(method=request.method, url=url, data=body, headers=headers)
    aws.context["timestamp"] = request.headers.get("X-Amz-Date", "")
    auth = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, token), "bedrock", REGION)
    auth._modify_request_before_signing(aws)
    canonical = auth.canonical_request(aws)
    signature = auth.signature(auth.string_to_sign(aws, canonical), aws)
    auth._inject_signature_to_request(aws, signature)
    return aws.headers["Authorization"]


class FakeBedrock(FakeAnthropic):
    """POST /model/<id>/converse and /converse-stream; every request's signature is checked."""

    def __init__(self) -> None:
        super().__init__()
        self.token: str | None = None
        self.checks: list[SignatureCheck] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def path(model: str, stream: bool = False) -> str:
        return f"/model/{model}/{'converse-stream' if stream else 'converse'}"

    async def _answer(self, request: web.Request, rec: Received, script: Script) -> web.StreamResponse:
        expected = expected_authorization(request, rec.body, self.token)
        received = request.headers.get("Authorization", "")
        with self._lock:
            self.checks.append(SignatureCheck(expected == received, expected, received))
        if expected != received:
            return web.json_response({"message": "The request signature we calculated does not match the signature "
                                                 "you provided."}, status=403,
                                     headers={"x-amzn-ErrorType": "InvalidSignatureException:http://internal.amazon.com/"})
        if script.status != 200 or script.body is not None:
            return web.Response(status=script.status, body=script.body or b"", headers=script.headers,
                                content_type=None if "Content-Type" in script.headers else "application/json")
        if request.path.endswith("/converse-stream"):
            chunks = script.chunks if script.chunks is not None else text_stream(["Hello", " from", " Bedrock."])
            return await self._write_stream(request, script, chunks, "application/vnd.amazon.eventstream")
        return web.json_response(self.default_reply or converse_response([{"text": "Hello from the fake Bedrock upstream."}]))
