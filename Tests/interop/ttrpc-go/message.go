package main

// Messages for containerd/ttrpc 1.1.1 without generated Go code: ttrpc marshals through
// gogo's proto.Marshal/Unmarshal, which call a message's own Marshal()/Unmarshal([]byte)
// when it has them. dynamicMessage wraps a google.golang.org/protobuf dynamicpb message built
// from the descriptor set protoc writes for protos/*.proto, so the wire bytes come from an
// implementation independent of the agent's (swift-protobuf).

import (
	"fmt"
	"os"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// dynamicMessage satisfies gogo's proto.Message plus Marshaler/Unmarshaler.
type dynamicMessage struct {
	message *dynamicpb.Message
}

func (m *dynamicMessage) Reset()         { m.message = dynamicpb.NewMessage(m.message.Descriptor()) }
func (m *dynamicMessage) String() string { return protojson.Format(m.message) }
func (m *dynamicMessage) ProtoMessage()  {}

func (m *dynamicMessage) Marshal() ([]byte, error) { return proto.Marshal(m.message) }

func (m *dynamicMessage) Unmarshal(data []byte) error {
	fresh := dynamicpb.NewMessage(m.message.Descriptor())
	if err := proto.Unmarshal(data, fresh); err != nil {
		return err
	}
	m.message = fresh
	return nil
}

// rawMessage sends bytes as they are (the oversized request needs no schema).
type rawMessage struct{ data []byte }

func (m *rawMessage) Reset()                      { m.data = nil }
func (m *rawMessage) String() string              { return fmt.Sprintf("%d raw bytes", len(m.data)) }
func (m *rawMessage) ProtoMessage()               {}
func (m *rawMessage) Marshal() ([]byte, error)    { return m.data, nil }
func (m *rawMessage) Unmarshal(data []byte) error { m.data = append([]byte(nil), data...); return nil }

// schema resolves "grpc.AgentService/CreateSandbox" to its request and response descriptors.
type schema struct {
	files *protoregistry.Files
}

func loadSchema(path string) (*schema, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read descriptor set %s: %w", path, err)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("parse descriptor set %s: %w", path, err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		return nil, fmt.Errorf("link descriptor set %s: %w", path, err)
	}
	return &schema{files: files}, nil
}

// method splits "service/Method" and finds its descriptor.
func (s *schema) method(rpc string) (service, name string, md protoreflect.MethodDescriptor, err error) {
	slash := strings.LastIndex(rpc, "/")
	if slash <= 0 || slash == len(rpc)-1 {
		return "", "", nil, fmt.Errorf("rpc %q is not service/Method", rpc)
	}
	service, name = rpc[:slash], rpc[slash+1:]
	d, err := s.files.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		return "", "", nil, fmt.Errorf("service %s: %w", service, err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return "", "", nil, fmt.Errorf("%s is not a service", service)
	}
	md = sd.Methods().ByName(protoreflect.Name(name))
	if md == nil {
		return "", "", nil, fmt.Errorf("service %s has no method %s", service, name)
	}
	return service, name, md, nil
}

// request builds the input message of md from protobuf JSON (empty: the default message).
func request(md protoreflect.MethodDescriptor, json string) (*dynamicMessage, error) {
	message := dynamicpb.NewMessage(md.Input())
	if strings.TrimSpace(json) != "" {
		if err := protojson.Unmarshal([]byte(json), message); err != nil {
			return nil, fmt.Errorf("request for %s: %w", md.FullName(), err)
		}
	}
	return &dynamicMessage{message: message}, nil
}

func response(md protoreflect.MethodDescriptor) *dynamicMessage {
	return &dynamicMessage{message: dynamicpb.NewMessage(md.Output())}
}

// jsonOf prints a message with the protos' field names, as kata-agent-ctl does.
func jsonOf(m *dynamicMessage) string {
	data, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m.message)
	if err != nil {
		return fmt.Sprintf("%q", err.Error())
	}
	return string(data)
}
