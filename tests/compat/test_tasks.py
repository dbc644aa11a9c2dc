"""Actor tasks through the real Python client: CRUD, saved input, runs, last run and its storages."""
from datetime import timedelta

import pytest
from apify_client.errors import ApifyApiError


def test_task_crud_input_and_runs(client):
    actor = client.actor("me/hello").get()
    created = client.tasks().create(actor_id=actor.id, name="greet-task", task_input={"name": "Task"}, memory_mbytes=256,
                                    run_timeout=timedelta(seconds=50), title="Greeter")
    assert created.act_id == actor.id and created.name == "greet-task"
    assert created.options.memory_mbytes == 256 and created.options.timeout_secs == 50
    task = client.task(created.id)
    assert task.get().title == "Greeter"
    assert client.task("me/greet-task").get().id == created.id, "username~name resolves too"
    assert any(t.id == created.id for t in client.tasks().list().items)

    assert task.get_input() == {"name": "Task"}
    assert task.update_input(task_input={"name": "Saved", "count": 2}) == {"name": "Saved", "count": 2}

    # The saved input, the schema's defaults and the task's options make the run.
    run = task.call()
    assert run.status == "SUCCEEDED"
    assert run.actor_task_id == created.id and run.act_id == actor.id
    assert run.options.memory_mbytes == 256 and run.options.timeout_secs == 50
    items = client.dataset(run.default_dataset_id).list_items().items
    assert [i["greeting"] for i in items] == ["Hello, Saved!"] * 2

    # An override merges over the saved input field by field; call options win over the task's.
    run2 = task.call(task_input={"count": 1}, memory_mbytes=512)
    assert run2.options.memory_mbytes == 512
    assert [i["greeting"] for i in client.dataset(run2.default_dataset_id).list_items().items] == ["Hello, Saved!"]

    runs = task.runs().list().items
    assert [r.id for r in runs] == [run.id, run2.id]
    assert task.get().stats.total_runs == 2
    last = task.last_run(status="SUCCEEDED")
    assert last.get().id == run2.id
    assert last.dataset().list_items().items[0]["greeting"] == "Hello, Saved!"
    assert last.key_value_store().get_record("OUTPUT")["value"]["count"] == 1
    assert "Hello, Saved!" in last.log().get()
    # The Actor's last run is the task's run too.
    assert client.actor(actor.id).last_run().dataset().list_items().total == 1

    updated = task.update(name="greet-task-2", max_items=5)
    assert updated.name == "greet-task-2" and updated.options.max_items == 5
    assert client.task("me/greet-task").get() is None
    task.delete()
    assert client.task(created.id).get() is None


def test_task_bad_input_is_refused_and_nothing_is_made(client):
    actor = client.actor("me/hello").get()
    before = len(client.tasks().list().items)
    with pytest.raises(ApifyApiError) as e:
        client.tasks().create(actor_id=actor.id, name="bad-task", task_input={"count": "many"})
    assert e.value.status_code == 400 and "count" in e.value.message
    with pytest.raises(ApifyApiError) as e:
        client.tasks().create(actor_id="noSuchActor123", name="orphan")
    assert e.value.status_code == 404
    assert len(client.tasks().list().items) == before

    task = client.tasks().create(actor_id=actor.id, name="strict-task")
    with pytest.raises(ApifyApiError) as e:
        client.task(task.id).call(task_input={"count": -1})
    assert e.value.status_code == 400
    assert client.task(task.id).runs().list().total == 0
    with pytest.raises(ApifyApiError) as e:
        client.tasks().create(actor_id=actor.id, name="strict-task")
    assert e.value.status_code == 409
    client.task(task.id).delete()
