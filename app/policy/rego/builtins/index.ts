/** The builtin registry. Unsupported builtins are absent (a clear "undefined function" error) or refused. */
import { registerCore } from './core.ts';
import { registerStrings } from './strings.ts';
import type { Builtin, Registry } from './util.ts';
import { fail } from './util.ts';
import { BuiltinError } from '../errors.ts';

export type { Builtin, BuiltinCtx } from './util.ts';

function build(): Registry {
  const reg: Registry = new Map<string, Builtin>();
  registerCore(reg);
  registerStrings(reg);
  reg.set('print', { arity: -1, special: 'print' });
  for (const [name, arity] of [
    ['http.send', 1],
    ['net.lookup_ip_addr', 1],
    ['opa.runtime', 0],
  ] as const) {
    reg.set(name, {
      arity,
      fn: () => {
        throw new BuiltinError(`${name} is refused by design in Model Vault (no network or runtime access from policies)`, 'eval_builtin_error', true);
      },
    });
  }
  void fail;
  return reg;
}

export const BUILTINS: Registry = build();
