/**
 * io.jwt.* builtins: HS/RS/PS/ES/EdDSA verification and signing, keys from PEM (certificates, SPKI, PKCS#1) and
 * JWK/JWKS. RSA uses bigint arithmetic; ECDSA and Ed25519 use @noble/curves; hashes use @noble/hashes.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { randomBytes } from '../../../crypto/random.ts';
import { Num } from '../number.ts';
import { RObject, toJSON, type Value } from '../value.ts';
import { b64decode, b64encode, b64urlDecodeLoose, b64urlEncodeNoPad, hexEncode, parseJSON } from './encoding.ts';
import { def, fail, fromUtf8, obj, str, typeErr, utf8, type BuiltinCtx, type Registry } from './util.ts';

type Hash = Parameters<typeof hmac>[0];

// ------------------------------------------------------------------ DER

export interface Der {
  readonly tag: number;
  readonly body: Uint8Array;
  readonly raw: Uint8Array;
}

export function derRead(b: Uint8Array, off: number): { node: Der; next: number } {
  const tag = b[off];
  if (tag === undefined) throw new Error('der: eof');
  let len = b[off + 1];
  if (len === undefined) throw new Error('der: eof');
  let p = off + 2;
  if (len & 0x80) {
    const nb = len & 0x7f;
    if (nb === 0 || nb > 4) throw new Error('der: bad length');
    len = 0;
    for (let i = 0; i < nb; i++) len = len * 256 + (b[p + i] ?? 0);
    p += nb;
  }
  if (p + len > b.length) throw new Error('der: truncated');
  return { node: { tag, body: b.subarray(p, p + len), raw: b.subarray(off, p + len) }, next: p + len };
}

export function derChildren(d: Der): Der[] {
  const out: Der[] = [];
  let p = 0;
  while (p < d.body.length) {
    const r = derRead(d.body, p);
    out.push(r.node);
    p = r.next;
  }
  return out;
}

export function derInt(d: Der): bigint {
  let x = 0n;
  for (const v of d.body) x = (x << 8n) | BigInt(v);
  return x;
}

export function oid(d: Der): string {
  const b = d.body;
  const parts: number[] = [Math.floor((b[0] ?? 0) / 40), (b[0] ?? 0) % 40];
  let v = 0;
  for (let i = 1; i < b.length; i++) {
    const x = b[i] ?? 0;
    v = v * 128 + (x & 0x7f);
    if ((x & 0x80) === 0) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

// ------------------------------------------------------------------ keys

export type Key =
  | { kind: 'rsa'; n: bigint; e: bigint; d?: bigint; alg?: string }
  | { kind: 'ec'; curve: 'P-256' | 'P-384' | 'P-521'; pub: Uint8Array; d?: Uint8Array; alg?: string }
  | { kind: 'ed'; pub: Uint8Array; d?: Uint8Array; alg?: string }
  | { kind: 'oct'; k: Uint8Array; alg?: string };

const CURVE_OIDS: Record<string, 'P-256' | 'P-384' | 'P-521'> = { '1.2.840.10045.3.1.7': 'P-256', '1.3.132.0.34': 'P-384', '1.3.132.0.35': 'P-521' };

export function spkiKey(spki: Der): Key {
  return keyFromSPKI(spki);
}

function keyFromSPKI(spki: Der): Key {
  const [alg, bits] = derChildren(spki);
  if (alg === undefined || bits === undefined) throw new Error('bad spki');
  const [algOid, param] = derChildren(alg);
  if (algOid === undefined) throw new Error('bad spki');
  const id = oid(algOid);
  const keyBytes = bits.body.subarray(1);
  if (id === '1.2.840.113549.1.1.1' || id === '1.2.840.113549.1.1.10') return rsaFromPKCS1(derRead(keyBytes, 0).node);
  if (id === '1.2.840.10045.2.1') {
    const curve = param === undefined ? undefined : CURVE_OIDS[oid(param)];
    if (curve === undefined) throw new Error('unsupported curve');
    return { kind: 'ec', curve, pub: keyBytes };
  }
  if (id === '1.3.101.112') return { kind: 'ed', pub: keyBytes };
  throw new Error(`unsupported key algorithm ${id}`);
}

function rsaFromPKCS1(seq: Der): Key {
  const [n, e] = derChildren(seq);
  if (n === undefined || e === undefined) throw new Error('bad rsa key');
  return { kind: 'rsa', n: derInt(n), e: derInt(e) };
}

interface PemBlock {
  readonly type: string;
  readonly der: Uint8Array;
}

export function pemBlocks(text: string): { blocks: PemBlock[]; rest: string } {
  const blocks: PemBlock[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const body = (m[2] ?? '').replace(/^[A-Za-z-]+:.*$/gm, '').replace(/\s+/g, '');
    const der = b64decode(body);
    if (der === undefined) throw fail('failed to parse a PEM certificate');
    blocks.push({ type: m[1] ?? '', der });
    last = re.lastIndex;
  }
  return { blocks, rest: text.slice(last) };
}

function keysFromPEM(text: string): Key[] {
  const { blocks, rest } = pemBlocks(text);
  if (blocks.length === 0) throw fail('failed to find a PEM certificate block');
  if (rest.trim() !== '') throw fail('extra data after a PEM certificate block');
  const out: Key[] = [];
  for (const b of blocks) {
    try {
      const top = derRead(b.der, 0).node;
      if (b.type === 'CERTIFICATE') {
        const tbs = derChildren(top)[0];
        if (tbs === undefined) throw new Error('bad cert');
        const kids = derChildren(tbs);
        const off = kids[0]?.tag === 0xa0 ? 1 : 0;
        const spki = kids[off + 5];
        if (spki === undefined) throw new Error('bad cert');
        out.push(keyFromSPKI(spki));
      } else if (b.type === 'PUBLIC KEY') out.push(keyFromSPKI(top));
      else if (b.type === 'RSA PUBLIC KEY') out.push(rsaFromPKCS1(top));
      else if (b.type === 'RSA PRIVATE KEY') {
        const k = derChildren(top);
        out.push({ kind: 'rsa', n: derInt(k[1] as Der), e: derInt(k[2] as Der), d: derInt(k[3] as Der) });
      } else throw new Error('unsupported PEM block');
    } catch (e) {
      if (e instanceof Error && e.message.startsWith('failed')) throw e;
      if (b.type === 'CERTIFICATE' && e instanceof Error && e.message.startsWith('der:')) throw fail('failed to parse a PEM certificate');
      throw fail('failed to extract a Key from the PEM certificate');
    }
  }
  return out;
}

function b64u(s: Value | undefined): Uint8Array {
  if (typeof s !== 'string') throw new Error('missing field');
  const b = b64urlDecodeLoose(s);
  if (b === undefined) throw new Error('bad base64url');
  return b;
}

function bigOf(b: Uint8Array): bigint {
  let x = 0n;
  for (const v of b) x = (x << 8n) | BigInt(v);
  return x;
}

function keyFromJWK(o: RObject): Key {
  const kty = o.get('kty');
  const alg = o.get('alg');
  const a = typeof alg === 'string' ? alg : undefined;
  switch (kty) {
    case 'RSA': {
      const k: Key = { kind: 'rsa', n: bigOf(b64u(o.get('n'))), e: bigOf(b64u(o.get('e'))), alg: a };
      if (o.get('d') !== undefined) k.d = bigOf(b64u(o.get('d')));
      return k;
    }
    case 'EC': {
      const crv = o.get('crv');
      if (crv !== 'P-256' && crv !== 'P-384' && crv !== 'P-521') throw new Error('bad curve');
      const x = b64u(o.get('x'));
      const y = b64u(o.get('y'));
      const pub = new Uint8Array(1 + x.length + y.length);
      pub[0] = 4;
      pub.set(x, 1);
      pub.set(y, 1 + x.length);
      const k: Key = { kind: 'ec', curve: crv, pub, alg: a };
      if (o.get('d') !== undefined) k.d = b64u(o.get('d'));
      return k;
    }
    case 'OKP': {
      const k: Key = { kind: 'ed', pub: b64u(o.get('x')), alg: a };
      if (o.get('d') !== undefined) k.d = b64u(o.get('d'));
      return k;
    }
    case 'oct':
      return { kind: 'oct', k: b64u(o.get('k')), alg: a };
    default:
      throw new Error('unsupported kty');
  }
}

/** Keys from a PEM text or a JWK / JWK Set JSON text. */
function parseKeys(text: string): Key[] {
  const t = text.trim();
  if (t.startsWith('{')) {
    let v: Value;
    try {
      v = parseJSON(t);
    } catch {
      throw fail('failed to parse a JWK key (set)');
    }
    if (!(v instanceof RObject)) throw fail('failed to parse a JWK key (set)');
    try {
      const ks = v.get('keys');
      if (Array.isArray(ks)) return (ks as readonly Value[]).filter((x): x is RObject => x instanceof RObject).flatMap((x) => {
        try {
          return [keyFromJWK(x)];
        } catch {
          return [];
        }
      });
      return [keyFromJWK(v)];
    } catch {
      throw fail('failed to parse a JWK key (set)');
    }
  }
  return keysFromPEM(text);
}

