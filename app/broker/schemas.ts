/** Shared valibot building blocks for broker messages (README §1 limits). */
import * as v from 'valibot';

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$/;
export const PATH_PATTERN = /^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[A-Za-z0-9._@+/-]{1,255}$/;

export const IdSchema = v.pipe(v.string(), v.regex(ID_PATTERN, 'an id: letters, digits and ._:@+- (max 128)'));
export const DeviceIdSchema = v.pipe(v.string(), v.regex(/^dev_[0-9a-f]{32}$/, 'a device id'));
export const FilePathSchema = v.pipe(v.string(), v.regex(PATH_PATTERN, 'a relative file path without ..'));
export const B64uSchema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]*$/, 'unpadded base64url'), v.maxLength(16 * 1024 * 1024));
export const Hex64Schema = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits'));
export const LabelSchema = v.pipe(v.string(), v.minLength(1), v.maxLength(128));
export const RoleSchema = v.picklist(['producer', 'subscriber']);
export type Role = v.InferOutput<typeof RoleSchema>;
