package grpcserver

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestCodecSendsEncodedBytesAsTheyAre(t *testing.T) {
	m := wrapperspb.String("a license")
	want, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	c := newCodec()
	for name, v := range map[string]any{"encoded": enc, "message": m} {
		got, err := c.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got.Materialize(), want) {
			t.Fatalf("%s: marshalled %x, want %x", name, got.Materialize(), want)
		}
		got.Free() // must leave the shared bytes intact
	}
	var back wrapperspb.StringValue
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(enc.b)}, &back); err != nil || back.GetValue() != "a license" {
		t.Fatalf("unmarshal: %v %q", err, back.GetValue())
	}
	if c.Name() != "proto" {
		t.Fatalf("codec name %q: clients would see a different content type", c.Name())
	}
}
