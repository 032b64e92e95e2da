/** providers.aws.sign_req: AWS Signature Version 4 request signing (no network access; it only computes headers). */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { BuiltinError } from '../errors.ts';
import { Num } from '../number.ts';
import { RObject, toJSON, type Value } from '../value.ts';
import { hexEncode } from './encoding.ts';
import { formatTime } from './time.ts';
import { def, obj, utf8, type Registry } from './util.ts';

function typeError(msg: string): BuiltinError {
  return new BuiltinError(msg, 'eval_type_error');
}

function requiredKeys(o: RObject, keys: string[], operand: number, what: string): void {
  const missing = keys.filter((k) => o.get(k) === undefined);
  if (missing.length > 0) throw typeError(`operand ${operand} missing required ${what} parameters(s): {${missing.map((k) => JSON.stringify(k)).join(', ')}}`);
  const bad = keys.filter((k) => typeof o.get(k) !== 'string');
  if (bad.length > 0) throw typeError(`operand ${operand} invalid values for required ${what} parameters(s): {${bad.map((k) => JSON.stringify(k)).join(', ')}}`);
}


export function registerAws(reg: Registry): void {
  def(reg, 'providers.aws.sign_req', 3, (a) => {
    const req = obj(a, 0);
    const cfg = obj(a, 1);
    requiredKeys(req, ['method', 'url'], 1, 'request');
    requiredKeys(cfg, ['aws_access_key', 'aws_region', 'aws_secret_access_key', 'aws_service'], 2, 'AWS config');
    const t = a[2] as Value;
    if (!(t instanceof Num)) throw typeError('operand 3 must be number');
    const ns = t.toBigInt();
    if (ns === undefined || ns < 0n) throw typeError('operand 3 could not convert time_ns value into a unix timestamp');
    const dps = cfg.get('disable_payload_signing');
    if (dps !== undefined && typeof dps !== 'boolean') throw typeError("operand 2 invalid value for 'disable_payload_signing' in AWS config");
    const method = req.get('method') as string;
    const url = req.get('url') as string;
    const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?/.exec(url);
    if (m === null) throw typeError('operand 1 invalid url');
    const host = m[2] ?? '';
    const path = m[3] ?? '';
    const query = m[4] ?? '';
    const access = cfg.get('aws_access_key') as string;
    const secret = cfg.get('aws_secret_access_key') as string;
    const region = cfg.get('aws_region') as string;
    const service = cfg.get('aws_service') as string;
    const token = cfg.get('aws_session_token');
    let payload = '';
    const raw = req.get('raw_body');
    const body = req.get('body');
    if (typeof raw === 'string') payload = raw;
    else if (body !== undefined) payload = toJSON(body);
    const payloadHash = dps === true ? 'UNSIGNED-PAYLOAD' : hexEncode(sha256(utf8(payload)));
    const amzDate = formatTime(ns, 'UTC', '20060102T150405Z');
    const day = amzDate.slice(0, 8);
    const headers = new Map<string, string>();
    const reqHeaders = req.get('headers');
    if (reqHeaders instanceof RObject) for (const [k, v] of reqHeaders.entries()) if (typeof k === 'string' && typeof v === 'string') headers.set(k, v);
    headers.set('host', host);
    headers.set('x-amz-content-sha256', payloadHash);
    headers.set('x-amz-date', amzDate);
    if (typeof token === 'string') headers.set('x-amz-security-token', token);
    // values the caller already set are what gets signed (the output carries the computed ones)
    const signing = new Map(headers);
    if (reqHeaders instanceof RObject) for (const [k, v] of reqHeaders.entries()) if (typeof k === 'string' && typeof v === 'string') signing.set(k, v);
    const canon = [...signing.entries()].map(([k, v]) => [k.toLowerCase(), v.trim().replace(/\s+/g, ' ')] as const).sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    const signed = canon.map(([k]) => k).join(';');
    const canonicalRequest = [method, path, query, canon.map(([k, v]) => `${k}:${v}\n`).join(''), signed, payloadHash].join('\n');
    const scope = `${day}/${region}/${service}/aws4_request`;
    const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, hexEncode(sha256(utf8(canonicalRequest)))].join('\n');
    let key = hmac(sha256, utf8(`AWS4${secret}`), utf8(day));
    key = hmac(sha256, key, utf8(region));
    key = hmac(sha256, key, utf8(service));
    key = hmac(sha256, key, utf8('aws4_request'));
    const signature = hexEncode(hmac(sha256, key, utf8(toSign)));
    const out = req.copy();
    const hdrs = new RObject();
    for (const [k, v] of headers) hdrs.set(k, v);
    hdrs.set('Authorization', `AWS4-HMAC-SHA256 Credential=${access}/${scope},SignedHeaders=${signed},Signature=${signature}`);
    out.set('headers', hdrs);
    return out;
  });
}
