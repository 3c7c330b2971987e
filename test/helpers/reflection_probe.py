"""An independent gRPC reflection client (Debian's python3-grpcio and python3-protobuf), doing what
grpcurl does: list the services, fetch the file that declares a service and, by file name, every file
it depends on, build a descriptor pool from them alone (which checks them as strictly as protoc does),
and call a method through that pool. Prints one JSON object; exits non-zero on any failure.

Usage: reflection_probe.py ADDRESS GENERATED_DIR SERVICE METHOD REQUEST_JSON [PROTOC_SET]
GENERATED_DIR holds reflection_pb2.py (protoc --python_out of grpc/reflection/v1/reflection.proto).
PROTOC_SET, a FileDescriptorSet written by protoc, is compared with what the server serves, file by
file: messages, fields, enums and services must be the same (options and source info aside).
"""
import json
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

address, generated, service_name, method_name, request_json = sys.argv[1:6]
protoc_set = sys.argv[6] if len(sys.argv) > 6 else None
sys.path.insert(0, generated)
import reflection_pb2  # noqa: E402

Request = reflection_pb2.ServerReflectionRequest
Response = reflection_pb2.ServerReflectionResponse

channel = grpc.insecure_channel(address)
info = channel.stream_stream('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
                             request_serializer=Request.SerializeToString,
                             response_deserializer=Response.FromString)


def ask(request):
    response = next(info(iter([request]), timeout=10))
    if response.HasField('error_response'):
        raise RuntimeError(f'reflection error {response.error_response.error_code}: {response.error_response.error_message}')
    return response


files = {}  # name -> FileDescriptorProto, as served


def receive(response):
    for raw in response.file_descriptor_response.file_descriptor_proto:
        proto = descriptor_pb2.FileDescriptorProto.FromString(raw)
        files.setdefault(proto.name, proto)


services = [s.name for s in ask(Request(list_services='')).list_services_response.service]
receive(ask(Request(file_containing_symbol=service_name)))
pool = descriptor_pool.DescriptorPool()
added = []


def add(name):
    if name in added:
        return
    if name not in files:
        receive(ask(Request(file_by_filename=name)))
    if name not in files:
        raise RuntimeError(f'the server did not send {name}')
    for dependency in files[name].dependency:
        add(dependency)
    pool.Add(files[name])
    added.append(name)


root = next(name for name, proto in files.items() if any(
    f'{proto.package}.{s.name}' == service_name for s in proto.service))
add(root)
service = pool.FindServiceByName(service_name)
method = service.FindMethodByName(method_name)
factory = message_factory.MessageFactory(pool)
request_class = factory.GetPrototype(method.input_type)
response_class = factory.GetPrototype(method.output_type)
call = channel.unary_unary(f'/{service_name}/{method_name}',
                           request_serializer=request_class.SerializeToString,
                           response_deserializer=response_class.FromString)
answer = call(json_format.Parse(request_json, request_class()), timeout=10)


def comparable(proto):
    """The file without what protoc and a server may legitimately differ in: options and source info."""
    copy = descriptor_pb2.FileDescriptorProto.FromString(proto.SerializeToString())
    copy.ClearField('options')
    copy.ClearField('source_code_info')

    def strip(message):
        for field in message.field:
            field.ClearField('options')
        for nested in message.nested_type:
            strip(nested)
        if not message.options.map_entry:
            message.ClearField('options')
    for message in copy.message_type:
        strip(message)
    for enum in copy.enum_type:
        enum.ClearField('options')
    for service in copy.service:
        for method in service.method:
            method.ClearField('options')
    return copy


same_as_protoc = {}
if protoc_set is not None:
    with open(protoc_set, 'rb') as f:
        reference = descriptor_pb2.FileDescriptorSet.FromString(f.read())
    for proto in reference.file:
        if proto.name in files:
            same_as_protoc[proto.name] = comparable(proto) == comparable(files[proto.name])

print(json.dumps({
    'services': services,
    'files': added,
    'dependencies': {name: list(files[name].dependency) for name in added},
    'same_as_protoc': same_as_protoc,
    'response': json_format.MessageToDict(answer, preserving_proto_field_name=True),
}))
