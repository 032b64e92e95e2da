/**
 * All of the Electron shell's web-content restrictions, in one place (STYLE §3): no new windows, no navigation away
 * from our own page, no permission grants, no webviews; only allow-listed https links open, in the system browser.
 */
import { app, shell, session, type WebContents } from 'electron';

const EXTERNAL_LINK_ORIGINS: ReadonlySet<string> = new Set(['https://github.com', 'https://pypi.org']);

export function isAllowedExternal(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' && EXTERNAL_LINK_ORIGINS.has(u.origin);
  } catch {
    return false;
  }
}

export function applySecurityRestrictions(isOwnPage: (url: string) => boolean): void {
  app.on('web-contents-created', (_event, contents: WebContents) => {
    contents.on('will-navigate', (event, url) => {
      if (!isOwnPage(url)) event.preventDefault();
    });
    contents.on('will-redirect', (event, url) => {
      if (!isOwnPage(url)) event.preventDefault();
    });
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(({ url }) => {
      if (isAllowedExternal(url)) void shell.openExternal(url);
      return { action: 'deny' };
    });
  });
  app
    .whenReady()
    .then(() => {
      session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
      session.defaultSession.setPermissionCheckHandler(() => false);
    })
    .catch(() => undefined);
}
