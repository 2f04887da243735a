"""Make text from a package safe to show: in Markdown/HTML, in logs read by the Actions runner."""

from __future__ import annotations

import html
import re

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")
_MENTION = re.compile(r"@(?=[A-Za-z0-9])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # C0, DEL, C1 (\x9b: CSI), bidi


def markdown_text(text: str, limit: int = 2000) -> str:
    """Escape `text` for a Markdown table cell or paragraph: no HTML, links, mentions or markup."""
    text = _CONTROL.sub("", text)
    if len(text) > limit:
        text = text[:limit] + "…"
    text = html.escape(text, quote=False)  # quotes are harmless once < and > are; "&#x27;" would be mangled below
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _MENTION.sub("@\u200b", text)  # a zero-width space after @ stops the mention
    text = text.replace("://", ":\u200b//")  # no autolinks from package text
    text = re.sub(r"(?i)\bwww\.", lambda m: m.group(0)[:3] + "\u200b.", text)  # nor GitHub's www. autolinks
    return text.replace("\r", "").replace("\n", "<br>")


def markdown_code(text: str, limit: int = 200) -> str:
    """Show `text` as inline code, which renders nothing inside it (a `|` is escaped: table cells)."""
    text = _CONTROL.sub("", text.replace("\n", " "))[:limit].replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    return f"{fence} {text.replace('`', 'ˋ')} {fence}" if fence == "``" else f"`{text}`"


def log_line(text: str) -> str:
    """Text for a log the runner parses: no line may start a workflow command (`::cmd::`, read
    after leading whitespace) nor hold an old-style `##[cmd]` one (read anywhere in a line)."""
    text = _CONTROL.sub("", text).replace("##[", "#\u200b#[")
    return "\n".join(("\u200b" + line) if line.lstrip().startswith("::") else line for line in text.split("\n"))
