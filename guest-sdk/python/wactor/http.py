"""Outbound HTTP (`fetch`, over wasi:http) and the request and response of a
Standby handler."""

import asyncio
import json as _json
from dataclasses import dataclass, field
from urllib.parse import urlsplit, parse_qsl

from componentize_py_types import Err, Ok
from wit_world.imports import outgoing_handler, streams
from wit_world.imports import wasi_http_types as t

_CHUNK = 4096


@dataclass
class Response:
    """An HTTP response: what `fetch` returns, and what a Standby handler answers with."""

    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes = b""

    @property
    def status_code(self):
        return self.status

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return _json.loads(self.body)

    @classmethod
    def from_json(cls, value, status=200, headers=None):
        h = {"content-type": "application/json"}
        h.update(headers or {})
        return cls(status, h, _json.dumps(value).encode())

    @classmethod
    def from_text(cls, text, status=200, headers=None):
        h = {"content-type": "text/plain; charset=utf-8"}
        h.update(headers or {})
        return cls(status, h, text.encode())


@dataclass
class Request:
    """A request to a Standby Actor."""

    method: str
    url: str
    path: str
    query: dict
    headers: dict
    body: bytes

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return _json.loads(self.body)


class HttpError(Exception):
    pass


_METHODS = {
    "GET": t.Method_Get, "HEAD": t.Method_Head, "POST": t.Method_Post, "PUT": t.Method_Put,
    "DELETE": t.Method_Delete, "OPTIONS": t.Method_Options, "PATCH": t.Method_Patch,
}


def _method_of(m):
    for name, cls in _METHODS.items():
        if isinstance(m, cls):
            return name
    return getattr(m, "value", "GET")


def _read_all(body):
    stream = body.stream()
    chunks = []
    while True:
        try:
            chunks.append(stream.blocking_read(65536))
        except Err as e:
            if isinstance(e.value, streams.StreamError_Closed):
                break
            raise HttpError(f"reading a body failed: {e.value}")
    stream.__exit__(None, None, None)
    return b"".join(chunks)


def _write_all(body, data):
    stream = body.write()
    for i in range(0, len(data), _CHUNK):
        stream.blocking_write_and_flush(data[i:i + _CHUNK])
    stream.__exit__(None, None, None)


async def fetch(url, method="GET", headers=None, body=None, json=None):
    """Sends an HTTP request and returns the whole `Response`."""
    if json is not None:
        body = _json.dumps(json).encode()
        headers = {"content-type": "application/json", **(headers or {})}
    if isinstance(body, str):
        body = body.encode()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise HttpError(f"only http and https URLs can be fetched: {url}")
    fields = t.Fields.from_list([(k.lower(), str(v).encode()) for k, v in (headers or {}).items()])
    request = t.OutgoingRequest(fields)
    cls = _METHODS.get(method.upper())
    request.set_method(cls() if cls else t.Method_Other(method))
    request.set_scheme(t.Scheme_Https() if parts.scheme == "https" else t.Scheme_Http())
    request.set_authority(parts.netloc)
    request.set_path_with_query((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    outgoing = request.body()
    try:
        future = outgoing_handler.handle(request, None)
    except Err as e:
        raise HttpError(f"{method} {url}: {e.value}")
    if body:
        _write_all(outgoing, body)
    t.OutgoingBody.finish(outgoing, None)
    loop = asyncio.get_running_loop()
    while True:
        result = future.get()
        if result is not None:
            break
        await loop.wait_for(future.subscribe())
    future.__exit__(None, None, None)
    if isinstance(result, Err) or isinstance(result.value, Err):
        error = result.value if isinstance(result, Err) else result.value.value
        raise HttpError(f"{method} {url} failed: {error}")
    response = result.value.value
    status = response.status()
    resp_headers = {}
    for k, v in response.headers().entries():
        resp_headers[k] = v.decode("latin-1")
    data = _read_all(response.consume())
    return Response(status, resp_headers, data)


def incoming(request) -> Request:
    """A Standby request read whole from wasi:http."""
    headers = {}
    for k, v in request.headers().entries():
        headers[k] = v.decode("latin-1")
    path_with_query = request.path_with_query() or "/"
    parts = urlsplit(path_with_query)
    authority = request.authority() or headers.get("host", "localhost")
    body = _read_all(request.consume())
    return Request(
        method=_method_of(request.method()),
        url=f"http://{authority}{path_with_query}",
        path=parts.path,
        query=dict(parse_qsl(parts.query)),
        headers=headers,
        body=body,
    )


def respond(response_out, response: Response):
    """Sends a Standby handler's answer."""
    fields = t.Fields.from_list([(k.lower(), str(v).encode()) for k, v in response.headers.items()])
    out = t.OutgoingResponse(fields)
    out.set_status_code(response.status)
    body = out.body()
    t.ResponseOutparam.set(response_out, Ok(out))
    _write_all(body, response.body)
    t.OutgoingBody.finish(body, None)
