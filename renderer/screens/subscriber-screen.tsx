// Built in issue 7 (the subscriber view).
export function SubscriberScreen() {
  return (
    <div className="page">
      <header className="page-header">
        <div>
          <h1>Subscriber</h1>
        </div>
      </header>
    </div>
  );
}
