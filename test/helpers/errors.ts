// Test helper: the VigilError a synchronous call throws (any other outcome fails the test).
import { VigilError } from '../../src/common/errors.js';

export function errorOf(fn: () => unknown): VigilError {
  try {
    fn();
  } catch (e) {
    if (e instanceof VigilError) return e;
    throw e;
  }
  throw new Error('expected a VigilError');
}
