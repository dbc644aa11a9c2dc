"""Greets `name`: pushes `count` greetings to the default dataset and writes a
summary to OUTPUT. The same code runs on Apify with `from apify import Actor`."""

from wactor import Actor


async def main() -> None:
    async with Actor:
        actor_input = await Actor.get_input() or {}
        name = actor_input.get("name", "world")
        count = actor_input.get("count", 1)
        greeting = f"Hello, {name}!"
        print(greeting)
        await Actor.push_data([{"greeting": greeting, "index": i} for i in range(count)])
        await Actor.set_value("OUTPUT", {"greeting": greeting, "count": count})
        await Actor.set_status_message(f"Greeted {name} {count} time(s)")
