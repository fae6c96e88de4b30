// The dashboard's only way to the server: JSON over fetch with the stored
// API token, and the WebSocket URL for live events. A 401 tells every
// listener that a token is needed, so the token prompt can open once.

import type {
  FileEntry,
  FileList,
  HistoryBucket,
  QueueInfo,
  ServerInfo,
  SubmitRequest,
  Task,
  TaskPage,
  TaskState,
  TaskType,
  WorkerInfo,
} from "./types";

const TOKEN_KEY = "taskmill.token";

/** An error answer of the API: {"error":{"code","message","field"}}. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field?: string;
  constructor(status: number, code: string, message: string, field?: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

type AuthListener = (required: boolean) => void;
const authListeners = new Set<AuthListener>();

/** onAuthRequired calls fn whenever the server refuses the current token (true) or accepts a new one (false). */
export function onAuthRequired(fn: AuthListener): () => void {
  authListeners.add(fn);
  return () => authListeners.delete(fn);
}

function storage(): Storage | null {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // storage disabled: the token lives for this page only
  }
}

let memoryToken: string | null = null;

export function getToken(): string | null {
  return storage()?.getItem(TOKEN_KEY) ?? memoryToken;
}

export function setToken(token: string | null): void {
  memoryToken = token;
  const s = storage();
  if (s) {
    if (token) s.setItem(TOKEN_KEY, token);
    else s.removeItem(TOKEN_KEY);
  }
  for (const fn of authListeners) fn(false);
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  /** a raw body (a file to upload), sent as application/octet-stream instead of JSON */
  blob?: Blob;
  signal?: AbortSignal;
}

/** request sends one API call and decodes its JSON answer; it throws ApiError on any error status. */
export async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let body: string | Blob | undefined;
  if (opts.blob !== undefined) {
    headers["Content-Type"] = "application/octet-stream";
    body = opts.blob;
  } else if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  let res: Response;
  try {
    res = await fetch(path, { method: opts.method ?? "GET", headers, body, signal: opts.signal });
  } catch (err) {
    if ((err as Error)?.name === "AbortError") throw err;
    throw new ApiError(0, "network", "the server cannot be reached; is taskmill serve running?");
  }
  if (res.status === 401) {
    for (const fn of authListeners) fn(true);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      if (!res.ok) throw new ApiError(res.status, "http_" + res.status, text.slice(0, 300));
      throw new ApiError(res.status, "bad_json", "the server answered with something that is not JSON");
    }
  }
  if (!res.ok) {
    const e = (data as { error?: { code?: string; message?: string; field?: string } })?.error;
    throw new ApiError(res.status, e?.code ?? "http_" + res.status, e?.message ?? res.statusText ?? "request failed", e?.field);
  }
  return data as T;
}

/** eventsURL is the WebSocket address of /api/events; the token travels as a query parameter because browsers cannot set headers on a WebSocket. */
export function eventsURL(loc: { protocol: string; host: string } = location, token: string | null = getToken()): string {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  const q = token ? "?access_token=" + encodeURIComponent(token) : "";
  return `${scheme}//${loc.host}/api/events${q}`;
}

export interface TaskFilter {
  state?: TaskState | "";
  queue?: string;
  type?: string;
  q?: string;
  cursor?: string;
  limit?: number;
}

export interface BulkFilter {
  ids?: string[];
  state?: TaskState;
  queue?: string;
  type?: string;
  q?: string;
  cursor?: string;
}

export interface BulkReply {
  action: string;
  matched: number;
  succeeded: number;
  failed: { id: string; code: string; message: string }[] | null;
  ids: string[] | null;
  next_cursor?: string;
}

export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? "?" + s : "";
}

const enc = encodeURIComponent;

/** filePath turns a files-folder path into the URL path of /api/files/{path}, each element escaped. */
export function filePath(p: string): string {
  return "/api/files/" + p.split("/").map(enc).join("/");
}

/**
 * fetchFile downloads a file of the files folder as a Blob. It goes through
 * fetch, not a plain link, so that the API token travels in its header.
 */
