// Server side of the fixed newstyle handshake as an I/O-free state machine: bytes from the
// client go in through step(), and out come the bytes to send and what to do next (keep
// negotiating, enter transmission with an admitted export, or close). Options handled:
// EXPORT_NAME, GO, INFO, ABORT and LIST; STARTTLS, structured replies, meta contexts and
// extended headers are answered NBD_REP_ERR_UNSUP, as the protocol requires of a server
// without them. Admission of an export name is delegated to the fence (export-fence.ts).
import type { ByteQueue } from './byte-queue.js';
import type { Admission } from './export-fence.js';
import {
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_NO_ZEROES,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_DESCRIPTION,
  NBD_INFO_NAME,
  NBD_MAX_OPTION_DATA,
  NBD_OPTION_HEADER_SIZE,
  NBD_OPT_ABORT,
  NBD_OPT_EXPORT_NAME,
  NBD_OPT_GO,
  NBD_OPT_INFO,
  NBD_OPT_LIST,
  NBD_REP_ACK,
  NBD_REP_ERR_INVALID,
  NBD_REP_ERR_POLICY,
  NBD_REP_ERR_UNSUP,
  NBD_REP_INFO,
  NBD_REP_SERVER,
  NbdProtocolError,
  decodeInfoRequest,
  decodeOptionHeader,
  encodeExportNameReply,
  encodeInfoBlockSize,
  encodeInfoExport,
  encodeInfoText,
  encodeOptionError,
  encodeOptionReply,
  encodeServerEntry,
  encodeServerGreeting,
  optionName,
} from './protocol.js';

/** What the negotiation needs to know about an admitted export. */
export interface ExportFacts {
  sizeBytes: number;
  transmissionFlags: number;
  description: string;
}

export interface NegotiationPolicy<T> {
  admit(exportName: string): Admission<T>;
  facts(target: T): ExportFacts;
  /** Export names for NBD_OPT_LIST, or undefined when listing is refused by policy. */
  list(): string[] | undefined;
  /** Block sizes sent in NBD_INFO_BLOCK_SIZE when the client asks. */
  blockSize: { minimum: number; preferred: number; maximum: number };
}

export type NegotiationStep<T> =
  | { kind: 'continue'; send: Buffer[] }
  | { kind: 'transmission'; send: Buffer[]; admission: Extract<Admission<T>, { ok: true }> }
  | { kind: 'close'; send: Buffer[]; reason: string; /** false when the client broke the protocol */ orderly: boolean };

/** Options per connection before the server gives up on a client that never decides. */
const MAX_OPTIONS = 64;

export class ServerNegotiation<T> {
  private phase: 'client-flags' | 'options' | 'done' = 'client-flags';
  private noZeroes = false;
  private options = 0;
  /** Refusals seen during this negotiation (the server counts them). */
  readonly refusals: Extract<Admission<T>, { ok: false }>[] = [];

  constructor(private readonly policy: NegotiationPolicy<T>) {}

