#!/usr/bin/env node
/**
 * routectl-cni: the CNI plugin executable (CNI spec 1.1.0). Reads the network config on
 * stdin and CNI_* from the environment, asks the routectl agent over its unix socket, and
 * prints the result or the CNI error JSON (exit 1). A lean entry: it loads src/cni/plugin.ts
 * and nothing of the agent, so the runtime does not wait for the whole program to load.
 * No top-level await, so the same file also bundles to one CommonJS file (deploy/kubernetes
 * installs that: Node starts a CommonJS main ~20-30 ms sooner than an ES module one).
 */
import { runPlugin } from '../cni/plugin.js';

function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return Promise.resolve('');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

void readStdin()
  .then((stdin) => runPlugin({ env: process.env, stdin }))
  .then((out) => {
    if (out.stdout !== '') process.stdout.write(`${out.stdout}\n`);
    process.exitCode = out.exitCode;
  });
