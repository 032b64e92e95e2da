import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { APP_VERSION } from '../../app/version.ts';

test('APP_VERSION matches package.json', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string; name: string; bin: Record<string, string> };
  assert.equal(APP_VERSION, pkg.version);
  assert.equal(pkg.name, 'model-vault');
  assert.equal(pkg.bin['model-vault'], 'bin/model-vault.mjs');
});

test('every dependency is pinned to an exact version', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as Record<string, Record<string, string> | undefined>;
  for (const field of ['dependencies', 'devDependencies']) {
    for (const [name, range] of Object.entries(pkg[field] ?? {})) assert.match(range, /^\d+\.\d+\.\d+$/, `${field}.${name} is not pinned: ${range}`);
  }
});
