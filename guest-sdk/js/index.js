// wactor-sdk for JavaScript: the Apify SDK's `Actor` over wactor's WIT host.
//
// The build (`wactor push`) bundles an Actor's code with this module and
// componentizes it with SpiderMonkey (componentize-js). The Actor's main
// module is wrapped into the component's `run` export, so its top-level code
// runs when the run starts, not when the component is built.
//
// Host calls are synchronous underneath; the methods are `async` anyway so
// that code written for the Apify SDK (`await Actor.pushData(...)`) ports
// unchanged.

import { Store, getRecord, setRecord } from 'wactor:actor/key-value-store@0.1.0';
import { Dataset as WitDataset } from 'wactor:actor/dataset@0.1.0';
import { Queue } from 'wactor:actor/request-queue@0.1.0';
import { info, input, setStatusMessage, reboot, abort } from 'wactor:actor/runtime@0.1.0';
import { next as nextEvent } from 'wactor:actor/events@0.1.0';
import {
  charge as witCharge,
  pricingInfo,
  chargedEventCounts,
  remainingBudget,
} from 'wactor:actor/charging@0.1.0';
import {
  start as witStart,
  call as witCall,
  waitForFinish as witWaitForFinish,
  getRun as witGetRun,
  abortRun as witAbortRun,
  metamorph as witMetamorph,
  addWebhook as witAddWebhook,
} from 'wactor:actor/actors@0.1.0';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The platform's event for each item in the run's default dataset. */
export const DATASET_ITEM_EVENT = 'apify-default-dataset-item';

/** A failure of a host call: `type` is the WIT error's case. */
export class WactorError extends Error {
  constructor(type, message) {
    super(message ? `${type}: ${message}` : type);
    this.name = 'WactorError';
    this.type = type;
    this.detail = message;
  }
}

/** Runs a host call, turning the guest-visible WIT error into a WactorError. */
function host(call) {
  try {
    return call();
  } catch (e) {
    const payload = e && e.payload;
    if (payload && typeof payload.tag === 'string') throw new WactorError(payload.tag, payload.val);
    throw e;
  }
}

function bytesOf(value) {
  if (typeof value === 'string') return encoder.encode(value);
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new TypeError('a value with an explicit contentType must be a string, Uint8Array or ArrayBuffer');
}

function isJsonType(contentType) {
  const t = (contentType || '').split(';')[0].trim().toLowerCase();
  return t === 'application/json' || t.endsWith('+json');
}

/** A stored value as the Apify SDK returns it: JSON parsed, text as a string, else bytes. */
function decodeStored(stored) {
  if (!stored) return null;
  const type = stored.contentType || '';
  if (isJsonType(type)) return JSON.parse(decoder.decode(stored.value));
  if (type.toLowerCase().startsWith('text/')) return decoder.decode(stored.value);
  return stored.value;
}

/** `[bytes, contentType]` for a value as `setValue` takes it. */
function encodeValue(value, contentType) {
  if (contentType) return [bytesOf(value), contentType];
  if (value instanceof Uint8Array || value instanceof ArrayBuffer) return [bytesOf(value), 'application/octet-stream'];
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError('the value cannot be serialised to JSON');
  return [encoder.encode(text), 'application/json; charset=utf-8'];
}

function itemsOf(data) {
  const items = Array.isArray(data) ? data : [data];
  return items.map((item, i) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      throw new TypeError(`dataset item ${i} must be an object`);
    }
    return JSON.stringify(item);
  });
}

// ---------------------------------------------------------------- storages

export class KeyValueStore {
  /** The default store, or a named one (created if needed), or one by ID. */
  static open(idOrName, options) {
    return Actor.openKeyValueStore(idOrName, options);
  }

  constructor(store) {
    this.store = store;
    this.id = store.id();
  }

  /** The record under `key`: JSON parsed, text as a string, other types as a Uint8Array; `null` if none. */
  async getValue(key, defaultValue = null) {
    const value = decodeStored(host(() => this.store.get(key)));
    return value === null ? defaultValue : value;
  }

