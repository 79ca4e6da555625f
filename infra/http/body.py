"""Reading a request body with a hard limit: refused by its `Content-Length` before a byte is read, and by
counting while streaming (a client can send more than it announced), so a huge body never sits in memory."""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLarge(Exception):
    pass


class LengthRequired(Exception):
    pass


def announced_length(request: Request, limit: int) -> int:
    """The `Content-Length` of the request; LengthRequired without one, BodyTooLarge above `limit`."""
    value = request.headers.get("content-length")
    if value is None or not value.isdigit():
        raise LengthRequired
    length = int(value)
    if length > limit:
        raise BodyTooLarge
    return length


async def read_body(request: Request, limit: int) -> bytes:
    """The body, read chunk by chunk; BodyTooLarge as soon as more than `limit` bytes arrived."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)
