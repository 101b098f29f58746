/**
 * The `routectl` command line (docs/design.md "The operator interface"): commander program
 * built per run, output through an injected IO so tests run it in-process, and the exit
 * code returned rather than process.exit()ed.
 *
 * Exit codes: 0 success (status: every peer Established); 1 failure (status: some peer is
 * not Established; an invalid config; an error answer from the agent); 2 the agent
 * cannot be reached (not running, permission denied, no answer in time); 64 usage error.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ApiClient, DEFAULT_SOCKET } from '../api/client.js';
import { ApiClientError } from '../api/errors.js';
import type { RouteViewName } from '../api/types.js';
import { ConfigError, formatWarning } from '../config/errors.js';
import { formatConfig } from '../config/format.js';
import { loadConfig, loadConfigWithWarnings } from '../config/load.js';
import { VERSION } from '../version.js';
import { endpointsTable, inspectText } from './endpoints.js';
import { peerDetailText, peersTable, routesText, statusText } from './format.js';
import { verifyText } from './verify.js';
import { policyCheckText, policyShowText } from './policy.js';
import type { PolicyCheckResponse, PolicyShowResponse } from '../api/policy-types.js';

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /** One line of the operator's answer to a question (confirmations); none: never confirmed. */
  ask?(question: string): Promise<string>;
}

/** Where the CLI finds agent.yaml when a command that reads etcd is not told (--config). */
export const DEFAULT_CONFIG = '/etc/routectl/agent.yaml';

export const EXIT = { ok: 0, failure: 1, unreachable: 2, usage: 64 } as const;

const processIO: CliIO = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  async ask(question) {
    const { createInterface } = await import('node:readline/promises');
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await rl.question(question);
    } finally {
      rl.close();
    }
  },
};

const json = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;

/** `--gshut-wait`: "10", "10s" or "2m" to whole seconds, at most an hour. */
export function gshutWait(text: string): number {
  const m = /^(\d{1,5})(s|m)?$/.exec(text.trim());
  const n = m ? Number(m[1]) * (m[2] === 'm' ? 60 : 1) : NaN;
  if (!Number.isFinite(n) || n > 3600) throw new InvalidArgumentError(`${JSON.stringify(text)} is not a time from 0 to 1h: write seconds (10, 10s) or minutes (2m)`);
  return n;
}

interface ClientOpts {
  socket: string;
  json?: boolean;
}

