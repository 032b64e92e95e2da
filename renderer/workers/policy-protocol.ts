/** Messages between the policy studio and its evaluation worker (plain data only). */

export interface EvalRequest {
  readonly id: number;
  readonly source: string;
  /** The input document as the user typed it (JSON text). */
  readonly inputText: string;
  readonly explain: 'off' | 'notes' | 'fails' | 'full';
}

export interface EvalProblem {
  readonly message: string;
  /** OPA's error code, e.g. rego_parse_error, eval_type_error, or our limit error. */
  readonly code: string;
  /** 1-based; absent when the problem has no position (e.g. bad input JSON). */
  readonly row?: number;
  readonly col?: number;
  /** Which editor the problem belongs to. */
  readonly where: 'policy' | 'input';
}

export interface TraceLine {
  readonly op: string;
  readonly depth: number;
  readonly row?: number;
  readonly col?: number;
  readonly text: string;
}

export type EvalResponse =
  | {
      readonly id: number;
      readonly ok: true;
      readonly allow: boolean;
      readonly denyReasons: readonly string[];
      /** The rest of the decision document (e.g. other rules of the package), for the bindings view. */
      readonly bindings: unknown;
      readonly trace: readonly TraceLine[];
      readonly durationMs: number;
    }
  | { readonly id: number; readonly ok: false; readonly problems: readonly EvalProblem[]; readonly durationMs: number };
