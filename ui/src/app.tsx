// The app shell: navigation, theme, and one route per view. Every view has a URL that can be
// shared and bookmarked; the server answers these paths with index.html (history routing).
import { NavLink, Route, Routes } from "react-router";
import { SessionCorner } from "./pages/sign-in-watch.tsx";
import { Theme } from "./theme.tsx";
import { Dashboard } from "./views/dashboard.tsx";
import { FlowPage } from "./views/flow.tsx";
import { Flows } from "./views/flows.tsx";
import { NotFound } from "./views/not-found.tsx";
import { RunPage } from "./views/run.tsx";
import { Runs } from "./views/runs.tsx";
import { Settings } from "./views/settings.tsx";
import { SignIn } from "./views/sign-in.tsx";

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
      </main>
    </div>
  );
}
