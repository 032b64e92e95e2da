/** Every CLI command, gathered from each domain's list. */
import type { CliCommand } from './types.ts';
import { commands as appCommands } from './app.ts';
import { commands as demoCommands } from './demo.ts';

export const ALL_COMMANDS: readonly CliCommand[] = [...appCommands, ...demoCommands];
