// The typed records of the LCD (configuration database) and their zod schemas. Every record
// that enters the database, from a command or from disk, is parsed by these schemas, so the
// rest of the agent can rely on the types. Vocabulary and state names follow the seeds.
import { z } from 'zod';

/** Version of the on-disk document; bump it and add a step in migrations.ts when a record changes. */
export const LCD_SCHEMA_VERSION = 1;

/** System names: a host-name-like word (letters, digits, '-', '_', '.'), 1..64 chars. */
export const SYSTEM_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Resource tags: letters, digits and - _ . / (the seeds' rule), 1..256 chars. */
export const TAG_RE = /^[A-Za-z0-9._\/-]{1,256}$/;

export const SystemName = z.string().regex(SYSTEM_NAME_RE, {
  message: 'a system name is 1-64 letters, digits, "-", "_" or "." and starts with a letter or digit',
});
export const Tag = z.string().regex(TAG_RE, {
  message: 'a tag is 1-256 characters from letters, digits and - _ . /',
});

/** Last-known liveness of a system, as reported by the cluster's membership. */
export const SystemState = z.enum(['ALIVE', 'DEAD', 'UNKNOWN']);
export type SystemState = z.infer<typeof SystemState>;

export const System = z.object({
  name: SystemName,
  state: SystemState.default('UNKNOWN'),
  /** Epoch milliseconds when the state last changed (0: never). */
  stateChangedAt: z.number().int().nonnegative().default(0),
});
export type System = z.infer<typeof System>;

/** Last-known state of one comm path. */
export const CommPathState = z.enum(['ALIVE', 'DEAD', 'UNKNOWN']);
export type CommPathState = z.infer<typeof CommPathState>;

/** Comm path priority: 1 (preferred) .. 99, unique among the paths between one pair of systems. */
export const CommPathPriority = z
  .number({ message: 'a priority is a whole number from 1 to 99' })
  .int({ message: 'a priority is a whole number from 1 to 99' })
  .min(1, { message: 'a priority is a whole number from 1 to 99' })
  .max(99, { message: 'a priority is a whole number from 1 to 99' });

const commPathCommon = {
  /** The local end. */
  system: SystemName,
  /** The remote end. */
  otherSystem: SystemName,
  priority: CommPathPriority,
  state: CommPathState.default('UNKNOWN'),
};

/** An IPv4 or IPv6 literal; comm paths are configured by address, never by host name. */
export const IpAddress = z.union([z.ipv4(), z.ipv6()], { message: 'an IPv4 or IPv6 address' });
export const Port = z.number().int().min(1, { message: 'a port is 1-65535' }).max(65535, { message: 'a port is 1-65535' });
export const DEFAULT_COMM_PORT = 7365;

export const TcpCommPath = z.object({
  type: z.literal('TCP'),
  ...commPathCommon,
  localAddress: IpAddress,
  remoteAddress: IpAddress,
  /** The port both ends listen on for this path. */
  port: Port.default(DEFAULT_COMM_PORT),
});
export type TcpCommPath = z.infer<typeof TcpCommPath>;

export const BAUD_RATES = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600] as const;
export const TtyCommPath = z.object({
  type: z.literal('TTY'),
  ...commPathCommon,
  /** Serial device on the local system, e.g. /dev/ttyS1. */
  device: z.string().regex(/^\/[^\s]+$/, { message: 'an absolute device path' }),
  baud: z
    .number()
    .int()
    .refine((b) => (BAUD_RATES as readonly number[]).includes(b), { message: `a baud rate among ${BAUD_RATES.join(', ')}` })
    .default(9600),
});
export type TtyCommPath = z.infer<typeof TtyCommPath>;

export const DiskCommPath = z.object({
  type: z.literal('DISK'),
  ...commPathCommon,
  /** Shared LUN (sg or block device) that carries heartbeat records. */
  device: z.string().regex(/^\/[^\s]+$/, { message: 'an absolute device path' }),
});
export type DiskCommPath = z.infer<typeof DiskCommPath>;

