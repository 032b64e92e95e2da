/** Where the project's own files are, relative to this module (works from the checkout and from node_modules). */
import { fileURLToPath } from 'node:url';

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The built renderer; MV_RENDERER_DIST overrides it (development only: parallel work on one checkout). */
export const RENDERER_DIST = nonEmpty(process.env.MV_RENDERER_DIST) ?? fileURLToPath(new URL('../../dist/renderer/', import.meta.url));
export const RENDERER_CONFIG = fileURLToPath(new URL('../../renderer/vite.config.ts', import.meta.url));
export const RESOURCES_DIR = fileURLToPath(new URL('../../resources/', import.meta.url));
