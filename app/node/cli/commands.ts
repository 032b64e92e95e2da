/** Every CLI command, gathered from each domain's list. */
import type { CliCommand } from './types.ts';
import { commands as appCommands } from './app.ts';
import { commands as demoCommands } from './demo.ts';
import { commands as formatCommands } from './format.ts';
import { commands as keysCommands } from './keys.ts';
import { commands as brokerCommands } from './broker.ts';
import { commands as rotateCommands } from './rotate.ts';
import { commands as mountCommands } from './mount.ts';

export const ALL_COMMANDS: readonly CliCommand[] = [...appCommands, ...demoCommands, ...formatCommands, ...keysCommands, ...rotateCommands, ...brokerCommands, ...mountCommands];
