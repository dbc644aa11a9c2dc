"""Test guest: each input mode exercises one behaviour of the Python SDK (Apify's src/ layout)."""

import asyncio

import six

from wactor import Actor, Event, fetch

from .helper import describe


async def main() -> None:
    async with Actor:
        actor_input = await Actor.get_input()
        Actor.log.info("probe %s (six %s)", describe(actor_input), six.__version__)
        mode = actor_input["mode"]
        if mode == "throw":
            raise ValueError("the probe threw on purpose")
        if mode == "fail":
            await Actor.fail(status_message="the probe failed on purpose")
        if mode == "loop":
            while True:
                pass
        if mode == "bomb":
            hoard = []
            while True:
                hoard.append(bytearray(1 << 20))
        if mode == "storages":
            kv = await Actor.open_key_value_store(name="py-probe-store")
            await kv.set_value("text", "plain text", content_type="text/plain")
            await kv.set_value("bytes", b"\x01\x02\x03")
            await kv.set_value("json", {"a": 1})
            ds = await Actor.open_dataset(name="py-probe-items")
            await ds.push_data([{"n": 1}, {"n": 2}])
            info = await ds.get_info()
            page = await ds.get_data(offset=1, limit=5)
            q = await Actor.open_request_queue()
            added = await q.add_request({"url": "http://127.0.0.1/a", "userData": {"depth": 1}})
            again = await q.add_request("http://127.0.0.1/a")
            r = await q.fetch_next_request()
            held = {"empty": await q.is_empty(), "finished": await q.is_finished()}
            await q.mark_request_as_handled(r)
            await Actor.set_value("OUTPUT", {
                "text": await kv.get_value("text"),
                "bytes": list(await kv.get_value("bytes")),
                "json": await kv.get_value("json"),
                "missing": await kv.get_value("missing"),
                "itemCount": info["item_count"],
                "page": page.items,
                "added": added.was_already_present,
                "again": again.was_already_present,
                "fetched": r.user_data,
                "finished": await q.is_finished(),
                "held": held,
            })
        if mode == "charge":
            result = await Actor.push_data([{"p": 1}, {"p": 2}, {"p": 3}], charged_event_name="page")
            await Actor.set_value("OUTPUT", {
                "chargedCount": result.charged_count,
                "limitReached": result.event_charge_limit_reached,
                "counted": Actor.get_charging_manager().get_charged_event_count("page"),
            })
        if mode == "fetch":
            response = await fetch(actor_input["url"])
            await Actor.set_value("OUTPUT", {"status": response.status, "body": response.text})
        if mode == "state":
            state = await Actor.use_state({"step": 0, "persisted": 0}, key="STATE")

            def persisted(_data):
                state["persisted"] += 1

            Actor.on(Event.PERSIST_STATE, persisted)
            while state["step"] < actor_input["steps"]:
                if Actor.is_migrating():
                    await Actor.wait_for_stop()
                state["step"] += 1
                await Actor.set_status_message(f"step {state['step']}")
                await asyncio.sleep(0.2)
            await Actor.set_value("OUTPUT", {"steps": state["step"]})
        await Actor.exit(status_message="probe done")
