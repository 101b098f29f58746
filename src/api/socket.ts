/**
 * Making the unix socket path safe to listen on. The API can change what the worker
 * routes, so only root may talk to it: the socket is 0600, and its directory must not
 * let another user swap the socket for their own (a world-writable directory without the
 * sticky bit would). A stale socket from a crashed agent is removed; a live agent's is
 * not — two agents on one worker would fight over routes.
 */
import { connect } from 'node:net';
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { ApiSocketError } from './errors.js';

const S_IWOTH = 0o002;
const S_ISVTX = 0o1000;

/** Resolves true when something accepts a connection on the socket. */
export function socketAnswers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (v: boolean): void => {
      clearTimeout(t);
      s.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done(true), timeoutMs); // accepted but silent still means "taken"
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Checks and prepares `path` for listening; throws ApiSocketError on anything unsafe. */
export async function prepareSocketPath(path: string): Promise<void> {
  const dir = dirname(path);
  let st;
  try {
    st = lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ApiSocketError(`cannot inspect ${dir}: ${(err as Error).message}`, { cause: err });
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    chmodSync(dir, 0o755); // the mode above is masked by umask
    st = lstatSync(dir);
  }
  if (!st.isDirectory()) throw new ApiSocketError(`refusing to listen on ${path}: ${dir} is not a directory`);
  if ((st.mode & S_IWOTH) !== 0 && (st.mode & S_ISVTX) === 0) {
    throw new ApiSocketError(
      `refusing to listen on ${path}: ${dir} is world-writable (mode ${(st.mode & 0o7777).toString(8)}), so any user could replace the socket; use a root-owned directory such as /run/routectl (chmod 755 ${dir})`,
    );
  }
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid && st.uid !== 0) {
    throw new ApiSocketError(`refusing to listen on ${path}: ${dir} belongs to uid ${st.uid}, who could replace the socket; use a directory owned by root or uid ${uid}`);
  }

  let existing;
  try {
    existing = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new ApiSocketError(`cannot inspect ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (!existing.isSocket()) {
    throw new ApiSocketError(`refusing to listen on ${path}: a file that is not a socket is there; remove it or choose another api.socket`);
  }
  if (await socketAnswers(path)) {
    throw new ApiSocketError(`another routectl agent is already answering on ${path}; stop it first (two agents would fight over routes)`);
  }
  // Nothing listens: left over from an agent that did not shut down cleanly.
  unlinkSync(path);
}
