"""The real Python apify-client (v3, pydantic-validated responses) against wactor."""


def test_actor_call_run_and_results(client):
    actors = client.actors().list()
    assert any(a.name == "hello" for a in actors.items)
    actor = client.actor("me/hello").get()
    assert actor is not None and actor.name == "hello"

    run = client.actor("me/hello").call(run_input={"name": "Py", "count": 3})
    assert run is not None
    assert run.status == "SUCCEEDED"
    items = client.dataset(run.default_dataset_id).list_items()
    assert items.total == 3 and items.count == 3
    assert items.items[0] == {"greeting": "Hello, Py!", "index": 0}
    record = client.key_value_store(run.default_key_value_store_id).get_record("OUTPUT")
    assert record["value"] == {"greeting": "Hello, Py!", "count": 3}

    fetched = client.run(run.id).get()
    assert fetched.id == run.id and fetched.finished_at is not None
    log = client.run(run.id).log().get()
    assert "Hello, Py!" in log


def test_missing_things_are_none(client):
    assert client.actor("me/nope").get() is None
    assert client.run("doesNotExist12345").get() is None
    assert client.dataset("doesNotExist12345").get() is None
    store = client.key_value_stores().get_or_create(name="compat-store")
    assert client.key_value_store(store.id).get_record("missing") is None


def test_key_value_store_round_trip(client):
    store = client.key_value_stores().get_or_create(name="compat-kv")
    kv = client.key_value_store(store.id)
    kv.set_record("json", {"a": 1, "pad": "x" * 3000})  # > 1 KB: the client compresses it
    kv.set_record("text", "hello", content_type="text/plain")
    kv.set_record("bin", b"\x00\x01\x02", content_type="application/octet-stream")
    assert kv.get_record("json")["value"]["a"] == 1
    assert kv.get_record("text")["value"] == "hello"
    assert kv.get_record("bin")["value"] == b"\x00\x01\x02"
    assert kv.record_exists("text") is True
    keys = kv.list_keys(limit=2)
    assert [k.key for k in keys.items] == ["bin", "json"] and keys.is_truncated
    rest = kv.list_keys(exclusive_start_key=keys.next_exclusive_start_key)
    assert [k.key for k in rest.items] == ["text"] and not rest.is_truncated
    kv.delete_record("text")
    assert kv.get_record("text") is None
    assert any(s.name == "compat-kv" for s in client.key_value_stores().list().items)


def test_dataset_round_trip(client):
    ds = client.datasets().get_or_create(name="compat-ds")
    dataset = client.dataset(ds.id)
    dataset.push_items([{"i": i, "pad": "y" * 50} for i in range(100)])
    dataset.push_items({"i": 100})
    page = dataset.list_items(offset=90, limit=5, fields=["i"])
    assert [it["i"] for it in page.items] == [90, 91, 92, 93, 94]
    assert page.total == 101
    everything = list(dataset.iterate_items())
    assert len(everything) == 101
    assert dataset.get().item_count == 101
    assert any(d.name == "compat-ds" for d in client.datasets().list().items)


def test_failed_and_aborted_runs(client):
    run = client.actor("me/probe").call(run_input={"mode": "fail"})
    assert run.status == "FAILED" and run.status_message == "probe failed on purpose"
    started = client.actor("me/probe").start(run_input={"mode": "loop"})
    aborted = client.run(started.id).abort()
    assert aborted.status in ("ABORTING", "ABORTED")
    assert client.run(started.id).wait_for_finish().status == "ABORTED"


def test_request_queue_round_trip(client):
    from datetime import timedelta

    info = client.request_queues().get_or_create(name="compat-rq")
    queue = client.request_queue(info.id, client_key="crawler-a")
    added = queue.add_request({"url": "https://example.com/1", "uniqueKey": "https://example.com/1"})
    # The SDK's formula: base64(sha256(uniqueKey)) without +/=, 15 characters.
    assert len(added.request_id) == 15 and not added.was_already_present
    again = queue.add_request({"url": "https://example.com/1", "uniqueKey": "https://example.com/1"})
    assert again.was_already_present and again.request_id == added.request_id
    batch = queue.batch_add_requests([{"url": f"https://example.com/{i}", "uniqueKey": f"https://example.com/{i}"} for i in range(2, 5)])
    assert len(batch.processed_requests) == 3 and batch.unprocessed_requests == []
    queue.add_request({"url": "https://example.com/urgent", "uniqueKey": "urgent"}, forefront=True)

    head = queue.list_head(limit=10)
    assert [i.url for i in head.items][:2] == ["https://example.com/urgent", "https://example.com/1"]

    # Another client locks the first two; the first client's head skips them.
    other = client.request_queue(info.id, client_key="crawler-b")
    locked = other.list_and_lock_head(lock_duration=timedelta(seconds=60), limit=2)
    assert len(locked.items) == 2 and locked.queue_has_locked_requests
    assert [i.url for i in queue.list_head(limit=10).items][0] == "https://example.com/2"
    assert other.prolong_request_lock(locked.items[0].id, lock_duration=timedelta(seconds=120)) is not None
    other.delete_request_lock(locked.items[1].id)
    assert other.unlock_requests().unlocked_count == 1

    # Marking handled takes it off the head; the counts follow.
    request = queue.get_request(added.request_id)
    assert request is not None and request.url == "https://example.com/1"
    done = queue.update_request({**request.model_dump(by_alias=True, exclude_none=True), "handledAt": "2026-01-01T00:00:00.000Z"})
    assert done.request_id == added.request_id and not done.was_already_handled
    assert added.request_id not in [i.id for i in queue.list_head(limit=10).items]
    meta = queue.get()
    assert (meta.total_request_count, meta.handled_request_count, meta.pending_request_count) == (5, 1, 4)

    listed = queue.list_requests(limit=3)
    assert len(listed.items) == 3 and listed.next_cursor is not None
    rest = queue.list_requests(limit=10, cursor=listed.next_cursor)
    assert len(rest.items) == 2 and rest.next_cursor is None
    pending = queue.list_requests(limit=10, filter=["pending"])
    assert len(pending.items) == 4

    queue.batch_delete_requests([{"uniqueKey": "urgent"}])
    queue.delete_request(added.request_id)
    assert queue.get_request(added.request_id) is None
    assert queue.get().total_request_count == 3
    queue.delete()
    assert queue.get() is None


