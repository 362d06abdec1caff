import { toBinary, type DescFile, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { ReflectionService } from '@grpc/reflection';
import { file_google_rpc_error_details } from './gen/google/rpc/error_details_pb.js';

/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) for the services served, from the
 * descriptors compiled into the generated code: grpcurl and `buf curl` need no .proto files.
 * It describes the API only (no data), so it asks no token, as the protos in proto/ are public.
 */
export function reflectionOf(services: readonly DescService[]): ReflectionService {
  const files = new Map<string, Buffer>();
  const add = (file: DescFile) => {
    if (files.has(file.proto.name)) return;
    files.set(file.proto.name, Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto)));
    file.dependencies.forEach(add);
  };
  services.forEach((service) => add(service.file));
  // Also the error details a status carries (google.rpc.BadRequest, RetryInfo), which no service file imports.
  add(file_google_rpc_error_details);
  const described = {
    format: 'Protocol Buffer 3 DescriptorProto' as const,
    type: {},
    fileDescriptorProtos: [...files.values()],
  };
  return new ReflectionService({ api: described }, { services: services.map((service) => service.typeName) });
}
