// The message templates of the error table: a parameter is written <name> and an optional part
// {like this, on <server>} is printed only when every parameter in it has a non-empty value (the
// NAS kit names the system only when the caller knows it). One pass over the template, so a
// value that itself contains <x> or {x} (an mdadm message, a path) is printed as it is.

/** The value of a parameter, or undefined when the caller gave none (printed "?"). */
export type ParameterValue = (name: string) => string | number | undefined;

const PART = /\{([^{}]*)\}|<([^<>]+)>/g;
const PARAMETER = /<([^<>]+)>/g;

function show(v: string | number | undefined): string {
  return v === undefined ? '?' : String(v);
}

/** `template` with every <name> replaced by its value and each {optional part} kept or dropped. */
export function fillTemplate(template: string, value: ParameterValue): string {
  return template.replace(PART, (_, optional: string | undefined, name: string | undefined) => {
    if (name !== undefined) return show(value(name));
    const names = [...optional!.matchAll(PARAMETER)].map((m) => m[1]!);
    if (names.some((n) => value(n) === undefined || value(n) === '')) return '';
    return optional!.replace(PARAMETER, (_w, n: string) => show(value(n)));
  });
}

/** The names of the parameters `template` uses, in order of first use. */
export function templateParameters(template: string): string[] {
  return [...new Set([...template.matchAll(PARAMETER)].map((m) => m[1]!))];
}
