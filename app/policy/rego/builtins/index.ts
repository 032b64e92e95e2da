/** The builtin registry. Unsupported builtins are absent (a clear "undefined function" error) or refused. */
import { registerCore } from './core.ts';
import { registerStrings } from './strings.ts';
import { registerEncoding } from './encoding.ts';
import { registerRegex } from './regex.ts';
import { registerNet } from './net.ts';
import { registerMisc } from './misc.ts';
import { registerTime } from './time.ts';
import { registerJwt } from './jwt.ts';
import { registerGraphql } from './graphql.ts';
import { registerAws } from './aws.ts';
import { RObject } from '../value.ts';
import type { Builtin, Registry } from './util.ts';
import { fail } from './util.ts';
import { BuiltinError } from '../errors.ts';

export type { Builtin, BuiltinCtx } from './util.ts';

function build(): Registry {
  const reg: Registry = new Map<string, Builtin>();
  registerCore(reg);
  registerStrings(reg);
  registerEncoding(reg);
  registerRegex(reg);
  registerNet(reg);
  registerMisc(reg);
  registerTime(reg);
  registerJwt(reg);
  registerGraphql(reg);
  registerAws(reg);
  reg.set('opa.runtime', { arity: 0, fn: () => new RObject() });
  reg.set('trace', {
    arity: 1,
    fn: (a, ctx) => {
      const v = a[0];
      if (typeof v !== 'string') throw new BuiltinError('operand 1 must be string', 'eval_type_error');
      ctx.note(v);
      return true;
    },
  });
  reg.set('print', { arity: -1, special: 'print' });
  for (const [name, arity] of [
    ['http.send', 1],
    ['net.lookup_ip_addr', 1],
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
