import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHANNELS, type Transport, buildApi, isChannel, parseRequest } from '../../../app/ipc/contract.ts';
import { fromWire, toWire } from '../../../app/ipc/wire.ts';

test('every channel is named domain:verb', () => {
  assert.ok(CHANNELS.length > 0);
  for (const c of CHANNELS) assert.match(c, /^[a-z][a-zA-Z]*:[a-z][a-zA-Z]*$/);
});

test('isChannel accepts only contract channels, including against prototype keys', () => {
  assert.equal(isChannel('app:status'), true);
  for (const bad of ['app:nope', 'constructor', '__proto__', 'toString', '', 42, null, undefined, {}]) assert.equal(isChannel(bad), false, JSON.stringify(bad) ?? 'undefined');
});

test('parseRequest validates with the channel schema and names the offending field', () => {
  assert.deepEqual(parseRequest('app:status', {}), { ok: true, value: {} });
  const extra = parseRequest('app:status', { sneaky: 1 });
  assert.equal(extra.ok, false);
  assert.match(extra.ok ? '' : extra.message, /app:status at 'sneaky'/);
  for (const bad of [null, 'x', 5, [], undefined]) assert.equal(parseRequest('app:status', bad).ok, false);
});

test('buildApi derives api.<domain>.<verb> from the contract and forwards to the transport', async () => {
  const calls: [string, unknown][] = [];
  const transport: Transport = {
    invoke: async (channel, request) => {
      calls.push([channel, request]);
      return { ok: true, value: { echoed: channel } };
    },
    subscribe: () => () => undefined,
  };
  const api = buildApi(transport);
  const result = await api.app.status({});
  assert.deepEqual(result, { ok: true, value: { echoed: 'app:status' } });
  assert.deepEqual(calls, [['app:status', {}]]);
  assert.equal(Object.isFrozen(api), true);
  assert.equal((api as unknown as Record<string, unknown>).invoke, undefined, 'no generic invoke on the API');
});

test('onProgress delivers only well-formed events and returns a working unsubscribe', () => {
  let deliver: (payload: unknown) => void = () => undefined;
  let unsubscribed = false;
  const api = buildApi({
    invoke: async () => ({ ok: true, value: null }),
    subscribe: (_e, cb) => {
      deliver = cb;
      return () => {
        unsubscribed = true;
      };
    },
  });
  const got: unknown[] = [];
  const off = api.onProgress((e) => got.push(e));
  deliver({ taskId: 't1', channel: 'app:status', phase: 'x', done: 1, total: 2 });
  deliver({ taskId: 't1', channel: 'evil:channel', phase: 'x', done: 1, total: 2 });
  deliver('garbage');
  assert.equal(got.length, 1);
  off();
  assert.equal(unsubscribed, true);
});

test('wire form round-trips bytes and nested values', () => {
  for (let n = 0; n < 40; n++) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255);
    const value = { a: [bytes, { b: bytes }], s: 'x', n: 1.5, z: null, t: true };
    const json = JSON.parse(JSON.stringify(toWire(value))) as unknown;
    assert.deepEqual(fromWire(json), value);
  }
  assert.throws(() => fromWire({ $bytes: 'abc' }), TypeError);
  assert.throws(() => fromWire({ $bytes: 'ab!=' }), TypeError);
});
