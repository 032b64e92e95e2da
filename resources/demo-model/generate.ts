/**
 * The demo model generator: a tiny Llama-shaped model (random weights from a fixed seed, so every run is the same)
 * saved the way Hugging Face saves real ones — sharded `model-0000N-of-0000M.safetensors`, the
 * `model.safetensors.index.json` weight map, `config.json`, `generation_config.json`, a byte-level `tokenizer.json`,
 * `tokenizer_config.json`, `README.md` and `LICENSE`. Used by `model-vault demo`, the e2e tests and the benchmarks.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Dtype } from '../../app/format/dtype.ts';
import { type TensorWithData, serializeSafetensors } from '../../app/format/safetensors.ts';

export interface DemoModelOptions {
  /** Number of safetensors shards (1 writes a single `model.safetensors`). */
  readonly shards?: number;
  readonly hiddenSize?: number;
  readonly layers?: number;
  readonly vocabSize?: number;
  readonly seed?: number;
}

export interface DemoModelSummary {
  readonly dir: string;
  readonly files: readonly string[];
  readonly tensors: number;
  readonly bytes: number;
}

/** A small deterministic generator (xorshift32): test data only, never for anything secret. */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

function f32Tensor(next: () => number, count: number, scale: number): Uint8Array {
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = (next() * 2 - 1) * scale;
  return new Uint8Array(values.buffer);
}

/** Float32 → bfloat16 (round to nearest even), little-endian. */
function bf16Tensor(next: () => number, count: number, scale: number): Uint8Array {
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  const out = new Uint8Array(count * 2);
  for (let i = 0; i < count; i++) {
    f32[0] = (next() * 2 - 1) * scale;
    const bits = u32[0] as number;
    const rounded = (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
    out[i * 2] = rounded & 0xff;
    out[i * 2 + 1] = (rounded >>> 8) & 0xff;
  }
  return out;
}

function onesF32(count: number): Uint8Array {
  return new Uint8Array(new Float32Array(count).fill(1).buffer);
}

export async function generateDemoModel(dir: string, options: DemoModelOptions = {}): Promise<DemoModelSummary> {
  const shards = options.shards ?? 2;
  const hidden = options.hiddenSize ?? 64;
  const layers = options.layers ?? 2;
  const vocab = options.vocabSize ?? 256;
  const inter = hidden * 2;
  const next = xorshift(options.seed ?? 20261121);
  const tensors: { name: string; dtype: Dtype; shape: number[]; data: Uint8Array }[] = [];
  const add = (name: string, dtype: Dtype, shape: number[], data: Uint8Array): void => {
    tensors.push({ name, dtype, shape, data });
  };
  const count = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

  add('model.embed_tokens.weight', 'F32', [vocab, hidden], f32Tensor(next, vocab * hidden, 0.02));
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) add(`${p}.self_attn.${proj}.weight`, 'BF16', [hidden, hidden], bf16Tensor(next, hidden * hidden, 0.05));
    add(`${p}.mlp.gate_proj.weight`, 'BF16', [inter, hidden], bf16Tensor(next, count([inter, hidden]), 0.05));
    add(`${p}.mlp.up_proj.weight`, 'BF16', [inter, hidden], bf16Tensor(next, count([inter, hidden]), 0.05));
    add(`${p}.mlp.down_proj.weight`, 'BF16', [hidden, inter], bf16Tensor(next, count([hidden, inter]), 0.05));
    add(`${p}.input_layernorm.weight`, 'F32', [hidden], onesF32(hidden));
    add(`${p}.post_attention_layernorm.weight`, 'F32', [hidden], onesF32(hidden));
  }
  add('model.norm.weight', 'F32', [hidden], onesF32(hidden));
  add('lm_head.weight', 'F32', [vocab, hidden], f32Tensor(next, vocab * hidden, 0.02));

  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  const metadata = new Map([['format', 'pt']]);
  let bytes = 0;
  const weightMap: Record<string, string> = {};
  const groups: TensorWithData[][] = Array.from({ length: shards }, () => []);
  tensors.forEach((t, i) => groups[Math.floor((i * shards) / tensors.length)]?.push(t));
  for (let s = 0; s < shards; s++) {
    const name = shards === 1 ? 'model.safetensors' : `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const group = groups[s] ?? [];
    const file = serializeSafetensors(group, metadata);
    await writeFile(join(dir, name), file);
    bytes += file.length;
    files.push(name);
    for (const t of group) weightMap[t.name] = name;
  }
  const totalSize = tensors.reduce((a, t) => a + t.data.length, 0);
  const side: Record<string, string> = {
    'config.json': JSON.stringify(
      {
        architectures: ['LlamaForCausalLM'],
        model_type: 'llama',
        hidden_size: hidden,
        intermediate_size: inter,
        num_hidden_layers: layers,
        num_attention_heads: 4,
        num_key_value_heads: 4,
        vocab_size: vocab,
        max_position_embeddings: 512,
        rms_norm_eps: 1e-6,
        torch_dtype: 'bfloat16',
        tie_word_embeddings: false,
      },
      null,
      2,
    ),
    'generation_config.json': JSON.stringify({ bos_token_id: 1, eos_token_id: 2, max_new_tokens: 64, temperature: 0.7 }, null, 2),
    'tokenizer.json': JSON.stringify(
      {
        version: '1.0',
        model: { type: 'BPE', vocab: Object.fromEntries(Array.from({ length: vocab }, (_, i) => [`<0x${i.toString(16).padStart(2, '0').toUpperCase()}>`, i])), merges: [] },
        added_tokens: [
          { id: 1, content: '<s>', special: true },
          { id: 2, content: '</s>', special: true },
        ],
      },
      null,
      2,
    ),
    'tokenizer_config.json': JSON.stringify({ bos_token: '<s>', eos_token: '</s>', chat_template: "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}" }, null, 2),
    'README.md': '# Model Vault demo model\n\nA tiny Llama-shaped model with random weights, generated by Model Vault for demonstrations and tests.\n',
    LICENSE: 'Demo weights generated by Model Vault. No rights reserved; not for any real use.\n',
  };
  if (shards > 1) side['model.safetensors.index.json'] = JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2);
  for (const [name, text] of Object.entries(side)) {
    await writeFile(join(dir, name), `${text}\n`);
    bytes += Buffer.byteLength(text) + 1;
    files.push(name);
  }
  return { dir, files: files.sort(), tensors: tensors.length, bytes };
}
