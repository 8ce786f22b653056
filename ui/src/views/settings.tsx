// Placeholder: the Settings view.
export function Settings() {
  return <h1>Settings</h1>;
}
