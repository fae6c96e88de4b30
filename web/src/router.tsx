// A small client-side router: the dashboard has seven pages, which does not
// earn a routing library. Paths live in the address bar (so every view can
// be linked and survives a reload: the server answers unknown paths with
// index.html), filters live in the query string.

import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from "react";

const listeners = new Set<() => void>();

function subscribe(fn: () => void): () => void {
  listeners.add(fn);
  const onPop = () => fn();
  window.addEventListener("popstate", onPop);
  return () => {
    listeners.delete(fn);
    window.removeEventListener("popstate", onPop);
  };
}

function snapshot(): string {
  return location.pathname + location.search;
}

/** navigate changes the page without a reload; replace keeps the history entry (filters). */
export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (to === snapshot()) return;
  if (opts.replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  for (const fn of listeners) fn();
}

/** useLocation re-renders on every navigation and returns the path and query. */
export function useLocation(): { path: string; search: URLSearchParams } {
  const loc = useSyncExternalStore(subscribe, snapshot, () => "/");
  const q = loc.indexOf("?");
  return { path: q < 0 ? loc : loc.slice(0, q), search: new URLSearchParams(q < 0 ? "" : loc.slice(q)) };
}

/** Link is an <a> that navigates in place; modified clicks (new tab, …) keep the browser's meaning. */
export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  function click(e: MouseEvent<HTMLAnchorElement>) {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || rest.target) return;
    e.preventDefault();
    navigate(href);
  }
  return <a href={href} onClick={click} {...rest} />;
}

/** match returns the params of pattern ("/tasks/:id") in path, or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const p = pattern.split("/").filter(Boolean);
  const s = path.split("/").filter(Boolean);
  if (p.length !== s.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(":")) {
      try {
        params[p[i].slice(1)] = decodeURIComponent(s[i]);
      } catch {
        return null;
      }
    } else if (p[i] !== s[i]) return null;
  }
  return params;
}