def _http(server, method, path, body=None, content_type="application/json"):
    import json
    import urllib.request
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{server}/v2{path}", data=data, method=method,
                                 headers={"Authorization": "Bearer compat-token", "Content-Type": content_type})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read() or b"null")


def test_pay_per_event_runs_validate_and_charge(client, server):
    import os
    import pathlib
    pricing = {"pricingModel": "PAY_PER_EVENT", "pricingPerEvent": {"actorChargeEvents": {
        "page": {"eventTitle": "Page", "eventDescription": "A page", "eventPriceUsd": 0.1},
        "apify-actor-start": {"eventTitle": "Start", "eventPriceUsd": 0.01},
    }}}
    _http(server, "POST", "/acts", {"name": "priced-compat", "pricingInfos": [pricing], "versions": [
        {"versionNumber": "0.1", "actorDefinition": {"actorSpecification": 1, "name": "priced-compat", "version": "0.1"}}]})
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", pathlib.Path(__file__).resolve().parents[2] / "target"))
    wasm = (target / "wasm32-wasip2" / "release" / "probe.wasm").read_bytes()
    _http(server, "POST", "/acts/priced-compat/builds?version=0.1", wasm, "application/wasm")

    actor = client.actor("me/priced-compat").get()
    assert actor.pricing_infos[0].pricing_model == "PAY_PER_EVENT"
    started = client.actor("me/priced-compat").start(run_input={"mode": "sleep"}, max_total_charge_usd=1)
    client.run(started.id).charge("page", count=2)
    client.run(started.id).charge("page", count=1, idempotency_key="once")
    client.run(started.id).charge("page", count=1, idempotency_key="once")
    run = client.run(started.id).get()
    assert run.pricing_info.pricing_model == "PAY_PER_EVENT"
    assert run.options.max_total_charge_usd == 1
    assert run.charged_event_counts == {"apify-actor-start": 1, "page": 3}
    client.run(started.id).abort()
    usage = client.user().monthly_usage()
    assert usage.monthly_service_usage["PAY_PER_EVENT"].quantity >= 4


def _receiver():
    """An HTTP receiver on 127.0.0.1 that records each POST's dispatch ID and JSON body."""
    import http.server
    import json
    import threading

    got = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            got.append((self.headers.get("x-apify-webhook-dispatch-id"), json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_port}/hook", got, httpd


def _wait(predicate, seconds=30):
    import time

    deadline = time.time() + seconds
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def test_webhooks_and_dispatches_validate(client):
    url, got, httpd = _receiver()
    try:
        actor = client.actor("me/hello").get()
        hook = client.webhooks().create(event_types=["ACTOR.RUN.SUCCEEDED"], request_url=url, actor_id=actor.id,
                                        idempotency_key="compat-hook", description="compat")
        assert str(hook.request_url) == url and hook.ignore_ssl_errors is False
        again = client.webhooks().create(event_types=["ACTOR.RUN.SUCCEEDED"], request_url=url, actor_id=actor.id,
                                         idempotency_key="compat-hook")
        assert again.id == hook.id
        assert any(w.id == hook.id for w in client.webhooks().list().items)
        assert client.webhook(hook.id).get().description == "compat"
        updated = client.webhook(hook.id).update(description="changed")
        assert updated.description == "changed"

        run = client.actor("me/hello").call(run_input={"name": "Hook", "count": 1})
        _wait(lambda: any(body["resource"]["id"] == run.id for _, body in got))
        dispatch = client.webhook(hook.id).test()
        assert dispatch.event_type == "TEST"
        _wait(lambda: any(d == dispatch.id for d, _ in got))
        dispatches = client.webhook(hook.id).dispatches().list().items
        assert {d.event_type for d in dispatches} == {"ACTOR.RUN.SUCCEEDED", "TEST"}
        one = client.webhook_dispatch(dispatches[0].id).get()
        assert one.id == dispatches[0].id and one.webhook_id == hook.id

        # Ad-hoc on a call: the client sends them base64-encoded.
        run = client.actor("me/hello").call(run_input={"count": 1}, webhooks=[
            {"event_types": ["ACTOR.RUN.SUCCEEDED"], "request_url": url, "payload_template": '{"adHoc": {{resource.id}}}'},
        ])
        _wait(lambda: any(body.get("adHoc") == run.id for _, body in got))
        client.webhook(hook.id).delete()
        assert client.webhook(hook.id).get() is None
    finally:
        httpd.shutdown()