export async function fetchFile(p: string, signal?: AbortSignal): Promise<Blob> {
  const headers: Record<string, string> = {};
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(filePath(p), { headers, signal });
  if (res.status === 401) for (const fn of authListeners) fn(true);
  if (!res.ok) {
    let msg = res.statusText || "download failed";
    try {
      msg = ((await res.json()) as { error?: { message?: string } }).error?.message ?? msg;
    } catch {
      /* not JSON: keep the status text */
    }
    throw new ApiError(res.status, "http_" + res.status, msg);
  }
  return res.blob();
}

/** saveBlob offers a Blob to the browser as a download named name. */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export const api = {
  listTasks: (f: TaskFilter, signal?: AbortSignal) =>
    request<TaskPage>("/api/tasks" + query({ state: f.state, queue: f.queue, type: f.type, q: f.q, cursor: f.cursor, limit: f.limit }), { signal }),
  getTask: (id: string, signal?: AbortSignal) => request<Task>(`/api/tasks/${enc(id)}`, { signal }),
  submitTask: (req: SubmitRequest) => request<Task>("/api/tasks", { method: "POST", body: req }),
  /** cancelOrDelete cancels a task that is not final (the canceled task) and deletes a final one (undefined). */
  cancelOrDelete: (id: string) => request<Task | undefined>(`/api/tasks/${enc(id)}`, { method: "DELETE" }),
  retryTask: (id: string) => request<Task>(`/api/tasks/${enc(id)}/retry`, { method: "POST" }),
  listQueues: (signal?: AbortSignal) => request<{ queues: QueueInfo[] }>("/api/queues", { signal }).then((r) => r.queues ?? []),
  /** deleteQueue forgets a queue that holds no tasks; the server answers 409 queue_not_empty otherwise. */
  deleteQueue: (name: string) => request<undefined>(`/api/queues/${enc(name)}`, { method: "DELETE" }),
  pauseQueue: (name: string) => request<unknown>(`/api/queues/${enc(name)}/pause`, { method: "POST" }),
  resumeQueue: (name: string) => request<unknown>(`/api/queues/${enc(name)}/resume`, { method: "POST" }),
  listWorkers: (signal?: AbortSignal) => request<{ workers: WorkerInfo[] | null }>("/api/workers", { signal }).then((r) => r.workers ?? []),
  startWorker: (concurrency: number, queues?: Record<string, number>) =>
    request<WorkerInfo>("/api/workers", { method: "POST", body: queues && Object.keys(queues).length ? { concurrency, queues } : { concurrency } }),
  stopWorker: (id: string) => request<unknown>(`/api/workers/${enc(id)}`, { method: "DELETE" }),
  taskTypes: (signal?: AbortSignal) => request<{ task_types: TaskType[] }>("/api/task-types", { signal }).then((r) => r.task_types ?? []),
  history: (queue: string | undefined, minutes: number, signal?: AbortSignal) =>
    request<{ buckets: HistoryBucket[] }>("/api/history" + query({ queue, minutes }), { signal }).then((r) => r.buckets ?? []),
  /** bulk applies one action to the tasks a filter selects (POST /api/tasks/bulk); call again with next_cursor while there is one. */
  bulk: (action: "cancel" | "retry" | "delete", filter: BulkFilter, limit?: number) =>
    request<BulkReply>("/api/tasks/bulk", { method: "POST", body: limit ? { action, filter, limit } : { action, filter } }),
  info: (signal?: AbortSignal) => request<ServerInfo>("/api/info", { signal }),
  listFiles: (dir: string, signal?: AbortSignal) => request<FileList>("/api/files" + query({ path: dir }), { signal }),
  /** uploadFile stores file as path in the files folder (folders made as needed, an old file replaced). */
  uploadFile: (path: string, file: Blob) => request<FileEntry>(filePath(path), { method: "PUT", blob: file }),
  deleteFile: (path: string) => request<undefined>(filePath(path), { method: "DELETE" }),
  health: (signal?: AbortSignal) => request<{ status: string }>("/healthz", { signal }),
  ready: (signal?: AbortSignal) => request<{ status: string }>("/readyz", { signal }),
};