// ------------------------------------------------------------------ RSA

function modPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b %= m;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}

function toBytes(x: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(x & 255n);
    x >>= 8n;
  }
  return out;
}

function byteLen(n: bigint): number {
  return Math.ceil(n.toString(16).length / 2);
}

const DIGEST_INFO: Record<number, string> = {
  32: '3031300d060960864801650304020105000420',
  48: '3041300d060960864801650304020205000430',
  64: '3051300d060960864801650304020305000440',
};

function pkcs1Encode(h: Uint8Array, k: number): Uint8Array {
  const prefix = DIGEST_INFO[h.length] ?? '';
  const t = new Uint8Array(prefix.length / 2 + h.length);
  for (let i = 0; i < prefix.length / 2; i++) t[i] = parseInt(prefix.slice(2 * i, 2 * i + 2), 16);
  t.set(h, prefix.length / 2);
  const em = new Uint8Array(k);
  em[1] = 1;
  em.fill(0xff, 2, k - t.length - 1);
  em[k - t.length - 1] = 0;
  em.set(t, k - t.length);
  return em;
}

function eq(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return d === 0;
}

function mgf1(hash: Hash, seed: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(len);
  let done = 0;
  for (let c = 0; done < len; c++) {
    const input = new Uint8Array(seed.length + 4);
    input.set(seed);
    input.set([(c >>> 24) & 255, (c >>> 16) & 255, (c >>> 8) & 255, c & 255], seed.length);
    const h = hash(input);
    out.set(h.subarray(0, Math.min(h.length, len - done)), done);
    done += h.length;
  }
  return out;
}

