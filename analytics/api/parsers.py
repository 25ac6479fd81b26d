"""Parsers of the analytics API."""

from __future__ import annotations

from rest_framework.exceptions import ParseError

from energyleaf.common.parsers import BoundedParser

PROTOBUF = "application/x-protobuf"


class ProtobufBytesParser(BoundedParser):
    """The raw body of an `application/x-protobuf` request, up to DATA_UPLOAD_MAX_MEMORY_SIZE
    (a longer one is a 400)."""

    media_type = PROTOBUF

    def too_large(self) -> Exception:
        return ParseError(f"Request body larger than {self.body_limit()} bytes.")
