//! `GET /v2/openapi.json`: an OpenAPI 3.1 description of every route.
//!
//! The operations are listed once, in [`OPERATIONS`]; a test reads the
//! route registrations of the API's modules and fails when a route is
//! missing here or listed here without existing, so the document and the
//! router cannot drift apart. Query parameters are typed from one table of
//! the names the API uses ([`param_schema`]); answers are the `{"data": …}`
//! envelope, raw bodies where the API sends them, and Apify's
//! `{"error": {"type", "message"}}` for every error status.

use serde_json::{json, Map, Value};
use utoipa::OpenApi;

/// An answer or body without a type of its own (a raw JSON value).
const ANY: &str = "";

/// The types the handlers serialise and deserialise; utoipa walks them (and
/// every type they contain) into `components.schemas`.
#[derive(OpenApi)]
#[openapi(components(schemas(
    super::views::ActorView,
    super::views::ActorShort,
    super::views::BuildShort,
    super::views::RunShort,
    super::views::TaskShort,
    super::views::KvStoreView,
    super::views::DatasetView,
    super::views::QueueView,
    crate::platform::actors::ActorPatch,
    crate::platform::actors::BuildRecord,
    crate::platform::runs::RunView,
    crate::platform::tasks::Task,
    crate::platform::tasks::TaskPatch,
    crate::platform::schedules::Schedule,
    crate::platform::schedules::SchedulePatch,
    crate::platform::schedules::LogEntry,
    crate::platform::webhooks::Webhook,
    crate::platform::webhooks::WebhookSpec,
    crate::platform::webhooks::Dispatch,
    crate::platform::charging::ChargeResult,
    crate::platform::usage::AccountLimits,
    super::runs::RunUpdate,
    super::runs::ChargeRequest,
    super::storages::StorageUpdate,
    super::storages::StorageCreate,
)))]
struct Types;

/// The component schemas of [`Types`], as JSON.
fn type_schemas() -> Map<String, Value> {
    let doc = serde_json::to_value(Types::openapi()).unwrap_or(Value::Null);
    doc["components"]["schemas"].as_object().cloned().unwrap_or_default()
}

/// `{"$ref": ...}` to a component, `name[]` an array of them, [`ANY`] any value.
fn schema_ref(name: &str) -> Value {
    match name.strip_suffix("[]") {
        _ if name == ANY => json!({}),
        Some(item) => json!({"type": "array", "items": schema_ref(item)}),
        None => json!({"$ref": format!("#/components/schemas/{name}")}),
    }
}

