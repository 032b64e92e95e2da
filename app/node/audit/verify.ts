/** The audit log verifier lives in pure `app/audit/verify.ts` (shared with the broker and its client). */
export * from '../../audit/verify.ts';
