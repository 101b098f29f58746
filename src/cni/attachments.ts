/**
 * CNI attachments in the store: one entry per (network, container id, ifname) under
 * `cni/<network>/<container id>/<ifname>` — CNI spec 1.1.0 identifies an attachment by that
 * tuple, and GC works per network, so a network's attachments are one key prefix. The
 * endpoint id the controller knows them by is derived from the same tuple, so the same
 * container on two networks (or with two interfaces) gets two endpoints and two veths.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Store } from '../store/store.js';

export const ATTACHMENT_PREFIX = 'cni/';

export interface Attachment {
  readonly network: string;
  readonly containerId: string;
  readonly ifName: string;
  readonly endpointId: string;
  readonly netns: string;
  readonly zone: string;
  readonly name: string;
  readonly createdAt: string;
}

const AttachmentSchema: z.ZodType<Attachment, z.ZodTypeDef, unknown> = z
  .object({
    network: z.string(),
    containerId: z.string(),
    ifName: z.string(),
    endpointId: z.string(),
    netns: z.string(),
    zone: z.string(),
    name: z.string(),
    createdAt: z.string(),
  })
  .strict();

/** 64 hex characters: the dataplane names the host veth after the first 11 (rtc + 11). */
export function endpointIdOf(network: string, containerId: string, ifName: string): string {
  return createHash('sha256').update(`cni\0${network}\0${containerId}\0${ifName}`).digest('hex');
}

export function attachmentKey(network: string, containerId: string, ifName: string): string {
  return `${ATTACHMENT_PREFIX}${network}/${containerId}/${ifName}`;
}

export class AttachmentStore {
  constructor(private readonly store: Store) {}

  async get(network: string, containerId: string, ifName: string): Promise<Attachment | undefined> {
    const e = await this.store.get(attachmentKey(network, containerId, ifName));
    return e === undefined ? undefined : AttachmentSchema.parse(e.value);
  }

  /** Claims the key; false when it is taken (CAS "must not exist"). */
  async create(a: Attachment): Promise<boolean> {
    try {
      await this.store.put(attachmentKey(a.network, a.containerId, a.ifName), { ...a }, { expectRevision: 0 });
      return true;
    } catch (err) {
      if ((err as Error).name === 'CasConflictError') return false;
      throw err;
    }
  }

  async delete(network: string, containerId: string, ifName: string): Promise<void> {
    await this.store.delete(attachmentKey(network, containerId, ifName));
  }

  /** Every attachment, or one network's. Entries that do not parse are skipped (and named). */
  async list(network?: string): Promise<{ attachments: Attachment[]; invalid: string[] }> {
    const entries = await this.store.list(network === undefined ? ATTACHMENT_PREFIX : `${ATTACHMENT_PREFIX}${network}/`);
    const attachments: Attachment[] = [];
    const invalid: string[] = [];
    for (const e of entries) {
      const p = AttachmentSchema.safeParse(e.value);
      if (p.success) attachments.push(p.data);
      else invalid.push(e.key);
    }
    return { attachments, invalid };
  }
}
