"""File-safe names for folders and figures derived from notions, backbones and jobs."""
from __future__ import annotations


def slug(text: str) -> str:
    """Lower-case, with anything but letters, digits, '-', '_' and '.' replaced by '-'."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in str(text)).strip("-").lower()
