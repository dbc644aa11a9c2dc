// Types of wactor-sdk for JavaScript: the Apify SDK's `Actor` over wactor's WIT host.

/** A failure of a host call; `type` is the WIT error's case. */
export class WactorError extends Error {
  readonly type: 'not-found' | 'invalid-input' | 'limit-exceeded' | 'forbidden' | 'internal';
  readonly detail?: string;
}

export const DATASET_ITEM_EVENT: 'apify-default-dataset-item';

export interface SetValueOptions {
  /** Store the value as is with this MIME type (it must be a string or bytes); default: JSON. */
  contentType?: string;
}

export interface KeyPage {
  items: { key: string; size: number }[];
  isTruncated: boolean;
  nextExclusiveStartKey: string | null;
}

export class KeyValueStore {
  readonly id: string;
  static open(idOrName?: string | null, options?: OpenOptions): Promise<KeyValueStore>;
  getValue<T = unknown>(key: string, defaultValue?: T): Promise<T | null>;
  setValue(key: string, value: unknown, options?: SetValueOptions): Promise<void>;
  recordExists(key: string): Promise<boolean>;
  listKeys(options?: { exclusiveStartKey?: string; limit?: number; prefix?: string }): Promise<KeyPage>;
  forEachKey(fn: (key: string, index: number, info: { size: number }) => unknown, options?: { exclusiveStartKey?: string; prefix?: string }): Promise<void>;
}

export interface DatasetPage<T> {
  items: T[];
  total: number;
  offset: number;
  count: number;
  limit: number;
}

export class Dataset<T extends object = Record<string, unknown>> {
  readonly id: string;
  static open<T extends object = Record<string, unknown>>(idOrName?: string | null, options?: OpenOptions): Promise<Dataset<T>>;
  pushData(data: T | T[]): Promise<void>;
  getData(options?: { offset?: number; limit?: number }): Promise<DatasetPage<T>>;
  getInfo(): Promise<{ id: string; itemCount: number }>;
  forEach(fn: (item: T, index: number) => unknown): Promise<void>;
}

export interface RequestOptions {
  url: string;
  uniqueKey?: string;
  method?: string;
  userData?: Record<string, unknown>;
  headers?: Record<string, string>;
  payload?: string;
  [key: string]: unknown;
}

export interface Request extends RequestOptions {
  id: string;
  uniqueKey: string;
  retryCount: number;
}

export interface QueueOperationInfo {
  requestId: string;
  uniqueKey?: string;
  wasAlreadyPresent: boolean;
  wasAlreadyHandled: boolean;
}

export class RequestQueue {
  readonly id: string;
  static open(idOrName?: string | null, options?: OpenOptions & { lockSecs?: number }): Promise<RequestQueue>;
  addRequest(request: string | RequestOptions, options?: { forefront?: boolean }): Promise<QueueOperationInfo>;
  addRequests(requests: (string | RequestOptions)[], options?: { forefront?: boolean }): Promise<{ processedRequests: QueueOperationInfo[]; unprocessedRequests: never[] }>;
  fetchNextRequest<T = Request>(): Promise<T | null>;
  markRequestHandled(request: Request | string): Promise<QueueOperationInfo>;
  reclaimRequest(request: Request | string, options?: { forefront?: boolean }): Promise<QueueOperationInfo>;
  isFinished(): Promise<boolean>;
  /** Whether `fetchNextRequest` would find nothing now; locked requests may still come back. */
  isEmpty(): Promise<boolean>;
}

export interface OpenOptions {
  /** Treat the argument as an ID only (by default an ID-shaped string is tried as an ID, then as a name). */
  forceId?: boolean;
}

export interface ExitOptions {
  statusMessage?: string;
  exitCode?: number;
}

export interface ChargeResult {
  eventChargeLimitReached: boolean;
  chargedCount: number;
  /** How many of each event still fit; `Infinity`: no limit. */
  chargeableWithinLimit: Record<string, number>;
}

export interface ChargingManager {
  getPricingInfo(): {
    pricingModel: 'FREE' | 'PAY_PER_EVENT' | 'PRICE_PER_DATASET_ITEM';
    isPayPerEvent: boolean;
    maxTotalChargeUsd: number;
    perEventPrices: Record<string, number>;
  };
  getChargedEventCount(eventName: string): number;
  getRemainingBudgetUsd(): number;
}

