"""wactor for Python: the `apify` SDK's `Actor` over wactor's WIT host.

    from wactor import Actor

    async def main():
        async with Actor:
            actor_input = await Actor.get_input()
            await Actor.push_data({"hello": actor_input["name"]})

`wactor push` finds `main()` in `main.py` (or `src/main.py`) and makes it
the component's run. Host calls are synchronous underneath; the methods are
coroutines so that code written for the Apify SDK ports unchanged.
"""

from ._actor import (
    Actor,
    ActorExit,
    ChargeResult,
    Dataset,
    DatasetItemsListPage,
    Event,
    KeyValueStore,
    ProcessedRequest,
    Request,
    RequestQueue,
    WactorError,
)
from .http import Response, fetch

__all__ = [
    "Actor", "ActorExit", "ChargeResult", "Dataset", "DatasetItemsListPage", "Event", "KeyValueStore",
    "ProcessedRequest", "Request", "RequestQueue", "Response", "WactorError", "fetch",
]
