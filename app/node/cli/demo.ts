/**
 * `model-vault demo`: the whole story on embedded defaults, one printed step at a time. Each issue extends it; today
 * it checks the installation and generates the demo model. Nothing secret is printed.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateDemoModel } from '../../../resources/demo-model/generate.ts';
import { loadConfig } from '../config.ts';
import { probeKeychain } from '../keychain-status.ts';
import { getStatus } from '../services/status.ts';
import { stringFlag } from './args.ts';
import { type CliCommand, type CliIo, EXIT } from './types.ts';

interface StepRecord {
  readonly step: string;
  readonly ok: boolean;
  readonly detail: Record<string, unknown>;
}

class StepPrinter {
  readonly records: StepRecord[] = [];
  private index = 0;
  constructor(
    private readonly io: CliIo,
    private readonly total: number,
  ) {}

  record(step: string, lines: readonly string[], detail: Record<string, unknown>): void {
    this.index += 1;
    this.records.push({ step, ok: true, detail });
    const say = (text: string): void => (this.io.json ? this.io.err(text) : this.io.out(text));
    say(`\n[${this.index}/${this.total}] ${step}`);
    for (const l of lines) say(`      ${l}`);
  }
}

const demoCommand: CliCommand = {
  words: ['demo'],
  usage: 'demo [--dir DIR] [--json]',
  summary: 'Run the Model Vault story end to end on embedded defaults, printing each step.',
  help: [
    'Steps today: check this installation (keychain, data directory, broker mode), then generate a small sharded',
    'demo model (config, tokenizer, index) to work on. Later releases continue with packaging, publishing to the',
    'embedded broker, subscribing, verifying, mounting and an offline key rotation.',
    '',
    '  --dir DIR   where to write the demo files (default: a new folder under the system temp directory)',
    '  --json      print a JSON summary of every step on stdout (the narration goes to stderr)',
  ].join('\n'),
  async run(args, io) {
    const dirFlag = stringFlag(args, 'dir');
    const workDir = dirFlag === undefined ? await mkdtemp(join(tmpdir(), 'model-vault-demo-')) : resolve(io.cwd, dirFlag);
    const steps = new StepPrinter(io, 2);

    const config = loadConfig(io.env);
    const status = await getStatus({ config, host: 'web', probeKeychain });
    steps.record(
      'Check this installation',
      [
        `${status.name} ${status.version} on ${status.platform}, ${status.runtime}`,
        `keychain: ${status.keychain.available ? 'available' : `unavailable (${status.keychain.reason ?? 'no reason given'})`}`,
        `broker:   ${status.broker.mode} at ${status.broker.location}`,
      ],
      { keychainAvailable: status.keychain.available, broker: status.broker },
    );

    const modelDir = join(workDir, 'demo-model');
    const model = await generateDemoModel(modelDir, { shards: 2 });
    steps.record(
      'Generate a small sharded model (the producer\'s plaintext input)',
      [`${model.tensors} tensors, ${model.files.length} files, ${model.bytes} bytes in ${modelDir}`, `files: ${model.files.join(', ')}`],
      { dir: modelDir, files: model.files, tensors: model.tensors, bytes: model.bytes },
    );

    if (io.json) io.out(JSON.stringify({ ok: true, workDir, steps: steps.records }));
    else io.out(`\nDemo finished. Files are in ${workDir}.`);
    return EXIT.OK;
  },
};

export const commands: readonly CliCommand[] = [demoCommand];
