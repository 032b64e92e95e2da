/**
 * crypto.x509.parse_certificates, parse_and_verify_certificates and parse_certificate_request: a small X.509 / PKCS#10
 * decoder producing the commonly used fields of Go's x509.Certificate JSON (Subject, Issuer, SANs, validity, CA
 * flags), and chain verification (RSA PKCS#1 v1.5 / PSS and ECDSA signatures, validity at the policy clock).
 */
import { p256, p384, p521 } from '@noble/curves/nist.js';
import type { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { Num } from '../number.ts';
import { RObject, type Value } from '../value.ts';
import { b64decode, b64encode } from './encoding.ts';
import { derChildren, derInt, derRead, oid, pemBlocks, rsaVerifyRaw, spkiKey, type Der, type Key } from './jwt.ts';
import { formatTime } from './time.ts';
import { def, fail, fromUtf8, str, type Registry } from './util.ts';

const NAME_OIDS: Record<string, string> = {
  '2.5.4.6': 'Country',
  '2.5.4.10': 'Organization',
  '2.5.4.11': 'OrganizationalUnit',
  '2.5.4.7': 'Locality',
  '2.5.4.8': 'Province',
  '2.5.4.9': 'StreetAddress',
  '2.5.4.17': 'PostalCode',
};

function asn1String(d: Der): string {
  if (d.tag === 0x1e) {
    let s = '';
    for (let i = 0; i + 1 < d.body.length; i += 2) s += String.fromCharCode(((d.body[i] ?? 0) << 8) | (d.body[i + 1] ?? 0));
    return s;
  }
  return fromUtf8(d.body);
}

function parseName(d: Der): RObject {
  const lists = new Map<string, Value[]>();
  let cn = '';
  let serial = '';
  const names: Value[] = [];
  for (const rdn of derChildren(d)) {
    for (const atv of derChildren(rdn)) {
      const [t, v] = derChildren(atv);
      if (t === undefined || v === undefined) continue;
      const id = oid(t);
      const val = asn1String(v);
      const entry = new RObject();
      entry.set('Type', id.split('.').map((x) => Num.int(Number(x))));
      entry.set('Value', val);
      names.push(entry);
      if (id === '2.5.4.3') cn = val;
      else if (id === '2.5.4.5') serial = val;
      else {
        const k = NAME_OIDS[id];
        if (k !== undefined) lists.set(k, [...(lists.get(k) ?? []), val]);
      }
    }
  }
  const o = new RObject();
  for (const k of ['Country', 'Organization', 'OrganizationalUnit', 'Locality', 'Province', 'StreetAddress', 'PostalCode']) o.set(k, lists.get(k) ?? null);
  o.set('SerialNumber', serial);
  o.set('CommonName', cn);
  o.set('Names', names.length === 0 ? null : names);
  o.set('ExtraNames', null);
  return o;
}

function parseTimeDer(d: Der): bigint {
  const s = fromUtf8(d.body);
  const m = d.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s) : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (m === null) throw new Error('asn1: time did not parse');
  let year = Number(m[1]);
  if (d.tag === 0x17) year += year < 50 ? 2000 : 1900;
  return BigInt(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]))) * 1_000_000n;
}

interface Cert {
  readonly der: Uint8Array;
  readonly tbs: Uint8Array;
  readonly sigAlg: string;
  readonly signature: Uint8Array;
  readonly key: Key | undefined;
  readonly subjectRaw: Uint8Array;
  readonly issuerRaw: Uint8Array;
  readonly notBefore: bigint;
  readonly notAfter: bigint;
  readonly isCA: boolean;
  readonly json: RObject;
}

