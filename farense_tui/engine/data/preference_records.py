"""What one line of a preference data file must look like (DPO and ORPO train on pairs):

    {"prompt": "...", "chosen": "...", "rejected": "..."}
    {"messages": [{"role": "user", "content": "..."}, ...], "chosen": "...", "rejected": "..."}

`chosen` and `rejected` are two assistant replies to the same prompt (a user message, or a
conversation ending before the assistant's turn); the chosen one is preferred. mlx-lm has no
preference format, so the checks are ours, in the words of records.py's.
"""

from __future__ import annotations

from farense_tui.engine.data.records import (
    check_message_items,
    check_string,
    messages_shape_error,
)

PREFERENCE_HELP = 'preference {"prompt" or "messages", "chosen", "rejected"}'


def is_preference(record: dict) -> bool:
    """A line that names either reply is meant as a pair (so a missing one is reported as such)."""
    return "chosen" in record or "rejected" in record


def prompt_messages(record: dict) -> list[dict]:
    """The conversation the two replies answer, as chat messages."""
    if "messages" in record:
        return list(record["messages"])
    return [{"role": "user", "content": record["prompt"]}]


def chosen_as_chat(record: dict) -> dict:
    """The pair's prompt with its chosen reply, as a chat example: what evaluation scores (the right
    answer's loss, and answers against it as the reference)."""
    return {
        "messages": [*prompt_messages(record), {"role": "assistant", "content": record["chosen"]}]
    }


def check_preference(record: dict) -> list[str]:
    """The problems of one preference line, in words (key, and what was expected)."""
    errors = _check_prompt(record)
    errors += [e for e in (check_string(record, "chosen"), check_string(record, "rejected")) if e]
    chosen, rejected = record.get("chosen"), record.get("rejected")
    if isinstance(chosen, str) and chosen.strip() and chosen.strip() == (rejected or "").strip():
        errors.append("'chosen' and 'rejected' are the same text: the pair prefers nothing")
    return errors


def _check_prompt(record: dict) -> list[str]:
    if "prompt" in record and "messages" in record:
        return ["both 'prompt' and 'messages': give the prompt as one of them"]
    if "prompt" in record:
        err = check_string(record, "prompt")
        return [err] if err else []
    if "messages" not in record:
        return [
            "missing key 'prompt' (a string) or 'messages' (the conversation before the replies)"
        ]
    messages = record["messages"]
    shape = messages_shape_error(messages)
    if shape:
        return [shape]
    errors, _ = check_message_items(messages)
    last = messages[-1].get("role") if isinstance(messages[-1], dict) else None
    if last == "assistant":
        errors.append(
            "last message is from 'assistant': 'messages' is the conversation before the "
            "replies; 'chosen' and 'rejected' are the assistant's turn"
        )
    return errors


def pair_char_length(record: dict) -> int:
    """Characters of the longer side of the pair (prompt + reply), for a check without a
    tokenizer."""
    prompt = sum(
        len(m.get("content") or "") for m in prompt_messages(record) if isinstance(m, dict)
    )
    return prompt + max(len(record.get("chosen") or ""), len(record.get("rejected") or ""))
