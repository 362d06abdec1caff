import * as grpc from '@grpc/grpc-js';
import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethod,
  type DescService,
  type MessageShape,
} from '@bufbuild/protobuf';
import {
  Code,
  ConnectError,
  createContextKey,
  createContextValues,
  type ContextValues,
  type HandlerContext,
  type Interceptor,
  type MethodImplSpec,
} from '@connectrpc/connect';
import { createAsyncIterable } from '@connectrpc/connect/protocol';
import { setTrailerStatus } from '@connectrpc/connect/protocol-grpc';
import { reflectionOf } from './reflection.js';
import type { RpcService } from './routes.js';

/** What GRPC_PORT serves: the services, and what observes the reflection calls beside them. */
export interface GrpcServing {
  readonly services: readonly RpcService[];
  /** A grpc-js server interceptor: reflection is served past the services' own interceptors. */
  readonly observeReflection: grpc.ServerInterceptor;
}

export interface GrpcServer {
  /** Binds `host:port` (0: any free port) and answers the port bound. */
  listen(port: number, host: string): Promise<number>;
  /**
   * Stops accepting, lets calls in flight finish, then ends every connection; calls still
   * running after `graceMs` (a client that never finishes sending) are cancelled.
   */
  close(graceMs?: number): Promise<void>;
}

/** What every call's end aborts its context with: nothing waits on it any longer. */
const CALL_ENDED = new ConnectError('the call has ended', Code.Canceled);
const CANCELLED = new ConnectError('the client cancelled the call', Code.Canceled);

type Message = MessageShape<DescMessage>;
type Call = grpc.ServerUnaryCall<Message, Message> | grpc.ServerWritableStream<Message, Message>;

function serializers(method: DescMethod) {
  return {
    requestSerialize: (message: Message) => Buffer.from(toBinary(method.input, message)),
    requestDeserialize: (bytes: Buffer) => fromBinary(method.input, bytes),
    responseSerialize: (message: Message) => Buffer.from(toBinary(method.output, message)),
    responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
  };
}

/** The call's context, for the implementation at the end of a chain built once per method. */
const CALL_CONTEXT = createContextKey<CallContext | undefined>(undefined, { description: 'the call context' });

function contextOf(request: { contextValues: ContextValues }): CallContext {
  const context = request.contextValues.get(CALL_CONTEXT);
  if (context === undefined) throw new ConnectError('a call without its context', Code.Internal);
  return context;
}

/**
 * The call's context as a Connect handler sees it: metadata as headers, its deadline, its
 * cancellation. Made here, not by Connect's createHandlerContext, which copies each header set
 * into another Headers and adds two abort controllers and a deadline timer to every call:
 * grpc-js already ends a call at its deadline (and then reports it cancelled), and the signal,
 * which a read by id never looks at, is made when first asked for. A class, so that the
 * signal's getter is on the prototype: an object literal with a getter is built on V8's
 * slow path, a cost a profile showed per call.
 */
class CallContext implements HandlerContext {
  readonly service: DescService;
  readonly method: DescMethod;
  readonly protocolName = 'grpc';
  readonly requestMethod = 'POST';
  readonly url: string;
  readonly requestHeader = new Headers();
  readonly responseHeader = new Headers();
  readonly responseTrailer = new Headers();
  readonly values = createContextValues();
  readonly timeoutMs: () => number | undefined;
  #controller: AbortController | undefined;
  #ended: { reason: unknown } | undefined;

  constructor(spec: MethodImplSpec, call: Call) {
    this.service = spec.method.parent;
    this.method = spec.method;
    this.url = call.getPath();
    for (const [key, value] of Object.entries(call.metadata.getMap())) {
      if (typeof value === 'string') this.requestHeader.set(key, value);
    }
    const deadline = call.getDeadline();
    const at = deadline instanceof Date ? deadline.getTime() : deadline;
    this.timeoutMs = () => (Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined);
    this.values.set(CALL_CONTEXT, this);
    call.once('cancelled', () => this.abort(CANCELLED));
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#ended !== undefined) this.#controller.abort(this.#ended.reason);
    }
    return this.#controller.signal;
  }

  /** Aborts `signal` with `reason`; the first reason stays. */
  abort(reason: unknown): void {
    if (this.#ended !== undefined) return;
    this.#ended = { reason };
    this.#controller?.abort(reason);
  }
}

/** A failure as grpc-js sends it: the code, the message, and the details as `grpc-status-details-bin`. */
function toServiceError(err: unknown): Partial<grpc.ServiceError> {
  const error = ConnectError.from(err);
  const trailer = new Headers();
  setTrailerStatus(trailer, error);
  const metadata = new grpc.Metadata();
  const details = trailer.get('grpc-status-details-bin');
  if (details !== null) metadata.set('grpc-status-details-bin', Buffer.from(details, 'base64'));
  // Connect's codes are gRPC's, number for number.
  const code: number = error.code;
  return { code, details: error.rawMessage, metadata };
}

function isEmpty(headers: Headers): boolean {
  return headers.keys().next().done === true;
}

function toMetadata(headers: Headers): grpc.Metadata {
  const metadata = new grpc.Metadata();
  headers.forEach((value, key) => metadata.set(key, value));
  return metadata;
}

type Next = Parameters<Interceptor>[0];

