import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { replaceCliReference } from '../../app/node/cli/docs.ts';
import { ALL_COMMANDS } from '../../app/node/cli/commands.ts';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

test('the README documents every CLI verb (regenerate with `node --import tsx scripts/cli-docs.ts --write`)', () => {
  assert.equal(replaceCliReference(README), README, 'README CLI reference is out of date');
  for (const c of ALL_COMMANDS) assert.ok(README.includes(`model-vault ${c.usage.replace(/\|/g, '\\|')}`), c.words.join(' '));
});

test('the README tells a newcomer how to install, test and run', () => {
  for (const needle of ['npm install', 'npm test', 'npm start', 'npx model-vault ui', 'npx model-vault demo']) assert.ok(README.includes(needle), needle);
});
