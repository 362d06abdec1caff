import { PreconditionFailedError } from '../domain/errors.js';

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
    throw new PreconditionFailedError(
      'If-Match must carry exactly one strong entity tag from an ETag of this resource',
    );
  }
  return Number(versions[0]);
}
