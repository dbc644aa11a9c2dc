"""The `Actor`, its storages and its events, with the `apify` SDK's names."""

import asyncio
import inspect
import json
import re
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Callable, Optional

from componentize_py_types import Err
from wit_world.imports import actors as wit_actors
from wit_world.imports import charging as wit_charging
from wit_world.imports import dataset as wit_dataset
from wit_world.imports import events as wit_events
from wit_world.imports import key_value_store as wit_kv
from wit_world.imports import request_queue as wit_queue
from wit_world.imports import runtime as wit_runtime
from wit_world.imports import wactor_actor_types as wit_types

DATASET_ITEM_EVENT = "apify-default-dataset-item"

_ERROR_TYPES = {
    wit_types.Error_NotFound: "not-found",
    wit_types.Error_InvalidInput: "invalid-input",
    wit_types.Error_LimitExceeded: "limit-exceeded",
    wit_types.Error_Forbidden: "forbidden",
    wit_types.Error_Internal: "internal",
}


class WactorError(Exception):
    """A failure of a host call; `type` is the WIT error's case."""

    def __init__(self, type_: str, message: str):
        super().__init__(f"{type_}: {message}")
        self.type = type_
        self.detail = message


class ActorExit(BaseException):
    """Raised by `Actor.exit`/`Actor.fail` to end the run (like `SystemExit`, past `except Exception`)."""

    def __init__(self, exit_code: int = 0, status_message: Optional[str] = None):
        super().__init__(status_message or f"exit code {exit_code}")
        self.exit_code = exit_code
        self.status_message = status_message


def _host(call, *args):
    try:
        return call(*args)
    except Err as e:
        kind = _ERROR_TYPES.get(type(e.value), "internal")
        raise WactorError(kind, getattr(e.value, "value", str(e.value))) from None


def _is_json(content_type: str) -> bool:
    t = (content_type or "").split(";")[0].strip().lower()
    return t == "application/json" or t.endswith("+json")


def _decode(stored):
    if stored is None:
        return None
    t = stored.content_type or ""
    if _is_json(t):
        return json.loads(stored.value)
    if t.lower().startswith("text/"):
        return stored.value.decode("utf-8", errors="replace")
    return stored.value


def _encode(value, content_type):
    if content_type:
        if isinstance(value, str):
            return value.encode(), content_type
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value), content_type
        if _is_json(content_type):
            return json.dumps(value).encode(), content_type
        raise TypeError("a value with an explicit content_type must be str or bytes")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value), "application/octet-stream"
    return json.dumps(value, default=str).encode(), "application/json; charset=utf-8"


def _items(data):
    items = data if isinstance(data, list) else [data]
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise TypeError(f"dataset item {i} must be a dict")
        out.append(json.dumps(item, default=str))
    return out


class Event(str, Enum):
    PERSIST_STATE = "persistState"
    MIGRATING = "migrating"
    ABORTING = "aborting"
    SYSTEM_INFO = "systemInfo"
    EXIT = "exit"


@dataclass
class EventPersistStateData:
    is_migrating: bool = False


@dataclass
class EventMigratingData:
    time_remaining_secs: float = 0.0


@dataclass
class EventAbortingData:
    pass


@dataclass
class EventSystemInfoData:
    mem_current_bytes: int
    mem_max_bytes: int
    cpu_current_usage: float
    is_cpu_overloaded: bool
    created_at: str


@dataclass
class ChargeResult:
    event_charge_limit_reached: bool
    charged_count: int
    chargeable_within_limit: dict = field(default_factory=dict)


@dataclass
class DatasetItemsListPage:
    items: list
    total: int
    offset: int
    count: int
    limit: int


@dataclass
class ProcessedRequest:
    id: str
    unique_key: str
    was_already_present: bool
    was_already_handled: bool


@dataclass
class Request:
    id: str
    url: str
    unique_key: str
    method: str
    retry_count: int
    user_data: dict
    data: dict

    @classmethod
    def from_url(cls, url: str, **kwargs):
        return {"url": url, **kwargs}


