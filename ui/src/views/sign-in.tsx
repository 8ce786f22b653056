// Placeholder: the SignIn view.
export function SignIn() {
  return <h1>SignIn</h1>;
}
