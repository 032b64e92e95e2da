/**
 * json.verify_schema and json.match_schema: a JSON Schema (draft 4–7 core keywords) validator reporting errors in the
 * shape OPA returns ({error, type, field, desc}, gojsonschema's wording).
 */
import { Num } from '../number.ts';
import { RObject, RSet, equal, toJSON, type Value } from '../value.ts';
import { parseJSON } from './encoding.ts';
import { re2 } from './regex.ts';
import { def, fail, typeErr, type Registry } from './util.ts';

interface Err {
  readonly type: string;
  readonly field: string;
  readonly desc: string;
}

function schemaArg(v: Value, pos: number): Value {
  if (typeof v === 'string') {
    try {
      return parseJSON(v);
    } catch {
      throw fail(`operand ${pos} is not a valid JSON string`);
    }
  }
  if (v instanceof RObject || typeof v === 'boolean') return v;
  throw typeErr(pos, 'one of {string, object, boolean}', v);
}

function jsonType(v: Value): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'string') return 'string';
  if (v instanceof Num) return v.isInt() ? 'integer' : 'number';
  if (v instanceof RObject) return 'object';
  return 'array';
}

function typeMatches(v: Value, t: string): boolean {
  const jt = jsonType(v);
  if (t === 'number') return jt === 'number' || jt === 'integer';
  return jt === t;
}

function num(v: Value | undefined): Num | undefined {
  return v instanceof Num ? v : undefined;
}

function fieldName(path: readonly string[]): string {
  return path.length === 0 ? '(root)' : path.join('.');
}

class Validator {
  constructor(private readonly root: Value) {}

  private resolve(ref: string): Value {
    if (!ref.startsWith('#')) throw fail(`unsupported $ref ${ref}`);
    let cur: Value | undefined = this.root;
    for (const seg of ref.slice(1).split('/').filter((s) => s !== '')) {
      const key = decodeURIComponent(seg).replace(/~1/g, '/').replace(/~0/g, '~');
      cur = cur instanceof RObject ? cur.get(key) : undefined;
      if (cur === undefined) throw fail(`$ref ${ref} does not resolve`);
    }
    return cur;
  }

