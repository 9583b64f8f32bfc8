// ttrpc-interop: drives a Kata agent through containerd/ttrpc's own Go client, as the Kata Go
// runtime does, so our ttrpc server is checked against an implementation we did not write.
//
// It reads a script of JSON lines (stdin or -script) and prints one JSON line per step:
//
//	{"op":"call","rpc":"grpc.Health/Check","request":{...},"timeout_ms":30000,
//	 "server_timeout_ms":200,"metadata":{"traceparent":"..."}}
//	{"op":"drain","container_id":"c1","exec_id":"","len":32768}   ReadStdout until empty data
//	                       (answers the first 64 KiB as "text" and FNV-1a 64 of all as "fnv1a")
//	{"op":"concurrent","n":100,"rpc":"grpc.Health/Check"}          n calls in flight on one connection
//	{"op":"raw","rpc":"grpc.AgentService/CopyFile","bytes":5242880}   a payload of n bytes, or
//	{"op":"raw","rpc":"grpc.AgentService/NoSuch","hex":"ff01"}       exactly these bytes; then a Check
//	{"op":"garbage"}       a fresh raw connection gets bytes no ttrpc framing accepts
//	{"op":"reconnect"}     drop this client's connection and dial a new one
//	{"op":"bench","calls":10000,"warmup":500}   sequential Health.Check round trips
//	{"op":"read-bench","container_id":"c1","exec_id":"c1","len":32768}   drain stdout, timed
//
// Every answer carries "code" (canonical gRPC status name) and "message".
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/ttrpc"
	"google.golang.org/grpc/status"
)

type step struct {
	Op              string            `json:"op"`
	RPC             string            `json:"rpc"`
	Request         json.RawMessage   `json:"request"`
	TimeoutMS       int64             `json:"timeout_ms"`
	ServerTimeoutMS int64             `json:"server_timeout_ms"`
	Metadata        map[string]string `json:"metadata"`
	ContainerID     string            `json:"container_id"`
	ExecID          string            `json:"exec_id"`
	Len             uint32            `json:"len"`
	N               int               `json:"n"`
	Bytes           int               `json:"bytes"`
	Hex             string            `json:"hex"`
	Calls           int               `json:"calls"`
	Warmup          int               `json:"warmup"`
}

// codeNames are the canonical status names kata-agent-ctl and grpcio print.
var codeNames = []string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
}

// serverTimeoutKey carries a timeout_nano that differs from the client's own deadline, so a
// test sees the server enforce it (the client would otherwise give up first).
type serverTimeoutKey struct{}

func codeOf(err error) (string, string) {
	if err == nil {
		return "OK", ""
	}
	if s, ok := status.FromError(err); ok {
		c := int(s.Code())
		if c >= 0 && c < len(codeNames) {
			return codeNames[c], s.Message()
		}
		return fmt.Sprintf("CODE_%d", c), s.Message()
	}
	// Not a status: the connection or the client failed.
	return "TRANSPORT", err.Error()
}

type runner struct {
	address string
	schema  *schema
	conn    net.Conn
	client  *ttrpc.Client
	out     *json.Encoder
}

func dial(address string) (net.Conn, error) {
	path := strings.TrimPrefix(address, "unix://")
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:]
	}
	return net.DialTimeout("unix", path, 10*time.Second)
}

func (r *runner) connect() error {
	conn, err := dial(r.address)
	if err != nil {
		return err
	}
	r.conn = conn
	r.client = ttrpc.NewClient(conn, ttrpc.WithUnaryClientInterceptor(
		func(ctx context.Context, req *ttrpc.Request, resp *ttrpc.Response, _ *ttrpc.UnaryClientInfo, invoker ttrpc.Invoker) error {
			if nanos, ok := ctx.Value(serverTimeoutKey{}).(int64); ok {
				req.TimeoutNano = nanos
			}
			return invoker(ctx, req, resp)
		}))
	return nil
}

func (r *runner) context(s step) (context.Context, context.CancelFunc) {
	timeout := time.Duration(s.TimeoutMS) * time.Millisecond
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	if s.ServerTimeoutMS > 0 {
		ctx = context.WithValue(ctx, serverTimeoutKey{}, s.ServerTimeoutMS*int64(time.Millisecond))
	}
	if len(s.Metadata) > 0 {
		md := ttrpc.MD{}
		for k, v := range s.Metadata {
			md.Set(k, v)
		}
		ctx = ttrpc.WithMetadata(ctx, md)
	}
	return ctx, cancel
}

// call runs one RPC and returns its status and response as JSON.
func (r *runner) call(s step, rpc string, req json.RawMessage) (string, string, string) {
	service, method, md, err := r.schema.method(rpc)
	if err != nil {
		return "SCRIPT", err.Error(), ""
	}
	in, err := request(md, string(req))
	if err != nil {
		return "SCRIPT", err.Error(), ""
	}
	out := response(md)
	ctx, cancel := r.context(s)
	defer cancel()
	code, message := codeOf(r.client.Call(ctx, service, method, in, out))
	if code != "OK" {
		return code, message, ""
	}
	return code, message, jsonOf(out)
}