export const CommPath = z.discriminatedUnion('type', [TcpCommPath, TtyCommPath, DiskCommPath]);
export type CommPath = z.infer<typeof CommPath>;
export type CommPathType = CommPath['type'];

/** Identity of a comm path among those between the same two systems (type + its endpoints). */
export function commPathKey(p: CommPath): string {
  switch (p.type) {
    case 'TCP':
      return `${p.system}|${p.otherSystem}|TCP|${p.localAddress}|${p.remoteAddress}|${p.port}`;
    case 'TTY':
    case 'DISK':
      return `${p.system}|${p.otherSystem}|${p.type}|${p.device}`;
  }
}

/** The seeds' resource states. */
export const ResourceState = z.enum(['ISP', 'ISU', 'OSU', 'OSF']);
export type ResourceState = z.infer<typeof ResourceState>;

export const Switchback = z.enum(['intelligent', 'automatic']);
export type Switchback = z.infer<typeof Switchback>;

/** Equivalency priority: 1 (preferred) .. 999, unique per resource across its systems. */
export const ResourcePriority = z
  .number({ message: 'a priority is a whole number from 1 to 999' })
  .int({ message: 'a priority is a whole number from 1 to 999' })
  .min(1, { message: 'a priority is a whole number from 1 to 999' })
  .max(999, { message: 'a priority is a whole number from 1 to 999' });

export const ResourceInstance = z.object({
  /** The system that owns this instance. */
  system: SystemName,
  tag: Tag,
  /** Unique key of the protected thing (mount point, path, ...). */
  id: z.string().min(1).max(1024).refine((s) => !/[\n\r\0]/.test(s), { message: 'no control characters' }),
  /** Application class, e.g. 'gen', 'scsi'. */
  app: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { message: 'an app name of letters, digits, "_" and "-"' }),
  /** Resource type within the app, e.g. 'app', 'filesys', 'netraid'. */
  type: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { message: 'a type name of letters, digits, "_" and "-"' }),
  switchback: Switchback.default('intelligent'),
  state: ResourceState.default('OSU'),
  /** Kit-specific information (plain text or JSON the kit parses). */
  info: z
    .string()
    .max(65536)
    .refine((s) => !/[\n\r\0]/.test(s), { message: 'kit information is one line (no newline or NUL); use JSON for structure' })
    .default(''),
  /** Why the instance is in its state (set on OSF). */
  reason: z.string().max(4096).default(''),
});
export type ResourceInstance = z.infer<typeof ResourceInstance>;

/** Parent depends on child (children come in service first). */
export const Dependency = z.object({
  system: SystemName,
  parentTag: Tag,
  childTag: Tag,
});
export type Dependency = z.infer<typeof Dependency>;

export const EquivalencyType = z.enum(['SHARED']);
export type EquivalencyType = z.infer<typeof EquivalencyType>;

export const Equivalency = z.object({
  system: SystemName,
  tag: Tag,
  otherSystem: SystemName,
  otherTag: Tag,
  type: EquivalencyType.default('SHARED'),
  /** Priority of `tag` on `system`. */
  priority: ResourcePriority,
  /** Priority of `otherTag` on `otherSystem`. */
  otherPriority: ResourcePriority,
});
export type Equivalency = z.infer<typeof Equivalency>;

/** The whole database as stored on disk. `generation` increases by one on every committed change. */
export const LcdDocument = z.object({
  version: z.literal(LCD_SCHEMA_VERSION),
  generation: z.number().int().nonnegative(),
  localSystem: SystemName,
  systems: z.array(System),
  commPaths: z.array(CommPath),
  instances: z.array(ResourceInstance),
  dependencies: z.array(Dependency),
  equivalencies: z.array(Equivalency),
});
export type LcdDocument = z.infer<typeof LcdDocument>;

/** Input shapes (defaults optional), what callers pass to the mutation methods. */
export type SystemInput = z.input<typeof System>;
export type CommPathInput = z.input<typeof CommPath>;
export type ResourceInstanceInput = z.input<typeof ResourceInstance>;
export type DependencyInput = z.input<typeof Dependency>;
export type EquivalencyInput = z.input<typeof Equivalency>;
