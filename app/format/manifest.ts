/**
 * The signed folder manifest (our addition, `__ct_manifest__` in every shard's signed header): the list of shard
 * files and the SHA-256 of every other file of a model folder (config, tokenizer, index, chat template, README,
 * LICENSE …). Verification refuses a folder where any listed file changed, is missing, or an unlisted file appeared.
 */
import { AppError } from '../errors.ts';
import { cjString, compareCodePoints } from './canonical-json.ts';
import { JsonSyntaxError, parseJson } from './json.ts';

export interface FolderManifest {
  readonly version: 1;
  /** Shard paths relative to the folder, `/`-separated. */
  readonly shards: readonly string[];
  /** Other files: relative path → lowercase hex SHA-256. */
  readonly files: Readonly<Record<string, string>>;
}

export const MAX_MANIFEST_FILES = 100_000;

function checkPath(p: string): void {
  if (typeof p !== 'string' || p === '' || p.startsWith('/') || p.split('/').some((s) => s === '' || s === '.' || s === '..') || p.includes('\\') || p.includes('\0')) {
    throw new AppError('MANIFEST_MISMATCH', 'The manifest lists an unsafe path.');
  }
}

export function manifestText(m: FolderManifest): string {
  const shards = [...m.shards].sort(compareCodePoints);
  const names = Object.keys(m.files).sort(compareCodePoints);
  for (const p of [...shards, ...names]) checkPath(p);
  return `{"files":{${names.map((n) => `${cjString(n)}:${cjString(m.files[n] as string)}`).join(',')}},"shards":[${shards.map(cjString).join(',')}],"version":1}`;
}

export function parseManifest(text: string): FolderManifest {
  let v;
  try {
    v = parseJson(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError) throw new AppError('MANIFEST_MISMATCH', 'The folder manifest is not valid JSON.');
    throw e;
  }
  if (v.t !== 'obj') throw new AppError('MANIFEST_MISMATCH', 'The folder manifest is not an object.');
  const get = (k: string): ReturnType<typeof parseJson> | undefined => v.members.find(([n]) => n === k)?.[1];
  const version = get('version');
  const shards = get('shards');
  const files = get('files');
  if (version?.t !== 'num' || version.raw !== '1' || shards?.t !== 'arr' || files?.t !== 'obj') throw new AppError('MANIFEST_MISMATCH', 'The folder manifest has an unknown layout.');
  if (shards.items.length + files.members.length > MAX_MANIFEST_FILES) throw new AppError('MANIFEST_MISMATCH', 'The folder manifest lists too many files.');
  const shardList = shards.items.map((s) => {
    if (s.t !== 'str') throw new AppError('MANIFEST_MISMATCH', 'The folder manifest has a non-string shard.');
    checkPath(s.v);
    return s.v;
  });
  const fileMap: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, h] of files.members) {
    checkPath(name);
    if (h.t !== 'str' || !/^[0-9a-f]{64}$/.test(h.v)) throw new AppError('MANIFEST_MISMATCH', 'The folder manifest has a malformed digest.');
    fileMap[name] = h.v;
  }
  return Object.freeze({ version: 1, shards: Object.freeze(shardList), files: Object.freeze(fileMap) });
}
