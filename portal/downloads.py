"""Files the portal sends: .xlsx attachments (bytes, or a spooled file streamed in blocks) and stored images."""
from __future__ import annotations

from flask import Response, request, stream_with_context

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_attachment(content, filename: str) -> Response:
    """An .xlsx download named `filename`. `content` is the bytes, or a spooled file that is sent in 64 KB
    blocks and closed at the end (nothing held in memory beyond the spool's threshold)."""
    if isinstance(content, (bytes, bytearray)):
        body = content
    else:
        def blocks():
            with content:
                while block := content.read(64 * 1024):
                    yield block

        body = stream_with_context(blocks())
    return Response(body, mimetype=XLSX, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def stored_image(stored, *, public: bool) -> Response:
    """A stored image (a service banner): cached for an hour, by the browser only unless `public`, and
    answered 304 when the browser already has this version."""
    response = Response(stored.data, mimetype=stored.content_type)
    response.set_etag(stored.sha256)
    if public:
        response.cache_control.public = True
    else:
        response.cache_control.private = True
    response.cache_control.max_age = 3600
    return response.make_conditional(request)