  validate(schema: Value, v: Value, path: string[], errs: Err[], depth = 0): void {
    if (depth > 100) throw fail('schema nesting too deep');
    if (schema === true) return;
    if (schema === false) {
      errs.push({ type: 'false', field: fieldName(path), desc: 'False always fails validation' });
      return;
    }
    if (!(schema instanceof RObject)) return;
    const ref = schema.get('$ref');
    if (typeof ref === 'string') {
      this.validate(this.resolve(ref), v, path, errs, depth + 1);
      return;
    }
    const field = fieldName(path);
    const push = (type: string, desc: string): void => {
      errs.push({ type, field, desc });
    };
    const t = schema.get('type');
    if (t !== undefined) {
      const types = typeof t === 'string' ? [t] : Array.isArray(t) ? (t as readonly Value[]).filter((x): x is string => typeof x === 'string') : [];
      if (types.length > 0 && !types.some((x) => typeMatches(v, x))) {
        push('invalid_type', `Invalid type. Expected: ${types.join('/')}, given: ${jsonType(v)}`);
        return;
      }
    }
    const en = schema.get('enum');
    if (Array.isArray(en) && !(en as readonly Value[]).some((x) => equal(x, v))) push('enum', `${field} must be one of the following: ${(en as readonly Value[]).map(toJSON).join(', ')}`);
    const cst = schema.get('const');
    if (cst !== undefined && !equal(cst, v)) push('const', `${field} does not match: ${toJSON(cst)}`);
    if (v instanceof Num) {
      const min = num(schema.get('minimum'));
      const max = num(schema.get('maximum'));
      const exMin = schema.get('exclusiveMinimum');
      const exMax = schema.get('exclusiveMaximum');
      if (min !== undefined) {
        if (exMin === true ? v.cmp(min) <= 0 : v.cmp(min) < 0) push(exMin === true ? 'number_gt' : 'number_gte', `Must be greater than ${exMin === true ? '' : 'or equal to '}${min.toString()}`);
      }
      if (exMin instanceof Num && v.cmp(exMin) <= 0) push('number_gt', `Must be greater than ${exMin.toString()}`);
      if (max !== undefined) {
        if (exMax === true ? v.cmp(max) >= 0 : v.cmp(max) > 0) push(exMax === true ? 'number_lt' : 'number_lte', `Must be less than ${exMax === true ? '' : 'or equal to '}${max.toString()}`);
      }
      if (exMax instanceof Num && v.cmp(exMax) >= 0) push('number_lt', `Must be less than ${exMax.toString()}`);
      const mul = num(schema.get('multipleOf'));
      if (mul !== undefined && mul.sign() !== 0 && v.div(mul).isInt() === false) push('multiple_of', `Must be a multiple of ${mul.toString()}`);
    }
    if (typeof v === 'string') {
      const len = [...v].length;
      const minL = num(schema.get('minLength'))?.toSafeInt();
      const maxL = num(schema.get('maxLength'))?.toSafeInt();
      if (minL !== undefined && len < minL) push('string_gte', `String length must be greater than or equal to ${minL}`);
      if (maxL !== undefined && len > maxL) push('string_lte', `String length must be less than or equal to ${maxL}`);
      const pat = schema.get('pattern');
      if (typeof pat === 'string' && !re2(pat).test(v)) push('pattern', `Does not match pattern '${pat}'`);
    }
    if (Array.isArray(v)) {
      const arr = v as readonly Value[];
      const minI = num(schema.get('minItems'))?.toSafeInt();
      const maxI = num(schema.get('maxItems'))?.toSafeInt();
      if (minI !== undefined && arr.length < minI) push('array_min_items', `Array must have at least ${minI} items`);
      if (maxI !== undefined && arr.length > maxI) push('array_max_items', `Array must have at most ${maxI} items`);
      if (schema.get('uniqueItems') === true) {
        outer: for (let i = 0; i < arr.length; i++)
          for (let j = i + 1; j < arr.length; j++)
            if (equal(arr[i] as Value, arr[j] as Value)) {
              push('unique', `array items[${i},${j}] must be unique`);
              break outer;
            }
      }
      const items = schema.get('items');
      if (Array.isArray(items)) arr.forEach((x, i) => {
        const s = (items as readonly Value[])[i];
        if (s !== undefined) this.validate(s, x, [...path, String(i)], errs, depth + 1);
      });
      else if (items !== undefined) arr.forEach((x, i) => this.validate(items, x, [...path, String(i)], errs, depth + 1));
    }
    if (v instanceof RObject) {
      const req = schema.get('required');
      if (Array.isArray(req)) for (const r of req as readonly Value[]) if (typeof r === 'string' && !v.has(r)) push('required', `${r} is required`);
      const props = schema.get('properties');
      const pprops = schema.get('patternProperties');
      const addl = schema.get('additionalProperties');
      for (const [k, x] of v.sorted()) {
        if (typeof k !== 'string') continue;
        let matched = false;
        const ps = props instanceof RObject ? props.get(k) : undefined;
        if (ps !== undefined) {
          matched = true;
          this.validate(ps, x, [...path, k], errs, depth + 1);
        }
        if (pprops instanceof RObject)
          for (const [pk, psch] of pprops.entries())
            if (typeof pk === 'string' && re2(pk).test(k)) {
              matched = true;
              this.validate(psch, x, [...path, k], errs, depth + 1);
            }
        if (!matched && addl !== undefined) {
          if (addl === false) push('additional_property_not_allowed', `Additional property ${k} is not allowed`);
          else this.validate(addl, x, [...path, k], errs, depth + 1);
        }
      }
      const minP = num(schema.get('minProperties'))?.toSafeInt();
      const maxP = num(schema.get('maxProperties'))?.toSafeInt();
      if (minP !== undefined && v.size < minP) push('array_min_properties', `Must have at least ${minP} properties`);
      if (maxP !== undefined && v.size > maxP) push('array_max_properties', `Must have at most ${maxP} properties`);
    }
    const ok = (s: Value): boolean => {
      const e: Err[] = [];
      this.validate(s, v, path, e, depth + 1);
      return e.length === 0;
    };
    const allOf = schema.get('allOf');
    if (Array.isArray(allOf) && !(allOf as readonly Value[]).every(ok)) push('number_all_of', 'Must validate all the schemas (allOf)');
    const anyOf = schema.get('anyOf');
    if (Array.isArray(anyOf) && !(anyOf as readonly Value[]).some(ok)) push('number_any_of', 'Must validate at least one schema (anyOf)');
    const oneOf = schema.get('oneOf');
    if (Array.isArray(oneOf) && (oneOf as readonly Value[]).filter(ok).length !== 1) push('number_one_of', 'Must validate one and only one schema (oneOf)');
    const not = schema.get('not');
    if (not !== undefined && ok(not)) push('number_not', 'Must not validate the schema (not)');
  }
}

