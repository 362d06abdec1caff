import { Code, ConnectError } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  IdempotencyKeyReusedError,
  NotFoundError,
  RequestInProgressError,
  UnavailableError,
  VersionMismatchError,
} from '../../src/domain/errors.js';
import { toConnectError } from '../../src/grpc/errors.js';
import { ErrorInfoSchema, RetryInfoSchema } from '../../src/grpc/gen/google/rpc/error_details_pb.js';
import { AccessDenied, insufficientScope } from '../../src/http/auth.js';
import { HttpProblem } from '../../src/http/error-handler.js';

const noLog = () => undefined;

describe('toConnectError: the gRPC table of domain errors', () => {
  it('maps each domain error to its status, with ErrorInfo naming the reason', () => {
    const cases: [Error, Code][] = [
      [new NotFoundError('Product', 'x'), Code.NotFound],
      [new AlreadyExistsError('taken', 'sku'), Code.AlreadyExists],
      [new VersionMismatchError('stale'), Code.Aborted],
      [new RequestInProgressError('in flight'), Code.Aborted],
      [new IdempotencyKeyReusedError('reused'), Code.InvalidArgument],
    ];
    for (const [error, code] of cases) {
      const status = toConnectError(error, noLog);
      expect(status.code, error.name).toBe(code);
      expect(status.findDetails(ErrorInfoSchema)[0]?.domain).toBe('product-user-service');
    }
  });

  it('sends UNAVAILABLE with RetryInfo for an unavailable database', () => {
    const status = toConnectError(new UnavailableError('down', 3), noLog);
    expect(status.code).toBe(Code.Unavailable);
    expect(status.findDetails(RetryInfoSchema)[0]?.retryDelay?.seconds).toBe(3n);
  });

  it('maps authentication and scope failures, and masks anything unknown as INTERNAL', () => {
    const unauthenticated = toConnectError(new AccessDenied('invalid_token', 'no token'), noLog);
    expect(unauthenticated.code).toBe(Code.Unauthenticated);
    expect(unauthenticated.findDetails(ErrorInfoSchema)[0]?.reason).toBe('INVALID_TOKEN');
    const denied = toConnectError(insufficientScope('products:write'), noLog);
    expect(denied.code).toBe(Code.PermissionDenied);
    expect(denied.rawMessage).toBe('This operation needs the products:write scope');
    expect(denied.findDetails(ErrorInfoSchema)[0]?.reason).toBe('INSUFFICIENT_SCOPE');
    // An HTTP-only failure has no place in the gRPC table: it is a bug if one reaches it.
    const httpOnly = toConnectError(new HttpProblem(415, 'unsupported-media-type', 'Unsupported', 'x'), noLog);
    expect(httpOnly.code).toBe(Code.Internal);
    const logged: unknown[] = [];
    const masked = toConnectError(new TypeError('relation "products" does not exist'), (err) => logged.push(err));
    expect(masked.code).toBe(Code.Internal);
    expect(masked.rawMessage).not.toContain('relation');
    expect(logged).toHaveLength(1);
    expect(toConnectError(new ConnectError('as is', Code.Canceled), noLog).code).toBe(Code.Canceled);
  });
});
