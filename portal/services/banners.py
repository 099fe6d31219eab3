"""Service banner images: checked by content (not by name or declared type), re-encoded, stored."""
from __future__ import annotations

import io
import warnings

from flask_babel import gettext as _
from PIL import Image, UnidentifiedImageError

from portal.services import ServiceError

MAX_BYTES = 1024 * 1024
ALLOWED_FORMATS = {"PNG", "JPEG", "GIF", "WEBP"}
MAX_SIDE = 512  # shown as a tab image and a chat avatar: larger only costs bandwidth
MAX_PIXELS = 40_000_000  # refuse decompression bombs before decoding


def normalise_banner(data: bytes) -> bytes:
    """Return the banner re-encoded as PNG (metadata dropped, at most 512 px a side), or refuse it."""
    if len(data) > MAX_BYTES:
        raise ServiceError(_("The banner is larger than 1 MB."), "banner_too_large")
    if not data:
        raise ServiceError(_("The banner file is empty."), "banner_empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format
                if fmt not in ALLOWED_FORMATS:
                    raise ServiceError(_("The banner must be a PNG, JPEG, GIF or WebP image."), "banner_format")
                if probe.width * probe.height > MAX_PIXELS:
                    raise ServiceError(_("The banner image has too many pixels."), "banner_too_large")
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                image = image.convert("RGBA")
                image.thumbnail((MAX_SIDE, MAX_SIDE))
                out = io.BytesIO()
                image.save(out, format="PNG", optimize=True)
                return out.getvalue()
    except ServiceError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):
        raise ServiceError(_("The banner must be a PNG, JPEG, GIF or WebP image."), "banner_format") from None
