"""Storage schemas: an Actor's dataset schema validates its runs' items and names views; stores' collections."""
import json
import urllib.request

import pytest
from apify_client.errors import ApifyApiError

from conftest import TOKEN


def raw(server, method, path, body=None):
    req = urllib.request.Request(server + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_an_actors_dataset_schema_validates_and_names_views(client, server):
    run = client.actor("me/hello").call(run_input={"name": "Schema", "count": 2})
    assert run.status == "SUCCEEDED"
    ds = client.dataset(run.default_dataset_id)
    status, meta = raw(server, "GET", f"/v2/datasets/{run.default_dataset_id}")
    assert meta["data"]["schema"]["views"]["overview"]["title"] == "Greetings"
    # The output schema's links, filled in for this run.
    status, got = raw(server, "GET", f"/v2/actor-runs/{run.id}")
    output = got["data"]["output"]
    assert output["greetings"] == f"{server}/v2/datasets/{run.default_dataset_id}/items?view=overview", output
    assert output["summary"].endswith(f"/v2/key-value-stores/{run.default_key_value_store_id}/records/OUTPUT")
    status, summary = raw(server, "GET", output["summary"][len(server):])
    assert status == 200 and summary["count"] == 2
    items = json.loads(ds.get_items_as_bytes(view="overview"))
    assert [list(i) for i in items] == [["index", "greeting"]] * 2, "the view's fields, in its order"
    # A push that breaks the schema is refused whole, naming each bad item.
    with pytest.raises(ApifyApiError) as e:
        ds.push_items([{"greeting": "ok", "index": 5}, {"greeting": 3, "index": 1}, {"index": -1, "greeting": "x"}])
    assert e.value.status_code == 400 and e.value.type == "schema-validation-error"
    status, body = raw(server, "POST", f"/v2/datasets/{run.default_dataset_id}/items", [{"greeting": 3, "index": 1}])
    assert status == 400
    invalid = body["error"]["data"]["invalidItems"]
    assert invalid[0]["itemPosition"] == 0 and invalid[0]["validationErrors"][0]["instancePath"] == "/greeting"
    assert ds.get().item_count == 2, "nothing of a refused push is stored"
    stats = ds.get_statistics().field_statistics
    assert stats["greeting"]["min"] == len("Hello, Schema!") and stats["index"] == {"min": 0, "max": 1, "nullCount": 0, "emptyCount": 0}
    with pytest.raises(ApifyApiError) as e:
        ds.get_items_as_bytes(view="nope")
    assert e.value.status_code == 400 and "overview" in e.value.message


def test_datasets_and_stores_made_with_a_schema(client, server):
    schema = {"fields": {"type": "object", "required": ["url"]}, "views": {"urls": {"transformation": {"fields": ["url"]}}}}
    ds = client.datasets().get_or_create(name="with-schema", schema=schema)
    client.dataset(ds.id).push_items([{"url": "https://a.example", "x": 1}])
    with pytest.raises(ApifyApiError):
        client.dataset(ds.id).push_items([{"x": 2}])
    assert json.loads(client.dataset(ds.id).get_items_as_bytes(view="urls")) == [{"url": "https://a.example"}]
    status, body = raw(server, "POST", "/v2/datasets?name=bad-schema", {"schema": {"fields": {"type": 12}}})
    assert status == 400 and body["error"]["type"] == "invalid-schema"
    assert client.dataset("bad-schema").get() is None, "nothing half-created"

    status, body = raw(server, "POST", "/v2/key-value-stores?name=collected",
                       {"schema": {"collections": {"shots": {"keyPrefix": "shot-"}, "out": {"key": "OUTPUT"}}}})
    assert status == 201
    kv = client.key_value_store(body["data"]["id"])
    for key in ["shot-1", "shot-2", "OUTPUT", "other"]:
        kv.set_record(key, {"k": key})
    assert [k.key for k in kv.list_keys(collection="shots").items] == ["shot-1", "shot-2"]
    assert [k.key for k in kv.list_keys(collection="out").items] == ["OUTPUT"]
    with pytest.raises(ApifyApiError) as e:
        kv.list_keys(collection="nope")
    assert e.value.status_code == 400
