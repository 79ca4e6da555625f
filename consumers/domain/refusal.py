"""A request refused as given: its English message for the command line, a stable `code` and the `fields` the
message names, so a page can say it in its user's language."""

from __future__ import annotations


class Refusal(ValueError):
    def __init__(self, message: str, code: str, **fields: object) -> None:
        super().__init__(message)
        self.code = code
        self.fields = fields
