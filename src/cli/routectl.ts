#!/usr/bin/env node
/** The `routectl` executable (package.json bin): see commands.ts for the commands. */
import { runCli } from './commands.js';

const argv = process.argv.slice(2);
const code = await runCli(argv);
// The agent has stopped (sessions closed, socket removed): exit even if a timer of a
// closed session is still pending. Client commands end on their own.
if (argv[0] === 'agent') process.exit(code);
process.exitCode = code;