func (r *runner) emit(v map[string]interface{}) {
	if err := r.out.Encode(v); err != nil {
		fmt.Fprintln(os.Stderr, "ttrpc-interop: write result:", err)
		os.Exit(1)
	}
}

func (r *runner) run(s step) {
	switch s.Op {
	case "call":
		code, message, body := r.call(s, s.RPC, s.Request)
		result := map[string]interface{}{"op": "call", "rpc": s.RPC, "code": code, "message": message}
		if body != "" {
			result["response"] = json.RawMessage(body)
		}
		r.emit(result)
	case "drain":
		r.emit(r.drain(s))
	case "concurrent":
		r.emit(r.concurrent(s))
	case "raw":
		r.emit(r.raw(s))
	case "garbage":
		r.emit(garbage(r.address))
	case "reconnect":
		r.client.Close()
		err := r.connect()
		result := map[string]interface{}{"op": "reconnect", "code": "OK", "message": ""}
		if err != nil {
			result["code"], result["message"] = "TRANSPORT", err.Error()
		}
		r.emit(result)
	case "bench":
		r.emit(r.bench(s))
	case "read-bench":
		r.emit(r.readBench(s))
	default:
		r.emit(map[string]interface{}{"op": s.Op, "code": "SCRIPT", "message": "unknown op " + s.Op})
	}
}

// drain reads stdout with ReadStdout until the agent answers with empty data (EOF).
func (r *runner) drain(s step) map[string]interface{} {
	_, _, md, err := r.schema.method("grpc.AgentService/ReadStdout")
	if err != nil {
		return map[string]interface{}{"op": "drain", "code": "SCRIPT", "message": err.Error()}
	}
	length := s.Len
	if length == 0 {
		length = 32768
	}
	req, _ := json.Marshal(map[string]interface{}{"container_id": s.ContainerID, "exec_id": s.ExecID, "len": length})
	var text strings.Builder
	sum := fnv.New64a()
	total, reads := 0, 0
	for {
		in, err := request(md, string(req))
		if err != nil {
			return map[string]interface{}{"op": "drain", "code": "SCRIPT", "message": err.Error()}
		}
		out := response(md)
		ctx, cancel := r.context(s)
		err = r.client.Call(ctx, "grpc.AgentService", "ReadStdout", in, out)
		cancel()
		reads++
		if err != nil {
			code, message := codeOf(err)
			return map[string]interface{}{"op": "drain", "code": code, "message": message, "bytes": total, "reads": reads}
		}
		data := out.message.Get(md.Output().Fields().ByName("data")).Bytes()
		if len(data) == 0 {
			break
		}
		total += len(data)
		sum.Write(data)
		if text.Len() < 1<<16 {
			text.Write(data)
		}
	}
	return map[string]interface{}{"op": "drain", "code": "OK", "message": "", "bytes": total, "reads": reads,
		"text": text.String(), "fnv1a": fmt.Sprintf("%x", sum.Sum64())}
}