  /** Stores `value` (JSON unless `contentType` is given); `null` deletes the record. */
  async setValue(key, value, options = {}) {
    if (value === null || value === undefined) return host(() => this.store.delete(key));
    const [bytes, type] = encodeValue(value, options.contentType);
    host(() => this.store.set(key, bytes, type));
  }

  /** Whether a record exists under `key`. */
  async recordExists(key) {
    return host(() => this.store.get(key)) != null;
  }

  /** One page of keys: `{ items: [{ key, size }], isTruncated, nextExclusiveStartKey }`. */
  async listKeys(options = {}) {
    const page = host(() => this.store.listKeys(options.exclusiveStartKey, options.limit ?? 1000, options.prefix));
    return {
      items: page.items.map((k) => ({ key: k.key, size: Number(k.size) })),
      isTruncated: page.isTruncated,
      nextExclusiveStartKey: page.nextExclusiveStartKey ?? null,
    };
  }

  /** Calls `fn(key, index, { size })` for every key, in order. */
  async forEachKey(fn, options = {}) {
    let start = options.exclusiveStartKey;
    let index = 0;
    for (;;) {
      const page = await this.listKeys({ exclusiveStartKey: start, prefix: options.prefix });
      for (const item of page.items) await fn(item.key, index++, { size: item.size });
      if (!page.isTruncated || !page.nextExclusiveStartKey) return;
      start = page.nextExclusiveStartKey;
    }
  }
}

export class Dataset {
  static open(idOrName, options) {
    return Actor.openDataset(idOrName, options);
  }

  constructor(dataset) {
    this.dataset = dataset;
    this.id = dataset.id();
  }

  /** Appends one object or an array of objects; all or nothing. */
  async pushData(data) {
    const texts = itemsOf(data);
    if (texts.length) host(() => this.dataset.pushItems(texts));
  }

  /** `{ items, total, offset, count, limit }`, as the Apify SDK's `getData`. */
  async getData(options = {}) {
    const offset = options.offset ?? 0;
    const limit = Math.min(options.limit ?? 1000, 1000);
    const page = host(() => this.dataset.getItems(BigInt(offset), limit));
    const items = page.items.map((t) => JSON.parse(t));
    return { items, total: Number(page.total), offset: Number(page.offset), count: items.length, limit };
  }

  /** `{ id, itemCount }`. */
  async getInfo() {
    return { id: this.id, itemCount: Number(host(() => this.dataset.itemCount())) };
  }

  /** Calls `fn(item, index)` for every item, in order. */
  async forEach(fn) {
    let offset = 0;
    for (;;) {
      const page = await this.getData({ offset, limit: 1000 });
      for (const item of page.items) await fn(item, offset++);
      if (page.items.length === 0 || offset >= page.total) return;
    }
  }
}

function requestOf(request) {
  if (typeof request === 'string') return { url: request };
  if (request && typeof request === 'object' && typeof request.url === 'string') return request;
  throw new TypeError('a request must be a URL or an object with a "url"');
}

export class RequestQueue {
  static open(idOrName, options) {
    return Actor.openRequestQueue(idOrName, options);
  }

  constructor(queue, options = {}) {
    this.queue = queue;
    this.id = queue.id();
    this.lockSecs = options.lockSecs ?? 60;
  }

  /** Adds a request (a URL or `{ url, uniqueKey?, method?, userData?, ... }`). */
  async addRequest(request, options = {}) {
    const r = requestOf(request);
    const added = host(() => this.queue.add(JSON.stringify(r), Boolean(options.forefront)));
    return {
      requestId: added.requestId,
      uniqueKey: r.uniqueKey ?? r.url,
      wasAlreadyPresent: added.wasAlreadyPresent,
      wasAlreadyHandled: added.wasAlreadyHandled,
    };
  }

  /** Adds many requests: `{ processedRequests, unprocessedRequests }`. */
  async addRequests(requests, options = {}) {
    const processedRequests = [];
    for (const r of requests) processedRequests.push(await this.addRequest(r, options));
    return { processedRequests, unprocessedRequests: [] };
  }

