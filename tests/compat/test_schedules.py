"""Schedules through the real Python client: every method of its schedule clients validates."""
import time

import pytest
from apify_client.errors import ApifyApiError


def test_schedule_clients(client):
    actor = client.actor("me/hello").get()
    task = client.tasks().create(actor_id=actor.id, name="scheduled-task", task_input={"name": "Sched"})
    created = client.schedules().create(
        cron_expression="*/2 * * * * *", is_enabled=True, is_exclusive=False, name="compat-schedule", timezone="Europe/Prague",
        actions=[{"type": "RUN_ACTOR", "actorId": actor.id, "runInput": {"body": '{"name": "Cron"}', "contentType": "application/json"}},
                 {"type": "RUN_ACTOR_TASK", "actorTaskId": task.id}],
        title="Every two seconds")
    assert created.name == "compat-schedule" and created.timezone == "Europe/Prague" and created.next_run_at is not None
    assert [a.type for a in created.actions] == ["RUN_ACTOR", "RUN_ACTOR_TASK"]
    sched = client.schedule(created.id)
    assert sched.get().title == "Every two seconds"
    assert any(s.id == created.id for s in client.schedules().list().items)

    deadline = time.time() + 30
    while time.time() < deadline and len(sched.get_log()) < 2:
        time.sleep(0.2)
    log = sched.get_log()
    assert len(log) >= 2 and all(e.level == "INFO" for e in log), log
    deadline = time.time() + 30
    while time.time() < deadline and not any(r.meta.origin == "SCHEDULER" for r in client.task(task.id).runs().list().items):
        time.sleep(0.2)
    task_runs = client.task(task.id).runs().list().items
    assert any(r.meta.origin == "SCHEDULER" for r in task_runs)

    updated = sched.update(is_enabled=False, cron_expression="@daily")
    assert updated.is_enabled is False and updated.next_run_at is None and updated.cron_expression == "@daily"
    with pytest.raises(ApifyApiError) as e:
        sched.update(cron_expression="not a cron")
    assert e.value.status_code == 400 and "not a cron" in e.value.message
    assert sched.get().cron_expression == "@daily", "a refused update changes nothing"
    sched.delete()
    assert client.schedule(created.id).get() is None
