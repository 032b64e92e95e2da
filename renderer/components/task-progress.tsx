import type { TaskState } from '../lib/task.ts';
import { formatBytes, formatDuration } from '../lib/task.ts';

/**
 * The progress of a long operation: a labelled progressbar, bytes or items done, rate and time left, and a Cancel
 * button. Renders nothing when the task is idle.
 */
export function TaskProgress({ task, label, unit = 'bytes' }: { readonly task: TaskState; readonly label: string; readonly unit?: 'bytes' | 'items' }) {
  if (!task.running) return null;
  const p = task.progress;
  const fraction = p !== undefined && p.total > 0 ? Math.min(1, p.done / p.total) : undefined;
  const amount = p === undefined ? 'Starting…' : unit === 'bytes' ? `${formatBytes(p.done)} of ${formatBytes(p.total)}` : `${p.done} of ${p.total}`;
  return (
    <div className="task-progress" data-testid="task-progress">
      <div className="task-progress-head">
        <strong>{label}</strong>
        <span className="muted">{p?.message ?? p?.phase ?? ''}</span>
      </div>
      <progress
        className="task-progress-bar"
        aria-label={label}
        max={1}
        {...(fraction === undefined ? {} : { value: fraction })}
      />
      <div className="task-progress-foot">
        <span aria-live="polite">
          {amount}
          {fraction === undefined ? '' : ` · ${Math.round(fraction * 100)} %`}
          {p?.rate === undefined ? '' : ` · ${formatBytes(p.rate)}/s`}
          {p?.etaSeconds === undefined ? '' : ` · ${formatDuration(p.etaSeconds)} left`}
        </span>
        <button type="button" className="button secondary" onClick={() => task.cancel()} disabled={task.cancelling}>
          {task.cancelling ? 'Cancelling…' : 'Cancel'}
        </button>
      </div>
    </div>
  );
}
