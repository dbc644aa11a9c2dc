"""A Standby Actor: every request to its Standby URL calls `fetch` in a fresh
instance, inside a Standby run whose storages `Actor` reaches as usual."""

from wactor import Actor, Response


async def fetch(request):
    if request.path == "/count":
        store = await Actor.open_key_value_store(name="py-standby-counter")
        count = (await store.get_value("count", 0)) + 1
        await store.set_value("count", count)
        return {"count": count}
    if request.path == "/fail":
        raise RuntimeError("asked to fail")
    return Response.from_json({
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "body": request.text if request.method == "POST" else None,
        "run": Actor.get_env()["actor_run_id"],
    })
