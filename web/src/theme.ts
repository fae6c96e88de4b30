// The colour scheme: "system" follows prefers-color-scheme, "light" and
// "dark" override it. index.html applies the saved choice before the first
// paint; this module keeps it in step afterwards.

export type ThemeChoice = "system" | "light" | "dark";
const KEY = "taskmill.theme";

export function loadTheme(): ThemeChoice {
  try {
    const t = localStorage.getItem(KEY);
    return t === "light" || t === "dark" ? t : "system";
  } catch {
    return "system";
  }
}

export function prefersDark(): boolean {
  return typeof matchMedia === "function" && matchMedia("(prefers-color-scheme: dark)").matches;
}

/** applyTheme saves the choice and sets the .dark class on <html>; it returns whether the page is now dark. */
export function applyTheme(choice: ThemeChoice): boolean {
  try {
    if (choice === "system") localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, choice);
  } catch {
    /* storage disabled: the choice lasts for this page */
  }
  const dark = choice === "dark" || (choice === "system" && prefersDark());
  document.documentElement.classList.toggle("dark", dark);
  return dark;
}

export function nextTheme(t: ThemeChoice): ThemeChoice {
  return t === "system" ? "light" : t === "light" ? "dark" : "system";
}
