package main

// read-bench: stdout drained the way the Kata shim drains it (io.Copy's 32 KiB buffer, one
// ReadStdout at a time) for the bench's throughput figure. The request is marshalled once and
// the response's data field is read from the wire bytes, the work generated code would do; the
// dynamic messages of "drain" would measure this client's reflection instead of the agent.

import (
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

func (r *runner) readBench(s step) map[string]interface{} {
	fail := func(code, message string) map[string]interface{} {
		return map[string]interface{}{"op": "read-bench", "code": code, "message": message}
	}
	_, _, md, err := r.schema.method("grpc.AgentService/ReadStdout")
	if err != nil {
		return fail("SCRIPT", err.Error())
	}
	length := s.Len
	if length == 0 {
		length = 32768
	}
	text, _ := json.Marshal(map[string]interface{}{"container_id": s.ContainerID, "exec_id": s.ExecID, "len": length})
	in, err := request(md, string(text))
	if err != nil {
		return fail("SCRIPT", err.Error())
	}
	payload, err := in.Marshal()
	if err != nil {
		return fail("SCRIPT", err.Error())
	}
	total, reads := 0, 0
	start := time.Now()
	for {
		out := &rawMessage{}
		ctx, cancel := r.context(s)
		err := r.client.Call(ctx, "grpc.AgentService", "ReadStdout", &rawMessage{data: payload}, out)
		cancel()
		reads++
		if err != nil {
			code, message := codeOf(err)
			return map[string]interface{}{"op": "read-bench", "code": code, "message": message, "bytes": total, "reads": reads}
		}
		n, err := dataLength(out.data)
		if err != nil {
			return fail("DATA", err.Error())
		}
		if n == 0 {
			break
		}
		total += n
	}
	seconds := time.Since(start).Seconds()
	return map[string]interface{}{"op": "read-bench", "code": "OK", "message": "", "bytes": total, "reads": reads,
		"seconds": seconds, "mib_per_s": float64(total) / (1 << 20) / seconds}
}

// dataLength is the length of ReadStreamResponse.data (field 1, bytes) in its wire form.
func dataLength(wire []byte) (int, error) {
	for len(wire) > 0 {
		number, kind, n := protowire.ConsumeTag(wire)
		if n < 0 {
			return 0, fmt.Errorf("bad tag: %v", protowire.ParseError(n))
		}
		wire = wire[n:]
		if number == 1 && kind == protowire.BytesType {
			data, m := protowire.ConsumeBytes(wire)
			if m < 0 {
				return 0, fmt.Errorf("bad data field: %v", protowire.ParseError(m))
			}
			return len(data), nil
		}
		m := protowire.ConsumeFieldValue(number, kind, wire)
		if m < 0 {
			return 0, fmt.Errorf("bad field %d: %v", number, protowire.ParseError(m))
		}
		wire = wire[m:]
	}
	return 0, nil
}
