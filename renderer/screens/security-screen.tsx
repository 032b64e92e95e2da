// Built in issue 7 (the security view).
export function SecurityScreen() {
  return (
    <div className="page">
      <header className="page-header">
        <div>
          <h1>Security</h1>
        </div>
      </header>
    </div>
  );
}
