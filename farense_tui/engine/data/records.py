"""What one line of a data file must look like in each of mlx-lm's formats.

chat {"messages": [{"role", "content"}, ...], "tools"?}, completions {"prompt", "completion"} and
text {"text"}; and preference pairs {"prompt" or "messages", "chosen", "rejected"} for DPO/ORPO
(preference_records.py). Each check returns the problems in words (where, and what was expected);
the file- and folder-level checks, counts and token lengths are in check.py.
"""

from __future__ import annotations

ROLES = ("system", "user", "assistant", "tool")
FORMATS = ("chat", "completions", "text", "preference")
FORMAT_HELP = (
    'chat {"messages": [...]}, completions {"prompt", "completion"}, text {"text"}, '
    'preference {"prompt" or "messages", "chosen", "rejected"}'
)


def json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def detect_format(record: dict) -> str | None:
    """mlx-lm's choice, in its order: prompt+completion, then messages, then text; before them a
    preference pair (a line naming "chosen" or "rejected"), which mlx-lm does not read."""
    if "chosen" in record or "rejected" in record:
        return "preference"
    if "prompt" in record and "completion" in record:
        return "completions"
    if "messages" in record:
        return "chat"
    if "text" in record:
        return "text"
    return None


def unknown_format_message(record: dict) -> str:
    keys = ", ".join(repr(k) for k in record) or "none"
    msg = f"unknown format: found keys {keys}; expected one of: {FORMAT_HELP}"
    if "prompt" in record:
        msg += " ('prompt' needs 'completion' beside it)"
    elif "completion" in record:
        msg += " ('completion' needs 'prompt' beside it)"
    return msg


def check_string(record: dict, key: str, where: str = "") -> str | None:
    value = record.get(key)
    if key not in record:
        return f"missing key {key!r}{where}"
    if not isinstance(value, str):
        return f"{key!r}{where} must be a string, got {json_type(value)}"
    if not value.strip():
        return f"{key!r}{where} is empty"
    return None


def check_tools(record: dict) -> list[str]:
    if "tools" in record and record["tools"] is not None and not isinstance(record["tools"], list):
        return [f"'tools' must be an array of tool definitions, got {json_type(record['tools'])}"]
    return []


def messages_shape_error(messages) -> str | None:
    if not isinstance(messages, list) or not messages:
        got = "an empty array" if isinstance(messages, list) else json_type(messages)
        return f"'messages' must be a non-empty array of {{role, content}} objects, got {got}"
    return None


def check_message_items(messages: list) -> tuple[list[str], list]:
    """The problems of each message of a 'messages' array and the roles in order: shared by chat
    records and preference prompts."""
    errors, roles = [], []
    for i, msg in enumerate(messages):
        where = f" in messages[{i}]"
        if not isinstance(msg, dict):
            errors.append(
                f"messages[{i}] must be an object with 'role' and 'content', got {json_type(msg)}"
            )
            continue
        role = msg.get("role")
        if "role" not in msg:
            errors.append(f"missing key 'role'{where}")
        elif role not in ROLES:
            errors.append(f"role {role!r}{where} is not one of: {', '.join(ROLES)}")
        roles.append(role)
        if role == "assistant" and msg.get("tool_calls") and not msg.get("content"):
            continue  # a tool call needs no text
        err = check_string(msg, "content", where)
        if err:
            errors.append(err)
    return errors, roles


def check_chat(record: dict, mask_prompt: bool) -> list[str]:
    messages = record["messages"]
    shape = messages_shape_error(messages)
    if shape:
        return [shape]
    item_errors, roles = check_message_items(messages)
    errors = check_tools(record) + item_errors
    if "assistant" not in roles:
        errors.append("no message with role 'assistant': nothing for the model to learn")
    elif roles and roles[-1] in ROLES and roles[-1] != "assistant":
        # An error with or without mask_prompt: every profile masks by default, and then nothing
        # after the last assistant message is learned.
        errors.append(
            f"last message is from {roles[-1]!r}: with mask_prompt (every profile's default) only "
            f"the "
            "last message is trained on, so it should be the assistant's"
        )
    return errors


def check_record(record, fmt: str, mask_prompt: bool = False) -> list[str]:
    """The problems of one parsed line already known to be in format `fmt`."""
    if fmt == "preference":
        from farense_tui.engine.data.preference_records import (
            check_preference,
        )  # it imports this module

        return check_preference(record)
    if fmt == "chat":
        return check_chat(record, mask_prompt)
    if fmt == "completions":
        errors = [
            e for e in (check_string(record, "prompt"), check_string(record, "completion")) if e
        ]
        return errors + check_tools(record)
    err = check_string(record, "text")
    return [err] if err else []


def char_length(record: dict, fmt: str) -> int:
    if fmt == "preference":
        from farense_tui.engine.data.preference_records import pair_char_length

        return pair_char_length(record)
    if fmt == "chat":
        return sum(len(m.get("content") or "") for m in record["messages"] if isinstance(m, dict))
    if fmt == "completions":
        return len(record["prompt"]) + len(record["completion"])
    return len(record["text"])