  /** The next pending request, now held by this run; `null` when none is pending right now. */
  async fetchNextRequest() {
    const r = host(() => this.queue.fetchNext(this.lockSecs));
    if (!r) return null;
    const request = JSON.parse(r.json);
    request.id = r.id;
    request.retryCount = r.retryCount;
    return request;
  }

  /** Marks a fetched request handled. */
  async markRequestHandled(request) {
    const id = typeof request === 'string' ? request : request.id;
    host(() => this.queue.markHandled(id));
    return { requestId: id, wasAlreadyHandled: false, wasAlreadyPresent: true };
  }

  /** Gives a fetched request back for another try. */
  async reclaimRequest(request, options = {}) {
    const id = typeof request === 'string' ? request : request.id;
    host(() => this.queue.reclaim(id, Boolean(options.forefront)));
    return { requestId: id, wasAlreadyHandled: false, wasAlreadyPresent: true };
  }

  /** Whether every request is handled. */
  async isFinished() {
    return host(() => this.queue.isFinished());
  }

  /** Whether `fetchNextRequest` would find nothing now (locked requests may still come back). */
  async isEmpty() {
    return host(() => this.queue.isEmpty());
  }
}

function openArgs(idOrName, options) {
  // The Apify SDK takes an ID or a name; wactor's IDs are 17 alphanumerics.
  if (idOrName == null) return { name: undefined, id: undefined };
  if (options && options.forceId) return { id: idOrName };
  return /^[A-Za-z0-9]{17}$/.test(idOrName) ? { id: idOrName, name: idOrName } : { name: idOrName };
}

function open(Resource, idOrName, options) {
  const { id, name } = openArgs(idOrName, options);
  if (id) {
    try {
      return host(() => Resource.openById(id));
    } catch (e) {
      if (!(e instanceof WactorError && e.type === 'not-found') || !name) throw e;
    }
  }
  return host(() => Resource.open(name));
}

// ------------------------------------------------------------------ events

const handlers = new Map();
let poller = null;
let migrating = false;
let aborting = false;

function emit(name, data) {
  for (const handler of handlers.get(name) ?? []) {
    try {
      const result = handler(data);
      if (result && typeof result.catch === 'function') result.catch((e) => console.error(`${name} handler failed:`, e));
    } catch (e) {
      console.error(`${name} handler failed:`, e);
    }
  }
}

/** Delivers every waiting system event to its handlers. */
function pollEvents() {
  for (let event = nextEvent(); event; event = nextEvent()) {
    switch (event.tag) {
      case 'persist-state':
        emit('persistState', { isMigrating: event.val });
        break;
      case 'migrating':
        migrating = true;
        emit('migrating', { timeRemainingSecs: event.val });
        break;
      case 'aborting':
        aborting = true;
        emit('aborting', {});
        break;
      case 'system-info': {
        const i = event.val;
        emit('systemInfo', {
          memCurrentBytes: Number(i.memCurrentBytes),
          memMaxBytes: Number(i.memMaxBytes),
          cpuCurrentUsage: i.cpuCurrentUsage,
          isCpuOverloaded: i.isCpuOverloaded,
          createdAt: i.createdAt,
        });
        break;
      }
    }
  }
}

// ---------------------------------------------------------------- the run

/** Set by `exit`/`fail`: how the run ends. */
let exitRequest = null;
let exitSignal = null;
const exited = new Promise((resolve) => {
  exitSignal = resolve;
});
let defaultStore = null;
let defaultDataset = null;
let defaultQueue = null;
const states = new Map();

async function persistStates() {
  for (const [key, value] of states) await Actor.setValue(key, value);
}

function runOf(r) {
  return JSON.parse(r.json);
}

function startOptions(options = {}) {
  const webhooks = options.webhooks;
  return {
    build: options.build,
    memoryMbytes: options.memory ?? options.memoryMbytes,
    timeoutSecs: options.timeout ?? options.timeoutSecs,
    maxItems: options.maxItems,
    maxTotalChargeUsd: options.maxTotalChargeUsd,
    webhooks: webhooks === undefined ? undefined : typeof webhooks === 'string' ? webhooks : JSON.stringify(webhooks),
  };
}

function big(n) {
  return n == null ? undefined : BigInt(n);
}

