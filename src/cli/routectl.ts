#!/usr/bin/env node
/** The `routectl` executable (package.json bin): see commands.ts for the commands. */
import { runCli } from './commands.js';

process.exitCode = await runCli(process.argv.slice(2));