export interface CallOptions {
  build?: string;
  /** Memory in MB. */
  memory?: number;
  /** Timeout in seconds (0: none). */
  timeout?: number;
  maxItems?: number;
  maxTotalChargeUsd?: number;
  webhooks?: object[];
  /** `call` and `waitForFinish` only: how long to wait. */
  waitSecs?: number;
}

/** A run object, as `GET /v2/actor-runs/{id}` returns it. */
export interface ActorRun {
  id: string;
  actId: string;
  status: string;
  statusMessage?: string;
  defaultKeyValueStoreId: string;
  defaultDatasetId: string;
  defaultRequestQueueId: string;
  [key: string]: unknown;
}

export interface ActorEnv {
  actorId: string;
  actorRunId: string;
  actorBuildId: string;
  actorBuildNumber: string;
  actorName: string;
  defaultKeyValueStoreId: string;
  defaultDatasetId: string;
  defaultRequestQueueId: string;
  inputKey: string;
  memoryMbytes: number;
  timeoutSecs: number;
  startedAt: Date;
  timeoutAt: Date;
}

export interface EventData {
  persistState: { isMigrating: boolean };
  migrating: { timeRemainingSecs: number };
  aborting: Record<string, never>;
  systemInfo: { memCurrentBytes: number; memMaxBytes: number; cpuCurrentUsage: number; isCpuOverloaded: boolean; createdAt: string };
}

export interface ActorApi {
  init(): Promise<void>;
  exit(messageOrOptions?: string | ExitOptions, options?: ExitOptions): Promise<never>;
  fail(messageOrOptions?: string | ExitOptions, options?: ExitOptions): Promise<never>;
  main<T>(fn: () => T | Promise<T>, options?: { exit?: boolean; statusMessage?: string }): Promise<never>;
  getInput<T = Record<string, unknown>>(): Promise<T | null>;
  pushData(data: object | object[]): Promise<void>;
  pushData(data: object | object[], eventName: string): Promise<ChargeResult>;
  getValue<T = unknown>(key: string): Promise<T | null>;
  setValue(key: string, value: unknown, options?: SetValueOptions): Promise<void>;
  openDataset<T extends object = Record<string, unknown>>(idOrName?: string | null, options?: OpenOptions): Promise<Dataset<T>>;
  openKeyValueStore(idOrName?: string | null, options?: OpenOptions): Promise<KeyValueStore>;
  openRequestQueue(idOrName?: string | null, options?: OpenOptions & { lockSecs?: number }): Promise<RequestQueue>;
  setStatusMessage(message: string, options?: { isStatusMessageTerminal?: boolean }): Promise<void>;
  useState<T extends object>(key?: string, defaultValue?: T): Promise<T>;
  on<E extends keyof EventData>(event: E, handler: (data: EventData[E]) => unknown): void;
  off<E extends keyof EventData>(event: E, handler: (data: EventData[E]) => unknown): void;
  isMigrating(): boolean;
  isAborting(): boolean;
  /** Waits for the platform to stop the run (after `migrating`: the run resumes elsewhere and starts over with its storages). Never resolves. */
  waitForStop(): Promise<never>;
  charge(options: { eventName: string; count?: number; idempotencyKey?: string }): Promise<ChargeResult>;
  getChargingManager(): ChargingManager;
  start(actorId: string, input?: unknown, options?: CallOptions): Promise<ActorRun>;
  call(actorId: string, input?: unknown, options?: CallOptions): Promise<ActorRun>;
  waitForFinish(runId: string, options?: { waitSecs?: number }): Promise<ActorRun>;
  getRun(runId: string): Promise<ActorRun>;
  abort(runId: string, options?: { gracefully?: boolean }): Promise<ActorRun | null>;
  metamorph(targetActorId: string, input?: unknown, options?: { build?: string }): Promise<never>;
  reboot(): Promise<never>;
  addWebhook(webhook: { eventTypes: string[]; requestUrl: string; payloadTemplate?: string; headersTemplate?: string; idempotencyKey?: string }): Promise<string>;
  getEnv(): ActorEnv;
  isAtHome(): boolean;
}

export const Actor: ActorApi;
export default Actor;

export const log: {
  debug(message: string, data?: object): void;
  info(message: string, data?: object): void;
  warning(message: string, data?: object): void;
  error(message: string, data?: object): void;
  exception(error: Error, message: string, data?: object): void;
};

/** A Standby Actor's main module: `export default { fetch(request) { ... } }`. */
export interface StandbyHandler {
  fetch(request: Request_): Response | string | object | Promise<Response | string | object>;
}
type Request_ = globalThis.Request;
