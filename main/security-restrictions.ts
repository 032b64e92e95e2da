/**
 * All of the Electron shell's web-content restrictions, in one place (STYLE §3): the OS sandbox for every renderer,
 * no new windows, no navigation away from our own page, no permission grants, no webviews, no network from the
 * renderer; only allow-listed https links open, in the system browser. The decisions live in main/security-policy.ts.
 */
import { app, session, shell, type WebContents } from 'electron';
import { restrictContents, restrictSession } from './security-policy.ts';

export { isAllowedExternal } from './security-policy.ts';

/** Call before the app is ready (app.enableSandbox must run before ready). */
export function applySecurityRestrictions(isOwnPage: (url: string) => boolean): void {
  app.enableSandbox();
  app.on('web-contents-created', (_event, contents: WebContents) => {
    restrictContents(contents, isOwnPage, (url) => void shell.openExternal(url));
  });
  app
    .whenReady()
    .then(() => restrictSession(session.defaultSession))
    .catch(() => undefined);
}