function parseCert(der: Uint8Array): Cert {
  const top = derRead(der, 0).node;
  const [tbs, sigAlgD, sigD] = derChildren(top);
  if (tbs === undefined || sigAlgD === undefined || sigD === undefined) throw new Error('x509: malformed certificate');
  const f = derChildren(tbs);
  let i = 0;
  let version = 1;
  if (f[0]?.tag === 0xa0) {
    const v = derChildren(f[0])[0];
    version = v === undefined ? 1 : Number(derInt(v)) + 1;
    i = 1;
  }
  const serial = f[i];
  const issuer = f[i + 2];
  const validity = f[i + 3];
  const subject = f[i + 4];
  const spki = f[i + 5];
  if (serial === undefined || issuer === undefined || validity === undefined || subject === undefined || spki === undefined) throw new Error('x509: malformed certificate');
  const [nb, na] = derChildren(validity);
  if (nb === undefined || na === undefined) throw new Error('x509: malformed validity');
  const dns: Value[] = [];
  const uris: Value[] = [];
  const emails: Value[] = [];
  const ips: Value[] = [];
  let isCA = false;
  let bcValid = false;
  for (const ext of f.slice(i + 6)) {
    if (ext.tag !== 0xa3) continue;
    const seq = derChildren(ext)[0];
    if (seq === undefined) continue;
    for (const e of derChildren(seq)) {
      const parts = derChildren(e);
      const id = parts[0] === undefined ? '' : oid(parts[0]);
      const value = parts[parts.length - 1];
      if (value === undefined) continue;
      if (id === '2.5.29.17') {
        for (const gn of derChildren(derRead(value.body, 0).node)) {
          if (gn.tag === 0x82) dns.push(fromUtf8(gn.body));
          else if (gn.tag === 0x86) uris.push(fromUtf8(gn.body));
          else if (gn.tag === 0x81) emails.push(fromUtf8(gn.body));
          else if (gn.tag === 0x87) ips.push(gn.body.length === 4 ? [...gn.body].join('.') : [...gn.body].map((b) => b.toString(16).padStart(2, '0')).join(''));
        }
      } else if (id === '2.5.29.19') {
        bcValid = true;
        const bc = derChildren(derRead(value.body, 0).node)[0];
        isCA = bc !== undefined && bc.tag === 0x01 && bc.body[0] !== 0;
      }
    }
  }
  let key: Key | undefined;
  try {
    key = spkiKey(spki);
  } catch {
    key = undefined;
  }
  const notBefore = parseTimeDer(nb);
  const notAfter = parseTimeDer(na);
  const json = new RObject();
  json.set('Raw', b64encode(der));
  json.set('Version', Num.int(version));
  json.set('SerialNumber', Num.int(derInt(serial)));
  json.set('Issuer', parseName(issuer));
  json.set('Subject', parseName(subject));
  json.set('NotBefore', formatTime(notBefore, 'UTC', '2006-01-02T15:04:05Z07:00'));
  json.set('NotAfter', formatTime(notAfter, 'UTC', '2006-01-02T15:04:05Z07:00'));
  json.set('BasicConstraintsValid', bcValid);
  json.set('IsCA', isCA);
  json.set('DNSNames', dns.length === 0 ? null : dns);
  json.set('EmailAddresses', emails.length === 0 ? null : emails);
  json.set('IPAddresses', ips.length === 0 ? null : ips);
  json.set('URIStrings', uris.length === 0 ? null : uris);
  return { der, tbs: tbs.raw, sigAlg: oid(derChildren(sigAlgD)[0] as Der), signature: sigD.body.subarray(1), key, subjectRaw: subject.raw, issuerRaw: issuer.raw, notBefore, notAfter, isCA, json };
}

/** DER blobs from PEM text, base64 of PEM, or base64 of DER. */
function derBlobs(input: string, type: string): Uint8Array[] {
  let text = input;
  if (!text.includes('-----BEGIN')) {
    const raw = b64decode(text.replace(/\s+/g, ''));
    if (raw === undefined) throw fail('illegal base64 data at input byte 0');
    const asText = fromUtf8(raw);
    if (!asText.includes('-----BEGIN')) return [raw];
    text = asText;
  }
  const blocks = pemBlocks(text).blocks.filter((b) => b.type === type);
  if (blocks.length === 0) throw fail(`failed to find any PEM data in input`);
  return blocks.map((b) => b.der);
}