def _charge_result(r) -> ChargeResult:
    within = {name: (float("inf") if n is None else n) for name, n in r.chargeable_within_limit}
    return ChargeResult(r.event_charge_limit_reached, r.charged_count, within)


# ----------------------------------------------------------------- storages


class KeyValueStore:
    def __init__(self, store):
        self._store = store
        self.id = store.id()

    @classmethod
    async def open(cls, id: Optional[str] = None, name: Optional[str] = None):
        return await Actor.open_key_value_store(id=id, name=name)

    async def get_value(self, key: str, default_value: Any = None):
        value = _decode(_host(self._store.get, key))
        return default_value if value is None else value

    async def set_value(self, key: str, value: Any, content_type: Optional[str] = None):
        if value is None:
            return _host(self._store.delete, key)
        data, t = _encode(value, content_type)
        _host(self._store.set, key, data, t)

    async def record_exists(self, key: str) -> bool:
        return _host(self._store.get, key) is not None

    async def iterate_keys(self, exclusive_start_key: Optional[str] = None, prefix: Optional[str] = None):
        start = exclusive_start_key
        while True:
            page = _host(self._store.list_keys, start, 1000, prefix)
            for k in page.items:
                yield k
            if not page.is_truncated or page.next_exclusive_start_key is None:
                return
            start = page.next_exclusive_start_key


class Dataset:
    def __init__(self, dataset):
        self._dataset = dataset
        self.id = dataset.id()

    @classmethod
    async def open(cls, id: Optional[str] = None, name: Optional[str] = None):
        return await Actor.open_dataset(id=id, name=name)

    async def push_data(self, data):
        texts = _items(data)
        if texts:
            _host(self._dataset.push_items, texts)

    async def get_data(self, offset: int = 0, limit: Optional[int] = None) -> DatasetItemsListPage:
        limit = min(limit or 1000, 1000)
        page = _host(self._dataset.get_items, offset, limit)
        items = [json.loads(t) for t in page.items]
        return DatasetItemsListPage(items, page.total, page.offset, len(items), limit)

    async def get_info(self) -> dict:
        return {"id": self.id, "item_count": _host(self._dataset.item_count)}

    async def iterate_items(self):
        offset = 0
        while True:
            page = await self.get_data(offset=offset, limit=1000)
            for item in page.items:
                yield item
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return


def _request_of(request) -> dict:
    if isinstance(request, str):
        return {"url": request}
    if isinstance(request, dict) and isinstance(request.get("url"), str):
        return request
    if isinstance(request, Request):
        return request.data
    raise TypeError('a request must be a URL or a dict with a "url"')


class RequestQueue:
    def __init__(self, queue, lock_secs: int = 60):
        self._queue = queue
        self.id = queue.id()
        self._lock_secs = lock_secs

    @classmethod
    async def open(cls, id: Optional[str] = None, name: Optional[str] = None):
        return await Actor.open_request_queue(id=id, name=name)

    async def add_request(self, request, *, forefront: bool = False) -> ProcessedRequest:
        r = _request_of(request)
        added = _host(self._queue.add, json.dumps(r), forefront)
        return ProcessedRequest(added.request_id, r.get("uniqueKey", r["url"]), added.was_already_present, added.was_already_handled)

    async def add_requests(self, requests, *, forefront: bool = False):
        return [await self.add_request(r, forefront=forefront) for r in requests]

    async def fetch_next_request(self) -> Optional[Request]:
        r = _host(self._queue.fetch_next, self._lock_secs)
        if r is None:
            return None
        data = json.loads(r.json)
        return Request(r.id, r.url, r.unique_key, r.method, r.retry_count, data.get("userData") or {}, data)

    async def mark_request_as_handled(self, request: Request):
        _host(self._queue.mark_handled, request if isinstance(request, str) else request.id)

    async def reclaim_request(self, request: Request, *, forefront: bool = False):
        _host(self._queue.reclaim, request if isinstance(request, str) else request.id, forefront)

    async def is_finished(self) -> bool:
        return _host(self._queue.is_finished)

    async def is_empty(self) -> bool:
        """Whether `fetch_next_request` would find nothing now (locked requests may still come back)."""
        return _host(self._queue.is_empty)