// concurrent starts n calls at once on this one connection and counts their codes.
func (r *runner) concurrent(s step) map[string]interface{} {
	n := s.N
	if n <= 0 {
		n = 100
	}
	codes := make([]string, n)
	messages := make([]string, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := 0; i < n; i++ {
		done.Add(1)
		go func(i int) {
			defer done.Done()
			start.Wait()
			codes[i], messages[i], _ = r.call(s, s.RPC, s.Request)
		}(i)
	}
	start.Done()
	done.Wait()
	counts := map[string]int{}
	firstError := ""
	for i, c := range codes {
		counts[c]++
		if c != "OK" && firstError == "" {
			firstError = c + ": " + messages[i]
		}
	}
	code := "OK"
	if counts["OK"] != n {
		code = "MIXED"
	}
	return map[string]interface{}{"op": "concurrent", "code": code, "message": firstError, "n": n, "codes": counts}
}

// raw sends a payload without a schema: s.Hex decoded, else s.Bytes bytes of a pattern (an
// oversized request, an undecodable one, an unknown method), then shows the same connection
// still answers a Check.
func (r *runner) raw(s step) map[string]interface{} {
	slash := strings.LastIndex(s.RPC, "/")
	if slash <= 0 {
		return map[string]interface{}{"op": "raw", "code": "SCRIPT", "message": "rpc is not service/Method"}
	}
	service, method := s.RPC[:slash], s.RPC[slash+1:]
	payload := make([]byte, s.Bytes)
	for i := range payload {
		payload[i] = byte(i)
	}
	if s.Hex != "" {
		decoded, err := hex.DecodeString(s.Hex)
		if err != nil {
			return map[string]interface{}{"op": "raw", "code": "SCRIPT", "message": err.Error()}
		}
		payload = decoded
	}
	ctx, cancel := r.context(s)
	defer cancel()
	code, message := codeOf(r.client.Call(ctx, service, method, &rawMessage{data: payload}, &rawMessage{}))
	after, afterMessage, _ := r.call(step{}, "grpc.Health/Check", nil)
	return map[string]interface{}{"op": "raw", "code": code, "message": message,
		"then_check": after, "then_check_message": afterMessage}
}

// garbage opens its own connection, writes a frame header that claims a 1 MiB payload, some
// bytes of junk, and half-closes: the stream can never be framed. The server must close this
// connection (reading reaches EOF) without touching others.
func garbage(address string) map[string]interface{} {
	conn, err := dial(address)
	if err != nil {
		return map[string]interface{}{"op": "garbage", "code": "TRANSPORT", "message": err.Error()}
	}
	defer conn.Close()
	junk := []byte{0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00}
	for i := 0; i < 64; i++ {
		junk = append(junk, byte(0xA5^i))
	}
	if _, err := conn.Write(junk); err != nil {
		return map[string]interface{}{"op": "garbage", "code": "TRANSPORT", "message": "write: " + err.Error()}
	}
	if unix, ok := conn.(*net.UnixConn); ok {
		unix.CloseWrite()
	}
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	reply, err := io.ReadAll(conn)
	closed := err == nil
	message := ""
	if err != nil {
		message = err.Error()
	}
	return map[string]interface{}{"op": "garbage", "code": "OK", "message": message, "closed": closed, "reply_bytes": len(reply)}
}

// bench times sequential Health.Check round trips (the Go runtime's client, compiled).
func (r *runner) bench(s step) map[string]interface{} {
	_, _, md, err := r.schema.method("grpc.Health/Check")
	if err != nil {
		return map[string]interface{}{"op": "bench", "code": "SCRIPT", "message": err.Error()}
	}
	calls := s.Calls
	if calls <= 0 {
		calls = 10000
	}
	in, _ := request(md, "")
	samples := make([]time.Duration, 0, calls)
	for i := 0; i < s.Warmup+calls; i++ {
		out := response(md)
		ctx, cancel := r.context(s)
		began := time.Now()
		err := r.client.Call(ctx, "grpc.Health", "Check", in, out)
		elapsed := time.Since(began)
		cancel()
		if err != nil {
			code, message := codeOf(err)
			return map[string]interface{}{"op": "bench", "code": code, "message": message}
		}
		if i >= s.Warmup {
			samples = append(samples, elapsed)
		}
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	var sum time.Duration
	for _, d := range samples {
		sum += d
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
	// Nearest rank at round(p*(n-1)), as kata-agent-ctl and bench/benchlib.py.
	rank := func(p float64) time.Duration {
		return samples[int(math.Round(p*float64(len(samples)-1)))]
	}
	return map[string]interface{}{"op": "bench", "code": "OK", "message": "", "calls": calls,
		"p50_us": us(rank(0.50)), "p99_us": us(rank(0.99)), "min_us": us(samples[0]),
		"max_us": us(samples[len(samples)-1]), "mean_us": us(sum) / float64(len(samples))}
}

func main() {
	address := flag.String("addr", "", "agent address: unix:///path or unix://@name")
	descriptors := flag.String("descriptors", "", "protoc --descriptor_set_out file with --include_imports")
	script := flag.String("script", "", "JSON-lines script (default: stdin)")
	flag.Parse()
	if *address == "" || *descriptors == "" {
		fmt.Fprintln(os.Stderr, "usage: ttrpc-interop -addr unix:///path -descriptors set.pb [-script steps.jsonl]")
		os.Exit(2)
	}
	s, err := loadSchema(*descriptors)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ttrpc-interop:", err)
		os.Exit(2)
	}
	input := io.Reader(os.Stdin)
	if *script != "" {
		f, err := os.Open(*script)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ttrpc-interop:", err)
			os.Exit(2)
		}
		defer f.Close()
		input = f
	}
	r := &runner{address: *address, schema: s, out: json.NewEncoder(os.Stdout)}
	if err := r.connect(); err != nil {
		fmt.Fprintf(os.Stderr, "ttrpc-interop: connect %s: %v\n", *address, err)
		os.Exit(1)
	}
	defer r.client.Close()
	scanner := bufio.NewScanner(input)
	scanner.Buffer(make([]byte, 1<<20), 16<<20)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" {
			continue
		}
		var s step
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			r.emit(map[string]interface{}{"op": "?", "code": "SCRIPT", "message": "bad step: " + err.Error()})
			continue
		}
		r.run(s)
	}
	if err := scanner.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "ttrpc-interop: read script:", err)
		os.Exit(1)
	}
}
