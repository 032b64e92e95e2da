/**
 * The policy studio's samples and input presets. Samples are the shipped policies in resources/policies/ (bundled
 * at build time); presets are input documents in the Model Vault input schema (app/policy/README.md).
 */
const RAW_POLICIES = import.meta.glob<string>('../../resources/policies/*.rego', { query: '?raw', import: 'default', eager: true });

export interface SamplePolicy {
  readonly name: string;
  readonly title: string;
  readonly source: string;
}

function titleOf(name: string, source: string): string {
  const described = /^#\s*(?:title:\s*)?(.+)$/m.exec(source)?.[1]?.trim();
  if (described !== undefined && described.length <= 60) return described;
  return name.replace(/[-_]/g, ' ').replace(/^\w/, (c) => c.toUpperCase());
}

export const SAMPLE_POLICIES: readonly SamplePolicy[] = Object.entries(RAW_POLICIES)
  .map(([path, source]) => {
    const name = path.split('/').pop()?.replace(/\.rego$/, '') ?? path;
    return { name, title: titleOf(name, source), source };
  })
  .sort((a, b) => a.name.localeCompare(b.name));

export interface InputPreset {
  readonly name: string;
  readonly title: string;
  readonly input: unknown;
}

const BASE = {
  action: 'load',
  time: '2026-11-21T14:30:00Z',
  subscriber: { id: 'sub-acme-research', roles: ['analyst'], attributes: { organisation: 'Acme Research', clearance: 'high' } },
  device: { id: 'dev-4f2a9c', ip: '10.20.30.40', platform: 'linux-x64', attested: false },
  licence: { id: 'lic-8c1e', status: 'active', expires_at: '2027-06-30T23:59:59Z' },
  runtime: { app_version: '0.1.0', os: 'linux', offline: false },
  model: { id: 'acme/demo-llama', tensors: ['model.embed_tokens.weight', 'lm_head.weight'] },
};

export const INPUT_PRESETS: readonly InputPreset[] = [
  { name: 'analyst', title: 'Analyst, office hours, office network', input: BASE },
  { name: 'auditor', title: 'Auditor role (not allowed to load)', input: { ...BASE, subscriber: { ...BASE.subscriber, roles: ['auditor'] } } },
  { name: 'export', title: 'Analyst asks to export', input: { ...BASE, action: 'export' } },
  { name: 'night', title: 'Outside business hours', input: { ...BASE, time: '2026-11-21T23:15:00Z' } },
  { name: 'foreign-ip', title: 'Device outside the allowed ranges', input: { ...BASE, device: { ...BASE.device, ip: '203.0.113.9' } } },
  { name: 'expired', title: 'Expired licence', input: { ...BASE, licence: { ...BASE.licence, expires_at: '2026-01-31T23:59:59Z' } } },
];
