// Light and dark themes: the system's choice until the user picks one (kept in localStorage).
import { useEffect, useState } from "react";

type ThemeName = "light" | "dark";

function initial(): ThemeName {
  const saved = localStorage.getItem("weft.theme");
  if (saved === "light" || saved === "dark") return saved;
  return window.matchMedia?.("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

export function Theme() {
  const [theme, setTheme] = useState<ThemeName>(initial);
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  const next: ThemeName = theme === "dark" ? "light" : "dark";
  return (
    <button
      type="button"
      className="theme-toggle"
      aria-label={`Switch to the ${next} theme`}
      onClick={() => {
        localStorage.setItem("weft.theme", next);
        setTheme(next);
      }}
    >
      {theme === "dark" ? "Light" : "Dark"}
    </button>
  );
}
