/**
 * Docker's event stream, sans-IO: GET /events answers with one JSON object per line,
 * and a chunk from the socket may hold part of a line or several lines. `JsonLines`
 * turns chunks into whole lines; `parseDockerEvent` validates one line (zod, at the
 * edge) into the few fields the runtime uses. Anything else on the stream (other
 * object types, actions we did not ask for) parses to undefined and is skipped.
 */
import { StringDecoder } from 'node:string_decoder';
import { z } from 'zod';

/** The container actions the runtime follows (`create`: its configuration is read then, off the start's path). */
export const FOLLOWED_ACTIONS = ['create', 'start', 'die', 'destroy'] as const;
export type ContainerAction = (typeof FOLLOWED_ACTIONS)[number];

export interface ContainerEvent {
  readonly action: ContainerAction;
  readonly id: string;
  /** Actor attributes: the container's labels plus name, image, exitCode… */
  readonly attributes: Readonly<Record<string, string>>;
  /** Nanoseconds since the epoch, as dockerd stamped it (0 when absent). */
  readonly timeNano: number;
}

const eventSchema = z
  .object({
    Type: z.string(),
    Action: z.string(),
    Actor: z.object({ ID: z.string().min(1), Attributes: z.record(z.string()).optional() }),
    timeNano: z.number().optional(),
  })
  .passthrough();

export class JsonLines {
  private rest = '';
  // A chunk may end inside a multi-byte character (a label value in UTF-8).
  private readonly decoder = new StringDecoder('utf8');
  /** Whole lines completed by this chunk (without the newline, blank lines dropped). */
  push(chunk: Buffer | string): string[] {
    const text = this.rest + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    const parts = text.split('\n');
    this.rest = parts.pop() ?? '';
    return parts.map((p) => p.trim()).filter((p) => p.length > 0);
  }
  /** Bytes of an unfinished line (a stream that ends here was cut mid-object). */
  get pending(): number {
    return this.rest.length;
  }
}

/** One line of the event stream, or undefined when it is not a followed container event. Throws on malformed JSON. */
export function parseDockerEvent(line: string): ContainerEvent | undefined {
  const r = eventSchema.safeParse(JSON.parse(line));
  if (!r.success) throw new Error(`unexpected docker event: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const e = r.data;
  if (e.Type !== 'container' || !(FOLLOWED_ACTIONS as readonly string[]).includes(e.Action)) return undefined;
  return { action: e.Action as ContainerAction, id: e.Actor.ID, attributes: e.Actor.Attributes ?? {}, timeNano: e.timeNano ?? 0 };
}
