// Asks for an API token when the server answers 401, keeps it in
// localStorage, and lets a person change or forget it later.

import { useEffect, useRef, useState } from "react";
import { getToken, onAuthRequired, setToken } from "../api/client";

export function TokenDialog({ openSignal }: { openSignal: number }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [value, setValue] = useState("");
  const [rejected, setRejected] = useState(false);

  function open(wasRejected: boolean) {
    const d = ref.current;
    setRejected(wasRejected);
    setValue("");
    if (d && !d.open) {
      if (typeof d.showModal === "function") d.showModal();
      else d.setAttribute("open", "");
    }
  }

  useEffect(() => onAuthRequired((required) => required && open(true)), []);
  useEffect(() => {
    if (openSignal > 0) open(false);
  }, [openSignal]);

  function save(e: React.FormEvent) {
    e.preventDefault();
    const t = value.trim();
    if (!t) return;
    ref.current?.close();
    setToken(t);
  }

  return (
    <dialog
      ref={ref}
      aria-labelledby="token-title"
      className="m-auto w-[min(28rem,calc(100vw-2rem))] rounded-lg border border-zinc-200 bg-white p-0 text-zinc-900 shadow-xl backdrop:bg-black/40 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100"
    >
      <form onSubmit={save} className="p-5">
        <h2 id="token-title" className="text-lg font-semibold">
          API token
        </h2>
        <p className="mt-1 text-sm text-zinc-600 dark:text-zinc-400">
          {rejected
            ? getToken()
              ? "The server refused the saved token. Enter a valid one."
              : "This server requires a token for its API."
            : "The token is sent with every API call and kept in this browser."}
        </p>
        <label htmlFor="token-input" className="label mt-4">
          Token
        </label>
        <input
          id="token-input"
          type="password"
          autoComplete="current-password"
          className="input"
          value={value}
          onChange={(e) => setValue(e.target.value)}
          required
          autoFocus
        />
        <div className="mt-5 flex flex-wrap justify-end gap-2">
          {getToken() && (
            <button
              type="button"
              className="btn btn-danger"
              onClick={() => {
                ref.current?.close();
                setToken(null);
              }}
            >
              Forget saved token
            </button>
          )}
          <button type="button" className="btn" onClick={() => ref.current?.close()}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary">
            Save token
          </button>
        </div>
      </form>
    </dialog>
  );
}
