"""An asyncio event loop for a component: the guest has no threads, no
sockets and no selector, so the loop waits on `wasi:io` pollables (a
host-call result, an HTTP response, a clock timer) with `wasi:io/poll`."""

import asyncio
import heapq

from wit_world.imports import monotonic_clock, poll


class ComponentLoop(asyncio.AbstractEventLoop):
    def __init__(self):
        self._ready = []
        self._timers = []  # heap of (when_ns, seq, TimerHandle)
        self._seq = 0
        self._waiting = []  # (pollable, future)
        self._running = False
        self._exception = None

    # -- running

    def run_until_complete(self, future):
        future = asyncio.ensure_future(future, loop=self)
        self._running = True
        asyncio.events._set_running_loop(self)
        try:
            while not future.done():
                self._run_once()
                if self._exception is not None:
                    raise self._exception
        finally:
            self._running = False
            asyncio.events._set_running_loop(None)
        return future.result()

    def _run_once(self):
        ready, self._ready = self._ready, []
        for handle in ready:
            if not handle._cancelled:
                handle._run()
        now = monotonic_clock.now()
        while self._timers and self._timers[0][0] <= now:
            _, _, handle = heapq.heappop(self._timers)
            if not handle._cancelled:
                self._ready.append(handle)
        if self._ready:
            return
        pollables = [p for p, _ in self._waiting]
        timer = None
        if self._timers:
            timer = monotonic_clock.subscribe_instant(self._timers[0][0])
            pollables.append(timer)
        if not pollables:
            return
        woken = set(poll.poll(pollables))
        still = []
        for index, (pollable, fut) in enumerate(self._waiting):
            if index in woken:
                pollable.__exit__(None, None, None)
                if not fut.done():
                    fut.set_result(None)
            else:
                still.append((pollable, fut))
        self._waiting = still
        if timer is not None:
            timer.__exit__(None, None, None)

    async def wait_for(self, pollable):
        """Waits until `pollable` is ready (the loop runs other tasks meanwhile)."""
        fut = self.create_future()
        self._waiting.append((pollable, fut))
        await fut

    # -- scheduling

    def call_soon(self, callback, *args, context=None):
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def call_soon_threadsafe(self, callback, *args, context=None):
        return self.call_soon(callback, *args, context=context)

    def time(self):
        return monotonic_clock.now() / 1e9

    def call_at(self, when, callback, *args, context=None):
        handle = asyncio.TimerHandle(when, callback, args, self, context)
        self._seq += 1
        heapq.heappush(self._timers, (int(when * 1e9), self._seq, handle))
        return handle

    def call_later(self, delay, callback, *args, context=None):
        return self.call_at(self.time() + max(0.0, delay), callback, *args, context=context)

    def _timer_handle_cancelled(self, handle):
        pass

    def create_future(self):
        return asyncio.Future(loop=self)

    def create_task(self, coro, *, name=None, context=None):
        return asyncio.Task(coro, loop=self, name=name)

    # -- state

    def is_running(self):
        return self._running

    def is_closed(self):
        return False

    def stop(self):
        self._running = False

    def close(self):
        self._running = False

    def get_debug(self):
        return False

    def set_debug(self, enabled):
        pass

    def call_exception_handler(self, context):
        exc = context.get("exception")
        if exc is not None and not isinstance(exc, asyncio.CancelledError):
            print(f"unhandled error in a task: {context.get('message')}: {exc!r}")

    def default_exception_handler(self, context):
        self.call_exception_handler(context)

    def get_exception_handler(self):
        return None

    def set_exception_handler(self, handler):
        pass

    def get_task_factory(self):
        return None

    def set_task_factory(self, factory):
        pass

    async def shutdown_asyncgens(self):
        pass

    async def shutdown_default_executor(self, timeout=None):
        pass

    def run_forever(self):
        raise NotImplementedError("a component run ends when its main coroutine does")

    def run_in_executor(self, executor, func, *args):
        raise NotImplementedError("a component has no threads")
