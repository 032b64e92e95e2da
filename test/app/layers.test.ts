/**
 * Proves that the layer rules of STYLE §1 are enforced by `npm run check`: a file in app/ that imports a Node
 * built-in fails both the typecheck (app/ has no Node types) and the lint; an electron import fails the lint (electron
 * ships its own types, so only the lint can stop it); so do the other forbidden directions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STAMP = `${process.pid}`;

// Probes left behind by a run that was killed mid-test would break every later typecheck: remove them first.
for (const dir of ['app', 'app/node', 'renderer']) {
  for (const name of readdirSync(join(ROOT, dir))) if (/^layer-probe-.*\.ts$/.test(name)) rmSync(join(ROOT, dir, name), { force: true });
}

function withProbes<T>(probes: Record<string, string>, body: (paths: string[]) => T): T {
  const paths = Object.keys(probes).map((rel) => join(ROOT, rel));
  try {
    for (const [rel, text] of Object.entries(probes)) writeFileSync(join(ROOT, rel), text);
    return body(paths);
  } finally {
    for (const p of paths) rmSync(p, { force: true });
  }
}

function eslint(files: string[]): { status: number | null; messages: { ruleId: string | null; filePath: string }[] } {
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/eslint/bin/eslint.js'), '--format', 'json', '--no-warn-ignored', ...files], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const report = JSON.parse(r.stdout) as { filePath: string; messages: { ruleId: string | null }[] }[];
  return { status: r.status, messages: report.flatMap((f) => f.messages.map((m) => ({ ruleId: m.ruleId, filePath: f.filePath }))) };
}

test('files importing across forbidden layers (node:fs or electron in app/, electron in app/node/, app/node/ in renderer/) fail the lint', { timeout: 180_000 }, () => {
  const probes = {
    [`app/layer-probe-fs-${STAMP}.ts`]: "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n",
    [`app/layer-probe-electron-${STAMP}.ts`]: "import { app } from 'electron';\nexport const y = app;\n",
    [`app/node/layer-probe-electron-${STAMP}.ts`]: "import { app } from 'electron';\nexport const z = app;\n",
    [`renderer/layer-probe-node-${STAMP}.ts`]: `import { loadConfig } from '../app/node/config.ts';\nexport const w = loadConfig;\n`,
  };
  withProbes(probes, (paths) => {
    const lint = eslint(paths);
    assert.notEqual(lint.status, 0, 'eslint must fail');
    for (const p of paths) {
      const rules = lint.messages.filter((m) => m.filePath === p).map((m) => m.ruleId);
      assert.ok(rules.includes('no-restricted-imports') || rules.includes('import/no-restricted-paths'), `${p}: expected a layer violation, got ${rules.join(', ')}`);
    }
  });
});

// Alone, because an electron import drags Node's types in (electron.d.ts references them): that is why the lint
// rule, not the typecheck, is what stops electron in app/.
test('a file in app/ importing node:fs fails the typecheck of app/', { timeout: 180_000 }, () => {
  withProbes({ [`app/layer-probe-tsc-${STAMP}.ts`]: "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n" }, () => {
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.app.json'], { cwd: ROOT, encoding: 'utf8' });
    assert.notEqual(tsc.status, 0, 'typecheck of app/ must fail');
    assert.match(tsc.stdout, new RegExp(`app/layer-probe-tsc-${STAMP}\\.ts\\(1,\\d+\\): error TS2307: Cannot find module 'node:fs'`));
  });
});

test('the same files without the forbidden imports pass the lint', { timeout: 120_000 }, () => {
  withProbes({ [`app/layer-probe-clean-${STAMP}.ts`]: "import { ctEqual } from './crypto/bytes.ts';\nexport const ok = ctEqual;\n" }, (paths) => {
    const lint = eslint(paths);
    assert.deepEqual(lint.messages, []);
    assert.equal(lint.status, 0);
  });
});