function inputText(value) {
  return value === undefined || value === null ? undefined : typeof value === 'string' ? value : JSON.stringify(value);
}

function chargeResultOf(r) {
  const chargeableWithinLimit = {};
  for (const [name, count] of r.chargeableWithinLimit) chargeableWithinLimit[name] = count == null ? Infinity : Number(count);
  return { eventChargeLimitReached: r.eventChargeLimitReached, chargedCount: Number(r.chargedCount), chargeableWithinLimit };
}

const PRICING_MODELS = { free: 'FREE', 'pay-per-event': 'PAY_PER_EVENT', 'price-per-dataset-item': 'PRICE_PER_DATASET_ITEM' };

function nanos(usd) {
  return Math.max(0, Math.round(usd * 1e9));
}

/** The Actor: the same names as the Apify SDK's `Actor`. */
export const Actor = {
  /** Starts listening for system events. Called by `main`; harmless to call twice. */
  async init() {
    if (poller === null) poller = setInterval(pollEvents, 50);
  },

  /**
   * Ends the run: persists `useState` values, sets the status message if
   * given, and stops the Actor (nothing after `await Actor.exit()` runs).
   * A non-zero `exitCode` ends the run FAILED.
   */
  async exit(messageOrOptions, options = {}) {
    const opts = typeof messageOrOptions === 'string' ? { ...options, statusMessage: messageOrOptions } : { ...messageOrOptions, ...options };
    emit('persistState', { isMigrating: false });
    await persistStates();
    const exitCode = opts.exitCode ?? 0;
    if (opts.statusMessage) host(() => setStatusMessage(opts.statusMessage, true));
    exitRequest = { exitCode, statusMessage: opts.statusMessage };
    exitSignal();
    return new Promise(() => {});
  },

  /** Ends the run FAILED with `message` as its status message. */
  async fail(messageOrOptions, options = {}) {
    const opts = typeof messageOrOptions === 'string' ? { ...options, statusMessage: messageOrOptions } : { ...messageOrOptions, ...options };
    return Actor.exit({ exitCode: 1, ...opts });
  },

  /** `init`, then `fn`, then `exit`; a thrown error fails the run with its message. */
  async main(fn, options = {}) {
    await Actor.init();
    try {
      await fn();
    } catch (e) {
      return Actor.fail(e && e.message ? e.message : String(e));
    }
    if (options.exit !== false) return Actor.exit(options.statusMessage ? { statusMessage: options.statusMessage } : {});
  },

  /** The run's input: JSON parsed (defaults from the input schema filled in by the platform), `null` if none. */
  async getInput() {
    return decodeStored(host(() => input()));
  },

  /** Pushes to the default dataset. With `eventName`, charges that event per item and pushes only what the allowance pays for. */
  async pushData(data, eventName) {
    const texts = itemsOf(data);
    const dataset = (await Actor.openDataset()).dataset;
    if (!eventName) {
      if (texts.length) host(() => dataset.pushItems(texts));
      return undefined;
    }
    const pricing = pricingInfo();
    if (pricing.model !== 'pay-per-event') {
      if (texts.length) host(() => dataset.pushItems(texts));
      return { eventChargeLimitReached: false, chargedCount: 0, chargeableWithinLimit: {} };
    }
    const price = (name) => nanos(pricing.events.find((e) => e.name === name)?.priceUsd ?? 0);
    const each = price(eventName) + price(DATASET_ITEM_EVENT);
    const left = remainingBudget();
    const fits = left != null && each > 0 ? Math.floor(nanos(left) / each) : texts.length;
    const n = Math.min(fits, texts.length);
    if (n === 0) return Actor.charge({ eventName, count: 1 });
    host(() => dataset.pushItems(texts.slice(0, n)));
    return Actor.charge({ eventName, count: n });
  },

  /** A record of the default key-value store (see `KeyValueStore.getValue`). */
  async getValue(key) {
    return decodeStored(host(() => getRecord(undefined, key)));
  },

  /** Stores a record in the default key-value store; `null` deletes it. */
  async setValue(key, value, options = {}) {
    if (value === null || value === undefined) return (await Actor.openKeyValueStore()).setValue(key, null);
    const [bytes, type] = encodeValue(value, options.contentType);
    host(() => setRecord(undefined, key, bytes, type));
  },

  /** The default dataset, or a named one (created if needed), or one by ID. */
  async openDataset(idOrName, options) {
    if (idOrName == null) return (defaultDataset ??= new Dataset(host(() => WitDataset.open(undefined))));
    return new Dataset(open(WitDataset, idOrName, options));
  },

  async openKeyValueStore(idOrName, options) {
    if (idOrName == null) return (defaultStore ??= new KeyValueStore(host(() => Store.open(undefined))));
    return new KeyValueStore(open(Store, idOrName, options));
  },

  async openRequestQueue(idOrName, options) {
    if (idOrName == null) return (defaultQueue ??= new RequestQueue(host(() => Queue.open(undefined)), options));
    return new RequestQueue(open(Queue, idOrName, options), options);
  },

  /** Sets the run's status message (`isStatusMessageTerminal` for the final one). */
  async setStatusMessage(message, options = {}) {
    host(() => setStatusMessage(message, Boolean(options.isStatusMessageTerminal)));
  },

  /**
   * A value kept in the default key-value store under `key`: loaded once,
   * saved on every `persistState` event and when the run exits. Mutate the
   * returned object in place.
   */
  async useState(key = 'CRAWLEE_STATE', defaultValue = {}) {
    if (states.has(key)) return states.get(key);
    const value = (await Actor.getValue(key)) ?? defaultValue;
    if (states.size === 0) Actor.on('persistState', persistStates);
    states.set(key, value);
    return value;
  },

  /** Listens for `persistState`, `migrating`, `aborting` or `systemInfo`. */
  on(event, handler) {
    if (!handlers.has(event)) handlers.set(event, new Set());
    handlers.get(event).add(handler);
  },

  off(event, handler) {
    handlers.get(event)?.delete(handler);
  },

  /** Whether the platform announced this run's migration (stop taking new work). */
  isMigrating() {
    return migrating;
  },

  /**
   * Waits for the platform to stop the run: after `migrating`, an Actor that
   * has saved its work waits here instead of returning (returning would end
   * the run as finished); the run resumes elsewhere. Never resolves.
   */
  waitForStop() {
    return new Promise(() => {});
  },

  /** Whether the run is being aborted gracefully. */
  isAborting() {
    return aborting;
  },

  /** Charges `count` of `eventName` within the run's allowance. */
  async charge({ eventName, count = 1, idempotencyKey } = {}) {
    return chargeResultOf(host(() => witCharge(eventName, count, idempotencyKey)));
  },

  /** Pricing and charges of this run, as the Apify SDK's charging manager. */
  getChargingManager() {
    return {
      getPricingInfo() {
        const p = pricingInfo();
        const perEventPrices = {};
        for (const e of p.events) perEventPrices[e.name] = e.priceUsd;
        return {
          pricingModel: PRICING_MODELS[p.model],
          isPayPerEvent: p.model === 'pay-per-event',
          maxTotalChargeUsd: p.maxTotalChargeUsd ?? Infinity,
          perEventPrices,
        };
      },
      getChargedEventCount(eventName) {
        const found = chargedEventCounts().find(([name]) => name === eventName);
        return found ? Number(found[1]) : 0;
      },
      getRemainingBudgetUsd() {
        return remainingBudget() ?? Infinity;
      },
    };
  },

  /** Starts a run of another Actor and returns at once (the run object). */
  async start(actorId, input, options = {}) {
    return runOf(host(() => witStart(actorId, inputText(input), startOptions({ ...options, maxItems: big(options.maxItems), timeout: big(options.timeout ?? options.timeoutSecs) }))));
  },

  /** Starts a run and waits for it (`waitSecs`, default: as long as this run may). */
  async call(actorId, input, options = {}) {
    const opts = startOptions({ ...options, maxItems: big(options.maxItems), timeout: big(options.timeout ?? options.timeoutSecs) });
    return runOf(host(() => witCall(actorId, inputText(input), opts, options.waitSecs)));
  },

  /** Waits for a run to finish. */
  async waitForFinish(runId, options = {}) {
    return runOf(host(() => witWaitForFinish(runId, options.waitSecs)));
  },

  async getRun(runId) {
    return runOf(host(() => witGetRun(runId)));
  },

  /** Aborts a run (this one too); `gracefully` sends it `aborting` first. */
  async abort(runId, options = {}) {
    if (runId === info().runId) {
      host(() => abort(runId, Boolean(options.gracefully)));
      return null;
    }
    return runOf(host(() => witAbortRun(runId, Boolean(options.gracefully))));
  },

  /** Hands this run over to another Actor (same run, storages and timeout). Does not return. */
  async metamorph(targetActorId, input, options = {}) {
    await persistStates();
    host(() => witMetamorph(targetActorId, inputText(input), options.build));
    return new Promise(() => {});
  },

  /** Restarts this run in place. Does not return. */
  async reboot() {
    emit('persistState', { isMigrating: false });
    await persistStates();
    host(() => reboot());
    return new Promise(() => {});
  },

  /** Adds an ad-hoc webhook to this run; its ID. */
  async addWebhook(webhook) {
    return host(() => witAddWebhook(JSON.stringify(webhook)));
  },

  /** IDs, limits and times of this run, as the Apify SDK's `getEnv`. */
  getEnv() {
    const i = info();
    return {
      actorId: i.actorId,
      actorRunId: i.runId,
      actorBuildId: i.buildId,
      actorBuildNumber: i.buildNumber,
      actorName: i.actorName,
      defaultKeyValueStoreId: i.defaultKeyValueStoreId,
      defaultDatasetId: i.defaultDatasetId,
      defaultRequestQueueId: i.defaultRequestQueueId,
      inputKey: i.inputKey,
      memoryMbytes: i.memoryMbytes,
      timeoutSecs: Number(i.timeoutSecs),
      startedAt: new Date(i.startedAt),
      timeoutAt: new Date(i.timeoutAt),
    };
  },

  isAtHome() {
    return true;
  },
};

