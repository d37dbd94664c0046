// The error table's template language: <name> parameters, {optional parts} kept only when every
// parameter in them has a value, "?" for a value not given, and values printed as they are.
import { describe, expect, it } from 'vitest';
import { fillTemplate, templateParameters } from '../../src/common/error-template.js';

const values = (v: Record<string, string | number>) => (name: string) => v[name];

describe('error templates', () => {
  it('fills named parameters, a missing one as "?"', () => {
    expect(fillTemplate('tag <tag> on <server> (<ms> ms)', values({ tag: 'web', ms: 15 }))).toBe('tag web on ? (15 ms)');
  });

  it('keeps an optional part only when all its parameters are non-empty', () => {
    const t = 'no device for <tag>{ on <server>}; damaged';
    expect(fillTemplate(t, values({ tag: 'nas1', server: 'node1' }))).toBe('no device for nas1 on node1; damaged');
    expect(fillTemplate(t, values({ tag: 'nas1', server: '' }))).toBe('no device for nas1; damaged');
    expect(fillTemplate(t, values({ tag: 'nas1' }))).toBe('no device for nas1; damaged');
  });

  it('prints a value that looks like a parameter or an optional part as it is', () => {
    expect(fillTemplate('mdadm said: <reason>', values({ reason: '<tag> {x <y>}' }))).toBe('mdadm said: <tag> {x <y>}');
  });

  it('lists the parameters in order of first use, optional parts included', () => {
    expect(templateParameters('<1> and <2>{ on <server>}, <1> again')).toEqual(['1', '2', 'server']);
  });
});
