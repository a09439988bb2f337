"""Reading request bodies with size limits enforced while reading, gzip included."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

from server.errors import ApiError


async def read_limited(
    chunks: AsyncIterator[bytes],
    *,
    content_length: str | None,
    content_encoding: str | None,
    max_body: int,
    max_decoded: int,
) -> bytes:
    """Collect the body, refusing (413) as soon as a limit is crossed.

    A gzip body is inflated incrementally with a cap on output, so a small
    "gzip bomb" is refused after at most `max_decoded` bytes of work.
    """
    encoding = (content_encoding or "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise ApiError(
            415,
            "unsupported_encoding",
            f"Content-Encoding {encoding!r} is not supported; use gzip or none",
        )
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError as exc:
            raise ApiError(400, "bad_content_length", "Content-Length is not a number") from exc
        if declared > max_body:
            raise ApiError(
                413, "too_large", f"body of {declared} bytes exceeds the {max_body} byte limit"
            )
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS) if encoding == "gzip" else None
    received = 0
    output = bytearray()
    async for chunk in chunks:
        received += len(chunk)
        if received > max_body:
            raise ApiError(413, "too_large", f"body exceeds the {max_body} byte limit")
        if inflater is None:
            output += chunk
        else:
            _inflate(inflater, chunk, output, max_decoded)
    if inflater is not None:
        if not inflater.eof:
            raise ApiError(400, "bad_gzip", "gzip stream is truncated")
        if inflater.unused_data:
            raise ApiError(400, "bad_gzip", "trailing data after the gzip stream")
    elif len(output) > max_decoded:
        raise ApiError(413, "too_large", f"bundle exceeds the {max_decoded} byte limit")
    return bytes(output)


def _inflate(inflater: zlib._Decompress, chunk: bytes, output: bytearray, limit: int) -> None:
    data = chunk
    while data:
        try:
            piece = inflater.decompress(data, limit - len(output) + 1)
        except zlib.error as exc:
            raise ApiError(400, "bad_gzip", f"body is not valid gzip: {exc}") from exc
        output += piece
        if len(output) > limit:
            raise ApiError(
                413, "too_large", f"bundle inflates beyond the {limit} byte limit (compressed body)"
            )
        data = inflater.unconsumed_tail
