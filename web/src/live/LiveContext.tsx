// The app-wide live connection as React context: one LiveSocket, its
// status for the header, and a hook for pages to receive event batches.

import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import { eventsURL, onAuthRequired } from "../api/client";
import type { LiveEvent } from "../api/types";
import { LiveSocket, type LiveStatus } from "./socket";

const Ctx = createContext<LiveSocket | null>(null);

export function LiveProvider({ children, socket }: { children: ReactNode; socket?: LiveSocket }) {
  const [live] = useState(() => socket ?? new LiveSocket({ url: () => eventsURL() }));
  useEffect(() => {
    live.start();
    const online = () => live.reconnectNow();
    window.addEventListener("online", online);
    // A new token opens the stream with it at once.
    const off = onAuthRequired((required) => {
      if (!required) live.reconnectNow();
    });
    return () => {
      window.removeEventListener("online", online);
      off();
      live.stop();
    };
  }, [live]);
  return <Ctx.Provider value={live}>{children}</Ctx.Provider>;
}

export function useLiveSocket(): LiveSocket | null {
  return useContext(Ctx);
}

/** useLiveStatus follows the connection's state. */
export function useLiveStatus(): LiveStatus {
  const live = useContext(Ctx);
  const [s, set] = useState<LiveStatus>(() => live?.getStatus() ?? { state: "stopped", failures: 0 });
  useEffect(() => {
    if (!live) return;
    set(live.getStatus());
    return live.onStatus(set);
  }, [live]);
  return s;
}

/** useLiveEvents calls handler with each batch of events; the latest handler is used without resubscribing. */
export function useLiveEvents(handler: (events: LiveEvent[]) => void): void {
  const live = useContext(Ctx);
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => {
    if (!live) return;
    return live.onEvents((evs) => ref.current(evs));
  }, [live]);
}
