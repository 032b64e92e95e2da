/** The app's version, kept in step with package.json by test/app/version.test.ts. */
export const APP_VERSION = '0.1.0';
export const APP_NAME = 'Model Vault';
