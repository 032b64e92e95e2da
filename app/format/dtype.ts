/** Safetensors dtypes of the CryptoTensors 0.2.3 fork (spec §1.3): name, enum order, size in bits. */

export const DTYPES = ['BOOL', 'F4', 'F6_E2M3', 'F6_E3M2', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'C64', 'F64', 'I64', 'U64'] as const;
export type Dtype = (typeof DTYPES)[number];

const BITS: Readonly<Record<Dtype, number>> = Object.freeze({
  BOOL: 8, F4: 4, F6_E2M3: 6, F6_E3M2: 6, U8: 8, I8: 8, F8_E5M2: 8, F8_E4M3: 8, F8_E8M0: 8,
  I16: 16, U16: 16, F16: 16, BF16: 16, I32: 32, U32: 32, F32: 32, C64: 64, F64: 64, I64: 64, U64: 64,
});

const ORDER = new Map<string, number>(DTYPES.map((d, i) => [d, i]));

export function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && ORDER.has(value);
}

export function dtypeBits(dtype: Dtype): number {
  return BITS[dtype];
}

/** The reference's enum order, used by the writer's tensor ordering (descending). */
export function dtypeOrder(dtype: Dtype): number {
  return ORDER.get(dtype) as number;
}
