"""Flattening chat messages into one prompt for text-completion (base) models.

The format is part of lmp's stable surface: cache keys of text models depend on it and optimizers
tune demos against it, so change it only with a version note. It is:

    <system content>            (if any system message; several are joined in order)
    <blank line>
    User: <content>
    <blank line>
    Assistant: <content>
    <blank line>
    ...
    User: <last content>
    <blank line>
    Assistant:

The prompt always ends with the assistant cue ``Assistant:`` so the model continues as the assistant,
and `TEXT_STOP` stops it before it starts writing the next user turn itself.
"""

from __future__ import annotations

from .base import Message

USER_LABEL = "User:"
ASSISTANT_LABEL = "Assistant:"
# Stop before the model invents the next user turn (with and without the blank line).
TEXT_STOP: tuple[str, ...] = ("\nUser:", "\n\nUser:")


def flatten_messages(messages: list[Message]) -> str:
    blocks: list[str] = []
    for m in messages:
        content = m["content"].strip()
        if m["role"] == "system":
            blocks.append(content)
        elif m["role"] == "user":
            blocks.append(f"{USER_LABEL} {content}")
        else:
            blocks.append(f"{ASSISTANT_LABEL} {content}")
    blocks.append(ASSISTANT_LABEL)
    return "\n\n".join(b for b in blocks if b)


def merge_stop(user_stop: str | list[str] | None) -> list[str]:
    """The caller's stop sequences plus the transcript's, without duplicates, order kept.

    OpenAI-style servers accept at most 4 stop strings, so the list is capped there.
    """
    stops: list[str] = []
    if isinstance(user_stop, str):
        stops.append(user_stop)
    elif user_stop:
        stops.extend(user_stop)
    for s in TEXT_STOP:
        if s not in stops:
            stops.append(s)
    return stops[:4]
