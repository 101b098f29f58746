/**
 * The deployment files for routectl-cni, checked against the code: the Kubernetes
 * manifest (DaemonSet on host network, privileged, `routectl status` readiness, the init
 * container installing the plugin and the conflist), its ConfigMap's agent.yaml accepted by
 * the config parser once rendered, the conflists accepted by the plugin's own parser, and
 * the plugin's imports being exactly the files the init container copies.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseNetConf, resolveZone } from '../../../src/cni/plugin.js';
import { parseConfig } from '../../../src/config/index.js';

const ROOT = join(import.meta.dirname, '../../..');
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

type Doc = Record<string, any>;
const docs = parseAllDocuments(read('deploy/kubernetes/routectl.yaml')).map((d) => d.toJS() as Doc);
const kind = (k: string): Doc => {
  const d = docs.find((x) => x.kind === k);
  if (!d) throw new Error(`no ${k} in deploy/kubernetes/routectl.yaml`);
  return d;
};

describe('deploy/kubernetes', () => {
  it('has the ServiceAccount, ConfigMap and DaemonSet', () => {
    expect(docs.map((d) => d.kind)).toEqual(['ServiceAccount', 'ConfigMap', 'DaemonSet']);
  });

  it('DaemonSet: host network, privileged agent, routectl status as readiness probe', () => {
    const spec = kind('DaemonSet').spec.template.spec as Doc;
    expect(spec.hostNetwork).toBe(true);
    const agent = spec.containers.find((c: Doc) => c.name === 'agent') as Doc;
    expect(agent.securityContext.privileged).toBe(true);
    expect(agent.resources).toEqual({ requests: { cpu: '250m', memory: '128Mi' } }); // a CPU weight, no CPU limit
    expect(agent.readinessProbe.exec.command.slice(0, 2)).toEqual(['routectl', 'status']);
    expect(agent.command).toEqual(['routectl', 'agent', '--config', '/rendered/agent.yaml']);
    const mounts = (agent.volumeMounts as Doc[]).map((m) => m.mountPath);
    for (const m of ['/run/routectl', '/var/lib/routectl', '/var/run/netns', '/rendered']) expect(mounts).toContain(m);
  });

  it('init container: renders agent.yaml and installs the plugin, its modules and the conflist', () => {
    const init = (kind('DaemonSet').spec.template.spec.initContainers as Doc[]).find((c) => c.name === 'install-cni')!;
    const script = (init.args as string[]).join('\n');
    expect(script).toContain('/host/opt/cni/bin/routectl-cni');
    expect(script).toContain('/host/etc/cni/net.d/10-routectl.conflist');
    expect(script).toContain('routectl validate /rendered/agent.yaml');
    // The plugin's CommonJS build, whole (the import test below says what it holds), and
    // the wrapper runs its entry.
    expect(script).toContain('cp -r /app/dist/cni /host/opt/routectl/cni.new');
    expect(script).toContain('exec env -u NODE_OPTIONS -u NODE_EXTRA_CA_CERTS /opt/routectl/bin/node /opt/routectl/cni/src/cli/routectl-cni.js');
  });

  it("the ConfigMap's agent.yaml, rendered with a node IP, is a valid config with pools and no Docker runtime", () => {
    const text = (kind('ConfigMap').data['agent.yaml'] as string).replace(/__NODE_IP__/g, '192.0.2.2');
    const cfg = parseConfig(text, 'configmap:agent.yaml');
    expect(cfg.routerId).toBe('192.0.2.2');
    expect(cfg.pools.length).toBeGreaterThan(0);
    expect(cfg.runtime.docker).toBeUndefined();
    expect(cfg.api.socket).toBe('/run/routectl/routectl.sock');
  });

  it("cluster mode: the ConfigMap's agent.etcd.yaml is a valid config with store.etcd, TLS from the mounted Secret, chosen by ROUTECTL_STORE", () => {
    const text = (kind('ConfigMap').data['agent.etcd.yaml'] as string).replace(/__NODE_IP__/g, '192.0.2.2');
    const cfg = parseConfig(text, 'configmap:agent.etcd.yaml');
    expect(cfg.store.etcd?.endpoints).toHaveLength(3);
    expect(cfg.store.etcd?.tls?.ca).toBe('/etc/routectl/etcd/ca.pem');
    expect(cfg.store.etcd?.path).toBe('/var/lib/routectl');
    const spec = kind('DaemonSet').spec.template.spec as Doc;
    const init = (spec.initContainers as Doc[]).find((c) => c.name === 'install-cni')!;
    expect((init.env as Doc[]).find((e) => e.name === 'ROUTECTL_STORE')?.value).toBe('local');
    expect((init.args as string[]).join('\n')).toContain('if [ "${ROUTECTL_STORE:-local}" = etcd ]; then src=/config/agent.etcd.yaml; fi');
    const agent = (spec.containers as Doc[]).find((c) => c.name === 'agent')!;
    expect((agent.volumeMounts as Doc[]).find((m) => m.name === 'etcd-tls')?.mountPath).toBe('/etc/routectl/etcd');
    expect((spec.volumes as Doc[]).find((v) => v.name === 'etcd-tls')?.secret).toMatchObject({ secretName: 'routectl-etcd-tls', optional: true });
  });

  it('deploy/cluster: agent.yaml is a valid cluster-mode config, the unit runs it', () => {
    const cfg = parseConfig(read('deploy/cluster/agent.yaml'), 'deploy/cluster/agent.yaml');
    expect(cfg.store.etcd?.endpoints.every((e) => e.startsWith('https://'))).toBe(true);
    expect(cfg.store.etcd).toMatchObject({ leaseTtl: 15, blockGrace: 300, reclaimGrace: 900, path: '/var/lib/routectl' });
    expect(cfg.store.etcd?.tls).toEqual({ ca: '/etc/routectl/etcd/ca.pem', cert: '/etc/routectl/etcd/w1.pem', key: '/etc/routectl/etcd/w1-key.pem' });
    const unit = read('deploy/cluster/routectl.service');
    expect(unit).toMatch(/^ExecStart=\/usr\/local\/bin\/routectl agent --config \/etc\/routectl\/agent\.yaml$/m);
    expect(unit).toMatch(/^StateDirectory=routectl$/m);
  });

  it('the conflists (ConfigMap, deploy/kubernetes, deploy/podman) parse with the plugin and name a zone', () => {
    const texts = [kind('ConfigMap').data['10-routectl.conflist'] as string, read('deploy/kubernetes/routectl.conflist'), read('deploy/podman/routectl.conflist')];
    for (const t of texts) {
      const list = JSON.parse(t) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
      expect(list.plugins).toHaveLength(1);
      // What a runtime hands the plugin: the list's name and version in the plugin's config.
      const conf = parseNetConf(JSON.stringify({ ...list.plugins[0], name: list.name, cniVersion: list.cniVersion }));
      expect(conf.socket).toBe('/run/routectl/routectl.sock');
      expect(resolveZone(conf, new Map())).toBe('app');
    }
  });
});

describe('the plugin stays lean', () => {
  it('routectl-cni loads only node:fs, node:net and src/cni/{plugin,transport,types}', () => {
    const imports = (file: string) => [...read(file).matchAll(/^import[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1]);
    expect(imports('src/cli/routectl-cni.ts')).toEqual(['node:fs', '../cni/plugin.js', '../cni/types.js']);
    expect(imports('src/cni/plugin.ts')).toEqual(['./transport.js', './types.js']);
    expect(imports('src/cni/transport.ts')).toEqual(['node:net']);
    expect(imports('src/cni/types.ts')).toEqual([]);
  });
});
