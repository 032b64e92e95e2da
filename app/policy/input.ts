/**
 * The Model Vault policy input document (schema in app/policy/README.md), shared by the loader, the broker and the
 * editor. `validatePolicyInput` checks the shape and returns a list of problems (empty when valid).
 */

export interface PolicyInput {
  readonly subscriber: {
    readonly id: string;
    readonly roles: readonly string[];
    readonly attributes?: { readonly [k: string]: string | number | boolean | readonly string[] };
  };
  readonly device?: {
    readonly id: string;
    readonly ip?: string;
    readonly platform?: string;
    readonly attested?: boolean;
  };
  readonly licence?: {
    readonly id: string;
    readonly status: 'active' | 'suspended' | 'revoked';
    readonly not_before?: string;
    readonly expires_at?: string;
    readonly features?: readonly string[];
  };
  readonly runtime?: {
    readonly app_version?: string;
    readonly os?: string;
    readonly offline?: boolean;
  };
  readonly action: 'open' | 'load' | 'decrypt' | 'export' | 'rewrap' | 'inspect';
  /** RFC 3339 timestamp of the request; also the policy clock (time.now_ns) unless overridden. */
  readonly time: string;
  readonly model: {
    readonly id: string;
    readonly tensors?: readonly string[];
  };
}

export const POLICY_ACTIONS = ['open', 'load', 'decrypt', 'export', 'rewrap', 'inspect'] as const;
const LICENCE_STATUS = ['active', 'suspended', 'revoked'];
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const MAX_STRING = 4096;
const MAX_LIST = 100_000;

type Problems = string[];

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(p: Problems, v: unknown, path: string, required: boolean): void {
  if (v === undefined) {
    if (required) p.push(`${path} is required`);
    return;
  }
  if (typeof v !== 'string') p.push(`${path} must be a string`);
  else if (v.length > MAX_STRING) p.push(`${path} is longer than ${MAX_STRING} characters`);
}

function strList(p: Problems, v: unknown, path: string, required: boolean): void {
  if (v === undefined) {
    if (required) p.push(`${path} is required`);
    return;
  }
  if (!Array.isArray(v)) {
    p.push(`${path} must be an array of strings`);
    return;
  }
  if (v.length > MAX_LIST) p.push(`${path} has more than ${MAX_LIST} entries`);
  if (v.some((x) => typeof x !== 'string')) p.push(`${path} must contain only strings`);
}

function time(p: Problems, v: unknown, path: string, required: boolean): void {
  str(p, v, path, required);
  if (typeof v === 'string' && !RFC3339.test(v)) p.push(`${path} must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z`);
}

function onlyKeys(p: Problems, o: Record<string, unknown>, keys: readonly string[], path: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) p.push(`${path}.${k} is not part of the input schema`);
}

export function validatePolicyInput(input: unknown): string[] {
  const p: Problems = [];
  if (!isObj(input)) return ['input must be an object'];
  onlyKeys(p, input, ['subscriber', 'device', 'licence', 'runtime', 'action', 'time', 'model'], 'input');
  const sub = input.subscriber;
  if (!isObj(sub)) p.push('input.subscriber is required and must be an object');
  else {
    onlyKeys(p, sub, ['id', 'roles', 'attributes'], 'input.subscriber');
    str(p, sub.id, 'input.subscriber.id', true);
    strList(p, sub.roles, 'input.subscriber.roles', true);
    if (sub.attributes !== undefined) {
      if (!isObj(sub.attributes)) p.push('input.subscriber.attributes must be an object');
      else
        for (const [k, v] of Object.entries(sub.attributes)) {
          const ok = typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)) || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
          if (!ok) p.push(`input.subscriber.attributes.${k} must be a string, number, boolean or array of strings`);
        }
    }
  }
  if (input.device !== undefined) {
    const d = input.device;
    if (!isObj(d)) p.push('input.device must be an object');
    else {
      onlyKeys(p, d, ['id', 'ip', 'platform', 'attested'], 'input.device');
      str(p, d.id, 'input.device.id', true);
      str(p, d.ip, 'input.device.ip', false);
      str(p, d.platform, 'input.device.platform', false);
      if (d.attested !== undefined && typeof d.attested !== 'boolean') p.push('input.device.attested must be a boolean');
    }
  }
  if (input.licence !== undefined) {
    const l = input.licence;
    if (!isObj(l)) p.push('input.licence must be an object');
    else {
      onlyKeys(p, l, ['id', 'status', 'not_before', 'expires_at', 'features'], 'input.licence');
      str(p, l.id, 'input.licence.id', true);
      if (typeof l.status !== 'string' || !LICENCE_STATUS.includes(l.status)) p.push(`input.licence.status must be one of ${LICENCE_STATUS.join(', ')}`);
      time(p, l.not_before, 'input.licence.not_before', false);
      time(p, l.expires_at, 'input.licence.expires_at', false);
      strList(p, l.features, 'input.licence.features', false);
    }
  }
  if (input.runtime !== undefined) {
    const r = input.runtime;
    if (!isObj(r)) p.push('input.runtime must be an object');
    else {
      onlyKeys(p, r, ['app_version', 'os', 'offline'], 'input.runtime');
      str(p, r.app_version, 'input.runtime.app_version', false);
      str(p, r.os, 'input.runtime.os', false);
      if (r.offline !== undefined && typeof r.offline !== 'boolean') p.push('input.runtime.offline must be a boolean');
    }
  }
  if (typeof input.action !== 'string' || !(POLICY_ACTIONS as readonly string[]).includes(input.action)) p.push(`input.action must be one of ${POLICY_ACTIONS.join(', ')}`);
  time(p, input.time, 'input.time', true);
  const m = input.model;
  if (!isObj(m)) p.push('input.model is required and must be an object');
  else {
    onlyKeys(p, m, ['id', 'tensors'], 'input.model');
    str(p, m.id, 'input.model.id', true);
    strList(p, m.tensors, 'input.model.tensors', false);
  }
  return p;
}
