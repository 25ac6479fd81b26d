"""The protobuf renderer of the sensor endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework.renderers import BaseRenderer


class ProtobufRenderer(BaseRenderer):
    """Renders bytes as they are. Error dicts (DRF renders errors with the negotiated renderer)
    become the view's protobuf error message, with `status` equal to the HTTP status."""

    media_type = "application/x-protobuf"
    format = "protobuf"
    charset = None
    render_style = "binary"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if isinstance(data, bytes | bytearray):
            return bytes(data)
        context = renderer_context or {}
        response = context.get("response")
        view = context.get("view")
        status_code = response.status_code if response is not None else 500
        message = None
        if isinstance(data, Mapping):
            message = str(data.get("message") or data.get("detail") or "") or None
        if view is not None and hasattr(view, "encode_error"):
            return bytes(view.encode_error(status_code, message))
        return b""
