/** The builtin registry. Unsupported builtins are absent (a clear "undefined function" error) or refused. */
import { registerCore } from './core.ts';
import { registerStrings } from './strings.ts';
import { registerEncoding } from './encoding.ts';
import { registerRegex } from './regex.ts';
import { registerNet } from './net.ts';
import { registerMisc } from './misc.ts';
import { registerTime } from './time.ts';
import { registerJwt, registerX509Keys } from './jwt.ts';
import { registerGraphql } from './graphql.ts';
import { registerAws } from './aws.ts';
import { registerYaml } from './yaml.ts';
import { registerX509 } from './x509.ts';
import { registerJsonSchema } from './jsonschema.ts';
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
  registerX509Keys(reg);
  registerGraphql(reg);
  registerAws(reg);
  registerYaml(reg);
  registerX509(reg);
  registerJsonSchema(reg);
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
  reg.set('rego.metadata.rule', { arity: 0, special: 'metadata' });
  reg.set('rego.metadata.chain', { arity: 0, special: 'metadata' });
  reg.set('http.send', {
    arity: 1,
    fn: (a) => {
      const req = a[0];
      if (!(req instanceof RObject)) throw new BuiltinError('operand 1 must be object', 'eval_type_error');
      const bad = req.keys().filter((k) => typeof k !== 'string' || !HTTP_SEND_KEYS.has(k)).map((k) => JSON.stringify(k));
      if (bad.length > 0) throw new BuiltinError(`invalid request parameters(s): {${bad.join(', ')}}`, 'eval_type_error', true);
      const missing = ['method', 'url'].filter((k) => req.get(k) === undefined).map((k) => JSON.stringify(k));
      if (missing.length > 0) throw new BuiltinError(`missing required request parameters(s): {${missing.join(', ')}}`, 'eval_type_error', true);
      throw new BuiltinError('http.send is refused by design in Model Vault (no network or runtime access from policies)', 'eval_builtin_error', true);
    },
  });
  for (const [name, arity] of [['net.lookup_ip_addr', 1]] as const) {
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

const HTTP_SEND_KEYS = new Set(['method', 'url', 'body', 'enable_redirect', 'force_json_decode', 'force_yaml_decode', 'headers', 'raw_body', 'tls_use_system_certs', 'tls_ca_cert', 'tls_ca_cert_file', 'tls_ca_cert_env_variable', 'tls_client_cert', 'tls_client_cert_file', 'tls_client_cert_env_variable', 'tls_client_key', 'tls_client_key_file', 'tls_client_key_env_variable', 'tls_insecure_skip_verify', 'tls_server_name', 'timeout', 'cache', 'force_cache', 'force_cache_duration_seconds', 'raise_error', 'caching_mode', 'max_retry_attempts', 'cache_ignored_headers']);

export const BUILTINS: Registry = build();

/** OPA builtins this engine does not implement: calling one is a clear error naming it. */
const UNSUPPORTED_BUILTINS = ['crypto.x509.', 'crypto.parse_private_keys', 'rego.parse_module', 'net.cidr_overlap', 'cast_'];

export function isUnsupportedBuiltin(name: string): boolean {
  return !BUILTINS.has(name) && UNSUPPORTED_BUILTINS.some((p) => name === p || (p.endsWith('.') && name.startsWith(p)) || (p.endsWith('_') && name.startsWith(p)));
}