export function rsaVerifyRaw(key: Extract<Key, { kind: 'rsa' }>, hash: Hash, msg: Uint8Array, sig: Uint8Array): boolean {
  return rsaVerify(key, hash, false, msg, sig);
}

function rsaVerify(key: Extract<Key, { kind: 'rsa' }>, hash: Hash, pss: boolean, msg: Uint8Array, sig: Uint8Array): boolean {
  const k = byteLen(key.n);
  if (sig.length !== k) return false;
  const s = bigOf(sig);
  if (s >= key.n) return false;
  const em = toBytes(modPow(s, key.e, key.n), k);
  const h = hash(Uint8Array.from(msg));
  if (!pss) return eq(em, pkcs1Encode(h, k));
  // EMSA-PSS-VERIFY with automatic salt length
  const modBits = key.n.toString(2).length;
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const e2 = em.subarray(em.length - emLen);
  if (e2[emLen - 1] !== 0xbc) return false;
  const hLen = h.length;
  const maskedDB = e2.subarray(0, emLen - hLen - 1);
  const H = e2.subarray(emLen - hLen - 1, emLen - 1);
  const dbMask = mgf1(hash, H, maskedDB.length);
  const db = maskedDB.map((x, i) => x ^ (dbMask[i] ?? 0));
  const zeroBits = 8 * emLen - emBits;
  db[0] = (db[0] ?? 0) & (0xff >> zeroBits);
  let i = 0;
  while (i < db.length && db[i] === 0) i++;
  if (db[i] !== 1) return false;
  const salt = db.subarray(i + 1);
  const mp = new Uint8Array(8 + hLen + salt.length);
  mp.set(h, 8);
  mp.set(salt, 8 + hLen);
  return eq(hash(mp), H);
}

