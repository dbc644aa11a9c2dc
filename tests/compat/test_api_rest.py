"""The rest of the API through the real Python client: user, limits, builds, list options, generalAccess, errors."""
import json
import pathlib
import urllib.request

import pytest
from apify_client.errors import ApifyApiError

from conftest import REPO, TOKEN


def raw(server, method, path, body=None, token=True):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {TOKEN}"
    req = urllib.request.Request(server + path, method=method, headers=headers,
                                 data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_user_and_limits(client):
    me = client.user().get()
    assert me.username and me.id
    limits = client.user().limits()
    assert limits.current.actor_count >= 1
    client.user().update_limits(max_monthly_usage_usd=1000)
    assert client.user().limits().limits.max_monthly_usage_usd == 1000
    with pytest.raises(ApifyApiError) as e:
        client.user().update_limits(data_retention_days=7)
    assert e.value.status_code == 400 and "dataRetentionDays" in e.value.message
    # A limit already reached stops new runs with a clear error.
    client.user().update_limits(max_monthly_usage_usd=0)
    with pytest.raises(ApifyApiError) as e:
        client.actor("me/hello").start()
    assert "monthly-usage-limit-exceeded" in str(e.value.type)
    client.user().update_limits(max_monthly_usage_usd=1000)
    assert client.actor("me/hello").call().status == "SUCCEEDED"


def test_builds_list_get_and_delete(client, server):
    wasm = (pathlib.Path(REPO) / "target/wasm32-wasip2/release/hello.wasm").read_bytes()
    req = urllib.request.Request(server + "/v2/acts/me~hello/builds?version=0.1&tag=beta", method="POST", data=wasm,
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/wasm"})
    with urllib.request.urlopen(req) as resp:
        beta = json.loads(resp.read())["data"]
    actor = client.actor("me/hello").get()
    listed = client.actor(actor.id).builds().list().items
    assert beta["id"] in [b.id for b in listed]
    assert beta["id"] in [b.id for b in client.builds().list().items]
    build = client.build(beta["id"])
    assert build.get().status == "SUCCEEDED"
    assert build.abort().status == "SUCCEEDED", "aborting a finished build changes nothing"
    with pytest.raises(ApifyApiError) as e:
        client.build(actor.tagged_builds["latest"].build_id).delete()
    assert e.value.status_code == 400 and "latest" in e.value.message
    # Another build takes the tag; the first can go then.
    with urllib.request.urlopen(urllib.request.Request(req.full_url, method="POST", data=wasm, headers=req.headers)) as resp:
        json.loads(resp.read())
    build.delete()
    assert client.build(beta["id"]).get() is None


def test_list_options_and_general_access(client, server):
    assert [a.name for a in client.actors().list(sort_by="stats.lastRunStartedAt", my=True).items]
    with pytest.raises(ApifyApiError):
        client.actors().list(sort_by="name")
    ds = client.datasets().get_or_create(name="shared-data")
    client.dataset(ds.id).push_items([{"a": 1}])
    assert client.datasets().list(ownership="SHARED_WITH_ME").items == []
    assert any(d.id == ds.id for d in client.datasets().list(ownership="OWNED_BY_ME").items)

    status, _ = raw(server, "GET", f"/v2/datasets/{ds.id}/items", token=False)
    assert status == 401
    updated = client.dataset(ds.id).update(general_access="ANYONE_WITH_ID_CAN_READ")
    assert updated.general_access == "ANYONE_WITH_ID_CAN_READ"
    status, body = raw(server, "GET", f"/v2/datasets/{ds.id}/items", token=False)
    assert status == 200 and json.loads(body) == [{"a": 1}]
    assert raw(server, "GET", "/v2/datasets/shared-data/items", token=False)[0] == 401, "shared by ID, not by name"
    assert raw(server, "POST", f"/v2/datasets/{ds.id}/items", [{"b": 2}], token=False)[0] == 401, "reading only"
    assert raw(server, "DELETE", f"/v2/datasets/{ds.id}", token=False)[0] == 401
    status, body = raw(server, "PUT", f"/v2/datasets/{ds.id}", {"generalAccess": "EVERYONE"})
    assert status == 400 and json.loads(body)["error"]["type"] == "invalid-value"


def test_request_queue_lock_takes_at_most_25(client):
    q = client.request_queues().get_or_create(name="lock-cap")
    rq = client.request_queue(q.id, client_key="locker")
    rq.batch_add_requests([{"url": f"https://example.com/{i}", "uniqueKey": str(i)} for i in range(25)])
    rq.batch_add_requests([{"url": f"https://example.com/x{i}", "uniqueKey": f"x{i}"} for i in range(10)])
    locked = rq.list_and_lock_head(limit=100, lock_duration=__import__("datetime").timedelta(seconds=60))
    assert len(locked.items) == 25


def test_unknown_routes_and_methods_have_error_bodies(server):
    status, body = raw(server, "GET", "/v2/no-such-thing")
    assert status == 404 and json.loads(body)["error"]["type"] == "page-not-found"
    status, body = raw(server, "PATCH", "/v2/actors")
    assert status == 405 and json.loads(body)["error"]["type"] == "method-not-allowed"
