import { useState } from "react";
import { prettyJSON } from "../format";

/** JsonView shows a value as indented JSON, long strings cut, with a copy button for the whole value. */
export function JsonView({ value, label }: { value: unknown; label: string }) {
  const [copied, setCopied] = useState(false);
  if (value === undefined || value === null) return <p className="px-4 py-3 text-sm text-zinc-500">none</p>;
  const text = prettyJSON(value);
  async function copy() {
    try {
      await navigator.clipboard.writeText(JSON.stringify(value, null, 2));
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      /* no clipboard permission: nothing to do */
    }
  }
  return (
    <div className="relative">
      <button type="button" className="btn btn-sm absolute top-2 right-2" onClick={copy} aria-label={`Copy ${label} as JSON`}>
        {copied ? "Copied" : "Copy"}
      </button>
      <pre aria-label={label} tabIndex={0} className="max-h-96 overflow-auto px-4 py-3 text-xs leading-relaxed break-words whitespace-pre-wrap">
        {text}
      </pre>
    </div>
  );
}