function rsaSign(key: Extract<Key, { kind: 'rsa' }>, hash: Hash, pss: boolean, msg: Uint8Array): Uint8Array {
  if (key.d === undefined) throw fail('key is not a private key');
  const k = byteLen(key.n);
  const h = hash(Uint8Array.from(msg));
  let em: Uint8Array;
  if (!pss) em = pkcs1Encode(h, k);
  else {
    const modBits = key.n.toString(2).length;
    const emBits = modBits - 1;
    const emLen = Math.ceil(emBits / 8);
    const salt = randomBytes(h.length);
    const mp = new Uint8Array(8 + h.length + salt.length);
    mp.set(h, 8);
    mp.set(salt, 8 + h.length);
    const H = hash(mp);
    const db = new Uint8Array(emLen - h.length - 1);
    db[db.length - salt.length - 1] = 1;
    db.set(salt, db.length - salt.length);
    const mask = mgf1(hash, H, db.length);
    const masked = db.map((x, i) => x ^ (mask[i] ?? 0));
    masked[0] = (masked[0] ?? 0) & (0xff >> (8 * emLen - emBits));
    em = new Uint8Array(emLen);
    em.set(masked);
    em.set(H, masked.length);
    em[emLen - 1] = 0xbc;
  }
  return toBytes(modPow(bigOf(em), key.d, key.n), k);
}

// ------------------------------------------------------------------ algorithms

const ALGS: Record<string, { family: 'HS' | 'RS' | 'PS' | 'ES' | 'EdDSA'; hash: Hash; curve?: 'P-256' | 'P-384' | 'P-521' }> = {
  HS256: { family: 'HS', hash: sha256 },
  HS384: { family: 'HS', hash: sha384 },
  HS512: { family: 'HS', hash: sha512 },
  RS256: { family: 'RS', hash: sha256 },
  RS384: { family: 'RS', hash: sha384 },
  RS512: { family: 'RS', hash: sha512 },
  PS256: { family: 'PS', hash: sha256 },
  PS384: { family: 'PS', hash: sha384 },
  PS512: { family: 'PS', hash: sha512 },
  ES256: { family: 'ES', hash: sha256, curve: 'P-256' },
  ES384: { family: 'ES', hash: sha384, curve: 'P-384' },
  ES512: { family: 'ES', hash: sha512, curve: 'P-521' },
  EdDSA: { family: 'EdDSA', hash: sha512 },
};

function curveOf(c: 'P-256' | 'P-384' | 'P-521'): typeof p256 {
  return c === 'P-256' ? p256 : c === 'P-384' ? p384 : p521;
}

function verifyWith(alg: string, key: Key, msg: Uint8Array, sig: Uint8Array): boolean {
  const a = ALGS[alg];
  if (a === undefined) return false;
  try {
    switch (a.family) {
      case 'HS':
        return key.kind === 'oct' && eq(hmac(a.hash, key.k, msg), sig);
      case 'RS':
      case 'PS':
        return key.kind === 'rsa' && rsaVerify(key, a.hash, a.family === 'PS', msg, sig);
      case 'ES':
        if (key.kind !== 'ec' || key.curve !== a.curve) return false;
        return curveOf(key.curve).verify(sig, msg, key.pub, { lowS: false });
      case 'EdDSA':
        return key.kind === 'ed' && ed25519.verify(sig, msg, key.pub);
    }
  } catch {
    return false;
  }
}

