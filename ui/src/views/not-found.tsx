// A path the app does not know: say so and offer the way back.
import { Link, useLocation } from "react-router";

export function NotFound() {
  const { pathname } = useLocation();
  return (
    <div>
      <h1 className="page-title">Not found</h1>
      <p>
        Nothing lives at <code>{pathname}</code>. Go to the <Link to="/">dashboard</Link>, the{" "}
        <Link to="/flows">flows</Link> or the <Link to="/runs">runs</Link>.
      </p>
    </div>
  );
}
