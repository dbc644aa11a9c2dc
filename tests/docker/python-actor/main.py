"""A container Actor on the real `apify` SDK from PyPI, running "at home"
against wactor: input, dataset, key-value store, request queue, status
message, platform events over the events websocket, and Actor.fail."""

import asyncio

from apify import Actor, Event


async def charge_as_told(actor_input: dict) -> None:
    """Pay-per-event through the SDK: Actor.charge and a charged push_data."""
    results = []
    for event, count in actor_input["charges"]:
        r = await Actor.charge(event, count=count)
        results.append({"charged": r.charged_count, "limitReached": r.event_charge_limit_reached})
    pushed = await Actor.push_data([{"i": i} for i in range(actor_input.get("items", 0))], charged_event_name="page")
    manager = Actor.get_charging_manager()
    await Actor.set_value("OUTPUT", {
        "results": results,
        "push": {"charged": pushed.charged_count, "limitReached": pushed.event_charge_limit_reached},
        "pages": manager.get_charged_event_count("page"),
        "maxTotalChargeUsd": str(manager.get_max_total_charge_usd()),
        "model": manager.get_pricing_info().pricing_model,
    })


async def status_of(call) -> int:
    """The HTTP status an API call through the SDK's client ends with (200 when it works)."""
    from apify_client.errors import ApifyApiError

    try:
        await call
        return 200
    except ApifyApiError as e:
        return e.status_code
    except Exception as e:  # noqa: BLE001 - the storage layer may wrap the API's error
        return getattr(getattr(e, "__cause__", None), "status_code", -1)


async def probe_token(actor_input: dict) -> None:
    """What the run's own token may do: the SDK's client acts as the run."""
    client = Actor.new_client()
    token = Actor.configuration.token
    me = await client.user().get()
    results = {
        "token": token,
        "listActors": await status_of(client.actors().list()),
        "deleteActor": await status_of(client.actor(actor_input["victim"]).delete()),
        "updateActor": await status_of(client.actor(actor_input["victim"]).update(title="pwned")),
        "meHasToken": actor_input["admin"] in str(me),
        "envHasAdmin": any(actor_input["admin"] in v for v in __import__("os").environ.values()),
        "ownDataset": await status_of(Actor.push_data({"own": True})),
    }
    # Storages that are not the run's own: a limited run may use only those its input names.
    # The foreign dataset comes reversed, so the input does not name it.
    foreign, foreign_name = actor_input["foreignReversed"][::-1], actor_input["foreignNameReversed"][::-1]
    results["foreign"] = await status_of(client.dataset(foreign).push_items([{"x": 1}]))
    results["named"] = await status_of(client.dataset(actor_input["named"]).push_items([{"x": 1}]))
    results["openForeign"] = await status_of(Actor.open_dataset(name=foreign_name))
    created = await Actor.open_dataset(name=actor_input["newName"])
    results["created"] = await status_of(created.push_data({"mine": True}))
    await Actor.set_value("OUTPUT", results)


async def call_child(actor_input: dict) -> None:
    """Actors calling Actors through the SDK at home: call, read the child's dataset, start and abort."""
    run = await Actor.call(actor_input["actor"], run_input=actor_input["childInput"])
    dataset = await Actor.open_dataset(id=run.default_dataset_id)
    items = (await dataset.get_data()).items
    started = await Actor.start(actor_input["actor"], run_input={"mode": "sleep"})
    aborted = await Actor.abort(started.id, status_message="No longer needed")
    final = await Actor.new_client().run(started.id).wait_for_finish()
    await Actor.set_value("OUTPUT", {
        "status": run.status, "id": run.id, "items": items, "origin": run.meta.origin,
        "started": started.id, "aborting": aborted.status, "aborted": final.status, "message": final.status_message,
    })


async def metamorph_on(actor_input: dict) -> None:
    """Metamorph at home: leave a trace, then hand the run to the next Actor."""
    import os

    await Actor.push_data({"stage": "python", "inputKey": os.environ.get("ACTOR_INPUT_KEY")})
    await Actor.metamorph(actor_input["actor"], run_input=actor_input["childInput"])


async def add_webhook(actor_input: dict) -> None:
    """Actor.add_webhook at home: an ad-hoc webhook on this run."""
    from apify import Webhook

    template = '{"run": {{resource.id}}, "status": {{resource.status}}, "event": {{eventType}}}'
    await Actor.add_webhook(Webhook(event_types=["ACTOR.RUN.SUCCEEDED"], request_url=actor_input["url"], payload_template=template))


async def main() -> None:
    async with Actor:
        if (actor_input := await Actor.get_input() or {}).get("charges") is not None:
            await charge_as_told(actor_input)
            return
        if actor_input.get("mode") == "token":
            await probe_token(actor_input)
            return
        if actor_input.get("mode") == "call":
            await call_child(actor_input)
            return
        if actor_input.get("mode") == "webhook":
            await add_webhook(actor_input)
            return
        if actor_input.get("mode") == "metamorph":
            await metamorph_on(actor_input)
            return
        seen: list[str] = []
        Actor.on(Event.SYSTEM_INFO, lambda data: seen.append("systemInfo"))
        actor_input = await Actor.get_input() or {}
        await Actor.set_status_message("Greeting")
        for i in range(actor_input.get("count", 1)):
            await Actor.push_data({"i": i, "greeting": f"Hello, {actor_input.get('name', 'world')}!"})
        if actor_input.get("fail"):
            await Actor.fail(status_message="Failed on purpose")
            return
        # The default request queue, driven as a crawler drives it: dedup, reclaim, handle until finished.
        queue = await Actor.open_request_queue()
        await queue.add_request("https://example.com/a")
        await queue.add_requests(["https://example.com/b", "https://example.com/a", "https://example.com/c"])
        handled: list[str] = []
        reclaimed = False
        while not await queue.is_finished():
            request = await queue.fetch_next_request()
            if request is None:
                await asyncio.sleep(0.1)
                continue
            if request.url.endswith("/b") and not reclaimed:
                reclaimed = True
                await queue.reclaim_request(request)
                continue
            handled.append(request.url)
            await queue.mark_request_as_handled(request)
        # systemInfo arrives every second over the websocket.
        for _ in range(50):
            if seen:
                break
            await asyncio.sleep(0.1)
        await Actor.set_value("OUTPUT", {"events": seen[:1], "runId": Actor.configuration.actor_run_id, "handled": sorted(handled)})


if __name__ == "__main__":
    asyncio.run(main())
