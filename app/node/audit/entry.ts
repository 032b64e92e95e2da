/** The audit entry format lives in pure `app/audit/entry.ts` (shared with the broker and its client). */
export * from '../../audit/entry.ts';