/** The interceptors around the implementation, outermost first, as Connect's router applies them. */
function intercepted(interceptors: readonly Interceptor[], implementation: Next): Next {
  return interceptors.reduceRight((next, interceptor) => interceptor(next), implementation);
}

/**
 * The request as interceptors see it (Connect's UnaryRequest or StreamRequest). A class for
 * the same reason as CallContext: its signal is the context's, made only when asked for.
 */
class CallRequest<D extends DescMethod, S extends boolean, M> {
  readonly requestMethod = 'POST';
  readonly url: string;
  readonly header: Headers;
  readonly contextValues: ContextValues;
  readonly service: DescService;
  readonly method: D;
  readonly stream: S;
  readonly message: M;
  readonly #context: CallContext;

  constructor(context: CallContext, method: D, stream: S, message: M) {
    this.#context = context;
    this.url = context.url;
    this.header = context.requestHeader;
    this.contextValues = context.values;
    this.service = method.parent;
    this.method = method;
    this.stream = stream;
    this.message = message;
  }

  get signal(): AbortSignal {
    return this.#context.signal;
  }
}

function unaryHandler(
  spec: Extract<MethodImplSpec, { kind: 'unary' }>,
  interceptors: readonly Interceptor[],
): grpc.handleUnaryCall<Message, Message> {
  const { method, impl } = spec;
  // Built once, as Connect's router does: each call carries its context in its values.
  const chain = intercepted(interceptors, async (request) => {
    const context = contextOf(request);
    return {
      stream: false,
      service: method.parent,
      method,
      header: context.responseHeader,
      trailer: context.responseTrailer,
      message: create(method.output, await impl(request.message as Message, context)),
    };
  });
  return (call, callback) => {
    const context = new CallContext(spec, call);
    chain(new CallRequest(context, method, false, call.request))
      .then(
        (response) => {
          if (!isEmpty(response.header)) call.sendMetadata(toMetadata(response.header));
          callback(
            null,
            response.message as Message,
            isEmpty(response.trailer) ? undefined : toMetadata(response.trailer),
          );
        },
        (err: unknown) => callback(toServiceError(err)),
      )
      .finally(() => context.abort(CALL_ENDED));
  };
}

function serverStreamingHandler(
  spec: Extract<MethodImplSpec, { kind: 'server_streaming' }>,
  interceptors: readonly Interceptor[],
): grpc.handleServerStreamingCall<Message, Message> {
  const { method, impl } = spec;
  const chain = intercepted(interceptors, (request) => {
    const context = contextOf(request);
    const requested = request.message as AsyncIterable<Message>;
    return Promise.resolve({
      stream: true,
      service: method.parent,
      method,
      header: context.responseHeader,
      trailer: context.responseTrailer,
      message: (async function* () {
        for await (const message of requested) {
          for await (const reply of impl(message, context)) yield create(method.output, reply);
        }
      })(),
    });
  });
  return (call) => {
    const context = new CallContext(spec, call);
    const serve = async () => {
      const response = await chain(new CallRequest(context, method, true, createAsyncIterable([call.request])));
      if (!response.stream) throw new ConnectError('a stream was expected', Code.Internal);
      for await (const message of response.message) {
        if (call.cancelled) return;
        call.write(message);
      }
      call.end(toMetadata(response.trailer));
    };
    serve()
      .catch((err: unknown) => {
        if (!call.cancelled) call.emit('error', toServiceError(err));
      })
      .finally(() => context.abort(CALL_ENDED));
  };
}

/**
 * Native gRPC (HTTP/2 cleartext, as grpc-js clients and the kubelet's grpc probe speak it),
 * served by @grpc/grpc-js: the same implementations and interceptors as Connect on the
 * REST port, at a third to a quarter of the CPU per GetProduct call of connect-node's HTTP/2
 * handler (docs/performance.md).
 */
export function createGrpcServer(serving: GrpcServing, maxMessageBytes: number): GrpcServer {
  const { services, observeReflection } = serving;
  // Channelz stays on (its default): without it grpc-js does not track sessions, and
  // forceShutdown could not end one held open by a client (calls/s the same either way in
  // interleaved h2load runs).
  const server = new grpc.Server({
    'grpc.max_receive_message_length': maxMessageBytes,
    interceptors: [observeReflection],
  });
  for (const { spec, interceptors } of services) {
    const definition: Record<string, grpc.MethodDefinition<Message, Message>> = {};
    const handlers: grpc.UntypedServiceImplementation = {};
    for (const method of Object.values(spec.methods)) {
      const { name } = method.method;
      const path = `/${spec.service.typeName}/${name}`;
      if (method.kind === 'unary') handlers[name] = unaryHandler(method, interceptors);
      else if (method.kind === 'server_streaming') handlers[name] = serverStreamingHandler(method, interceptors);
      else throw new Error(`${path}: ${method.kind} methods are not served`);
      const responseStream = method.kind === 'server_streaming';
      definition[name] = { path, requestStream: false, responseStream, ...serializers(method.method) };
    }
    server.addService(definition, handlers);
  }
  reflectionOf(services.map(({ spec }) => spec.service)).addToServer(server);
  return {
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
        server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, bound) =>
          err === null ? resolve(bound) : reject(err),
        );
      }),
    close: (graceMs = 5000) =>
      new Promise((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), graceMs);
        // A graceful GOAWAY: calls in flight finish, no new call starts.
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
