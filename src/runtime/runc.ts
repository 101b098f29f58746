/**
 * Containers seen the moment runc has created them, before dockerd says they started.
 *
 * dockerd starts a container in steps. containerd has runc create it: namespaces, cgroup,
 * mounts, then the prestart hooks, among them the one through which dockerd sets up the
 * network namespace (for `--net none`: loopback up, IPv6 off on every interface). runc then
 * writes its state file, `<root>/<id>/state.json`, and the container's process waits for
 * `runc start`. dockerd has it started next, and only after that sends its `start` event.
 * On a 2-core worker starting 100 containers in parallel batches, the state file came
 * 11–367 ms before the event (137 ms at the median).
 *
 * From the state file on, the container's network namespace is its own: dockerd's hook has
 * run, and nothing but the container touches it any more. Its command has not run yet. So
 * the Docker runtime wires a container from its state file (docker.ts), and the command
 * starts with its addresses in place, as under CNI; dockerd's `start` event then confirms.
 *
 * Where the state files are: dockerd runs runc with the root
 * `<exec-root>/runtime-runc/moby`, and it keeps the containers' network namespaces in
 * `<exec-root>/netns` (a started container's `NetworkSettings.SandboxKey`). The root is
 * learnt from a running container that dockerd inspected, and checked: that container's
 * own state file must be there. Another runtime than runc, or another layout: nothing is
 * learnt, and containers are wired at their start event.
 *
 * Watching: one inotify watch on the root (a container's directory appears when runc
 * creates it) and one on the directory of each container being waited for (runc writes
 * state.json to a temporary file and renames it); each is looked at again after its watch
 * is set, so that nothing created in between is missed. A root removed and made again
 * (a watch on the old one would see nothing more) is watched again at the next wait.
 */
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const CONTAINER_ID = /^[0-9a-f]{64}$/;
const STATE_FILE = 'state.json';

/** What learn() found: the root (`fresh` the first time), or why not. */
export type RuncLearnResult = { readonly known: true; readonly root: string; readonly fresh: boolean } | { readonly known: false; readonly why: string };

/** runc's root for dockerd's containers, from a SandboxKey (`<exec-root>/netns/<sandbox>`). */
export function runcRootFor(sandboxKey: string): string | undefined {
  const netns = dirname(sandboxKey);
  if (!sandboxKey.startsWith('/') || netns.split('/').pop() !== 'netns') return undefined;
  return join(dirname(netns), 'runtime-runc', 'moby');
}

export class RuncStates {
  private root: string | undefined;
  private top: FSWatcher | undefined;
  /** The root's watch saw the root itself go (removed or moved): watched again at the next wait. */
  private rootGone = false;
  /** Containers waited for, with their directory's watch once that directory exists. */
  private readonly waiting = new Map<string, FSWatcher | undefined>();
  private closed = false;

  /**
   * @param onCreated a container waited for has its state file (called once, then it is
   *   no longer waited for)
   * @param onFailed the root's watch failed: nothing more will be seen (say why)
   */
  constructor(
    private readonly onCreated: (id: string) => void,
    private readonly onFailed: (err: Error) => void,
  ) {}

  /** Where the state files are, once learnt. */
  get known(): string | undefined {
    return this.root;
  }

  /** The ids waited for (for tests and the status). */
  get pending(): number {
    return this.waiting.size;
  }

  /** Learns the root from a running container's SandboxKey and id (see the file header). */
  learn(sandboxKey: string | undefined, id: string): RuncLearnResult {
    if (this.root !== undefined) return { known: true, root: this.root, fresh: false };
    if (this.closed) return { known: false, why: 'stopped' };
    if (sandboxKey === undefined || sandboxKey === '') return { known: false, why: 'dockerd gave no SandboxKey' };
    const root = runcRootFor(sandboxKey);
    if (root === undefined) return { known: false, why: `SandboxKey ${sandboxKey} is not <exec-root>/netns/<sandbox>` };
    if (!existsSync(join(root, id, STATE_FILE))) return { known: false, why: `no ${join(root, '<id>', STATE_FILE)} for a running container (not runc, or another layout)` };
    try {
      this.watchRoot(root);
    } catch (err) {
      return { known: false, why: `cannot watch ${root}: ${(err as Error).message}` };
    }
    this.root = root;
    for (const w of [...this.waiting.keys()]) this.look(w);
    return { known: true, root, fresh: true };
  }

  private watchRoot(root: string): void {
    const self = basename(root);
    const top = watch(root, { persistent: false }, (_type, name) => {
      // The root itself removed or moved (inotify names it): this watch sees nothing more.
      if (name === self) this.rootGone = true;
      else if (typeof name === 'string' && this.waiting.has(name)) this.look(name);
    });
    top.on('error', (err) => this.fail(err));
    this.top?.close();
    this.top = top;
    this.rootGone = false;
  }

  /** Watches the root again when it went and is back (dockerd's exec root cleaned). */
  private rewatchIfGone(): void {
    if (this.root === undefined || !this.rootGone || !existsSync(this.root)) return;
    try {
      this.watchRoot(this.root);
    } catch {
      // Unwatchable: the start events still wire every container.
      return;
    }
    // The containers' directories' watches were in the old root.
    for (const id of [...this.waiting.keys()]) {
      this.waiting.get(id)?.close();
      this.waiting.set(id, undefined);
      this.look(id);
    }
  }

  /** Wait for this container's state file (a container created, not started yet). */
  expect(id: string): void {
    if (this.closed || !CONTAINER_ID.test(id) || this.waiting.has(id)) return;
    this.waiting.set(id, undefined);
    this.rewatchIfGone();
    if (this.root !== undefined) this.look(id);
  }

  /** No longer wait for it (started, gone, or forgotten). */
  forget(id: string): void {
    const w = this.waiting.get(id);
    this.waiting.delete(id);
    w?.close();
  }

  /** No longer wait for any. */
  forgetAll(): void {
    for (const id of [...this.waiting.keys()]) this.forget(id);
  }

  close(): void {
    this.closed = true;
    this.forgetAll();
    this.top?.close();
    this.top = undefined;
  }

  private fail(err: Error): void {
    this.close();
    this.root = undefined;
    this.onFailed(err);
  }

  /** Watch the container's directory if it exists and is not watched yet, then check its state file. */
  private look(id: string): void {
    const root = this.root;
    if (root === undefined || !this.waiting.has(id)) return;
    if (this.waiting.get(id) === undefined) {
      let w: FSWatcher;
      try {
        w = watch(join(root, id), { persistent: false }, (_type, name) => {
          if (name === STATE_FILE) this.check(id);
        });
      } catch {
        return; // not there yet: the root's watch sees it come
      }
      // Removed again (runc create failed): the directory's watch ends; nothing to do.
      w.on('error', () => undefined);
      this.waiting.set(id, w);
    }
    this.check(id);
  }

  private check(id: string): void {
    const root = this.root;
    if (root === undefined || !this.waiting.has(id) || !existsSync(join(root, id, STATE_FILE))) return;
    this.forget(id);
    this.onCreated(id);
  }
}
