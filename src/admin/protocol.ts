// The wire format between the `vigil` CLI and the local vigild admin socket (one JSON object
// per line each way). Kept tiny and shared so the CLI, the daemon and `-d destsys`
// forwarding over a comm path all carry exactly the same request and reply.

/** One administration command, as parsed by the CLI (flags already split out). */
export interface AdminRequest {
  /** Correlates the reply on a socket that carries several requests. */
  id: number;
  /** Command name as users type it: 'eqv_list', 'sys_remove', 'create', ... */
  command: string;
  /** Flag values keyed by their long or short name as the command defines them. */
  options: Record<string, string | boolean | string[]>;
  /** Positional arguments. */
  args: string[];
  /** When set, the local agent forwards the request to this system's agent. */
  destsys?: string;
  /** Ask for machine-readable output in `data` rather than formatted text. */
  json?: boolean;
}

/** The agent's answer. `exitCode` is what the CLI exits with. */
export interface AdminReply {
  id: number;
  exitCode: number;
  /** Text for stdout, already formatted the way the seeds print it. */
  stdout: string;
  /** Text for stderr (errors carry the product error number, e.g. `*ERROR* (No. 424) ...`, `Error 000014: ...`). */
  stderr: string;
  /** Structured result for --json. */
  data?: unknown;
}

/** Default location of the root-only admin socket; overridable by VIGIL_ADMIN_SOCKET. */
export const DEFAULT_ADMIN_SOCKET = '/run/vigil/admin.sock';
