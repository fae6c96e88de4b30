// Small building blocks every page uses.

import type { ReactNode } from "react";
import type { TaskState } from "../api/types";

const STATE_STYLE: Record<string, string> = {
  pending: "bg-sky-100 text-sky-800 dark:bg-sky-950 dark:text-sky-300",
  scheduled: "bg-violet-100 text-violet-800 dark:bg-violet-950 dark:text-violet-300",
  processing: "bg-amber-100 text-amber-900 dark:bg-amber-950 dark:text-amber-300",
  retrying: "bg-orange-100 text-orange-800 dark:bg-orange-950 dark:text-orange-300",
  completed: "bg-emerald-100 text-emerald-800 dark:bg-emerald-950 dark:text-emerald-300",
  failed: "bg-red-100 text-red-800 dark:bg-red-950 dark:text-red-300",
  canceled: "bg-zinc-200 text-zinc-700 dark:bg-zinc-800 dark:text-zinc-300",
};

/** The bar colours of each state, for charts and count strips. */
export const STATE_FILL: Record<TaskState, string> = {
  pending: "fill-sky-500",
  scheduled: "fill-violet-500",
  processing: "fill-amber-500",
  retrying: "fill-orange-500",
  completed: "fill-emerald-500",
  failed: "fill-red-500",
  canceled: "fill-zinc-400",
};

export function StateBadge({ state }: { state: TaskState | string }) {
  return (
    <span
      data-state={state}
      className={`inline-flex items-center rounded-full px-2 py-0.5 text-xs font-medium whitespace-nowrap ${STATE_STYLE[state] ?? STATE_STYLE.canceled}`}
    >
      {state === "processing" && <span aria-hidden className="mr-1 h-1.5 w-1.5 animate-pulse rounded-full bg-current" />}
      {state}
    </span>
  );
}

export function ProgressBar({ percent, label, small }: { percent: number; label: string; small?: boolean }) {
  const p = Math.max(0, Math.min(100, Number.isFinite(percent) ? percent : 0));
  return (
    <div
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(p)}
      className={`w-full overflow-hidden rounded-full bg-zinc-200 dark:bg-zinc-800 ${small ? "h-1.5" : "h-2.5"}`}
    >
      <div className="h-full rounded-full bg-indigo-500 transition-[width] duration-300" style={{ width: `${p}%` }} />
    </div>
  );
}

export function PageHeader({ title, subtitle, actions }: { title: string; subtitle?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="mb-5 flex flex-wrap items-end justify-between gap-3">
      <div className="min-w-0">
        <h1 id="page-title" tabIndex={-1} className="text-xl font-semibold tracking-tight focus:outline-none sm:text-2xl">
          {title}
        </h1>
        {subtitle && <p className="mt-1 text-sm text-zinc-500 dark:text-zinc-400">{subtitle}</p>}
      </div>
      {actions && <div className="flex flex-wrap items-center gap-2">{actions}</div>}
    </div>
  );
}

export function ErrorNote({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const msg = error instanceof Error ? error.message : String(error);
  return (
    <div role="alert" className="mb-4 rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-900 dark:bg-red-950 dark:text-red-200">
      {title && <strong className="font-semibold">{title}: </strong>}
      {msg}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="px-4 py-10 text-center text-sm text-zinc-500 dark:text-zinc-400">{children}</div>;
}

export function Stat({ label, value, hint, tone }: { label: string; value: ReactNode; hint?: ReactNode; tone?: "bad" | "good" }) {
  const color = tone === "bad" ? "text-red-600 dark:text-red-400" : tone === "good" ? "text-emerald-600 dark:text-emerald-400" : "";
  return (
    <div className="card px-4 py-3">
      <dt className="text-xs font-medium tracking-wide text-zinc-500 uppercase dark:text-zinc-400">{label}</dt>
      <dd className={`mt-1 text-2xl font-semibold tabular-nums ${color}`}>{value}</dd>
      {hint && <dd className="mt-0.5 text-xs text-zinc-500 dark:text-zinc-400">{hint}</dd>}
    </div>
  );
}

export function Section({ title, children, actions, id }: { title: string; children: ReactNode; actions?: ReactNode; id?: string }) {
  const hid = id ?? "s-" + title.toLowerCase().replace(/[^a-z0-9]+/g, "-");
  return (
    <section aria-labelledby={hid} className="card mb-5">
      <div className="flex flex-wrap items-center justify-between gap-2 border-b border-zinc-200 px-4 py-2.5 dark:border-zinc-800">
        <h2 id={hid} className="text-sm font-semibold">
          {title}
        </h2>
        {actions && <div className="flex flex-wrap items-center gap-2">{actions}</div>}
      </div>
      {children}
    </section>
  );
}

export function Spinner({ label = "Loading" }: { label?: string }) {
  return (
    <span role="status" className="inline-flex items-center gap-2 text-sm text-zinc-500">
      <span aria-hidden className="h-3.5 w-3.5 animate-spin rounded-full border-2 border-zinc-300 border-t-indigo-500" />
      {label}…
    </span>
  );
}
