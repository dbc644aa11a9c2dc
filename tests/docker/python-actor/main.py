"""A container Actor on the real `apify` SDK from PyPI, running "at home"
against wactor: input, dataset, key-value store, status message, platform
events over the events websocket, and Actor.fail."""

import asyncio

from apify import Actor, Event


async def main() -> None:
    async with Actor:
        seen: list[str] = []
        Actor.on(Event.SYSTEM_INFO, lambda data: seen.append("systemInfo"))
        actor_input = await Actor.get_input() or {}
        await Actor.set_status_message("Greeting")
        for i in range(actor_input.get("count", 1)):
            await Actor.push_data({"i": i, "greeting": f"Hello, {actor_input.get('name', 'world')}!"})
        if actor_input.get("fail"):
            await Actor.fail(status_message="Failed on purpose")
            return
        # systemInfo arrives every second over the websocket.
        for _ in range(50):
            if seen:
                break
            await asyncio.sleep(0.1)
        await Actor.set_value("OUTPUT", {"events": seen[:1], "runId": Actor.configuration.actor_run_id})


if __name__ == "__main__":
    asyncio.run(main())
