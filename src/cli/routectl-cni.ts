#!/usr/bin/env node
/**
 * routectl-cni: the CNI plugin executable (CNI spec 1.1.0). Reads the network config on
 * stdin and CNI_* from the environment, asks the routectl agent over its unix socket, and
 * prints the result or the CNI error JSON (exit 1). A lean entry: it loads src/cni/plugin.ts
 * and nothing of the agent, so the runtime does not wait for the whole program to load.
 */
import { runPlugin } from '../cni/plugin.js';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const out = await runPlugin({ env: process.env, stdin: await readStdin() });
if (out.stdout !== '') process.stdout.write(`${out.stdout}\n`);
process.exitCode = out.exitCode;