_ID = re.compile(r"^[A-Za-z0-9]{17}$")


def _open(resource, id, name):
    if id:
        return _host(resource.open_by_id, id)
    if name and _ID.match(name):
        try:
            return _host(resource.open_by_id, name)
        except WactorError as e:
            if e.type != "not-found":
                raise
    return _host(resource.open, name)


# -------------------------------------------------------------------- Actor


class _Actor:
    """The Actor of this run (`from wactor import Actor`)."""

    def __init__(self):
        self._handlers = {}
        self._events_task = None
        self._migrating = False
        self._aborting = False
        self._states = {}
        self._default_kvs = None
        self._default_dataset = None
        self._default_queue = None
        self.log = _Log()

    # -- lifecycle

    async def __aenter__(self):
        await self.init()
        return self

    async def __aexit__(self, exc_type, exc, tb):
        if exc is None:
            await self.exit()
        if isinstance(exc, Exception):
            traceback.print_exception(exc)
            await self.fail(exception=exc)
        return False

    async def init(self):
        """Starts delivering system events to `on` handlers; harmless to call twice."""
        if self._events_task is None:
            self._events_task = asyncio.get_running_loop().create_task(self._deliver_events())

    async def exit(self, *, exit_code: int = 0, status_message: Optional[str] = None, **_ignored):
        """Ends the run: persists `use_state` values, sets the status message, stops the Actor."""
        self._emit(Event.PERSIST_STATE, EventPersistStateData(False))
        await self._persist_states()
        if status_message:
            _host(wit_runtime.set_status_message, status_message, True)
        raise ActorExit(exit_code, status_message)

    async def fail(self, *, exit_code: int = 1, exception: Optional[BaseException] = None, status_message: Optional[str] = None):
        """Ends the run FAILED (the exception's message as the status message unless one is given)."""
        message = status_message or (str(exception) if exception else None) or f"The Actor failed with exit code {exit_code}"
        await self.exit(exit_code=exit_code, status_message=message)

    # -- input and storages

    async def get_input(self):
        return _decode(_host(wit_runtime.input))

    async def open_key_value_store(self, *, id: Optional[str] = None, name: Optional[str] = None, **_ignored) -> KeyValueStore:
        if id is None and name is None:
            if self._default_kvs is None:
                self._default_kvs = KeyValueStore(_host(wit_kv.Store.open, None))
            return self._default_kvs
        return KeyValueStore(_open(wit_kv.Store, id, name))

    async def open_dataset(self, *, id: Optional[str] = None, name: Optional[str] = None, **_ignored) -> Dataset:
        if id is None and name is None:
            if self._default_dataset is None:
                self._default_dataset = Dataset(_host(wit_dataset.Dataset.open, None))
            return self._default_dataset
        return Dataset(_open(wit_dataset.Dataset, id, name))

    async def open_request_queue(self, *, id: Optional[str] = None, name: Optional[str] = None, **_ignored) -> RequestQueue:
        if id is None and name is None:
            if self._default_queue is None:
                self._default_queue = RequestQueue(_host(wit_queue.Queue.open, None))
            return self._default_queue
        return RequestQueue(_open(wit_queue.Queue, id, name))

    async def get_value(self, key: str, default_value: Any = None):
        value = _decode(_host(wit_kv.get_record, None, key))
        return default_value if value is None else value

    async def set_value(self, key: str, value: Any, *, content_type: Optional[str] = None):
        if value is None:
            return await (await self.open_key_value_store()).set_value(key, None)
        data, t = _encode(value, content_type)
        _host(wit_kv.set_record, None, key, data, t)

    async def push_data(self, data, charged_event_name: Optional[str] = None):
        """Pushes to the default dataset; with `charged_event_name`, charges it per item and pushes what the allowance pays for."""
        texts = _items(data)
        dataset = (await self.open_dataset())._dataset
        if not charged_event_name:
            if texts:
                _host(dataset.push_items, texts)
            return None
        pricing = wit_charging.pricing_info()
        if pricing.model != wit_charging.PricingModel.PAY_PER_EVENT:
            if texts:
                _host(dataset.push_items, texts)
            return ChargeResult(False, 0, {})

        def price(name):
            return next((round(e.price_usd * 1e9) for e in pricing.events if e.name == name), 0)

        each = price(charged_event_name) + price(DATASET_ITEM_EVENT)
        left = wit_charging.remaining_budget()
        fits = int(round(left * 1e9) // each) if left is not None and each > 0 else len(texts)
        n = min(fits, len(texts))
        if n == 0:
            return await self.charge(charged_event_name, 1)
        _host(dataset.push_items, texts[:n])
        return await self.charge(charged_event_name, n)

    async def use_state(self, default_value: Optional[dict] = None, key: Optional[str] = None) -> dict:
        """A dict kept in the default key-value store: saved on every `persistState` and at exit. Mutate it in place."""
        key = key or "APIFY_GLOBAL_STATE"
        if key not in self._states:
            value = await self.get_value(key)
            self._states[key] = value if value is not None else (default_value if default_value is not None else {})
        return self._states[key]

    async def _persist_states(self):
        for key, value in self._states.items():
            await self.set_value(key, value)

    # -- status, events, charging

    async def set_status_message(self, message: str, *, is_terminal: Optional[bool] = None):
        _host(wit_runtime.set_status_message, message, bool(is_terminal))

    def on(self, event: Event, handler: Callable):
        self._handlers.setdefault(Event(event), []).append(handler)

    def off(self, event: Event, handler: Optional[Callable] = None):
        if handler is None:
            self._handlers.pop(Event(event), None)
        elif handler in self._handlers.get(Event(event), []):
            self._handlers[Event(event)].remove(handler)

    def is_migrating(self) -> bool:
        """Whether the platform announced this run's migration (stop taking new work)."""
        return self._migrating

    def is_aborting(self) -> bool:
        return self._aborting

    async def wait_for_stop(self):
        """After `migrating`: wait to be stopped instead of returning (the run resumes elsewhere). Never returns."""
        await asyncio.get_running_loop().create_future()

    def _emit(self, event: Event, data):
        for handler in list(self._handlers.get(event, [])):
            try:
                result = handler(data)
                if inspect.isawaitable(result):
                    asyncio.ensure_future(result)
            except Exception as e:  # a handler's failure is logged, not the run's
                print(f"{event.value} handler failed: {e!r}")

    async def _deliver_events(self):
        loop = asyncio.get_running_loop()
        while True:
            await loop.wait_for(wit_events.subscribe())
            while (e := wit_events.next()) is not None:
                if isinstance(e, wit_events.Event_PersistState):
                    await self._persist_states()
                    self._emit(Event.PERSIST_STATE, EventPersistStateData(e.value))
                elif isinstance(e, wit_events.Event_Migrating):
                    self._migrating = True
                    self._emit(Event.MIGRATING, EventMigratingData(e.value))
                elif isinstance(e, wit_events.Event_Aborting):
                    self._aborting = True
                    self._emit(Event.ABORTING, EventAbortingData())
                elif isinstance(e, wit_events.Event_SystemInfo):
                    i = e.value
                    self._emit(Event.SYSTEM_INFO, EventSystemInfoData(i.mem_current_bytes, i.mem_max_bytes, i.cpu_current_usage, i.is_cpu_overloaded, i.created_at))

    async def charge(self, event_name: str, count: int = 1, idempotency_key: Optional[str] = None) -> ChargeResult:
        return _charge_result(_host(wit_charging.charge, event_name, count, idempotency_key))

    def get_charging_manager(self):
        return _ChargingManager()

    # -- other runs

    async def start(self, actor_id: str, run_input: Any = None, **options) -> dict:
        run = _host(wit_actors.start, actor_id, _input_text(run_input), _start_options(options))
        return json.loads(run.json)

    async def call(self, actor_id: str, run_input: Any = None, *, wait: Optional[timedelta] = None, **options) -> dict:
        wait_secs = None if wait is None else int(wait.total_seconds())
        run = _host(wit_actors.call, actor_id, _input_text(run_input), _start_options(options), wait_secs)
        return json.loads(run.json)

    async def abort(self, run_id: str, *, gracefully: Optional[bool] = None, **_ignored) -> Optional[dict]:
        if run_id == wit_runtime.info().run_id:
            _host(wit_runtime.abort, run_id, bool(gracefully))
            return None
        return json.loads(_host(wit_actors.abort_run, run_id, bool(gracefully)).json)

    async def metamorph(self, target_actor_id: str, run_input: Any = None, *, target_actor_build: Optional[str] = None, **_ignored):
        await self._persist_states()
        _host(wit_actors.metamorph, target_actor_id, _input_text(run_input), target_actor_build)
        await self.wait_for_stop()

    async def reboot(self, **_ignored):
        self._emit(Event.PERSIST_STATE, EventPersistStateData(False))
        await self._persist_states()
        _host(wit_runtime.reboot)
        await self.wait_for_stop()

    async def add_webhook(self, webhook: dict, **_ignored) -> str:
        return _host(wit_actors.add_webhook, json.dumps(webhook))

    def get_env(self) -> dict:
        i = wit_runtime.info()
        return {
            "actor_id": i.actor_id,
            "actor_run_id": i.run_id,
            "actor_build_id": i.build_id,
            "actor_build_number": i.build_number,
            "default_key_value_store_id": i.default_key_value_store_id,
            "default_dataset_id": i.default_dataset_id,
            "default_request_queue_id": i.default_request_queue_id,
            "input_key": i.input_key,
            "memory_mbytes": i.memory_mbytes,
            "timeout_secs": i.timeout_secs,
            "started_at": datetime.fromisoformat(i.started_at.replace("Z", "+00:00")),
            "timeout_at": datetime.fromisoformat(i.timeout_at.replace("Z", "+00:00")),
        }

    def is_at_home(self) -> bool:
        return True


def _input_text(value):
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _start_options(o: dict):
    timeout = o.get("timeout")
    if isinstance(timeout, timedelta):
        timeout = int(timeout.total_seconds())
    webhooks = o.get("webhooks")
    return wit_actors.StartOptions(
        build=o.get("build"),
        memory_mbytes=o.get("memory_mbytes"),
        timeout_secs=timeout,
        max_items=o.get("max_items"),
        max_total_charge_usd=o.get("max_total_charge_usd"),
        webhooks=None if webhooks is None else json.dumps(webhooks),
    )


class _ChargingManager:
    def get_pricing_info(self) -> dict:
        p = wit_charging.pricing_info()
        return {
            "pricing_model": p.model.name,
            "is_pay_per_event": p.model == wit_charging.PricingModel.PAY_PER_EVENT,
            "max_total_charge_usd": p.max_total_charge_usd if p.max_total_charge_usd is not None else float("inf"),
            "per_event_prices": {e.name: e.price_usd for e in p.events},
        }

    def get_charged_event_count(self, event_name: str) -> int:
        return dict(wit_charging.charged_event_counts()).get(event_name, 0)

    def calculate_max_event_charge_count_within_limit(self, event_name: str):
        left = wit_charging.remaining_budget()
        price = self.get_pricing_info()["per_event_prices"].get(event_name)
        if left is None or not price:
            return None
        return int(left // price)


class _Log:
    """`Actor.log`: lines into the run log."""

    def _line(self, level, message, *args):
        print(f"{level} {message % args if args else message}")

    def debug(self, message, *args, **_):
        self._line("DEBUG", message, *args)

    def info(self, message, *args, **_):
        self._line("INFO", message, *args)

    def warning(self, message, *args, **_):
        self._line("WARN", message, *args)

    def error(self, message, *args, **_):
        self._line("ERROR", message, *args)

    def exception(self, message, *args, **_):
        self._line("ERROR", message, *args)


Actor = _Actor()
