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
