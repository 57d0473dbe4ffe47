package grpcserver

import (
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// Encoded is a protobuf message marshalled once, to be sent as it is on any
// number of streams (stream.SendMsg(e)). A fan-out to thousands of streams
// then costs no marshalling and no garbage per stream: every stream's frames
// are written from the same bytes, which nothing modifies.
type Encoded struct {
	b []byte
}

// Encode marshals m once.
func Encode(m proto.Message) (*Encoded, error) {
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, err
	}
	return &Encoded{b: b}, nil
}

// Len is the size of the encoded message.
func (e *Encoded) Len() int { return len(e.b) }

// codec is the proto codec that also sends an *Encoded as its bytes. It
// keeps the name "proto", so clients see nothing different.
type codec struct {
	proto encoding.CodecV2
}

func newCodec() codec { return codec{proto: encoding.GetCodecV2("proto")} }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if e, ok := v.(*Encoded); ok {
		// SliceBuffer's Free does nothing, so the transport releasing its
		// frames leaves the shared bytes alone.
		return mem.BufferSlice{mem.SliceBuffer(e.b)}, nil
	}
	return c.proto.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error { return c.proto.Unmarshal(data, v) }

func (c codec) Name() string { return c.proto.Name() }