  greeting(): Buffer {
    return encodeServerGreeting(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
  }

  /** Consumes every complete message queued in `input`. */
  step(input: ByteQueue): NegotiationStep<T> {
    const send: Buffer[] = [];
    try {
      for (;;) {
        if (this.phase === 'done') return { kind: 'continue', send };
        if (this.phase === 'client-flags') {
          const flags = input.take(4);
          if (!flags) return { kind: 'continue', send };
          const value = flags.readUInt32BE(0);
          if ((value & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) !== 0) {
            return this.close(send, `client flags 0x${value.toString(16)} carry bits this server does not know`);
          }
          if ((value & NBD_FLAG_C_FIXED_NEWSTYLE) === 0) return this.close(send, 'client does not speak the fixed newstyle handshake');
          this.noZeroes = (value & NBD_FLAG_C_NO_ZEROES) !== 0;
          this.phase = 'options';
          continue;
        }
        if (input.length < NBD_OPTION_HEADER_SIZE) return { kind: 'continue', send };
        // Peek at the header: the option's data must be complete before it is consumed.
        const header = decodeOptionHeader(input.peek(NBD_OPTION_HEADER_SIZE)!);
        if (header.length > NBD_MAX_OPTION_DATA) return this.close(send, `${optionName(header.option)} carries ${header.length} bytes, more than this server reads`);
        if (input.length < NBD_OPTION_HEADER_SIZE + header.length) return { kind: 'continue', send };
        input.take(NBD_OPTION_HEADER_SIZE);
        const data = Buffer.from(input.take(header.length)!);
        if (++this.options > MAX_OPTIONS) return this.close(send, `more than ${MAX_OPTIONS} options without choosing an export`);
        const outcome = this.option(header.option, data, send);
        if (outcome) return outcome;
      }
    } catch (err) {
      if (err instanceof NbdProtocolError) return this.close(send, err.message);
      throw err;
    }
  }

  private option(option: number, data: Buffer, send: Buffer[]): NegotiationStep<T> | undefined {
    switch (option) {
      case NBD_OPT_EXPORT_NAME: {
        const admission = this.policy.admit(data.toString('utf8'));
        // EXPORT_NAME has no error reply: a refusal can only close the connection.
        if (!admission.ok) {
          this.refusals.push(admission);
          return this.close(send, `NBD_OPT_EXPORT_NAME refused: ${admission.message}`, true);
        }
        const facts = this.policy.facts(admission.target);
        send.push(encodeExportNameReply(BigInt(facts.sizeBytes), facts.transmissionFlags, this.noZeroes));
        this.phase = 'done';
        return { kind: 'transmission', send, admission };
      }
      case NBD_OPT_GO:
      case NBD_OPT_INFO: {
        let request;
        try {
          request = decodeInfoRequest(data);
        } catch (err) {
          send.push(encodeOptionError(option, NBD_REP_ERR_INVALID, (err as Error).message));
          return undefined;
        }
        const admission = this.policy.admit(request.exportName);
        if (!admission.ok) {
          this.refusals.push(admission);
          send.push(encodeOptionError(option, admission.replyType, admission.message));
          return undefined;
        }
        const facts = this.policy.facts(admission.target);
        send.push(encodeOptionReply(option, NBD_REP_INFO, encodeInfoExport(BigInt(facts.sizeBytes), facts.transmissionFlags)));
        for (const type of new Set(request.infoTypes)) {
          if (type === NBD_INFO_BLOCK_SIZE) {
            const b = this.policy.blockSize;
            send.push(encodeOptionReply(option, NBD_REP_INFO, encodeInfoBlockSize(b.minimum, b.preferred, b.maximum)));
          } else if (type === NBD_INFO_NAME) {
            send.push(encodeOptionReply(option, NBD_REP_INFO, encodeInfoText(NBD_INFO_NAME, request.exportName)));
          } else if (type === NBD_INFO_DESCRIPTION) {
            send.push(encodeOptionReply(option, NBD_REP_INFO, encodeInfoText(NBD_INFO_DESCRIPTION, facts.description)));
          }
        }
        send.push(encodeOptionReply(option, NBD_REP_ACK));
        if (option === NBD_OPT_INFO) return undefined;
        this.phase = 'done';
        return { kind: 'transmission', send, admission };
      }
      case NBD_OPT_ABORT:
        send.push(encodeOptionReply(option, NBD_REP_ACK));
        return this.close(send, 'client sent NBD_OPT_ABORT', true);
      case NBD_OPT_LIST: {
        if (data.length !== 0) {
          send.push(encodeOptionError(option, NBD_REP_ERR_INVALID, 'NBD_OPT_LIST carries no data'));
          return undefined;
        }
        const names = this.policy.list();
        if (names === undefined) {
          send.push(encodeOptionError(option, NBD_REP_ERR_POLICY, 'listing exports is disabled on this server'));
          return undefined;
        }
        for (const name of names) send.push(encodeOptionReply(option, NBD_REP_SERVER, encodeServerEntry(name)));
        send.push(encodeOptionReply(option, NBD_REP_ACK));
        return undefined;
      }
      default:
        send.push(encodeOptionError(option, NBD_REP_ERR_UNSUP, `${optionName(option)} is not supported by this server`));
        return undefined;
    }
  }

  private close(send: Buffer[], reason: string, orderly = false): NegotiationStep<T> {
    this.phase = 'done';
    return { kind: 'close', send, reason, orderly };
  }
}
