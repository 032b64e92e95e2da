/**
 * The decisions behind the shell's web-content restrictions (STYLE §3), kept free of electron imports (types only)
 * so test/main can drive them without the Electron binary; main/security-restrictions.ts applies them to every
 * web contents and to the session.
 *
 * - navigation and redirects: only to our own page (any frame);
 * - new windows: always denied; allow-listed https links open in the system browser instead;
 * - webviews: never attached;
 * - permissions (camera, notifications, clipboard, HID/USB/serial devices …): always denied, checks answer false;
 * - network from the renderer: http(s) and ws(s) requests are cancelled (the renderer talks to main over IPC only;
 *   the broker is reached by the main process).
 */
import type { HandlerDetails, Session, WebContents } from 'electron';

export const EXTERNAL_LINK_ORIGINS: ReadonlySet<string> = new Set(['https://github.com', 'https://pypi.org']);

export function isAllowedExternal(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' && EXTERNAL_LINK_ORIGINS.has(u.origin);
  } catch {
    return false;
  }
}

/** The parts of a WebContents the restrictions hook into. */
export type RestrictableContents = Pick<WebContents, 'on' | 'setWindowOpenHandler'>;
/** The parts of a Session the restrictions configure. */
export type RestrictableSession = Pick<Session, 'setPermissionRequestHandler' | 'setPermissionCheckHandler' | 'setDevicePermissionHandler'> & { readonly webRequest: Pick<Session['webRequest'], 'onBeforeRequest'> };

interface Preventable {
  preventDefault(): void;
}

export function restrictContents(contents: RestrictableContents, isOwnPage: (url: string) => boolean, openExternal: (url: string) => void): void {
  const guard = (event: Preventable, url: string): void => {
    if (!isOwnPage(url)) event.preventDefault();
  };
  contents.on('will-navigate', guard);
  contents.on('will-redirect', guard);
  contents.on('will-frame-navigate', (event) => guard(event, event.url));
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }: HandlerDetails) => {
    if (isAllowedExternal(url)) openExternal(url);
    return { action: 'deny' };
  });
}

/** URL patterns of requests the renderer may never make (Chromium match patterns: `*` covers http, https, ws, wss). */
export const BLOCKED_REQUESTS = Object.freeze(['*://*/*']);

export function restrictSession(session: RestrictableSession): void {
  session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
  session.setDevicePermissionHandler(() => false);
  session.webRequest.onBeforeRequest({ urls: [...BLOCKED_REQUESTS] }, (_details, callback) => callback({ cancel: true }));
}
