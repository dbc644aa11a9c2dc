"""Dataset exports in every format, read back by the real Python client and parsed by standard parsers."""
import csv
import io
import json
import urllib.request
import xml.etree.ElementTree as ET
import zipfile

import openpyxl

from conftest import TOKEN

ITEMS = [
    {"url": "https://a.example", "title": "A & <b>", "n": 1, "ok": True, "tags": ["x", "y"], "meta": {"lang": "en", "depth": 0}},
    {"url": "https://b.example", "title": "Ünïcödé, \"quoted\"", "n": 2.5, "ok": False, "tags": [], "meta": {"lang": "cs"}},
    {"url": "https://c.example", "title": "line\nbreak", "n": None, "extra": "only here", "#hidden": "h"},
    {"#only": "hidden"},
]

COLUMNS = ["url", "title", "n", "ok", "tags/0", "tags/1", "meta/lang", "meta/depth", "extra", "#hidden", "#only"]


def cell(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def flat(item):
    out = {}

    def walk(prefix, v):
        if isinstance(v, dict):
            for k, x in v.items():
                walk(f"{prefix}/{k}" if prefix else k, x)
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(f"{prefix}/{i}", x)
        else:
            out[prefix] = v

    walk("", item)
    return out


def dataset(client, name):
    ds = client.datasets().get_or_create(name=name)
    c = client.dataset(ds.id)
    c.push_items(ITEMS)
    return ds, c


def test_csv_with_header_bom_delimiter_and_flattened_columns(client):
    _, ds = dataset(client, "export-csv")
    raw = ds.get_items_as_bytes(item_format="csv")
    assert raw.startswith(b"\xef\xbb\xbf"), "CSV has a BOM by default"
    rows = list(csv.reader(io.StringIO(raw[3:].decode())))
    assert rows[0] == COLUMNS
    expected = [[cell(flat(i).get(c)) for c in COLUMNS] for i in ITEMS]
    assert rows[1:] == expected

    raw = ds.get_items_as_bytes(item_format="csv", bom=False, delimiter=";", skip_header_row=True, clean=True)
    assert not raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode()), delimiter=";"))
    clean_cols = [c for c in COLUMNS if not c.startswith("#")]
    assert rows == [[cell(flat(i).get(c)) for c in clean_cols] for i in ITEMS[:3]]


def test_xlsx_is_a_workbook_of_the_same_table(client):
    _, ds = dataset(client, "export-xlsx")
    raw = ds.get_items_as_bytes(item_format="xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(raw)).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == COLUMNS
    for got, item in zip(rows[1:], ITEMS):
        f = flat(item)
        want = [f.get(c) for c in COLUMNS]
        assert got == want, (got, want)


def test_html_table(client):
    _, ds = dataset(client, "export-html")
    html = ds.get_items_as_bytes(item_format="html", fields=["url", "title"]).decode()
    assert html.startswith("<!DOCTYPE html>")
    assert "<tr><th>url</th><th>title</th></tr>" in html
    assert "<td>A &amp; &lt;b&gt;</td>" in html
    assert html.count("<tr>") == 1 + len(ITEMS)


def test_xml_and_rss_parse_back(client):
    info, ds = dataset(client, "export-xml")
    root = ET.fromstring(ds.get_items_as_bytes(item_format="xml", xml_root="results", xml_row="page", skip_hidden=True))
    assert root.tag == "results"
    pages = root.findall("page")
    assert len(pages) == len(ITEMS)
    assert pages[0].find("title").text == "A & <b>"
    assert [t.text for t in pages[0].findall("tags")] == ["x", "y"]
    assert pages[0].find("meta/lang").text == "en"
    assert pages[1].find("ok").text == "false"

    rss = ET.fromstring(ds.get_items_as_bytes(item_format="rss", clean=True))
    assert rss.tag == "rss" and rss.get("version") == "2.0"
    channel = rss.find("channel")
    assert channel.find("title").text == "Dataset export-xml"
    assert channel.find("description").text == f'Items in dataset with id "{info.id}".'
    assert [i.find("url").text for i in channel.findall("item")] == [i["url"] for i in ITEMS[:3]]


def test_jsonl_views_and_counts(client):
    info, ds = dataset(client, "export-jsonl")
    lines = ds.get_items_as_bytes(item_format="jsonl", unwind=["tags"], fields=["url", "tags"]).decode().splitlines()
    assert [json.loads(l) for l in lines][:2] == [{"url": "https://a.example", "tags": "x"}, {"url": "https://a.example", "tags": "y"}]
    got = ds.get()
    assert got.item_count == 4
    assert got.clean_item_count == 3, "an item of only hidden fields is not clean"
    assert ds.get_statistics() is not None


def raw_get(server, path):
    req = urllib.request.Request(server + path, headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_output_fields_simplified_and_bad_parameters(client, server):
    info, _ = dataset(client, "export-params")
    status, _, body = raw_get(server, f"/v2/datasets/{info.id}/items?fields=url,n&outputFields=link,number&clean=1")
    assert status == 200
    assert json.loads(body)[0] == {"link": "https://a.example", "number": 1}
    for query, word in [("format=pdf", "pdf"), ("format=csv&delimiter=ab", "delimiter"), ("format=xml&xmlRoot=1bad", "1bad"),
                        ("fields=a&outputFields=x,y", "outputFields")]:
        status, _, body = raw_get(server, f"/v2/datasets/{info.id}/items?{query}")
        assert status == 400, query
        err = json.loads(body)["error"]
        assert err["type"] == "invalid-parameter" and word in err["message"], (query, err)


def test_key_value_store_records_as_a_zip(client, server):
    store = client.key_value_stores().get_or_create(name="zip-me")
    kv = client.key_value_store(store.id)
    kv.set_record("a.json", {"x": 1})
    kv.set_record("b.txt", "hello", content_type="text/plain")
    kv.set_record("pic", b"\x00\x01\x02" * 1000, content_type="application/octet-stream")
    status, headers, body = raw_get(server, f"/v2/key-value-stores/{store.id}/records")
    assert status == 200 and headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(body))
    assert sorted(z.namelist()) == ["a.json", "b.txt", "pic"]
    assert json.loads(z.read("a.json")) == {"x": 1}
    assert z.read("b.txt") == b"hello"
    assert z.read("pic") == b"\x00\x01\x02" * 1000
    status, _, body = raw_get(server, f"/v2/key-value-stores/{store.id}/records?prefix=b")
    assert zipfile.ZipFile(io.BytesIO(body)).namelist() == ["b.txt"]