type HashFn = Parameters<typeof hmac>[0];

const SIG_HASH: Record<string, { hash: HashFn; kind: 'rsa' | 'pss' | 'ec' }> = {
  '1.2.840.113549.1.1.11': { hash: sha256, kind: 'rsa' },
  '1.2.840.113549.1.1.12': { hash: sha384 , kind: 'rsa' },
  '1.2.840.113549.1.1.13': { hash: sha512 , kind: 'rsa' },
  '1.2.840.10045.4.3.2': { hash: sha256, kind: 'ec' },
  '1.2.840.10045.4.3.3': { hash: sha384 , kind: 'ec' },
  '1.2.840.10045.4.3.4': { hash: sha512 , kind: 'ec' },
};

function verifySig(child: Cert, parent: Cert): boolean {
  const alg = SIG_HASH[child.sigAlg];
  const key = parent.key;
  if (alg === undefined || key === undefined) return false;
  try {
    if (alg.kind === 'rsa') return key.kind === 'rsa' && rsaVerifyRaw(key, alg.hash, child.tbs, child.signature);
    if (key.kind !== 'ec') return false;
    const curve = key.curve === 'P-256' ? p256 : key.curve === 'P-384' ? p384 : p521;
    return curve.verify(child.signature, alg.hash(Uint8Array.from(child.tbs)), key.pub, { prehash: false, format: 'der', lowS: false });
  } catch {
    return false;
  }
}

function eqBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function registerX509(reg: Registry): void {
  def(reg, 'crypto.x509.parse_certificates', 1, (a) => {
    const blobs = derBlobs(str(a, 0), 'CERTIFICATE');
    try {
      return blobs.map((d) => parseCert(d).json);
    } catch (e) {
      throw fail(e instanceof Error && e.message.startsWith('x509') ? e.message : 'x509: malformed certificate');
    }
  });
  def(reg, 'crypto.x509.parse_and_verify_certificates', 1, (a, ctx) => {
    const invalid: Value = [false, []];
    let certs: Cert[];
    try {
      // the first certificate is the root, the last the leaf; the result is the chain from the leaf to the root
      certs = derBlobs(str(a, 0), 'CERTIFICATE').map(parseCert).reverse();
    } catch {
      return invalid;
    }
    if (certs.length < 2) return invalid;
    const now = ctx.nowNs();
    for (let i = 0; i < certs.length; i++) {
      const c = certs[i] as Cert;
      if (now < c.notBefore || now > c.notAfter) return invalid;
      const parent = certs[i + 1] ?? c;
      if (i > 0 && !c.isCA) return invalid;
      if (!eqBytes(c.issuerRaw, parent.subjectRaw) || !verifySig(c, parent)) return invalid;
    }
    return [true, certs.map((c) => c.json)];
  });
  def(reg, 'crypto.x509.parse_certificate_request', 1, (a) => {
    const [der] = derBlobs(str(a, 0), 'CERTIFICATE REQUEST');
    if (der === undefined) throw fail('failed to find any PEM data in input');
    try {
      const top = derRead(der, 0).node;
      if (top.tag !== 0x30) throw new Error('tags');
      const info = derChildren(top)[0];
      if (info === undefined || info.tag !== 0x30) throw new Error('tags');
      const [version, subject] = derChildren(info);
      if (version === undefined || subject === undefined || version.tag !== 0x02 || subject.tag !== 0x30) throw new Error('tags');
      const o = new RObject();
      o.set('Raw', b64encode(der));
      o.set('Version', Num.int(derInt(version)));
      o.set('Subject', parseName(subject));
      return o;
    } catch {
      throw fail("asn1: structure error: tags don't match");
    }
  });
}
