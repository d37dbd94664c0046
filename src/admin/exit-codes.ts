// Exit codes of the `vigil` command, shared by the daemon's replies and the CLI.
export const EXIT_OK = 0;
/** The command ran and was refused: bad input, unknown tag, rule broken (stderr has the error number). */
export const EXIT_FAILED = 1;
/** The command line itself was wrong: unknown command, missing or malformed flag. */
export const EXIT_USAGE = 2;
/** The agent could not be reached: no local vigild, or no live path to -d destsys. */
export const EXIT_UNREACHABLE = 3;
/** An unexpected internal error in the agent (logged there). */
export const EXIT_INTERNAL = 4;