/// What a success answer carries.
#[derive(Clone, Copy)]
enum Answer {
    /// `{"data": <schema>}` with this status; `ANY` when the answer has no type of its own.
    Data(u16, &'static str),
    /// `{"data": {total, offset, limit, count, desc, items: [<schema>]}}`.
    Page(&'static str),
    /// No body.
    Empty(u16),
    /// Dataset items in the export formats, with the pagination headers.
    Items(u16),
    /// A raw body of any type (a record, a log, a zip, a run's output).
    Raw(u16),
    /// A JSON value without the envelope.
    Json(u16),
}

/// What a request sends.
#[derive(Clone, Copy, PartialEq)]
enum Body {
    None,
    /// A JSON object.
    Object,
    /// A JSON object of this component schema.
    Typed(&'static str),
    /// JSON: an object or an array of objects (dataset items, batches).
    Json,
    /// Any bytes with their content type (a record, an input, a component).
    Raw,
}

use Answer::*;

/// (method, path under /v2, summary, query parameters, body, answer).
type Op = (&'static str, &'static str, &'static str, &'static [&'static str], Body, Answer);

const PAGE: &[&str] = &["offset", "limit", "desc"];
const START: &[&str] = &[
    "build",
    "timeout",
    "memory",
    "maxItems",
    "maxTotalChargeUsd",
    "restartOnError",
    "waitForFinish",
    "webhooks",
    "forcePermissionLevel",
    "persistStateIntervalMillis",
];
const SYNC: &[&str] = &["build", "timeout", "memory", "maxItems", "maxTotalChargeUsd", "restartOnError", "webhooks", "outputRecordKey"];
const ITEMS: &[&str] = &[
    "format",
    "clean",
    "offset",
    "limit",
    "fields",
    "outputFields",
    "omit",
    "unwind",
    "flatten",
    "desc",
    "attachment",
    "delimiter",
    "bom",
    "xmlRoot",
    "xmlRow",
    "skipHeaderRow",
    "skipHidden",
    "skipEmpty",
    "simplified",
    "view",
    "skipFailedPages",
    "feedTitle",
    "feedDescription",
];
const RUNS: &[&str] = &["offset", "limit", "desc", "status", "startedAfter", "startedBefore", "origin"];
const LAST: &[&str] = &["status", "origin", "waitForFinish"];
const STORAGES: &[&str] = &["offset", "limit", "desc", "unnamed", "ownership"];
const NONE: &[&str] = &[];

const OPERATIONS: &[Op] = &[
    ("GET", "/actors", "List Actors", &["offset", "limit", "desc", "my", "sortBy"], Body::None, Page("ActorShort")),
    ("POST", "/actors", "Create an Actor", NONE, Body::Typed("ActorPatch"), Data(201, "ActorView")),
    ("GET", "/actors/{actor}", "Get an Actor", NONE, Body::None, Data(200, "ActorView")),
    ("PUT", "/actors/{actor}", "Update an Actor", NONE, Body::Typed("ActorPatch"), Data(200, "ActorView")),
    ("DELETE", "/actors/{actor}", "Delete an Actor", NONE, Body::None, Empty(204)),
    (
        "POST",
        "/actors/{actor}/builds",
        "Build a version from an upload",
        &["version", "tag", "waitForFinish"],
        Body::Raw,
        Data(201, "Build"),
    ),
    ("GET", "/actors/{actor}/builds", "List an Actor's builds", PAGE, Body::None, Page("BuildShort")),
    ("GET", "/actors/{actor}/builds/default", "Get the Actor's default build", NONE, Body::None, Data(200, "Build")),
    ("POST", "/actors/{actor}/validate-input", "Validate an input", &["build"], Body::Raw, Json(200)),
    ("GET", "/actors/{actor}/webhooks", "List an Actor's webhooks", PAGE, Body::None, Page("Webhook")),
    ("POST", "/actors/{actor}/runs", "Run an Actor", START, Body::Raw, Data(201, "RunView")),
    ("GET", "/actors/{actor}/runs", "List an Actor's runs", RUNS, Body::None, Page("RunShort")),
    ("GET", "/actors/{actor}/runs/last", "Get the Actor's last run", LAST, Body::None, Data(200, "RunView")),
    ("GET", "/actors/{actor}/runs/last/{rest}", "A route of the Actor's last run", LAST, Body::None, Raw(200)),
    ("POST", "/actors/{actor}/run-sync", "Run an Actor and get its output", SYNC, Body::Raw, Raw(201)),
    ("GET", "/actors/{actor}/run-sync", "Run an Actor and get its output", SYNC, Body::None, Raw(201)),
    ("POST", "/actors/{actor}/run-sync-get-dataset-items", "Run an Actor and get its items", SYNC, Body::Raw, Items(201)),
    ("GET", "/actors/{actor}/run-sync-get-dataset-items", "Run an Actor and get its items", SYNC, Body::None, Items(201)),
    ("GET", "/actor-builds", "List builds", PAGE, Body::None, Page("BuildShort")),
    ("GET", "/actor-builds/{build}", "Get a build", &["waitForFinish"], Body::None, Data(200, "Build")),
    ("DELETE", "/actor-builds/{build}", "Delete a build", NONE, Body::None, Empty(204)),
    ("POST", "/actor-builds/{build}/abort", "Abort a build", NONE, Body::None, Data(200, "Build")),
    ("GET", "/actor-builds/{build}/log", "Get a build's log", &["stream", "download"], Body::None, Raw(200)),
    ("GET", "/actor-tasks", "List tasks", PAGE, Body::None, Page("TaskShort")),
    ("POST", "/actor-tasks", "Create a task", NONE, Body::Typed("TaskPatch"), Data(201, "Task")),
    ("GET", "/actor-tasks/{task}", "Get a task", NONE, Body::None, Data(200, "Task")),
    ("PUT", "/actor-tasks/{task}", "Update a task", NONE, Body::Typed("TaskPatch"), Data(200, "Task")),
    ("DELETE", "/actor-tasks/{task}", "Delete a task", NONE, Body::None, Empty(204)),
    ("GET", "/actor-tasks/{task}/input", "Get a task's input", NONE, Body::None, Json(200)),
    ("PUT", "/actor-tasks/{task}/input", "Replace a task's input", NONE, Body::Object, Json(200)),
    ("GET", "/actor-tasks/{task}/webhooks", "List a task's webhooks", PAGE, Body::None, Page("Webhook")),
    ("POST", "/actor-tasks/{task}/runs", "Run a task", START, Body::Object, Data(201, "RunView")),
    ("GET", "/actor-tasks/{task}/runs", "List a task's runs", RUNS, Body::None, Page("RunShort")),
    ("GET", "/actor-tasks/{task}/runs/last", "Get the task's last run", LAST, Body::None, Data(200, "RunView")),
    ("GET", "/actor-tasks/{task}/runs/last/{rest}", "A route of the task's last run", LAST, Body::None, Raw(200)),
    ("POST", "/actor-tasks/{task}/run-sync", "Run a task and get its output", SYNC, Body::Object, Raw(201)),
    ("GET", "/actor-tasks/{task}/run-sync", "Run a task and get its output", SYNC, Body::None, Raw(201)),
    ("POST", "/actor-tasks/{task}/run-sync-get-dataset-items", "Run a task and get its items", SYNC, Body::Object, Items(201)),
    ("GET", "/actor-tasks/{task}/run-sync-get-dataset-items", "Run a task and get its items", SYNC, Body::None, Items(201)),
    ("GET", "/actor-runs", "List runs", RUNS, Body::None, Page("RunShort")),
    ("GET", "/actor-runs/{run}", "Get a run", &["waitForFinish"], Body::None, Data(200, "RunView")),
    ("PUT", "/actor-runs/{run}", "Update a run", NONE, Body::Typed("RunUpdate"), Data(200, "RunView")),
    ("DELETE", "/actor-runs/{run}", "Delete a run", NONE, Body::None, Empty(204)),
    ("POST", "/actor-runs/{run}/abort", "Abort a run", &["gracefully"], Body::None, Data(200, "RunView")),
    ("POST", "/actor-runs/{run}/reboot", "Reboot a run", NONE, Body::None, Data(200, "RunView")),
    (
        "POST",
        "/actor-runs/{run}/resurrect",
        "Resurrect a run",
        &["build", "timeout", "memory", "maxItems", "maxTotalChargeUsd"],
        Body::None,
        Data(200, "RunView"),
    ),
    ("POST", "/actor-runs/{run}/charge", "Charge an event", NONE, Body::Typed("ChargeRequest"), Data(201, "ChargeResult")),
    ("POST", "/actor-runs/{run}/metamorph", "Metamorph a run", &["targetActorId", "build"], Body::Raw, Data(200, "RunView")),
    ("GET", "/actor-runs/{run}/log", "Get a run's log", &["stream", "download"], Body::None, Raw(200)),
    ("GET", "/actor-runs/{run}/dataset", "Get a run's default dataset", NONE, Body::None, Data(200, "DatasetView")),
    ("GET", "/actor-runs/{run}/dataset/items", "Get a run's items", ITEMS, Body::None, Items(200)),
    ("POST", "/actor-runs/{run}/dataset/items", "Push items to a run's dataset", NONE, Body::Json, Data(201, ANY)),
    ("GET", "/actor-runs/{run}/request-queue", "Get a run's default request queue", NONE, Body::None, Data(200, "QueueView")),
    ("GET", "/actor-runs/{run}/key-value-store", "Get a run's default store", NONE, Body::None, Data(200, "KvStoreView")),
    (
        "GET",
        "/actor-runs/{run}/key-value-store/keys",
        "List a run's keys",
        &["exclusiveStartKey", "limit", "prefix", "collection"],
        Body::None,
        Data(200, "RunView"),
    ),
    ("GET", "/actor-runs/{run}/key-value-store/records/{key}", "Get a run's record", &["attachment"], Body::None, Raw(200)),
    ("PUT", "/actor-runs/{run}/key-value-store/records/{key}", "Store a run's record", NONE, Body::Raw, Data(201, ANY)),
    ("DELETE", "/actor-runs/{run}/key-value-store/records/{key}", "Delete a run's record", NONE, Body::None, Empty(204)),
    ("GET", "/schedules", "List schedules", PAGE, Body::None, Page("Schedule")),
    ("POST", "/schedules", "Create a schedule", NONE, Body::Typed("SchedulePatch"), Data(201, "Schedule")),
    ("GET", "/schedules/{schedule}", "Get a schedule", NONE, Body::None, Data(200, "Schedule")),
    ("PUT", "/schedules/{schedule}", "Update a schedule", NONE, Body::Typed("SchedulePatch"), Data(200, "Schedule")),
    ("DELETE", "/schedules/{schedule}", "Delete a schedule", NONE, Body::None, Empty(204)),
    ("GET", "/schedules/{schedule}/log", "Get a schedule's log", NONE, Body::None, Data(200, "LogEntry[]")),
    ("GET", "/key-value-stores", "List key-value stores", STORAGES, Body::None, Page("KvStoreView")),
    ("POST", "/key-value-stores", "Get or create a key-value store", &["name"], Body::Typed("StorageCreate"), Data(201, "KvStoreView")),
    ("GET", "/key-value-stores/{id}", "Get a key-value store", NONE, Body::None, Data(200, "KvStoreView")),
    ("PUT", "/key-value-stores/{id}", "Update a key-value store", NONE, Body::Typed("StorageUpdate"), Data(200, "KvStoreView")),
    ("DELETE", "/key-value-stores/{id}", "Delete a key-value store", NONE, Body::None, Empty(204)),
    (
        "GET",
        "/key-value-stores/{id}/keys",
        "List keys",
        &["exclusiveStartKey", "limit", "prefix", "collection"],
        Body::None,
        Data(200, ANY),
    ),
    ("GET", "/key-value-stores/{id}/records", "Download the records as a zip", &["prefix", "collection"], Body::None, Raw(200)),
    ("GET", "/key-value-stores/{id}/records/{key}", "Get a record", &["attachment"], Body::None, Raw(200)),
    ("PUT", "/key-value-stores/{id}/records/{key}", "Store a record", NONE, Body::Raw, Data(201, ANY)),
    ("POST", "/key-value-stores/{id}/records/{key}", "Store a record", NONE, Body::Raw, Data(201, ANY)),
    ("DELETE", "/key-value-stores/{id}/records/{key}", "Delete a record", NONE, Body::None, Empty(204)),
    ("GET", "/datasets", "List datasets", STORAGES, Body::None, Page("DatasetView")),
    ("POST", "/datasets", "Get or create a dataset", &["name"], Body::Typed("StorageCreate"), Data(201, "DatasetView")),
    ("GET", "/datasets/{id}", "Get a dataset", NONE, Body::None, Data(200, "DatasetView")),
    ("PUT", "/datasets/{id}", "Update a dataset", NONE, Body::Typed("StorageUpdate"), Data(200, "DatasetView")),
    ("DELETE", "/datasets/{id}", "Delete a dataset", NONE, Body::None, Empty(204)),
    ("GET", "/datasets/{id}/items", "Get items", ITEMS, Body::None, Items(200)),
    ("POST", "/datasets/{id}/items", "Push items", NONE, Body::Json, Data(201, ANY)),
    ("GET", "/datasets/{id}/statistics", "Get field statistics", NONE, Body::None, Data(200, ANY)),
    ("GET", "/request-queues", "List request queues", STORAGES, Body::None, Page("QueueView")),
    ("POST", "/request-queues", "Get or create a request queue", &["name"], Body::Typed("StorageCreate"), Data(201, "QueueView")),
    ("GET", "/request-queues/{id}", "Get a request queue", NONE, Body::None, Data(200, "QueueView")),
    ("PUT", "/request-queues/{id}", "Update a request queue", NONE, Body::Typed("StorageUpdate"), Data(200, "QueueView")),
    ("DELETE", "/request-queues/{id}", "Delete a request queue", NONE, Body::None, Empty(204)),
    ("GET", "/webhooks", "List webhooks", PAGE, Body::None, Page("Webhook")),
    ("POST", "/webhooks", "Create a webhook", NONE, Body::Typed("WebhookSpec"), Data(201, "Webhook")),
    ("GET", "/webhooks/{id}", "Get a webhook", NONE, Body::None, Data(200, "Webhook")),
    ("PUT", "/webhooks/{id}", "Update a webhook", NONE, Body::Typed("WebhookSpec"), Data(200, "Webhook")),
    ("DELETE", "/webhooks/{id}", "Delete a webhook", NONE, Body::None, Empty(204)),
    ("POST", "/webhooks/{id}/test", "Test a webhook", NONE, Body::None, Data(201, "Dispatch")),
    ("GET", "/webhooks/{id}/dispatches", "List a webhook's dispatches", PAGE, Body::None, Page("Dispatch")),
    ("GET", "/webhook-dispatches", "List dispatches", PAGE, Body::None, Page("Dispatch")),
    ("GET", "/webhook-dispatches/{id}", "Get a dispatch", NONE, Body::None, Data(200, "Dispatch")),
    ("GET", "/logs/{id}", "Get a run's or build's log", &["stream", "download"], Body::None, Raw(200)),
    ("GET", "/users/me", "Get the user", NONE, Body::None, Data(200, ANY)),
    ("GET", "/users/me/usage/monthly", "Get the month's usage", &["date"], Body::None, Data(200, ANY)),
    ("GET", "/users/me/limits", "Get the account's limits", NONE, Body::None, Data(200, "AccountLimits")),
    ("PUT", "/users/me/limits", "Set the account's limits", NONE, Body::Typed("AccountLimits"), Empty(204)),
    ("GET", "/openapi.json", "This document", NONE, Body::None, Json(200)),
];

/// Request-queue routes, under a queue and under a run's default queue.
const QUEUE_CONTENT: &[Op] = &[
    ("GET", "/head", "Get the queue's head", &["limit", "clientKey"], Body::None, Data(200, ANY)),
    ("POST", "/head/lock", "Get and lock the queue's head", &["limit", "lockSecs", "clientKey"], Body::None, Data(201, ANY)),
    ("GET", "/requests", "List requests", &["limit", "exclusiveStartId", "cursor", "filter", "clientKey"], Body::None, Data(200, ANY)),
    ("POST", "/requests", "Add a request", &["forefront", "clientKey"], Body::Object, Data(201, ANY)),
    ("POST", "/requests/batch", "Add requests", &["forefront", "clientKey"], Body::Json, Data(201, ANY)),
    ("DELETE", "/requests/batch", "Delete requests", &["clientKey"], Body::Json, Data(200, ANY)),
    ("POST", "/requests/unlock", "Unlock the client's requests", &["clientKey"], Body::None, Data(200, ANY)),
    ("GET", "/requests/{request}", "Get a request", &["clientKey"], Body::None, Data(200, ANY)),
    ("PUT", "/requests/{request}", "Update a request", &["forefront", "clientKey"], Body::Object, Data(200, ANY)),
    ("DELETE", "/requests/{request}", "Delete a request", &["clientKey"], Body::None, Empty(204)),
    ("PUT", "/requests/{request}/lock", "Prolong a lock", &["lockSecs", "forefront", "clientKey"], Body::None, Data(200, ANY)),
    ("DELETE", "/requests/{request}/lock", "Delete a lock", &["forefront", "clientKey"], Body::None, Empty(204)),
];

const QUEUE_BASES: [&str; 2] = ["/request-queues/{id}", "/actor-runs/{run}/request-queue"];

/// An operation with its full path under /v2: (method, path, summary, query, body, answer).
type Operation = (&'static str, String, &'static str, &'static [&'static str], Body, Answer);

/// Every operation.
fn operations() -> impl Iterator<Item = Operation> {
    let direct = OPERATIONS.iter().map(|&(m, p, s, q, b, a)| (m, p.to_owned(), s, q, b, a));
    let queue =
        QUEUE_BASES.into_iter().flat_map(|base| QUEUE_CONTENT.iter().map(move |&(m, p, s, q, b, a)| (m, format!("{base}{p}"), s, q, b, a)));
    direct.chain(queue)
}

/// The schema of a query parameter, by the name the API gives it everywhere.
fn param_schema(name: &str) -> Value {
    let integer = |max: u64| json!({"type": "integer", "minimum": 0, "maximum": max});
    let boolean = json!({"type": "string", "enum": ["true", "false", "1", "0"]});
    match name {
        "offset" | "limit" | "maxItems" => integer(999_999_999_999),
        "timeout" => integer(7 * 24 * 3600),
        "memory" => json!({"type": "integer", "minimum": 128, "maximum": 32768}),
        "waitForFinish" => integer(60),
        "lockSecs" => integer(3600),
        "persistStateIntervalMillis" => json!({"type": "integer", "minimum": 100, "maximum": 3_600_000}),
        "maxTotalChargeUsd" => json!({"type": "number", "minimum": 0}),
        "desc" | "clean" | "skipHidden" | "skipEmpty" | "simplified" | "skipFailedPages" | "attachment" | "bom" | "skipHeaderRow"
        | "unnamed" | "my" | "restartOnError" | "gracefully" | "forefront" | "stream" | "download" => boolean,
        "format" => json!({"type": "string", "enum": ["json", "jsonl", "csv", "html", "xlsx", "xml", "rss"]}),
        "status" => {
            json!({"type": "string", "enum": ["READY", "RUNNING", "SUCCEEDED", "FAILED", "TIMING-OUT", "TIMED-OUT", "ABORTING", "ABORTED"]})
        }
        "origin" => {
            json!({"type": "string", "enum": ["DEVELOPMENT", "WEB", "API", "SCHEDULER", "TEST", "WEBHOOK", "ACTOR", "CLI", "STANDBY"]})
        }
        "ownership" => json!({"type": "string", "enum": ["OWNED_BY_ME", "SHARED_WITH_ME"]}),
        "sortBy" => json!({"type": "string", "enum": ["createdAt", "stats.lastRunStartedAt"]}),
        "forcePermissionLevel" => json!({"type": "string", "enum": ["LIMITED_PERMISSIONS", "FULL_PERMISSIONS"]}),
        "startedAfter" | "startedBefore" => json!({"type": "string", "format": "date-time"}),
        "date" => json!({"type": "string", "format": "date"}),
        _ => json!({"type": "string"}),
    }
}

fn error_response() -> Value {
    json!({"description": "An error, in Apify's shape", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn answer(a: Answer) -> (String, Value) {
    let json_of =
        |description: &str, schema: Value| json!({"description": description, "content": {"application/json": {"schema": schema}}});
    match a {
        Data(s, name) => (
            s.to_string(),
            json_of("The resource", json!({"type": "object", "required": ["data"], "properties": {"data": schema_ref(name)}})),
        ),
        Page(name) => (
            "200".into(),
            json_of(
                "One page",
                json!({"allOf": [{"$ref": "#/components/schemas/Page"},
                       {"type": "object", "properties": {"data": {"type": "object", "properties": {"items": {"type": "array", "items": schema_ref(name)}}}}}]}),
            ),
        ),
        Empty(s) => (s.to_string(), json!({"description": "Done"})),
        Items(s) => {
            let mut content = Map::new();
            for ct in [
                "application/json",
                "application/jsonl",
                "text/csv",
                "text/html",
                "application/xml",
                "application/rss+xml",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ] {
                content.insert(ct.into(), json!({"schema": {}}));
            }
            let header = |d: &str| json!({"description": d, "schema": {"type": "string"}});
            (
                s.to_string(),
                json!({"description": "Items in the format asked for", "content": content, "headers": {
                "X-Apify-Pagination-Total": header("Items in the dataset"), "X-Apify-Pagination-Offset": header("Offset"),
                "X-Apify-Pagination-Count": header("Stored items this answer covers"), "X-Apify-Pagination-Limit": header("Limit"),
                "X-Apify-Pagination-Desc": header("Newest first")}}),
            )
        }
        Raw(s) => (s.to_string(), json!({"description": "The body as stored", "content": {"*/*": {"schema": {}}}})),
        Json(s) => (s.to_string(), json_of("A JSON value", json!({}))),
    }
}

fn request_body(b: Body) -> Option<Value> {
    let json_body = |schema: Value| Some(json!({"content": {"application/json": {"schema": schema}}}));
    match b {
        Body::None => None,
        Body::Object => json_body(json!({"type": "object"})),
        Body::Typed(name) => json_body(schema_ref(name)),
        Body::Json => json_body(json!({"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]})),
        Body::Raw => Some(json!({"content": {"application/json": {"schema": {}}, "*/*": {"schema": {}}}})),
    }
}

/// The whole document; `server` is the base URL clients use.
pub fn document(server: &str) -> Value {
    let mut paths = Map::new();
    for (method, path, summary, query, body, ans) in operations() {
        let full = format!("/v2{path}");
        let mut params: Vec<Value> = full
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}}))
            .collect();
        params.extend(query.iter().map(|q| json!({"name": q, "in": "query", "required": false, "schema": param_schema(q)})));
        let (status, ok) = answer(ans);
        let op_id = format!("{}{}", method.to_ascii_lowercase(), full.replace(['{', '}'], "").replace(['/', '-', '.'], "_"));
        let mut op = json!({"operationId": op_id, "summary": summary, "parameters": params,
                            "responses": {status: ok, "default": error_response()}});
        if let Some(b) = request_body(body) {
            op["requestBody"] = b;
        }
        let entry = paths.entry(full).or_insert_with(|| json!({}));
        entry[method.to_ascii_lowercase()] = op;
    }
    let mut schemas = type_schemas();
    schemas.extend(envelope_schemas());
    json!({
        "openapi": "3.1.0",
        "info": {"title": "wactor API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "The Apify-compatible API of a wactor server. Authenticate with `Authorization: Bearer <token>` or `?token=`."},
        "servers": [{"url": server}],
        "security": [{"bearer": []}, {"query": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}, "query": {"type": "apiKey", "in": "query", "name": "token"}},
            "schemas": schemas,
        },
    })
}

/// The envelopes every answer shares, beside the handlers' own types.
fn envelope_schemas() -> Map<String, Value> {
    let v = json!({
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["type", "message"],
                          "properties": {"type": {"type": "string"}, "message": {"type": "string"}}}}},
                "Page": {"type": "object", "required": ["data"], "properties": {"data": {"type": "object",
                         "required": ["total", "offset", "limit", "count", "desc", "items"],
                         "properties": {"total": {"type": "integer"}, "offset": {"type": "integer"}, "limit": {"type": "integer"},
                                        "count": {"type": "integer"}, "desc": {"type": "boolean"}, "items": {"type": "array"}}}}},
    });
    v.as_object().cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// (method, path) of every route the API's modules register, read from
    /// their source with the prefixes `api::app` nests them under.
    fn registered() -> BTreeSet<(String, String)> {
        let files: &[(&str, &[&str])] = &[
            (include_str!("actors.rs"), &["/actors", "/acts"]),
            (include_str!("runs.rs"), &["/actor-runs"]),
            (include_str!("tasks.rs"), &["/actor-tasks"]),
            (include_str!("schedules.rs"), &["/schedules"]),
            (include_str!("kv.rs"), &["/key-value-stores"]),
            (include_str!("datasets.rs"), &["/datasets"]),
            (include_str!("request_queues.rs"), &["/request-queues"]),
            (include_str!("webhooks.rs"), &["/webhooks"]),
            (include_str!("mod.rs"), &[""]),
        ];
        let mut out = BTreeSet::new();
        for (src, prefixes) in files {
            // Builds are under /actor-builds, dispatches under /webhook-dispatches: the function names the prefix.
            let mut prefix_of_fn = prefixes[0].to_string();
            for line in src.lines() {
                let line = line.trim();
                if line.starts_with("pub fn build_routes") {
                    prefix_of_fn = "/actor-builds".into();
                } else if line.starts_with("pub fn dispatch_routes") {
                    prefix_of_fn = "/webhook-dispatches".into();
                } else if line.starts_with("pub fn routes") {
                    prefix_of_fn = prefixes[0].to_string();
                }
                for rest in line.split(".route(\"").skip(1) {
                    let (path, handlers) = rest.split_once('"').unwrap();
                    let handlers = handlers.split(".route(").next().unwrap_or(handlers);
                    if path.starts_with("/ok") || path.starts_with("/boom") || path == "/health" || path.starts_with("/events") {
                        continue;
                    }
                    let path = path.replace("{*rest}", "{rest}");
                    let path = if path == "/" { String::new() } else { path };
                    for method in ["get", "post", "put", "delete"] {
                        if handlers.contains(&format!("{method}(")) || (method == "get" && handlers.contains("any(")) {
                            out.insert((method.to_uppercase(), format!("{prefix_of_fn}{path}")));
                        }
                    }
                }
            }
        }
        // The collection routes every storage kind shares, and the queue routes under a queue and a run.
        for kind in ["/key-value-stores", "/datasets", "/request-queues"] {
            for (m, p) in [("GET", ""), ("POST", ""), ("GET", "/{id}"), ("PUT", "/{id}"), ("DELETE", "/{id}")] {
                out.insert((m.into(), format!("{kind}{p}")));
            }
        }
        out.retain(|(_, p)| !p.contains("{base}"));
        for base in super::QUEUE_BASES {
            for (m, p, ..) in super::QUEUE_CONTENT {
                out.insert((m.to_string(), format!("{base}{p}")));
            }
        }
        out.insert(("GET".into(), "/openapi.json".into()));
        // `/acts` is the deprecated alias of `/actors`: documented once, as `/actors`.
        out.into_iter().filter(|(_, p)| !p.starts_with("/acts")).collect()
    }

    #[test]
    fn every_route_is_documented_and_every_documented_route_exists() {
        let documented: BTreeSet<(String, String)> = super::operations().map(|(m, p, ..)| (m.to_owned(), p)).collect();
        let registered = registered();
        let missing: Vec<_> = registered.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&registered).collect();
        assert!(missing.is_empty() && extra.is_empty(), "not documented: {missing:?}\ndocumented but not routed: {extra:?}");
    }

    #[test]
    fn the_document_is_openapi_3_1_with_unique_operation_ids() {
        let doc = super::document("http://127.0.0.1:8080");
        assert_eq!(doc["openapi"], "3.1.0");
        let mut ids = BTreeSet::new();
        for (_, ops) in doc["paths"].as_object().unwrap() {
            for (_, op) in ops.as_object().unwrap() {
                assert!(ids.insert(op["operationId"].as_str().unwrap().to_owned()), "duplicate {}", op["operationId"]);
                assert!(op["responses"]["default"].is_object());
            }
        }
        assert!(ids.len() > 100, "{}", ids.len());
    }
}
