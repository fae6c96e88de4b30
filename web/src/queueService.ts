// Whether a queue's waiting work has a worker to run it (GET /api/queues:
// served, unserved_types), and whether a queue is empty enough to delete.
// Pure functions, so the rules are tested apart from the pages.

import { STATES, type QueueInfo } from "./api/types";

/** waitingCount is the tasks that will need a worker: pending now, or scheduled and retrying later. */
export function waitingCount(q: QueueInfo): number {
  return (q.counts.pending ?? 0) + (q.counts.scheduled ?? 0) + (q.counts.retrying ?? 0);
}

export interface ServiceGap {
  /** no live worker takes from the queue, and tasks wait in it */
  noWorker: boolean;
  /** types of pending tasks that the queue's live workers do not run (only when some worker takes from it) */
  types: string[];
}

/**
 * serviceGap says what of a queue's waiting work no live worker will run.
 * A server too old to report `served` gives no warning: unknown is not
 * "unserved". When no worker takes from the queue at all, that one warning
 * says it all; the server then lists every pending type as unserved, which
 * would repeat it.
 */
export function serviceGap(q: QueueInfo): ServiceGap {
  if (q.served === undefined) return { noWorker: false, types: [] };
  if (!q.served) return { noWorker: waitingCount(q) > 0, types: [] };
  return { noWorker: false, types: [...(q.unserved_types ?? [])] };
}

/** hasServiceGap is true when serviceGap has something to warn about. */
export function hasServiceGap(g: ServiceGap): boolean {
  return g.noWorker || g.types.length > 0;
}

/** isEmptyQueue is true when the queue holds no task in any state, the only case DELETE /api/queues/{name} accepts. */
export function isEmptyQueue(q: QueueInfo): boolean {
  return STATES.every((s) => (q.counts[s] ?? 0) === 0);
}
