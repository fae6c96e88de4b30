// A button for actions that cannot be undone: the first press arms it and
// asks again in place, the second does it. No modal to trap focus in, and
// it disarms itself after a few seconds.

import { useEffect, useState, type ReactNode } from "react";

export function ConfirmButton({
  onConfirm,
  children,
  confirmLabel,
  className = "btn btn-danger",
  disabled,
  ariaLabel,
}: {
  onConfirm: () => void | Promise<void>;
  children: ReactNode;
  confirmLabel: string;
  className?: string;
  disabled?: boolean;
  ariaLabel?: string;
}) {
  const [armed, setArmed] = useState(false);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!armed) return;
    const t = setTimeout(() => setArmed(false), 5000);
    return () => clearTimeout(t);
  }, [armed]);
  async function click() {
    if (!armed) {
      setArmed(true);
      return;
    }
    setArmed(false);
    setBusy(true);
    try {
      await onConfirm();
    } finally {
      setBusy(false);
    }
  }
  return (
    <button type="button" className={className} disabled={disabled || busy} onClick={click} aria-label={armed ? confirmLabel : ariaLabel}>
      {armed ? confirmLabel : children}
    </button>
  );
}
