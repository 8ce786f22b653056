// Placeholder: the FlowPage view.
export function FlowPage() {
  return <h1>FlowPage</h1>;
}
