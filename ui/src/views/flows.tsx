// Placeholder: the Flows view.
export function Flows() {
  return <h1>Flows</h1>;
}
