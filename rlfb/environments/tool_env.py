"""`ToolEnvironment`: the model calls tools until it answers without a call.

Each assistant turn is parsed with the episode's tool format. Every well-formed call runs through
`run_tool` (never raising; a hang is a timeout observation) and every malformed call gets its
error text back (after the results of the well-formed calls); all are counted in the episode state. A turn without any call attempt is the
final answer and ends the episode; so does the last turn of ``max_turns``.
"""

from __future__ import annotations

from rlfb.environments.base import (
    Environment,
    EpisodeState,
    StepResult,
    ToolFormat,
    run_tool,
)
from rlfb.environments.formats import TagsFormat

_PARSE_ONLY = TagsFormat(None)


class ToolEnvironment(Environment):
    """An environment whose step runs the tools the model calls (see the module docstring).

    Subclasses set the attributes of `Environment` (``tools`` above all) and, usually, a
    ``data_source`` and a ``reward``.
    """

    def respond(self, state: EpisodeState, assistant_message: str) -> StepResult:
        """Run this turn's calls; done when the message makes none."""
        fmt: ToolFormat = state.tool_format or _PARSE_ONLY
        parsed = fmt.parse(assistant_message, self.tools)
        if not parsed.has_calls:
            return StepResult([], True, {"calls": 0})
        results: list[tuple[str | None, str]] = []
        statuses: list[str] = []
        seconds = 0.0
        for call in parsed.calls:
            tool = self.tool(call.name)
            assert tool is not None  # parse() with the tools only returns known tools
            outcome = run_tool(tool, call.arguments)
            results.append((call.name, outcome.content))
            statuses.append(outcome.status)
            seconds += outcome.seconds
        results += [(None, text) for text in parsed.malformed]
        state.tool_calls += len(parsed.calls)
        state.tool_errors += statuses.count("error")
        state.tool_timeouts += statuses.count("timeout")
        state.malformed_calls += len(parsed.malformed)
        state.tool_seconds += seconds
        info = {"calls": len(parsed.calls), "malformed": len(parsed.malformed),
                "statuses": statuses, "tool_seconds": seconds}
        return StepResult(fmt.observations(results), False, info)

