// Structured logging for vigild: pino JSON lines, written synchronously so the last lines before
// a crash or a halt are not lost in a buffer.
import pino, { type Logger } from 'pino';

export function createLogger(level: string, name: string, fd = 1): Logger {
  return pino({ level, base: { name, pid: process.pid } }, pino.destination({ dest: fd, sync: true }));
}
