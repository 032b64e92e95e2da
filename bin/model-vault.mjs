#!/usr/bin/env node
// The `model-vault` command. Runs the TypeScript sources through tsx (Node 20 has no type stripping).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../app/node/cli/entry.ts');
process.exitCode = await main(process.argv.slice(2));
