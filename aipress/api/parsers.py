"""JSON bodies, refused with a 400 problem when they cannot be read, however they are malformed."""

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            # Thousands of nested brackets exhaust Python's recursion limit inside the json module.
            raise ParseError("The JSON is nested too deeply to be read.") from None
