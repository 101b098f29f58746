/**
 * Is CNI_NETNS a container's network namespace? Checked by the agent before an ADD
 * touches anything (no record, no address, no veth), so a wrong path is a clear CNI error
 * (code 4, CNI_NETNS named) instead of EINVAL from the veth creation, or worse: the
 * agent's own namespace, which would be wired like a container (its address and routes
 * on the host itself) until something clashed.
 *
 * The steps, each refusing with what it found:
 *  1. stat: it exists and is a regular file (nsfs files are; a FIFO, a device such as
 *     /dev/null or a directory is refused here, before any open that could block);
 *  2. open it (O_NONBLOCK, in case it changed since; Node adds O_CLOEXEC) and ask the
 *     kernel its namespace type with the NS_GET_NSTYPE ioctl (Linux 4.11; through koffi,
 *     as Node has no ioctl): ENOTTY means not a namespace at all, anything but
 *     CLONE_NEWNET another kind of namespace (/proc/PID/ns/mnt). Where koffi cannot load,
 *     the file system type (statfs: nsfs) is checked instead, which cannot tell a mount
 *     namespace from a network one;
 *  3. the same namespace as the agent's own (/proc/self/ns/net): same device and inode,
 *     which is how namespaces are compared (the inode is the namespace's id; a bind mount
 *     under /run/netns, as `ip netns add` makes, has the same one).
 */
import { constants } from 'node:fs';
import { open, stat, statfs } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { cutExcerpt } from '../config/excerpt.js';

/** statfs f_type of nsfs (linux/magic.h NSFS_MAGIC). */
export const NSFS_MAGIC = 0x6e736673;
/** linux/nsfs.h: _IO(0xb7, 0x3). */
const NS_GET_NSTYPE = 0xb703;
const ENOTTY = 25;

/** sched.h CLONE_NEW* values NS_GET_NSTYPE answers with, for the message. */
const NS_TYPES: Readonly<Record<number, string>> = {
  0x00020000: 'a mount namespace',
  0x02000000: 'a cgroup namespace',
  0x04000000: 'a UTS namespace',
  0x08000000: 'an IPC namespace',
  0x10000000: 'a user namespace',
  0x20000000: 'a PID namespace',
  0x40000000: 'a network namespace',
  0x00000080: 'a time namespace',
};
const CLONE_NEWNET = 0x40000000;

type NsTypeOf = (fd: number) => number | { errno: number };
let nsTypeOf: Promise<NsTypeOf | null> | undefined;

/** The NS_GET_NSTYPE ioctl, loaded once (koffi takes ~20 ms to load: startCni warms it). */
export function loadNsType(): Promise<NsTypeOf | null> {
  nsTypeOf ??= (async () => {
    try {
      const koffi = (await import('koffi')).default;
      const libc = koffi.load('libc.so.6');
      const ioctl = libc.func('int ioctl(int fd, unsigned long request, ...)') as (fd: number, req: number) => number;
      return (fd: number) => {
        const r = ioctl(fd, NS_GET_NSTYPE);
        return r >= 0 ? r : { errno: koffi.errno() };
      };
    } catch {
      return null;
    }
  })();
  return nsTypeOf;
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

export interface NetnsCheckOptions {
  /** The namespace that must not be given: the agent's own (tests name another). */
  readonly self?: string;
}

/**
 * What is wrong with `path` as a container's network namespace, in words that name it;
 * null when it is one and not the agent's own.
 */
export async function netnsProblem(path: string, opts: NetnsCheckOptions = {}): Promise<string | null> {
  const name = cutExcerpt(path, 200);
  let st: Stats;
  try {
    st = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `${name} does not exist` : code === 'EACCES' ? `${name}: permission denied` : `${name}: ${cutExcerpt((err as Error).message, 200)}`;
  }
  if (!st.isFile()) return `${name} is ${kindOf(st)}, not a network namespace`;
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    return `${name} cannot be opened: ${cutExcerpt((err as Error).message, 200)}`;
  }
  try {
    const fst = await fh.stat();
    if (!fst.isFile()) return `${name} is ${kindOf(fst)}, not a network namespace`;
    const typeOf = await loadNsType();
    if (typeOf !== null) {
      const t = typeOf(fh.fd);
      if (typeof t !== 'number') {
        if (t.errno === ENOTTY) return `${name} is a regular file, not a network namespace`;
        return `${name}: the kernel does not say which namespace it is (errno ${t.errno})`;
      }
      if (t !== CLONE_NEWNET) return `${name} is ${NS_TYPES[t] ?? `a namespace of type 0x${t.toString(16)}`}, not a network namespace`;
    } else if ((await statfs(path)).type !== NSFS_MAGIC) {
      return `${name} is a regular file, not a network namespace`;
    }
    const own = await stat(opts.self ?? '/proc/self/ns/net');
    if (own.dev === fst.dev && own.ino === fst.ino) {
      return `${name} is the agent's own network namespace (the host's): the container's addresses and routes would land on the host itself`;
    }
    return null;
  } finally {
    await fh.close();
  }
}
