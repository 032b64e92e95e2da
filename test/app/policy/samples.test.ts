// Every sample policy in resources/policies/ evaluated through the policy API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clearCompiledPolicies, evaluatePolicy, type PolicyInput } from '../../../app/policy/index.ts';
import { readdirSync } from 'node:fs';

const DIR = join(import.meta.dirname, '../../../resources/policies');
const load = (name: string): string => readFileSync(join(DIR, name), 'utf8');

const base: PolicyInput = {
  subscriber: { id: 'sub-1', roles: ['analyst'], attributes: { clearance: 'high' } },
  device: { id: 'dev-1', ip: '10.1.2.3', platform: 'linux', attested: true },
  licence: { id: 'lic-1', status: 'active', not_before: '2026-01-01T00:00:00Z', expires_at: '2027-01-01T00:00:00Z', features: ['inference'] },
  runtime: { app_version: '0.1.0', os: 'linux', offline: false },
  action: 'load',
  time: '2026-11-18T10:30:00Z', // a Wednesday
  model: { id: 'demo', tensors: ['embed.weight', 'lm_head.weight'] },
};

const vault = (file: string, input: PolicyInput) => evaluatePolicy(load(file), input, { mode: 'vault' });

test('rbac: analyst may load but not export', () => {
  assert.equal(vault('rbac.rego', base).allow, true);
  const d = vault('rbac.rego', { ...base, action: 'export' });
  assert.equal(d.allow, false);
  assert.equal(d.outcome, 'denied');
  assert.deepEqual(d.denyReasons, ['subscriber sub-1 with roles ["analyst"] may not export']);
  assert.equal(vault('rbac.rego', { ...base, action: 'export', subscriber: { id: 'a', roles: ['admin'] } }).allow, true);
});

test('business hours in Europe/Paris', () => {
  assert.equal(vault('business-hours.rego', base).allow, true);
  // 17:30 UTC is 18:30 in Paris (CET, UTC+1 in November)
  const late = vault('business-hours.rego', { ...base, time: '2026-11-18T17:30:00Z' });
  assert.equal(late.allow, false);
  assert.deepEqual(late.denyReasons, ['outside business hours (Wednesday 18:00 in Europe/Paris)']);
  // summer time: 16:30 UTC is 18:30 in Paris (CEST, UTC+2)
  assert.equal(vault('business-hours.rego', { ...base, time: '2026-07-15T16:30:00Z' }).allow, false);
  assert.equal(vault('business-hours.rego', { ...base, time: '2026-07-15T15:30:00Z' }).allow, true);
  assert.equal(vault('business-hours.rego', { ...base, time: '2026-11-21T10:00:00Z' }).allow, false); // Saturday
});

test('cidr ranges (IPv4 and IPv6)', () => {
  assert.equal(vault('cidr.rego', base).allow, true);
  assert.equal(vault('cidr.rego', { ...base, device: { id: 'd', ip: '2001:db8::1' } }).allow, true);
  const outside = vault('cidr.rego', { ...base, device: { id: 'd', ip: '8.8.8.8' } });
  assert.equal(outside.allow, false);
  assert.deepEqual(outside.denyReasons, ['device IP 8.8.8.8 is outside the corporate networks']);
  assert.deepEqual(vault('cidr.rego', { ...base, device: { id: 'd' } }).denyReasons, ['device has no IP address']);
});

test('licence expiry, status and not-before', () => {
  assert.equal(vault('licence-expiry.rego', base).allow, true);
  const expired = vault('licence-expiry.rego', { ...base, time: '2027-02-01T00:00:00Z' });
  assert.deepEqual(expired.denyReasons, ['licence lic-1 expired at 2027-01-01T00:00:00Z']);
  const early = vault('licence-expiry.rego', { ...base, time: '2025-12-31T23:59:59Z' });
  assert.deepEqual(early.denyReasons, ['licence lic-1 is not valid before 2026-01-01T00:00:00Z']);
  const revoked = vault('licence-expiry.rego', { ...base, licence: { id: 'lic-2', status: 'revoked', expires_at: '2030-01-01T00:00:00Z' } });
  assert.deepEqual(revoked.denyReasons, ['licence lic-2 is revoked']);
  const { licence: _omit, ...noLicence } = base;
  assert.deepEqual(vault('licence-expiry.rego', noLicence).denyReasons, ['no licence presented']);
});

test('deny reasons: every failed check is reported, sorted', () => {
  assert.equal(vault('deny-reasons.rego', base).allow, true);
  const d = vault('deny-reasons.rego', {
    ...base,
    subscriber: { id: 's', roles: ['viewer'] },
    device: { id: 'd', ip: '8.8.4.4' },
    action: 'export',
    time: '2027-03-01T23:15:00Z',
  });
  assert.equal(d.allow, false);
  assert.deepEqual(d.denyReasons, [
    'device IP "8.8.4.4" is not on an allowed network',
    'licence lic-1 has expired',
    'only admins may export',
    'requests are accepted between 06:00 and 22:00 UTC, not at 23:00',
    'subscriber has no role allowed to use this model',
    'tensors ["lm_head.weight"] need clearance high',
  ]);
});

test('reference-compatible sample uses the injectable clock', () => {
  const src = load('reference-expiry.rego');
  const at = (iso: string) => () => BigInt(Date.parse(iso)) * 1_000_000n;
  assert.equal(evaluatePolicy(src, undefined, { mode: 'reference', nowNs: at('2026-06-01T00:00:00Z') }).allow, true);
  const late = evaluatePolicy(src, undefined, { mode: 'reference', nowNs: at('2028-06-01T00:00:00Z') });
  assert.equal(late.outcome, 'denied');
  assert.equal(late.message, 'Policy evaluation denied');
});

test('a compiled policy is reused across evaluations without carrying state: same decisions as a fresh compilation', () => {
  const variants: PolicyInput[] = [
    base,
    { ...base, action: 'export' },
    { ...base, time: '2026-11-18T17:30:00Z' },
    { ...base, device: { id: 'd', ip: '8.8.8.8' } },
    { ...base, time: '2027-02-01T00:00:00Z' },
    { ...base, subscriber: { id: 'a', roles: ['admin'] }, action: 'export' },
    { ...base, time: '2028-06-01T00:00:00Z' },
    base,
  ];
  const strip = (d: ReturnType<typeof vault>) => ({ allow: d.allow, outcome: d.outcome, message: d.message, denyReasons: d.denyReasons, trace: d.trace?.length });
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.rego'))) {
    const mode = /^\s*package\s+modelvault\s*$/m.test(load(file)) ? 'vault' : 'reference';
    const run = (input: PolicyInput) => strip(evaluatePolicy(load(file), mode === 'vault' ? input : undefined, { mode, trace: true, nowNs: () => BigInt(Date.parse(input.time)) * 1_000_000n }));
    clearCompiledPolicies();
    const warm = variants.map(run); // compiled once, evaluated for every variant
    const fresh = variants.map((input) => {
      clearCompiledPolicies();
      return run(input);
    });
    assert.deepEqual(warm, fresh, file);
    assert.equal(new Set(warm.map((w) => w.allow)).size, 2, `${file}: the variants reach both decisions`);
  }
});