function checkSchema(s: Value): void {
  if (typeof s === 'boolean') return;
  if (!(s instanceof RObject)) throw fail('schema must be an object or a boolean');
  const t = s.get('type');
  const known = new Set(['null', 'boolean', 'object', 'array', 'number', 'string', 'integer']);
  const types = typeof t === 'string' ? [t] : Array.isArray(t) ? (t as readonly Value[]) : t === undefined ? [] : [t];
  for (const x of types) if (typeof x !== 'string' || !known.has(x)) throw fail(`has a primitive type that is NOT VALID -- given: /${typeof x === 'string' ? x : toJSON(x)}/ Expected valid values are:/array/ /boolean/ /integer/ /number/ /null/ /object/ /string/`);
  for (const key of ['properties', 'patternProperties', 'definitions', '$defs']) {
    const m = s.get(key);
    if (m instanceof RObject) for (const [, sub] of m.entries()) checkSchema(sub);
  }
  for (const key of ['items', 'additionalProperties', 'not']) {
    const sub = s.get(key);
    if (sub instanceof RObject) checkSchema(sub);
    else if (Array.isArray(sub)) (sub as readonly Value[]).forEach(checkSchema);
  }
  for (const key of ['allOf', 'anyOf', 'oneOf']) {
    const arr = s.get(key);
    if (Array.isArray(arr)) (arr as readonly Value[]).forEach(checkSchema);
  }
}

export function registerJsonSchema(reg: Registry): void {
  def(reg, 'json.verify_schema', 1, (a) => {
    try {
      checkSchema(schemaArg(a[0] as Value, 1));
      return [true, null];
    } catch (e) {
      if (e instanceof Error && 'code' in e && (e as { code: string }).code === 'eval_type_error') throw e;
      return [false, e instanceof Error ? e.message : 'invalid schema'];
    }
  });
  def(reg, 'json.match_schema', 2, (a) => {
    let doc = a[0] as Value;
    if (typeof doc === 'string') {
      try {
        doc = parseJSON(doc);
      } catch {
        throw fail('operand 1 is not a valid JSON string');
      }
    }
    const schema = schemaArg(a[1] as Value, 2);
    checkSchema(schema);
    const errs: Err[] = [];
    new Validator(schema).validate(schema, doc, [], errs);
    const out = errs.map((e) => {
      const o = new RObject();
      o.set('error', `${e.field}: ${e.desc}`);
      o.set('type', e.type);
      o.set('field', e.field);
      o.set('desc', e.desc);
      return o;
    });
    void RSet;
    return [out.length === 0, out];
  });
}
