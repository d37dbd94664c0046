// Product errors: every failure an operator can see carries the seeds' error number (where the
// seeds define one) so it can be looked up, plus a message in our own words.

export class VigilError extends Error {
  /** The product error number, e.g. 424 or 104044; 0 when the seeds define none. */
  readonly number: number;
  /** Extra structured facts (tag, system, path...) for logs and --json output. */
  readonly details: Record<string, unknown>;

  constructor(number: number, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VigilError';
    this.number = number;
    this.details = details;
  }

  /** The operator-facing line: "Error 000424: ..." style, zero-padded to the seeds' width. */
  format(): string {
    if (this.number === 0) return `Error: ${this.message}`;
    const n = String(this.number);
    return `Error ${n.length < 6 ? n.padStart(6, '0') : n}: ${this.message}`;
  }
}
