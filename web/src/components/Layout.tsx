// The frame around every page: header with live status, theme and token
// controls; navigation (a sidebar when wide, a scrolling strip when
// narrow); and a skip link for keyboard users.

import { useEffect, useState, type ReactNode } from "react";
import { api, getToken, onAuthRequired } from "../api/client";
import { useInterval, useNow, useResource, useThrottled } from "../hooks";
import { useLiveEvents, useLiveSocket, useLiveStatus } from "../live/LiveContext";
import { Link, useLocation } from "../router";
import { applyTheme, loadTheme, nextTheme, prefersDark, type ThemeChoice } from "../theme";
import { TokenDialog } from "./TokenDialog";

const NAV = [
  { href: "/", label: "Overview" },
  { href: "/submit", label: "Submit" },
  { href: "/tasks", label: "Tasks" },
  { href: "/queues", label: "Queues" },
  { href: "/workers", label: "Workers" },
  { href: "/dead-letters", label: "Dead letters" },
];

function isCurrent(href: string, path: string): boolean {
  return href === "/" ? path === "/" : path === href || path.startsWith(href + "/");
}

function LiveIndicator() {
  const s = useLiveStatus();
  const live = useLiveSocket();
  const now = useNow(1000);
  let dot = "bg-zinc-400";
  let text = "Offline";
  if (s.state === "open") {
    dot = "bg-emerald-500";
    text = "Live";
  } else if (s.state === "connecting") {
    dot = "bg-amber-400 animate-pulse";
    text = "Connecting";
  } else if (s.state === "waiting") {
    dot = "bg-red-500";
    text = `Reconnecting in ${Math.max(0, Math.ceil(((s.retryAt ?? now) - now) / 1000))}s`;
  }
  return (
    <button
      type="button"
      data-testid="live-status"
      data-state={s.state}
      className="inline-flex items-center gap-1.5 rounded-md px-2 py-1 text-xs font-medium text-zinc-600 hover:bg-zinc-100 dark:text-zinc-300 dark:hover:bg-zinc-800"
      title={s.state === "open" ? "Receiving live updates" : "Not receiving live updates; press to reconnect now"}
      onClick={() => live?.reconnectNow()}
    >
      <span aria-hidden className={`h-2 w-2 rounded-full ${dot}`} />
      <span role="status" className="min-w-[7.5rem] text-left tabular-nums sm:min-w-0">
        {text}
      </span>
    </button>
  );
}

function ThemeToggle() {
  const [choice, setChoice] = useState<ThemeChoice>(loadTheme);
  useEffect(() => {
    applyTheme(choice);
    if (choice !== "system" || typeof matchMedia !== "function") return;
    const mq = matchMedia("(prefers-color-scheme: dark)");
    const onChange = () => applyTheme("system");
    mq.addEventListener?.("change", onChange);
    return () => mq.removeEventListener?.("change", onChange);
  }, [choice]);
  const icon = choice === "dark" ? "☾" : choice === "light" ? "☀" : prefersDark() ? "◐" : "◑";
  return (
    <button
      type="button"
      className="inline-flex h-8 min-w-8 items-center justify-center gap-1 rounded-md px-2 text-sm text-zinc-600 hover:bg-zinc-100 dark:text-zinc-300 dark:hover:bg-zinc-800"
      aria-label={`Colour theme: ${choice}. Switch to ${nextTheme(choice)}`}
      title={`Theme: ${choice}`}
      onClick={() => setChoice(nextTheme(choice))}
    >
      <span aria-hidden>{icon}</span>
      <span className="hidden text-xs md:inline">{choice}</span>
    </button>
  );
}

function useDeadLetterCount(): number | undefined {
  const queues = useResource((signal) => api.listQueues(signal), []);
  const reload = useThrottled(queues.reload, 3000);
  useLiveEvents((evs) => {
    if (evs.some((e) => e.kind === "resync" || e.kind === "queue_update" || (e.kind === "task_update" && e.task && (e.task.state === "failed" || e.task.state === "pending"))))
      reload();
  });
  useInterval(reload, 30_000);
  return queues.data?.reduce((s, q) => s + (q.counts.failed ?? 0), 0);
}

export function Layout({ children }: { children: ReactNode }) {
  const { path } = useLocation();
  const [tokenSignal, setTokenSignal] = useState(0);
  const [hasToken, setHasToken] = useState(() => !!getToken());
  useEffect(() => onAuthRequired(() => setHasToken(!!getToken())), []);
  const dead = useDeadLetterCount();

  return (
    <div className="min-h-screen">
      <a href="#main" className="sr-only z-50 rounded-md bg-indigo-600 px-3 py-2 text-white focus:not-sr-only focus:fixed focus:top-2 focus:left-2">
        Skip to content
      </a>
      <header className="sticky top-0 z-30 border-b border-zinc-200 bg-white/90 backdrop-blur dark:border-zinc-800 dark:bg-zinc-900/90">
        <div className="mx-auto flex h-12 max-w-[90rem] items-center gap-3 px-3 sm:px-5">
          <Link href="/" className="flex items-center gap-2 font-semibold tracking-tight">
            <svg aria-hidden viewBox="0 0 16 16" className="h-5 w-5">
              <rect width="16" height="16" rx="3" className="fill-indigo-600" />
              <path d="M4 5h8M4 8h8M4 11h5" stroke="white" strokeWidth="1.6" />
            </svg>
            taskmill
          </Link>
          <div className="ml-auto flex items-center gap-1">
            <LiveIndicator />
            {hasToken && (
              <button
                type="button"
                className="rounded-md px-2 py-1 text-xs text-zinc-600 hover:bg-zinc-100 dark:text-zinc-300 dark:hover:bg-zinc-800"
                onClick={() => setTokenSignal((n) => n + 1)}
              >
                Token
              </button>
            )}
            <ThemeToggle />
          </div>
        </div>
      </header>
      <div className="mx-auto flex max-w-[90rem] flex-col md:flex-row">
        <nav aria-label="Main" className="border-b border-zinc-200 md:w-48 md:shrink-0 md:border-r md:border-b-0 dark:border-zinc-800">
          <ul className="relative flex gap-1 overflow-x-auto px-2 py-2 md:sticky md:top-12 md:flex-col md:px-3 md:py-4">
            {NAV.map((n) => {
              const current = isCurrent(n.href, path);
              return (
                <li key={n.href} className="shrink-0">
                  <Link
                    href={n.href}
                    aria-current={current ? "page" : undefined}
                    className={`flex items-center justify-between gap-2 rounded-md px-3 py-1.5 text-sm font-medium whitespace-nowrap ${
                      current
                        ? "bg-indigo-50 text-indigo-700 dark:bg-indigo-950 dark:text-indigo-300"
                        : "text-zinc-700 hover:bg-zinc-100 dark:text-zinc-300 dark:hover:bg-zinc-800"
                    }`}
                  >
                    {n.label}
                    {n.href === "/dead-letters" && dead ? (
                      <span className="rounded-full bg-red-100 px-1.5 text-xs text-red-700 tabular-nums dark:bg-red-950 dark:text-red-300">
                        <span className="sr-only">(</span>
                        {dead}
                        <span className="sr-only"> failed)</span>
                      </span>
                    ) : null}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
        <main id="main" className="min-w-0 flex-1 px-3 py-5 sm:px-6">
          {children}
        </main>
      </div>
      <TokenDialog openSignal={tokenSignal} />
    </div>
  );
}