export async function runCli(argv: readonly string[], io: CliIO = processIO): Promise<number> {
  let code: number = EXIT.ok;
  const program = new Command('routectl');
  program
    .description('routectl: routable addresses for containers, a BGP speaker, zone policy')
    .version(VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showHelpAfterError('(run routectl --help for usage)');

  const socketOption = () => new Option('--socket <path>', 'the agent API socket').default(DEFAULT_SOCKET);

  /** Runs a client command; maps client errors to messages and exit codes. */
  const client = (fn: (c: ApiClient, o: ClientOpts, ...args: string[]) => Promise<number>) =>
    async (...args: unknown[]): Promise<void> => {
      const cmd = args[args.length - 1] as Command;
      const o = cmd.opts<ClientOpts>();
      const positional = args.slice(0, -2).filter((a): a is string => typeof a === 'string');
      try {
        code = await fn(new ApiClient(o.socket), o, ...positional);
      } catch (err) {
        if (!(err instanceof ApiClientError)) throw err;
        io.err(`routectl: ${err.message}\n`);
        code = err.unreachable ? EXIT.unreachable : EXIT.failure;
      }
    };

  program
    .command('agent')
    .description('run the agent (the daemon)')
    .requiredOption('--config <file>', 'agent.yaml')
    .action(async (o: { config: string }) => {
      let cfg;
      try {
        cfg = loadConfig(o.config);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        io.err(`${err.message}\nroutectl: invalid config, nothing started (${err.problems.length} problem${err.problems.length === 1 ? '' : 's'})\n`);
        code = EXIT.failure;
        return;
      }
      const { runAgent, DEFAULT_NICE } = await import('../agent.js');
      const agent = await runAgent(cfg, { configPath: o.config, nice: cfg.runtime.nice ?? DEFAULT_NICE });
      code = await agent.done;
    });

  program
    .command('validate')
    .description('check a config file and print its canonical form (warnings on stderr)')
    .argument('<file>', 'agent.yaml')
    .action((file: string) => {
      try {
        const { config, warnings } = loadConfigWithWarnings(file);
        io.out(formatConfig(config));
        // Warnings on stderr: stdout stays the canonical form, to diff or check in.
        if (warnings.length > 0) {
          io.err(`${warnings.map((w) => formatWarning(file, w)).join('\n')}\n${warnings.length} warning${warnings.length === 1 ? '' : 's'} in ${file} (valid: the agent starts and logs them)\n`);
        }
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        io.err(`${err.message}\n${err.problems.length} problem${err.problems.length === 1 ? '' : 's'} in ${file}\n`);
        code = EXIT.failure;
      }
    });

  /** A command that reads etcd with agent.yaml's store.etcd; exit 2 when etcd does not answer. */
  const clusterCommand = async (file: string, fn: (cfg: ReturnType<typeof loadConfig>) => Promise<void>): Promise<void> => {
    try {
      await fn(loadConfig(file));
    } catch (err) {
      io.err(`routectl: ${err instanceof Error ? err.message : String(err)}\n`);
      code = err instanceof ConfigError || (err instanceof Error && err.name === 'NodeChangedError') ? EXIT.failure : EXIT.unreachable;
    }
  };

  const ipam = program.command('ipam').description('cluster mode (store.etcd): address management across workers');
  ipam
    .command('release-node')
    .description("free a dead worker's blocks and allocations in etcd (prints them and asks first)")
    .argument('<node>', 'the worker (its node name)')
    .option('--config <file>', 'agent.yaml (its store.etcd)', DEFAULT_CONFIG)
    .option('--yes', 'do not ask for confirmation')
    .option('--json', 'print what was freed as JSON')
    .action(async (node: string, o: { config: string; yes?: boolean; json?: boolean }) => {
      await clusterCommand(o.config, async (cfg) => {
        const { readReleasePlan, carryOutRelease, releasePlanText } = await import('./cluster.js');
        const plan = await readReleasePlan(cfg, node);
        if (plan.alive) {
          io.err(`routectl: worker ${node} holds its liveness lease: it is running; stop its agent (or wait for its lease to expire) first. Nothing released.\n`);
          code = EXIT.failure;
          return;
        }
        if (plan.blocks.length === 0 && plan.hostRevision === undefined) {
          io.err(`routectl: the cluster has no blocks or allocations of worker ${node}; nothing to release\n`);
          code = EXIT.failure;
          return;
        }
        if (!o.json || !o.yes) io.err(releasePlanText(plan));
        if (!o.yes) {
          const answer = io.ask ? await io.ask(`release them (the addresses may be given to other containers)? type yes: `) : '';
          if (answer.trim().toLowerCase() !== 'yes') {
            io.err('routectl: not confirmed; nothing released\n');
            code = EXIT.failure;
            return;
          }
        }
        await carryOutRelease(cfg, plan);
        io.out(o.json ? json({ released: plan }) : `released worker ${node}: ${plan.blocks.length} blocks, ${plan.allocations.length} allocations\n`);
      });
    });

  const cluster = program.command('cluster').description('cluster mode (store.etcd): the view every worker shares');
  cluster
    .command('status')
    .description('workers, their liveness lease, blocks and their use, read from etcd')
    .option('--config <file>', 'agent.yaml (its store.etcd and pools)', DEFAULT_CONFIG)
    .option('--json', 'print the status as JSON')
    .action(async (o: { config: string; json?: boolean }) => {
      try {
        const cfg = loadConfig(o.config);
        const { readClusterStatus, clusterStatusText } = await import('./cluster.js');
        const workers = await readClusterStatus(cfg);
        io.out(o.json ? json({ workers }) : clusterStatusText(workers));
      } catch (err) {
        io.err(`routectl: ${err instanceof Error ? err.message : String(err)}\n`);
        code = err instanceof ConfigError ? EXIT.failure : EXIT.unreachable;
      }
    });

  program
    .command('status')
    .description('node, peers and counts; exit 0 only when every peer is Established and forwarding has its routes')
    .addOption(socketOption())
    .option('--json', 'print the API answer as JSON')
    .action(
      client(async (c, o) => {
        const s = await c.status();
        io.out(o.json ? json(s) : statusText(s));
        const forwarding = (s.forwarding?.problems.length ?? 0) === 0;
        return forwarding && s.peers.every((p) => p.state === 'Established') ? EXIT.ok : EXIT.failure;
      }),
    );

  program
    .command('peers')
    .description('all peers, or the detail of one: capabilities, timers, counters, NOTIFICATIONs')
    .argument('[address]', 'one peer')
    .addOption(socketOption())
    .option('--json', 'print the API answer as JSON')
    .action(
      client(async (c, o, address) => {
        if (address !== undefined) {
          const p = await c.peer(address);
          io.out(o.json ? json(p) : peerDetailText(p));
        } else {
          const r = await c.peers();
          io.out(o.json ? json(r) : `${peersTable(r.peers)}\n`);
        }
        return EXIT.ok;
      }),
    );

  program
    .command('release')
    .description("end a peer's max-prefix hold: its session starts at once (exit 1 when it is not held)")
    .argument('<address>', 'the peer')
    .addOption(socketOption())
    .option('--json', 'print the API answer as JSON')
    .action(
      client(async (c, o, address) => {
        const p = await c.releaseHold(address ?? '');
        io.out(o.json ? json(p) : `${p.address}: hold released; the session starts (state ${p.state})\n`);
        return EXIT.ok;
      }),
    );

  program
    .command('drain')
    .description('maintenance stop: withdraw every route from every peer, then stop the agent (kernel routes stay; plain SIGTERM keeps the routes advertised through a restart)')
    .addOption(
      new Option('--gshut-wait <time>', 'first send every route with the GRACEFUL_SHUTDOWN community (RFC 8326) for this long (10s, 2m; 0: no graceful shutdown); default bgp.gracefulShutdown.wait').argParser(gshutWait),
    )
    .addOption(socketOption())
    .option('--json', 'print the API answer as JSON')
    .action(
      client(async (c, o) => {
        const wait = (o as ClientOpts & { gshutWait?: number }).gshutWait;
        const d = await c.drain(wait !== undefined ? { gracefulShutdownWait: wait } : {});
        const first = d.gracefulShutdownWait > 0 ? `sent with GRACEFUL_SHUTDOWN for ${d.gracefulShutdownWait} s, then ` : '';
        io.out(o.json ? json(d) : `draining: ${d.routes} routes ${first}withdrawn from ${d.peers} established peers; the agent stops once they took it\n`);
        return EXIT.ok;
      }),
    );

  const views: RouteViewName[] = ['received', 'advertised', 'kernel'];
  const routes = program
    .command('routes')
    .description('routes received from peers (accepted or filtered, and why), advertised to them, or in the kernel')
    .option('--peer <address>', 'only this peer')
    .addOption(socketOption())
    .option('--json', 'print the API answer as JSON');
  for (const v of views) {
    routes.addOption(new Option(`--${v}`, `the ${v} view`).conflicts(views.filter((x) => x !== v)));
  }
  routes.action(
    client(async (c, o) => {
      const flags = o as ClientOpts & { peer?: string } & Partial<Record<RouteViewName, boolean>>;
      const chosen = views.filter((v) => flags[v]);
      const peer = flags.peer;
      if (chosen.length === 0) {
        // Default: what we send and what we get, the two questions asked first.
        const advertised = await c.routes({ view: 'advertised', ...(peer ? { peer } : {}) });
        const received = await c.routes({ view: 'received', ...(peer ? { peer } : {}) });
        io.out(o.json ? json({ advertised, received }) : `${routesText(advertised)}\n${routesText(received)}`);
      } else {
        const r = await c.routes({ view: chosen[0] as RouteViewName, ...(peer ? { peer } : {}) });
        io.out(o.json ? json(r) : routesText(r));
      }
      return EXIT.ok;
    }),
  );

  const localEndpoints = client(async (c, o) => {
    const r = await c.endpoints();
    io.out(o.json ? json(r) : endpointsTable(r.endpoints));
    return EXIT.ok;
  });
  program
    .command('endpoints')
    .description('container endpoints: state, addresses, host veth, peers advertised to, and errors (bad labels too)')
    .addOption(socketOption())
    .option('--json', 'print the API answer as JSON')
    .option('--all', "every worker's endpoints, read from etcd (cluster mode)")
    .option('--config <file>', 'with --all: agent.yaml (its store.etcd)', DEFAULT_CONFIG)
    .action(async (...args: unknown[]) => {
      const o = (args[args.length - 1] as Command).opts<{ all?: boolean; config: string; json?: boolean }>();
      if (!o.all) return localEndpoints(...args);
      await clusterCommand(o.config, async (cfg) => {
        const { readClusterEndpoints, clusterEndpointsText } = await import('./cluster.js');
        const eps = await readClusterEndpoints(cfg);
        io.out(o.json ? json({ endpoints: eps }) : clusterEndpointsText(eps));
      });
    });

  program
    .command('inspect')
    .description('one container endpoint by name, id or id prefix: hwaddr, addresses, gateway, host veth, zone, advertised-to')
    .argument('<container>', 'name, id or unique id prefix')
    .addOption(socketOption())
    .option('--json', 'print the API answer as JSON')
    .action(
      client(async (c, o, container) => {
        const r = await c.inspect(container ?? '');
        io.out(o.json ? json(r) : inspectText(r));
        return r.state === 'error' ? EXIT.failure : EXIT.ok;
      }),
    );

  program
    .command('verify')
    .description('compare desired endpoints, own kernel routes and links, and what each peer was sent; exit 1 on any mismatch')
    .addOption(socketOption())
    .option('--json', 'print the API answer as JSON')
    .action(
      client(async (c, o) => {
        const r = await c.verify();
        io.out(o.json ? json(r) : verifyText(r));
        return r.ok ? EXIT.ok : EXIT.failure;
      }),
    );

  // The repair loop, paused so drift (a route or veth deleted by hand) stays for verify to see.
  const reconcile = program.command('reconcile').description("pause or resume the agent's repair of its own routes and veths");
  for (const [name, paused] of [['pause', true], ['resume', false]] as const) {
    reconcile
      .command(name)
      .description(paused ? 'stop repairing drift until resumed (routectl verify then shows it)' : 'repair again, at once')
      .addOption(socketOption())
      .option('--json', 'print the API answer as JSON')
      .action(
        client(async (c, o) => {
          const r = await c.setRepairPaused(paused);
          io.out(o.json ? json(r) : `repair loop ${r.paused ? 'paused' : 'running'}\n`);
          return r.paused === paused ? EXIT.ok : EXIT.failure;
        }),
      );
  }

  // Zone policy (docs/policy.md). check: exit 0 allow, 1 deny, 64 a bad or unknown SRC/DST/traffic.
  const policy = program.command('policy').description('zone policy: rules and counters (show), one verdict explained (check)');
  policy
    .command('show')
    .description('zones, ranges, rules with packet/byte counters, drops per zone pair')
    .addOption(socketOption())
    .option('--json', 'print the API answer as JSON')
    .action(
      client(async (c, o) => {
        const r = await c.get<PolicyShowResponse>('/v1/policy');
        io.out(o.json ? json(r) : policyShowText(r));
        return EXIT.ok;
      }),
    );
  policy
    .command('check')
    .description('would a new connection SRC -> DST be allowed? names the deciding rule; exit 0 allow, 1 deny')
    .argument('<src>', 'a container (name, id, id prefix), an address, or a zone')
    .argument('<dst>', 'a container (name, id, id prefix), an address, or a zone')
    .argument('<traffic>', 'tcp/PORT, udp/PORT or icmp')
    .addOption(socketOption())
    .option('--json', 'print the API answer as JSON')
    .action(
      client(async (c, o, src, dst, traffic) => {
        const qs = new URLSearchParams({ src: src ?? '', dst: dst ?? '', traffic: traffic ?? '' });
        let r: PolicyCheckResponse;
        try {
          r = await c.get<PolicyCheckResponse>(`/v1/policy/check?${qs.toString()}`);
        } catch (err) {
          if (err instanceof ApiClientError && (err.status === 400 || err.status === 404)) {
            io.err(`routectl: ${err.message}\n`);
            return EXIT.usage;
          }
          throw err;
        }
        io.out(o.json ? json(r) : policyCheckText(r));
        return r.verdict === 'allow' ? EXIT.ok : EXIT.failure;
      }),
    );

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version "fail" with exit code 0.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    io.err(`routectl: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.failure;
  }
  return code;
}
