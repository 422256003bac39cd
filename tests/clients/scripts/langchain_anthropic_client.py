"""langchain-anthropic ChatAnthropic against the gateway's /v1/messages: invoke, stream, a bind_tools loop."""

from __future__ import annotations

from _common import args, emit, weather
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return weather(city)


class Answer(BaseModel):
    city: str
    temperature: int


def tool_loop(llm: ChatAnthropic, stream: bool) -> dict:
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
            "final": final.text if hasattr(final, "text") and not callable(final.text) else final.content}


def main() -> None:
    a = args()
    llm = ChatAnthropic(model=a["model"], base_url=a["base_url"], api_key=a["key"], max_retries=0,
                        default_request_timeout=30, max_tokens=256)
    out: dict = {}
    out["invoke"] = llm.invoke("Say hello").content
    chunks = list(llm.stream("Say hello"))
    out["stream"] = [c.content for c in chunks if c.content]
    total = chunks[0]
    for c in chunks[1:]:
        total = total + c
    usage = total.usage_metadata or {}
    out["stream_usage"] = [usage.get("input_tokens"), usage.get("output_tokens")]
    usage = llm.invoke("Say hello").usage_metadata or {}
    out["invoke_usage"] = [usage.get("input_tokens"), usage.get("output_tokens")]
    out["tools"] = tool_loop(llm, stream=False)
    out["tools_stream"] = tool_loop(llm, stream=True)
    out["structured"] = llm.with_structured_output(Answer, method="json_schema").invoke("Weather in Paris as JSON")\
        .model_dump()
    out["count_tokens"] = llm.get_num_tokens_from_messages([HumanMessage("Count me")])
    emit(out)


if __name__ == "__main__":
    main()
