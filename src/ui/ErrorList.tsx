import { useStudio } from './store';

/** Every error the app hit, with what to do about it; never a blank page. */
export function ErrorList() {
  const errors = useStudio((s) => s.errors);
  const dismiss = useStudio((s) => s.dismissError);
  if (errors.length === 0) return null;
  return (
    <div className="errors">
      {errors.map((e, i) => (
        <div key={i} className="error" role="alert" data-testid="error">
          <strong>{e.title}</strong>
          <p className="error-message">{e.message}</p>
          <p className="error-hint">{e.hint}</p>
          <button type="button" onClick={() => dismiss(i)} aria-label={`Dismiss: ${e.title}`}>Dismiss</button>
        </div>
      ))}
    </div>
  );
}