function signWith(alg: string, key: Key, msg: Uint8Array): Uint8Array {
  const a = ALGS[alg];
  if (a === undefined) throw fail(`unknown JWS algorithm: ${alg}`);
  switch (a.family) {
    case 'HS':
      if (key.kind !== 'oct') throw fail('invalid key for HMAC signing');
      return hmac(a.hash, key.k, msg);
    case 'RS':
    case 'PS':
      if (key.kind !== 'rsa') throw fail('invalid key for RSA signing');
      return rsaSign(key, a.hash, a.family === 'PS', msg);
    case 'ES':
      if (key.kind !== 'ec' || key.d === undefined) throw fail('invalid key for ECDSA signing');
      return curveOf(key.curve).sign(msg, key.d);
    case 'EdDSA':
      if (key.kind !== 'ed' || key.d === undefined) throw fail('invalid key for EdDSA signing');
      return ed25519.sign(msg, key.d);
  }
}

// ------------------------------------------------------------------ tokens

interface Decoded {
  header: RObject;
  payloadText: string;
  payload: Value;
  signature: Uint8Array;
  signed: Uint8Array;
}

function decodeToken(token: string): Decoded {
  const parts = token.split('.');
  if (parts.length !== 3) throw fail(`encoded JWT must have 3 sections, found ${parts.length}`);
  const [h, p, s] = parts as [string, string, string];
  const hb = b64urlDecodeLoose(h);
  if (hb === undefined) throw fail('JWT header had invalid encoding: illegal base64 data');
  let header: Value;
  try {
    header = parseJSON(fromUtf8(hb));
  } catch {
    throw fail('JWT header had invalid encoding');
  }
  if (!(header instanceof RObject)) throw fail('JWT header is not an object');
  const pb = b64urlDecodeLoose(p);
  if (pb === undefined) throw fail('JWT payload had invalid encoding: illegal base64 data');
  const sb = b64urlDecodeLoose(s);
  if (sb === undefined) throw fail('JWT signature had invalid encoding: illegal base64 data');
  const payloadText = fromUtf8(pb);
  let payload: Value = payloadText;
  const cty = header.get('cty');
  if (!(typeof cty === 'string' && cty.toUpperCase() === 'JWT')) {
    try {
      payload = parseJSON(payloadText);
    } catch {
      throw fail('JWT payload had invalid encoding: not JSON');
    }
  }
  return { header, payloadText, payload, signature: sb, signed: utf8(`${h}.${p}`) };
}

function verifyToken(alg: string, token: string, keyText: string, secret: boolean): boolean {
  const parts = token.split('.');
  if (parts.length !== 3) throw fail(`encoded JWT must have 3 sections, found ${parts.length}`);
  const d = decodeToken(token);
  const keys: Key[] = secret ? [{ kind: 'oct', k: utf8(keyText) }] : parseKeys(keyText);
  return keys.some((k) => verifyWith(alg, k, d.signed, d.signature));
}

function numericClaim(payload: RObject, name: string): Num | undefined {
  const v = payload.get(name);
  if (v === undefined) return undefined;
  if (!(v instanceof Num)) throw fail(`${name} value must be a number`);
  return v;
}

const INVALID: Value = [false, new RObject(), new RObject()];

