"""The OpenAI Agents SDK: a one-tool agent on OpenAIResponsesModel or OpenAIChatCompletionsModel, via the gateway."""

from __future__ import annotations

import asyncio

from _common import args, emit, weather
from agents import Agent, OpenAIChatCompletionsModel, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI


@function_tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return weather(city)


async def main() -> None:
    a = args()
    set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=a["base_url"], api_key=a["key"], max_retries=0, timeout=30)
    model_class = OpenAIResponsesModel if a["api"] == "responses" else OpenAIChatCompletionsModel
    agent = Agent(name="weather", instructions="Answer with the tool's result.", tools=[get_weather],
                  model=model_class(model=a["model"], openai_client=client))
    out: dict = {}
    result = await Runner.run(agent, "What is the weather in Paris?", max_turns=4)
    out["run"] = result.final_output
    streamed = Runner.run_streamed(agent, "What is the weather in Paris?", max_turns=4)
    deltas = []
    async for ev in streamed.stream_events():
        if ev.type == "raw_response_event" and getattr(ev.data, "type", "") == "response.output_text.delta":
            deltas.append(ev.data.delta)
    out["stream"] = streamed.final_output
    out["stream_deltas"] = deltas
    out["tool_outputs"] = [item.output for item in streamed.new_items if item.type == "tool_call_output_item"]
    await client.close()
    emit(out)


if __name__ == "__main__":
    asyncio.run(main())
