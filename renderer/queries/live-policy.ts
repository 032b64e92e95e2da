/**
 * Live evaluation for the policy studio: every edit is sent, debounced, to a Web Worker running our Rego engine
 * (app/policy/), so typing never waits for an evaluation. Stale answers (for older text) are dropped.
 */
import { useEffect, useRef, useState } from 'react';
import PolicyWorker from '../workers/policy.worker.ts?worker';
import type { EvalRequest, EvalResponse } from '../workers/policy-protocol.ts';

const DEBOUNCE_MS = 120;
/** The engine stops itself well before this (its own time limit); this only guards against a wedged worker. */
const WATCHDOG_MS = 5000;

export interface LiveResult {
  readonly response: EvalResponse | undefined;
  readonly pending: boolean;
}

export function useLivePolicy(source: string, inputText: string, explain: EvalRequest['explain']): LiveResult {
  const worker = useRef<Worker | null>(null);
  const lastId = useRef(0);
  const restartRef = useRef<(id: number) => void>(() => undefined);
  const [response, setResponse] = useState<EvalResponse | undefined>(undefined);
  // What was last sent; the answer is pending while it differs from what the answer was for.
  const [sent, setSent] = useState(0);

  const watchdog = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  useEffect(() => {
    const start = (): Worker => {
      const w = new PolicyWorker();
      w.onmessage = (e: MessageEvent<EvalResponse>) => {
        if (e.data.id !== lastId.current) return;
        clearTimeout(watchdog.current);
        setResponse(e.data);
      };
      return w;
    };
    worker.current = start();
    const restart = (id: number): void => {
      worker.current?.terminate();
      worker.current = start();
      setResponse({ id, ok: false, durationMs: WATCHDOG_MS, problems: [{ message: `Evaluation did not finish within ${WATCHDOG_MS / 1000} s and was stopped.`, code: 'eval_limit_error', where: 'policy' }] });
    };
    restartRef.current = restart;
    return () => {
      clearTimeout(watchdog.current);
      worker.current?.terminate();
      worker.current = null;
    };
  }, []);

  useEffect(() => {
    const timer = setTimeout(() => {
      lastId.current += 1;
      const request: EvalRequest = { id: lastId.current, source, inputText, explain };
      worker.current?.postMessage(request);
      clearTimeout(watchdog.current);
      watchdog.current = setTimeout(() => restartRef.current(request.id), WATCHDOG_MS);
      setSent(request.id);
    }, DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [source, inputText, explain]);

  return { response, pending: response?.id !== sent };
}
