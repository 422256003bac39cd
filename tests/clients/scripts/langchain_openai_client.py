"""langchain-openai ChatOpenAI (chat or Responses API) against the gateway: invoke, stream, tools, structured output."""

from __future__ import annotations

from _common import args, emit, weather
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return weather(city)


class Answer(BaseModel):
    city: str
    temperature: int


def text(message: object) -> str:
    """A message's text whether content is a string (chat) or a list of blocks (Responses API)."""
    value = message.text  # type: ignore[attr-defined]
    return value() if callable(value) else value


def tool_loop(llm: ChatOpenAI, stream: bool) -> dict:
    bound = llm.bind_tools([get_weather])
    messages = [HumanMessage("What is the weather in Paris?")]
    if stream:
        first = None
        for chunk in bound.stream(messages):
            first = chunk if first is None else first + chunk
    else:
        first = bound.invoke(messages)
    messages.append(first)
    for call in first.tool_calls:
        messages.append(ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"]))
    final = bound.invoke(messages)
    return {"tool_calls": [{"name": c["name"], "args": c["args"], "id": c["id"]} for c in first.tool_calls],
            "final": text(final)}


def main() -> None:
    a = args()
    llm = ChatOpenAI(model=a["model"], base_url=a["base_url"], api_key=a["key"], max_retries=0, timeout=30,
                     stream_usage=True, use_responses_api=bool(a.get("responses")))
    out: dict = {}
    out["invoke"] = text(llm.invoke("Say hello"))
    chunks = list(llm.stream("Say hello"))
    out["stream"] = [text(c) for c in chunks if text(c)]
    total = chunks[0]
    for c in chunks[1:]:
        total = total + c
    usage = total.usage_metadata or {}
    out["stream_usage"] = [usage.get("input_tokens"), usage.get("output_tokens")]
    usage = llm.invoke("Say hello").usage_metadata or {}
    out["invoke_usage"] = [usage.get("input_tokens"), usage.get("output_tokens")]
    out["tools"] = tool_loop(llm, stream=False)
    out["tools_stream"] = tool_loop(llm, stream=True)
    answer = llm.with_structured_output(Answer).invoke("Weather in Paris as JSON")
    out["structured"] = answer.model_dump()
    emit(out)


if __name__ == "__main__":
    main()
