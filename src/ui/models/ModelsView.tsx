/** The Models view: installed models, downloads and storage. */
export function ModelsView() {
  return (
    <section className="panel" aria-labelledby="models-title">
      <h2 id="models-title">Models</h2>
    </section>
  );
}
