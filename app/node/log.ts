/**
 * The one logger. Log the operation, never the value (STYLE §5): fields are restricted to short scalar facts
 * (names, codes, counts, sizes, durations); callers must never pass key bytes, passphrases, plaintext or tokens.
 * Long strings are cut to keep an accidental secret from being written whole.
 */
type Level = 'debug' | 'info' | 'warn' | 'error';
type Fields = Readonly<Record<string, string | number | boolean | null | undefined>>;

const ORDER: Readonly<Record<Level, number>> = { debug: 10, info: 20, warn: 30, error: 40 };
const MAX_FIELD_CHARS = 200;

function threshold(): number {
  const wanted = process.env.MODEL_VAULT_LOG_LEVEL;
  if (wanted === 'debug' || wanted === 'info' || wanted === 'warn' || wanted === 'error') return ORDER[wanted];
  return ORDER.warn;
}

function write(level: Level, message: string, fields?: Fields): void {
  if (ORDER[level] < threshold()) return;
  const safe: Record<string, string | number | boolean | null> = {};
  if (fields !== undefined) {
    for (const [k, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      safe[k] = typeof value === 'string' && value.length > MAX_FIELD_CHARS ? `${value.slice(0, MAX_FIELD_CHARS)}…` : value;
    }
  }
  const line = JSON.stringify({ time: new Date().toISOString(), level, message, ...safe });
  process.stderr.write(`${line}\n`);
}

export const log = {
  debug: (message: string, fields?: Fields) => write('debug', message, fields),
  info: (message: string, fields?: Fields) => write('info', message, fields),
  warn: (message: string, fields?: Fields) => write('warn', message, fields),
  error: (message: string, fields?: Fields) => write('error', message, fields),
};
