// The app shell: navigation, theme, and one route per view. Every view has a URL that can be
// shared and bookmarked; the server answers these paths with index.html (history routing).
//
// Decisions:
// - Each view is its own chunk (React.lazy), so a page loads and parses only the code of the
//   view it opens: /runs must show its first row within 1 s on 100,000 runs, and the run page's
//   graph code (dagre) and the settings forms are no part of that. The shell (navigation,
//   session, theme) stays in the entry chunk so it paints at once.
import { lazy, Suspense } from "react";
import { NavLink, Route, Routes } from "react-router";
import { SessionCorner } from "./pages/sign-in-watch.tsx";
import { Theme } from "./theme.tsx";

const Dashboard = lazy(() =>
  import("./views/dashboard.tsx").then((m) => ({ default: m.Dashboard })),
);
const FlowPage = lazy(() => import("./views/flow.tsx").then((m) => ({ default: m.FlowPage })));
const Flows = lazy(() => import("./views/flows.tsx").then((m) => ({ default: m.Flows })));
const NotFound = lazy(() => import("./views/not-found.tsx").then((m) => ({ default: m.NotFound })));
const RunPage = lazy(() => import("./views/run.tsx").then((m) => ({ default: m.RunPage })));
const Runs = lazy(() => import("./views/runs.tsx").then((m) => ({ default: m.Runs })));
const Settings = lazy(() => import("./views/settings.tsx").then((m) => ({ default: m.Settings })));
const SignIn = lazy(() => import("./views/sign-in.tsx").then((m) => ({ default: m.SignIn })));

export function App() {
  return (
    <div className="shell">
      <header className="topbar">
        <a className="brand" href="/">
          weft
        </a>
        <nav aria-label="Main">
          <NavLink to="/" end>
            Dashboard
          </NavLink>
          <NavLink to="/flows">Flows</NavLink>
          <NavLink to="/runs">Runs</NavLink>
          <NavLink to="/settings">Settings</NavLink>
        </nav>
        <SessionCorner />
        <Theme />
      </header>
      <main className="content">
        <Suspense fallback={<p className="muted">Loading…</p>}>
          <Routes>
            <Route path="/" element={<Dashboard />} />
            <Route path="/flows" element={<Flows />} />
            <Route path="/flows/:name" element={<FlowPage />} />
            <Route path="/runs" element={<Runs />} />
            <Route path="/runs/:id" element={<RunPage />} />
            <Route path="/settings" element={<Settings />} />
            <Route path="/sign-in" element={<SignIn />} />
            <Route path="*" element={<NotFound />} />
          </Routes>
        </Suspense>
      </main>
    </div>
  );
}