export default Actor;

function logLine(level, message, data) {
  const line = data ? `${level} ${message} ${JSON.stringify(data)}` : `${level} ${message}`;
  (level === 'ERROR' || level === 'WARN' ? console.error : console.log)(line);
}

/** Crawlee's `log`, into the run log. */
export const log = {
  debug: (message, data) => logLine('DEBUG', message, data),
  info: (message, data) => logLine('INFO', message, data),
  warning: (message, data) => logLine('WARN', message, data),
  error: (message, data) => logLine('ERROR', message, data),
  exception: (error, message, data) => logLine('ERROR', `${message}: ${error && error.stack ? error.stack : error}`, data),
};

/**
 * The component's `run`: called by the build's generated entry with the
 * Actor's wrapped main module. Resolves when the module (or `exit`) ends the
 * run; rejects with the status message of a failed run.
 */
export async function __run(main) {
  await Actor.init();
  try {
    await Promise.race([main(), exited]);
    if (!exitRequest) {
      emit('persistState', { isMigrating: false });
      await persistStates();
    }
  } catch (e) {
    throw e && e.message ? e.message : String(e);
  } finally {
    clearInterval(poller);
    poller = null;
  }
  if (exitRequest && exitRequest.exitCode !== 0) {
    throw exitRequest.statusMessage || `The Actor exited with code ${exitRequest.exitCode}`;
  }
}

/** A Standby request: calls the Actor's `fetch(request)` and turns a throw into a 500. */
export async function __serve(handler, request) {
  const fetchFn = typeof handler === 'function' ? handler : handler && handler.fetch;
  if (typeof fetchFn !== 'function') {
    return new Response('The Actor\'s main module exports no default { fetch(request) } handler\n', { status: 500 });
  }
  try {
    const response = await fetchFn.call(handler, request);
    if (response instanceof Response) return response;
    if (typeof response === 'string') return new Response(response);
    return Response.json(response);
  } catch (e) {
    console.error('the Standby handler failed:', e);
    return Response.json({ error: { type: 'actor-error', message: e && e.message ? e.message : String(e) } }, { status: 500 });
  }
}