function decodeVerify(token: string, c: RObject, ctx: BuiltinCtx): Value {
  let keyText: string | undefined;
  let secret: string | undefined;
  let wantAlg: string | undefined;
  let iss: string | undefined;
  let aud: string | undefined;
  let now: Num | undefined;
  for (const [k, v] of c.entries()) {
    if (k === 'cert') {
      if (typeof v !== 'string') throw fail('cert constraint must be a string');
      keyText = v;
    } else if (k === 'secret') {
      if (typeof v !== 'string') throw fail('secret constraint must be a string');
      secret = v;
    } else if (k === 'alg') {
      if (typeof v !== 'string') throw fail('alg constraint must be a string');
      wantAlg = v;
    } else if (k === 'iss') {
      if (typeof v !== 'string') throw fail('iss constraint must be a string');
      iss = v;
    } else if (k === 'aud') {
      if (typeof v !== 'string') throw fail('aud constraint must be a string');
      aud = v;
    } else if (k === 'time') {
      if (!(v instanceof Num)) throw fail('time constraint must be a number');
      now = v;
    } else throw fail(`unknown token validation constraint: ${typeof k === 'string' ? k : toJSON(k)}`);
  }
  if (keyText === undefined && secret === undefined) throw fail('no key or secret provided');
  if (keyText !== undefined && secret !== undefined) throw fail('duplicate key constraints');
  const keys: Key[] = secret !== undefined ? [{ kind: 'oct', k: utf8(secret) }] : parseKeys(keyText ?? '');
  let cur = token;
  let header: RObject | undefined;
  let payload: Value = null;
  for (let depth = 0; depth < 8; depth++) {
    const d = decodeToken(cur);
    const alg = d.header.get('alg');
    if (typeof alg !== 'string' || ALGS[alg] === undefined) return INVALID;
    const crit = d.header.get('crit');
    if (crit !== undefined) return INVALID;
    if (wantAlg !== undefined && wantAlg !== alg) return INVALID;
    if (!keys.some((k) => verifyWith(alg, k, d.signed, d.signature))) return INVALID;
    header = d.header;
    const cty = d.header.get('cty');
    if (typeof cty === 'string' && cty.toUpperCase() === 'JWT') {
      cur = d.payloadText;
      continue;
    }
    payload = d.payload;
    break;
  }
  if (header === undefined || !(payload instanceof RObject)) return INVALID;
  const nowNs = now ?? Num.int(ctx.nowNs());
  const exp = numericClaim(payload, 'exp');
  const nbf = numericClaim(payload, 'nbf');
  const SEC = Num.int(1_000_000_000);
  if (exp !== undefined && nowNs.cmp(exp.mul(SEC)) >= 0) return INVALID;
  if (nbf !== undefined && nowNs.cmp(nbf.mul(SEC)) < 0) return INVALID;
  if (iss !== undefined && payload.get('iss') !== iss) return INVALID;
  const pa = payload.get('aud');
  if (pa !== undefined) {
    if (aud === undefined) return INVALID;
    if (typeof pa === 'string') {
      if (pa !== aud) return INVALID;
    } else if (Array.isArray(pa)) {
      if (!(pa as readonly Value[]).includes(aud)) return INVALID;
    } else return INVALID;
  } else if (aud !== undefined) return INVALID;
  return [true, header, payload];
}

function encodeSign(headerText: string, payloadText: string, keyText: string): string {
  let header: Value;
  try {
    header = parseJSON(headerText);
  } catch {
    if (headerText !== '' && !headerText.trim().startsWith('{')) throw fail('missing or invalid \'alg\' header: jwsbb: header "alg" not found');
    throw fail(`missing or invalid 'alg' header: cannot parse JSON${headerText === '' ? ': cannot parse empty string' : ''}`);
  }
  if (!(header instanceof RObject)) throw fail("missing or invalid 'alg' header: cannot parse JSON");
  const alg = header.get('alg');
  if (alg === undefined) throw fail('missing or invalid \'alg\' header: jwsbb: header "alg" not found');
  if (typeof alg !== 'string' || ALGS[alg] === undefined) throw fail(`unknown JWS algorithm: ${typeof alg === 'string' ? alg : toJSON(alg)}`);
  const typ = header.get('typ');
  if (typ === 'JWT') {
    try {
      parseJSON(payloadText);
    } catch {
      throw fail('type is JWT but payload is not JSON');
    }
  }
  let keyV: Value;
  try {
    keyV = parseJSON(keyText);
  } catch {
    throw fail('failed to parse a JWK key (set)');
  }
  if (!(keyV instanceof RObject)) throw fail('failed to parse a JWK key (set)');
  let key: Key;
  try {
    key = keyFromJWK(keyV);
  } catch {
    throw fail('failed to parse a JWK key (set)');
  }
  const signingInput = `${b64urlEncodeNoPad(utf8(headerText))}.${b64urlEncodeNoPad(utf8(payloadText))}`;
  const sig = signWith(alg, key, utf8(signingInput));
  return `${signingInput}.${b64urlEncodeNoPad(sig)}`;
}

