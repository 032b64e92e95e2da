/** Where the project's own files are, relative to this module (works from the checkout and from node_modules). */
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const RENDERER_DIST = fileURLToPath(new URL('../../dist/renderer/', import.meta.url));
export const RENDERER_CONFIG = fileURLToPath(new URL('../../renderer/vite.config.ts', import.meta.url));
export const RESOURCES_DIR = fileURLToPath(new URL('../../resources/', import.meta.url));
