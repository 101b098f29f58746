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
