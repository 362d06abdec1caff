import type { FastifyRequest } from 'fastify';
import type { WriteCondition } from '../services/write-outcome.js';
import { HttpProblem } from './error-handler.js';

/**
 * Strong entity tags from the row version: every change bumps the version, so the tag
 * changes exactly when the representation does.
 */
export const etagOf = (version: number): string => `"${version}"`;

const STRONG_TAG = /^"(\d{1,9})"$/;

function tags(header: string): string[] {
  return header
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
}

/** RFC 9110 If-None-Match on a read: true when the client's copy is current (answer 304). */
export function isNotModified(ifNoneMatch: string | undefined, version: number): boolean {
  if (ifNoneMatch === undefined) return false;
  const current = etagOf(version);
  // Weak comparison: W/"3" matches "3".
  return tags(ifNoneMatch).some((tag) => tag === '*' || tag.replace(/^W\//, '') === current);
}

/**
 * The version an If-Match header requires, or undefined when there is no condition.
 * Strong comparison only (RFC 9110 §13.1.1): a weak or malformed tag can never match,
 * so it fails the precondition instead of being ignored.
 */
export function requiredVersion(ifMatch: string | undefined): number | undefined {
  if (ifMatch === undefined) return undefined;
  const list = tags(ifMatch);
  if (list.includes('*')) return undefined;
  const versions = list.map((tag) => STRONG_TAG.exec(tag)?.[1]).filter((v) => v !== undefined);
  if (versions.length !== 1 || list.length !== 1) {
    throw new HttpProblem(
      412,
      'precondition-failed',
      'Precondition failed',
      'If-Match must carry exactly one strong entity tag from an ETag of this resource',
    );
  }
  return Number(versions[0]);
}

/**
 * The condition a write to an existing resource carries in If-Match. With REQUIRE_IF_MATCH a
 * write without one is refused (428): it must say which version it changes.
 */
export function writeCondition(request: FastifyRequest, requireIfMatch: boolean): WriteCondition {
  const ifMatch = request.headers['if-match'];
  if (ifMatch === undefined && requireIfMatch) {
    throw new HttpProblem(
      428,
      'precondition-required',
      'Precondition required',
      'Send If-Match with the ETag of the version you are changing',
    );
  }
  return { expectedVersion: requiredVersion(ifMatch) };
}
