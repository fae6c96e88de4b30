// Wire types of taskmill's HTTP API (server/*.go, backend/*.go). Fields the
// server may omit are optional; the dashboard tolerates fields it does not
// know, since the API grows.

export const STATES = ["pending", "scheduled", "processing", "retrying", "completed", "failed", "canceled"] as const;
export type TaskState = (typeof STATES)[number];

export const FINAL_STATES: readonly TaskState[] = ["completed", "failed", "canceled"];

export function isFinal(state: TaskState | string | undefined): boolean {
  return state === "completed" || state === "failed" || state === "canceled";
}

export interface Progress {
  percent: number;
  message?: string;
  at?: string;
}

export interface Attempt {
  number: number;
  worker_id: string;
  started_at: string;
  finished_at?: string;
  /** "completed", "failed", "lease_expired", "released" or "canceled"; empty while it runs. */
  outcome?: string;
  error?: string;
}

export interface Task {
  id: string;
  type: string;
  queue: string;
  payload?: unknown;
  priority: number;
  state: TaskState;
  attempt: number;
  max_attempts: number;
  timeout?: string;
  deadline?: string;
  unique_key?: string;
  unique_until?: string;
  run_at?: string;
  created_at: string;
  started_at?: string;
  finished_at?: string;
  result?: unknown;
  last_error?: string;
  attempts?: Attempt[];
  progress?: Progress;
  worker_id?: string;
  lease_expires_at?: string;
}

export interface TaskPage {
  tasks: Task[];
  next_cursor?: string;
}

export interface QueueInfo {
  name: string;
  paused: boolean;
  counts: Partial<Record<TaskState, number>>;
  oldest_pending_at?: string;
  /** statistics over the server's window (newer servers) */
  latency_ms?: number;
  throughput_per_min?: number;
  failure_rate?: number;
  window_minutes?: number;
  /** a live worker takes from the queue (newer servers; absent: unknown) */
  served?: boolean;
  /** types of the queue's pending tasks that no live worker taking from it runs: they wait */
  unserved_types?: string[] | null;
}

export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  queues: string[] | null;
  types?: string[];
  concurrency: number;
  running: string[] | null;
  started_at: string;
  last_heartbeat: string;
  stopping: boolean;
}

export interface TaskType {
  name: string;
  description?: string;
  schema?: JSONSchema;
  max_attempts?: number;
  timeout?: string;
}

export interface HistoryBucket {
  minute: string;
  completed: number;
  failed: number;
}

/** The part of a task a task_update event carries. */
export interface TaskEvent {
  id: string;
  type: string;
  queue: string;
  state: TaskState;
  attempt: number;
  progress?: Progress;
  result?: unknown;
  error?: string;
  worker_id?: string;
  /** when it happened: copied from the enclosing event by taskEventsOf */
  at?: string;
}

export interface LiveEvent {
  kind: "task_update" | "queue_update" | "worker_update" | "resync" | string;
  task?: TaskEvent;
  queue?: string;
  worker?: WorkerInfo;
  at?: string;
}

/** The subset of JSON Schema the submit form understands; anything else falls back to a JSON editor. */
export interface JSONSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  properties?: Record<string, JSONSchema>;
  required?: string[];
  additionalProperties?: boolean | JSONSchema;
  items?: JSONSchema;
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  contentEncoding?: string;
  contentMediaType?: string;
  examples?: unknown[];
  [key: string]: unknown;
}

export interface SubmitRequest {
  type: string;
  payload?: unknown;
  queue?: string;
  priority?: number;
  delay?: string;
  run_at?: string;
  max_attempts?: number;
  timeout?: string;
  unique_key?: string;
}

/** A link of the server to a system other than its backend (GET /api/info). */
export interface LinkInfo {
  name: string;
  /** "up", "connecting" or "down" */
  state: string;
  detail?: string;
  since?: string;
  required: boolean;
}

/** GET /api/info: the build, the backend, where data lives, the links. */
export interface ServerInfo {
  version: string;
  commit: string;
  go_version: string;
  backend: string;
  data_dir?: string;
  files_dir?: string;
  links: LinkInfo[];
}

/** One entry of the files folder (GET /api/files). */
export interface FileEntry {
  name: string;
  /** relative to the files folder: the path a payload names it by */
  path: string;
  type: "file" | "dir" | "other";
  size: number;
  modified: string;
}

export interface FileList {
  dir: string;
  entries: FileEntry[];
  truncated: boolean;
}
