// Built in issue 7 (the producer view).
export function ProducerScreen() {
  return (
    <div className="page">
      <header className="page-header">
        <div>
          <h1>Producer</h1>
        </div>
      </header>
    </div>
  );
}
