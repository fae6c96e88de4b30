// The warning beside a queue whose waiting work no live worker will run:
// nobody takes from the queue, or those who do lack a handler for some of
// its pending types. Said in words (not colour only), with what to do.

import type { QueueInfo } from "../api/types";
import { formatCount } from "../format";
import { hasServiceGap, serviceGap, waitingCount } from "../queueService";
import { Link } from "../router";

const STYLE = "rounded-md border border-amber-300 bg-amber-50 px-2 py-1 text-xs text-amber-900 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-200";

function Item({ queue, kind, headline, help, compact }: { queue: string; kind: string; headline: string; help: string; compact?: boolean }) {
  return (
    <div data-testid="service-warning" data-kind={kind} className={STYLE} title={compact ? help : undefined}>
      <span aria-hidden>⚠ </span>
      <span className="sr-only">Warning for queue {queue}: </span>
      <span className="font-medium">{headline}</span>
      {compact ? (
        <span className="sr-only">. {help}</span>
      ) : (
        <span className="text-amber-800 dark:text-amber-300">
          {" — "}
          {help}{" "}
          <Link className="underline" href="/workers">
            Go to Workers
          </Link>
        </span>
      )}
    </div>
  );
}

/** ServiceWarning renders nothing when every waiting task of q has a live worker to run it. compact keeps the help in a tooltip (and for screen readers). */
export function ServiceWarning({ q, compact }: { q: QueueInfo; compact?: boolean }) {
  const gap = serviceGap(q);
  if (!hasServiceGap(gap)) return null;
  const n = waitingCount(q);
  return (
    <div className="flex flex-col gap-1">
      {gap.noWorker && (
        <Item
          queue={q.name}
          kind="queue"
          compact={compact}
          headline="No worker takes from this queue"
          help={`Its ${formatCount(n)} waiting ${n === 1 ? "task stays" : "tasks stay"} in line until one does. Start a worker that takes from ${q.name}: taskmill worker --queues ${q.name}, or Start worker on the Workers page with this queue.`}
        />
      )}
      {gap.types.length > 0 && (
        <Item
          queue={q.name}
          kind="types"
          compact={compact}
          headline={`Waiting for a worker that runs: ${gap.types.join(", ")}`}
          help={`The workers taking from ${q.name} do not run ${gap.types.length === 1 ? "this type" : "these types"}, so ${gap.types.length === 1 ? "its tasks wait" : "their tasks wait"}: start a worker for ${q.name} that handles ${gap.types.length === 1 ? "it" : "them"}.`}
        />
      )}
    </div>
  );
}
