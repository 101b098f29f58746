#!/usr/bin/env -S -u NODE_OPTIONS -u NODE_EXTRA_CA_CERTS node
/**
 * routectl-cni: the CNI plugin executable (CNI spec 1.1.0). Reads the network config on
 * stdin and CNI_* from the environment, asks the routectl agent over its unix socket, and
 * prints the result or the CNI error JSON (exit 1). A lean entry: it loads src/cni/plugin.ts
 * and nothing of the agent, so the runtime does not wait for the whole program to load.
 * No top-level await: it is also built as CommonJS (tsconfig.cni.json, dist/cni; what the
 * package's bin and deploy/kubernetes install), which Node starts sooner than an ES module.
 * The runtime's Node settings are not the plugin's: the shebang (and every wrapper that
 * runs it) drops NODE_OPTIONS, which could break it, and NODE_EXTRA_CA_CERTS, which makes
 * every Node start parse a CA bundle (tens of ms) for a program that makes no TLS call.
 */
import { fstatSync, readFileSync, writeSync } from 'node:fs';
import { runPlugin } from '../cni/plugin.js';
import { CniCode, CniError } from '../cni/types.js';

/**
 * The network config, read at once (a runtime passes a pipe or a file). A terminal (someone
 * trying the plugin by hand) gives no config rather than a wait for end of input.
 */
function readStdin(): string {
  const st = fstatSync(0);
  return st.isCharacterDevice() ? '' : readFileSync(0, 'utf8');
}

function finish(stdout: string, exitCode: number): never {
  if (stdout !== '') writeSync(1, `${stdout}\n`);
  // Written synchronously; nothing else is pending, so no need to wait for the event loop's
  // handles to wind down.
  process.exit(exitCode);
}

let stdin: string | undefined;
try {
  stdin = readStdin();
} catch (err) {
  finish(JSON.stringify(new CniError(CniCode.IoFailure, `routectl-cni: the network config on stdin could not be read: ${(err as Error).message}`).body('1.1.0')), 1);
}
void runPlugin({ env: process.env, stdin }).then((out) => finish(out.stdout, out.exitCode));
