"""Reading a request's body: bounded in size, and declared as JSON where JSON is due
(the web page's form post is read without that check)."""

from __future__ import annotations

from fastapi import Request

from estimator.serving.handlers import RequestTooLargeError, UnsupportedMediaTypeError


def check_json(content_type: str | None) -> None:
    """Refuse a body declared as anything but JSON in UTF-8 (415); none declared is JSON.

    A form or a text sent by mistake would otherwise be read as JSON when it happens to
    parse, and a client that said another charset would be answered as if it said UTF-8.
    """
    if content_type is None or content_type == "application/json":
        return
    media, *params = (part.strip().lower() for part in content_type.split(";"))
    charsets = [p.partition("=")[2].strip('"') for p in params if p.startswith("charset=")]
    json_like = media == "application/json" or (media.startswith("application/")
                                                  and media.endswith("+json"))
    if not json_like or any(c not in ("utf-8", "utf8") for c in charsets):
        raise UnsupportedMediaTypeError(f"the body is declared as '{content_type}'; send JSON "
                                        "in UTF-8 with 'Content-Type: application/json'")


async def read_json(request: Request, limit: int) -> bytes:
    """The body of a JSON route: refused with 415 unless declared as JSON, then read."""
    check_json(request.headers.get("content-type"))
    return await read_body(request, limit)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestTooLargeError(f"the body holds {declared} bytes, more than the limit of "
                                   f"{limit}; split the houses into smaller requests")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLargeError(f"the body is larger than the limit of {limit} bytes; "
                                       "split the houses into smaller requests")
        chunks.append(chunk)
    return b"".join(chunks)
