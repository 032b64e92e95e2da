/**
 * Long operations from the renderer's side (app/ipc/task.ts): `useTask()` chooses a fresh task id, follows that
 * task's progress events and can cancel it. Every screen with a long operation (package, publish, import, rotate,
 * mount) uses this one hook and the <TaskProgress> component (renderer/components/task-progress.tsx).
 *
 *   const task = useTask();
 *   const result = await task.run((taskId) => api.producer.package({ taskId, … }));
 *   <TaskProgress task={task} label="Packaging" />
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { ProgressEvent, Result } from '../../app/ipc/contract.ts';
import { api } from './api.ts';

export function newTaskId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export interface TaskState {
  /** The running task's id, or undefined when idle. */
  readonly taskId: string | undefined;
  readonly running: boolean;
  /** The latest progress event of the running (or last) task. */
  readonly progress: ProgressEvent | undefined;
  /** True once cancel() was called for the running task. */
  readonly cancelling: boolean;
  /** Runs `call` with a fresh task id; resolves with its result. One task at a time per hook. */
  run<T>(call: (taskId: string) => Promise<Result<T>>): Promise<Result<T>>;
  /** Asks the host to cancel the running task (its handler leaves nothing behind). */
  cancel(): void;
}

export function useTask(): TaskState {
  const [taskId, setTaskId] = useState<string | undefined>(undefined);
  const [progress, setProgress] = useState<ProgressEvent | undefined>(undefined);
  const [cancelling, setCancelling] = useState(false);
  const current = useRef<string | undefined>(undefined);

  useEffect(
    () =>
      api.onProgress((event) => {
        if (event.taskId === current.current) setProgress(event);
      }),
    [],
  );

  const run = useCallback(async <T,>(call: (id: string) => Promise<Result<T>>): Promise<Result<T>> => {
    const id = newTaskId();
    current.current = id;
    setTaskId(id);
    setProgress(undefined);
    setCancelling(false);
    try {
      return await call(id);
    } finally {
      if (current.current === id) {
        current.current = undefined;
        setTaskId(undefined);
        setCancelling(false);
      }
    }
  }, []);

  const cancel = useCallback(() => {
    const id = current.current;
    if (id === undefined) return;
    setCancelling(true);
    void api.task.cancel({ taskId: id });
  }, []);

  return { taskId, running: taskId !== undefined, progress, cancelling, run, cancel };
}

/** "1.2 GB", "340 MB", "12 KB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value.toFixed(0) : value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}

/** "3 s", "2 min 05 s", "1 h 04 min". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}
