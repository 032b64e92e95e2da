/**
 * yaml.* builtins. Parsing uses the pinned, pure-JS `yaml` package (no Node built-ins; it runs in a Web Worker) with
 * YAML 1.1 rules as Go's yaml.v2 does; output is sorted block YAML like sigs.k8s.io/yaml.
 */
import { parseAllDocuments, stringify } from 'yaml';
import { fromJS, toJS, type Value } from '../value.ts';
import { def, fail, str, type Registry } from './util.ts';

function parseYaml(text: string): Value {
  const docs = parseAllDocuments(text, { version: '1.1', intAsBigInt: true, uniqueKeys: true });
  if (!Array.isArray(docs)) throw fail('yaml: invalid document');
  const first = docs[0];
  if (first === undefined) return null;
  if (first.errors.length > 0) throw fail(`yaml: ${first.errors[0]?.message.split('\n')[0] ?? 'invalid document'}`);
  return fromJS(first.toJS({ maxAliasCount: 100 }) as unknown);
}

export function registerYaml(reg: Registry): void {
  def(reg, 'yaml.unmarshal', 1, (a) => parseYaml(str(a, 0)));
  def(reg, 'yaml.is_valid', 1, (a) => {
    const v = a[0];
    if (typeof v !== 'string') return false;
    try {
      parseYaml(v);
      return true;
    } catch {
      return false;
    }
  });
  def(reg, 'yaml.marshal', 1, (a) => stringify(toJS(a[0] as Value), { sortMapEntries: true, indentSeq: false, version: '1.1', lineWidth: 0 }));
}
