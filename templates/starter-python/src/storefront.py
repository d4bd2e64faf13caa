"""A custom storefront: replaces the `listing` function of a performance with the seller's own
page, and still serves the info and availability calls buyers' apps use.

componentize-py generates the `wit_world` package from Marquee's WIT at build time: the
platform's interfaces are plain imports, and the component exports wasi:http/incoming-handler.
"""

import html
import json
from urllib.parse import unquote, urlsplit

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import config, inventory
from wit_world.imports.types import Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam

# wasi:io output streams take at most this many bytes per blocking write.
CHUNK = 4096


def respond(response_out: ResponseOutparam, status: int, content_type: str, body: bytes) -> None:
    response = OutgoingResponse(Fields.from_list([("content-type", content_type.encode())]))
    response.set_status_code(status)
    outgoing = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    with outgoing.write() as stream:
        for start in range(0, len(body), CHUNK):
            stream.blocking_write_and_flush(body[start : start + CHUNK])
    OutgoingBody.finish(outgoing, None)


def answer_json(response_out: ResponseOutparam, status: int, value: object) -> None:
    respond(response_out, status, "application/json", json.dumps(value).encode())


def page(params: dict) -> bytes:
    sessions = "".join(
        f"<li>{html.escape(s['id'])} at {html.escape(s['starts_at'])}</li>" for s in params["sessions"]
    )
    title, venue = html.escape(params["title"]), html.escape(params["venue"])
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
        f'<body><h1 class="starter">{title}</h1><p>{venue}</p><ul>{sessions}</ul></body></html>'
    ).encode()


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        params = json.loads(config.params())
        path = urlsplit(request.path_with_query() or "/").path
        segments = [s for s in path.split("/") if s]
        if not segments:
            respond(response_out, 200, "text/html; charset=utf-8", page(params))
        elif segments == ["api", "info"]:
            answer_json(response_out, 200, {"title": params["title"], "venue": params["venue"], "theme": "starter-python"})
        elif len(segments) == 4 and segments[:2] == ["api", "sessions"] and segments[3] == "availability":
            try:
                free = inventory.availability(unquote(segments[2]))
            except Err:
                answer_json(response_out, 404, {"error": "unknown_session", "message": "no such session"})
                return
            sections = [{"name": s.name, "capacity": s.capacity, "available": s.available} for s in free.sections]
            answer_json(response_out, 200, {"sections": sections, "taken": free.taken})
        else:
            answer_json(response_out, 404, {"error": "not_found", "message": "no such page"})
