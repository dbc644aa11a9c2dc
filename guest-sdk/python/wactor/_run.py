"""What the build's generated app module calls: the batch run and the
Standby request, each on a fresh component event loop."""

import asyncio
import inspect
import traceback

from componentize_py_types import Err

from . import http
from ._actor import Actor, ActorExit, Event, EventPersistStateData
from ._loop import ComponentLoop


def run_batch(main) -> None:
    loop = ComponentLoop()
    asyncio.set_event_loop(loop)
    code, message = loop.run_until_complete(_batch(main))
    if code != 0:
        raise Err(message or f"The Actor exited with code {code}")


async def _batch(main):
    await Actor.init()
    try:
        result = main()
        if inspect.isawaitable(result):
            await result
        Actor._emit(Event.PERSIST_STATE, EventPersistStateData(False))
        await Actor._persist_states()
        return 0, None
    except ActorExit as e:
        return e.exit_code, e.status_message
    except Exception as e:
        traceback.print_exc()
        return 1, str(e) or type(e).__name__
    finally:
        if Actor._events_task is not None:
            Actor._events_task.cancel()
            Actor._events_task = None


def serve(module, request, response_out) -> None:
    handler = getattr(module, "fetch", None) or getattr(module, "handle", None)
    loop = ComponentLoop()
    asyncio.set_event_loop(loop)
    try:
        req = http.incoming(request)
        if handler is None:
            raise RuntimeError("the Actor's main module defines no fetch(request) handler")
        response = loop.run_until_complete(_answer(handler, req))
    except Exception as e:
        traceback.print_exc()
        response = http.Response.from_json({"error": {"type": "actor-error", "message": str(e)}}, status=500)
    http.respond(response_out, response)


async def _answer(handler, request):
    result = handler(request)
    if inspect.isawaitable(result):
        result = await result
    if isinstance(result, http.Response):
        return result
    if isinstance(result, str):
        return http.Response.from_text(result)
    if isinstance(result, (bytes, bytearray)):
        return http.Response(200, {"content-type": "application/octet-stream"}, bytes(result))
    return http.Response.from_json(result)