export function registerJwt(reg: Registry): void {
  for (const alg of Object.keys(ALGS)) {
    const name = `io.jwt.verify_${alg.toLowerCase()}`;
    def(reg, name, 2, (a) => verifyToken(alg, str(a, 0), str(a, 1), ALGS[alg]?.family === 'HS'));
  }
  def(reg, 'io.jwt.decode', 1, (a) => {
    const d = decodeToken(str(a, 0));
    let payload = d.payload;
    const cty = d.header.get('cty');
    if (typeof cty === 'string' && cty.toUpperCase() === 'JWT') payload = decodeToken(d.payloadText).payload;
    return [d.header, payload, hexEncode(d.signature)];
  });
  def(reg, 'io.jwt.decode_verify', 2, (a, ctx) => decodeVerify(str(a, 0), obj(a, 1), ctx));
  def(reg, 'io.jwt.encode_sign_raw', 3, (a) => encodeSign(str(a, 0), str(a, 1), str(a, 2)));
  def(reg, 'io.jwt.encode_sign', 3, (a) => {
    const h = a[0] as Value;
    const p = a[1] as Value;
    const k = a[2] as Value;
    if (!(h instanceof RObject)) throw typeErr(1, 'object', h);
    if (!(k instanceof RObject)) throw typeErr(3, 'object', k);
    return encodeSign(toJSON(h), toJSON(p), toJSON(k));
  });
}

function bigToB64u(x: bigint): string {
  let hex = x.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  const b = new Uint8Array(hex.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return b64urlEncodeNoPad(b);
}

function pemOrBase64(text: string): string {
  if (text.includes('-----BEGIN')) return text;
  const raw = b64decode(text.replace(/\s+/g, ''));
  if (raw === undefined) throw fail('illegal base64 data at input byte 0');
  return fromUtf8(raw);
}

/** crypto.x509.parse_rsa_private_key: a PKCS#1 or PKCS#8 RSA key (PEM, or base64 of PEM) as a JWK object. */
export function registerX509Keys(reg: Registry): void {
  def(reg, 'crypto.x509.parse_keypair', 2, (a) => {
    const certs = pemBlocks(pemOrBase64(str(a, 0))).blocks.filter((b) => b.type === 'CERTIFICATE');
    if (certs.length === 0) throw fail('tls: failed to find any PEM data in certificate input');
    const keys = pemBlocks(pemOrBase64(str(a, 1))).blocks.filter((b) => b.type.endsWith('PRIVATE KEY'));
    if (keys.length === 0) throw fail('tls: failed to find any PEM data in key input');
    const o = new RObject();
    o.set('Certificate', certs.map((c) => b64encode(c.der)));
    return o;
  });
  def(reg, 'crypto.x509.parse_rsa_private_key', 1, (a) => {
    let text = str(a, 0);
    if (!text.includes('-----BEGIN')) {
      const raw = b64decode(text);
      if (raw === undefined) throw fail('illegal base64 data at input byte 0');
      text = fromUtf8(raw);
    }
    const { blocks } = pemBlocks(text);
    const block = blocks[0];
    if (block === undefined) throw fail('failed to parse PEM block containing the key');
    try {
      let seq = derRead(block.der, 0).node;
      if (block.type === 'PRIVATE KEY') {
        const inner = derChildren(seq)[2];
        if (inner === undefined) throw new Error('bad pkcs8');
        seq = derRead(inner.body, 0).node;
      } else if (block.type !== 'RSA PRIVATE KEY') throw new Error('not an RSA key');
      const k = derChildren(seq).map(derInt);
      const o = new RObject();
      o.set('kty', 'RSA');
      const names = ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'];
      names.forEach((name, i) => {
        const v = k[i + 1];
        if (v !== undefined) o.set(name, bigToB64u(v));
      });
      return o;
    } catch {
      throw fail('failed to parse RSA private key');
    }
  });
}
