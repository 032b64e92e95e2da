/**
 * The few Web-standard globals that every runtime of app/ has (Node 20, Chromium, Electron, Web Workers), declared
 * here because app/ compiles with `lib: ["ES2022"]` and no DOM or Node types (STYLE §1). Keep this list minimal.
 */
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean });
  decode(input?: Uint8Array, options?: { stream?: boolean }): string;
}
declare function queueMicrotask(callback: () => void): void;
declare function setTimeout(callback: () => void, ms?: number): unknown;
declare function clearTimeout(handle: unknown): void;
declare const performance: { now(): number };
