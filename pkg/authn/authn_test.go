package authn_test

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/cloudlicense/authority/pkg/authn"
)

// A small service: two unary RPCs and a server stream, plus one RPC the
// policy forgets.
const (
	methodGet      = "/test.v1.Things/Get"
	methodPut      = "/test.v1.Things/Put"
	methodWatch    = "/test.v1.Things/Watch"
	methodAdmin    = "/test.v1.Things/Purge"
	methodUnlisted = "/test.v1.Things/Forgotten"
)

var policy = authn.Policy{
	methodGet:   {authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService},
	methodPut:   {authn.RoleBilling},
	methodWatch: {authn.RoleService},
	methodAdmin: {},
}

// principalHeader echoes the caller the handler sees, so tests check that the
// interceptor hands the principal on.
const principalHeader = "x-principal"

func unary(name string) grpc.MethodDesc {
	return grpc.MethodDesc{
		MethodName: name,
		Handler: func(_ any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(emptypb.Empty)
			if err := dec(in); err != nil {
				return nil, err
			}
			handler := func(ctx context.Context, _ any) (any, error) {
				p, ok := authn.FromContext(ctx)
				if !ok {
					return nil, status.Error(codes.Internal, "no principal")
				}
				_ = grpc.SetHeader(ctx, metadata.Pairs(principalHeader, p.Name))
				return &emptypb.Empty{}, nil
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/test.v1.Things/" + name}, handler)
		},
	}
}

var thingsDesc = grpc.ServiceDesc{
	ServiceName: "test.v1.Things",
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{unary("Get"), unary("Put"), unary("Purge"), unary("Forgotten")},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Watch",
		ServerStreams: true,
		Handler: func(_ any, ss grpc.ServerStream) error {
			p, ok := authn.FromContext(ss.Context())
			if !ok {
				return status.Error(codes.Internal, "no principal")
			}
			_ = ss.SetHeader(metadata.Pairs(principalHeader, p.Name))
			return ss.SendMsg(&emptypb.Empty{})
		},
	}},
}

// keys maps each role's API key to its principal; "service-key" is the
// service key Remote recognises itself.
var keys = map[string]authn.Principal{
	"admin-key":    {KeyID: "k1", Name: "alice", Role: authn.RoleAdmin},
	"billing-key":  {KeyID: "k2", Name: "bob", Role: authn.RoleBilling},
	"support-key":  {KeyID: "k3", Name: "carol", Role: authn.RoleSupport},
	"operator-key": {KeyID: "k4", Name: "dave", Role: authn.RoleOperatorRead},
}

func keyFor(role authn.Role) string {
	if role == authn.RoleService {
		return "service-key"
	}
	for k, p := range keys {
		if p.Role == role {
			return k
		}
	}
	panic("no key for " + role)
}

type tokenService struct {
	calls atomic.Int64
	down  atomic.Bool
}

func (ts *tokenService) lookup(_ context.Context, key string) (authn.Principal, error) {
	ts.calls.Add(1)
	if ts.down.Load() {
		return authn.Principal{}, status.Error(codes.Unavailable, "tokens unavailable")
	}
	p, ok := keys[key]
	if !ok {
		return authn.Principal{}, authn.ErrInvalidKey
	}
	return p, nil
}

// serve runs the test service with the interceptors over an in-memory
// listener and returns a client connection to it.
func serve(t *testing.T, a authn.Authenticator) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	ui, si := authn.Interceptors(a, policy)
	srv := grpc.NewServer(grpc.UnaryInterceptor(ui), grpc.StreamInterceptor(si))
	srv.RegisterService(&thingsDesc, struct{}{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// call invokes method with key (none when empty) and returns the name of the
// principal the handler saw.
func call(ctx context.Context, conn *grpc.ClientConn, method, key string) (string, error) {
	var opts []grpc.CallOption
	if key != "" {
		opts = append(opts, grpc.PerRPCCredentials(authn.APIKey(key)))
	}
	var header metadata.MD
	opts = append(opts, grpc.Header(&header))
	if method == methodWatch {
		stream, err := conn.NewStream(ctx, &thingsDesc.Streams[0], method, opts...)
		if err != nil {
			return "", err
		}
		if err := stream.CloseSend(); err != nil {
			return "", err
		}
		if err := stream.RecvMsg(new(emptypb.Empty)); err != nil {
			return "", err
		}
		if err := stream.RecvMsg(new(emptypb.Empty)); !errors.Is(err, io.EOF) {
			return "", err
		}
	} else if err := conn.Invoke(ctx, method, &emptypb.Empty{}, new(emptypb.Empty), opts...); err != nil {
		return "", err
	}
	return strings.Join(header.Get(principalHeader), ","), nil
}

func TestPolicyEveryRole(t *testing.T) {
	t.Parallel()
	ts := &tokenService{}
	conn := serve(t, authn.NewRemote("service-key", ts.lookup))
	tests := []struct {
		method string
		roles  []authn.Role // allowed; every other role is denied
	}{
		{methodGet, []authn.Role{authn.RoleAdmin, authn.RoleBilling, authn.RoleSupport, authn.RoleOperatorRead, authn.RoleService}},
		{methodPut, []authn.Role{authn.RoleAdmin, authn.RoleBilling}},
		{methodWatch, []authn.Role{authn.RoleAdmin, authn.RoleService}},
		{methodAdmin, []authn.Role{authn.RoleAdmin}},
		{methodUnlisted, nil},
		{"/test.v1.Things/NotEvenRegistered", nil},
	}
	for _, tt := range tests {
		for _, role := range authn.Roles {
			want := slices.Contains(tt.roles, role)
			t.Run(tt.method+"/"+string(role), func(t *testing.T) {
				t.Parallel()
				if got := policy.Allowed(tt.method, role); got != want {
					t.Errorf("Allowed = %v, want %v", got, want)
				}
				if strings.HasSuffix(tt.method, "NotEvenRegistered") {
					return
				}
				name, err := call(t.Context(), conn, tt.method, keyFor(role))
				switch {
				case want && err != nil:
					t.Fatalf("call: %v, want success", err)
				case want:
					if wantName := principalName(role); name != wantName {
						t.Errorf("handler saw principal %q, want %q", name, wantName)
					}
				case status.Code(err) != codes.PermissionDenied:
					t.Errorf("call: %v, want PermissionDenied", err)
				}
			})
		}
	}
}

func principalName(role authn.Role) string {
	if role == authn.RoleService {
		return "service"
	}
	return keys[keyFor(role)].Name
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	ts := &tokenService{}
	conn := serve(t, authn.NewRemote("service-key", ts.lookup))
	tests := []struct {
		name   string
		method string
		md     metadata.MD
		code   codes.Code
	}{
		{"health without a key", "/grpc.health.v1.Health/Check", nil, codes.OK},
		{"health with a bad key", "/grpc.health.v1.Health/Check", metadata.Pairs("authorization", "Bearer nope"), codes.OK},
		{"no key", methodGet, nil, codes.Unauthenticated},
		{"not a bearer", methodGet, metadata.Pairs("authorization", "Basic YWRtaW4="), codes.Unauthenticated},
		{"empty bearer", methodGet, metadata.Pairs("authorization", "Bearer"), codes.Unauthenticated},
		{"unknown key", methodGet, metadata.Pairs("authorization", "Bearer not-a-key"), codes.Unauthenticated},
		{"lower-case scheme", methodGet, metadata.Pairs("authorization", "bearer support-key"), codes.OK},
		{"unknown key on a stream", methodWatch, metadata.Pairs("authorization", "Bearer not-a-key"), codes.Unauthenticated},
		{"no key on a stream", methodWatch, nil, codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := metadata.NewOutgoingContext(t.Context(), tt.md)
			var err error
			if strings.HasPrefix(tt.method, "/grpc.health.v1.") {
				_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			} else {
				_, err = call(ctx, conn, tt.method, "")
			}
			if got := status.Code(err); got != tt.code {
				t.Errorf("code = %s (%v), want %s", got, err, tt.code)
			}
		})
	}
	if !policy.Allowed("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", authn.Role("nobody")) {
		t.Error("reflection is not public")
	}
}

func TestTokenServiceOutage(t *testing.T) {
	t.Parallel()
	ts := &tokenService{}
	ts.down.Store(true)
	conn := serve(t, authn.NewRemote("service-key", ts.lookup))
	if _, err := call(t.Context(), conn, methodGet, "support-key"); status.Code(err) != codes.Unavailable {
		t.Fatalf("during the outage: %v, want Unavailable", err)
	}
	// The service key needs no lookup, so services keep calling each other.
	if _, err := call(t.Context(), conn, methodGet, "service-key"); err != nil {
		t.Fatalf("service key during the outage: %v", err)
	}
	ts.down.Store(false)
	if _, err := call(t.Context(), conn, methodGet, "support-key"); err != nil {
		t.Fatalf("after the outage: %v (the outage was cached)", err)
	}
}

func TestMissingMethods(t *testing.T) {
	t.Parallel()
	if got, want := policy.MissingMethods(thingsDesc), []string{methodUnlisted}; !slices.Equal(got, want) {
		t.Errorf("MissingMethods = %v, want %v", got, want)
	}
	full := authn.Policy{}
	for m, roles := range policy {
		full[m] = roles
	}
	full[methodUnlisted] = nil
	if got := full.MissingMethods(thingsDesc); len(got) != 0 {
		t.Errorf("MissingMethods = %v, want none", got)
	}
	streamOnly := authn.Policy{methodGet: nil, methodPut: nil, methodAdmin: nil, methodUnlisted: nil}
	if got := streamOnly.MissingMethods(thingsDesc); !slices.Equal(got, []string{methodWatch}) {
		t.Errorf("MissingMethods = %v, want the stream", got)
	}
}

func TestRemoteCache(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		key       string
		down      bool
		wantErr   error
		wantCode  codes.Code
		wantRole  authn.Role
		lookups   int64 // after two calls
		downCalls int64
	}{
		{name: "service key never looked up", key: "service-key", wantRole: authn.RoleService, lookups: 0},
		{name: "valid key cached", key: "billing-key", wantRole: authn.RoleBilling, lookups: 1},
		{name: "invalid key cached briefly", key: "stolen-key", wantErr: authn.ErrInvalidKey, lookups: 1},
		{name: "outage not cached", key: "billing-key", down: true, wantCode: codes.Unavailable, lookups: 2},
		{name: "service key prefix is not the service key", key: "service-ke", wantErr: authn.ErrInvalidKey, lookups: 1},
		{name: "longer than the service key", key: "service-key2", wantErr: authn.ErrInvalidKey, lookups: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := &tokenService{}
			ts.down.Store(tt.down)
			r := authn.NewRemote("service-key", ts.lookup)
			for range 2 {
				p, err := r.Authenticate(t.Context(), tt.key)
				switch {
				case tt.wantErr != nil:
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("err = %v, want %v", err, tt.wantErr)
					}
				case tt.wantCode != codes.OK:
					if status.Code(err) != tt.wantCode {
						t.Fatalf("err = %v, want %s", err, tt.wantCode)
					}
				case err != nil:
					t.Fatal(err)
				case p.Role != tt.wantRole:
					t.Fatalf("role = %s, want %s", p.Role, tt.wantRole)
				}
			}
			if got := ts.calls.Load(); got != tt.lookups {
				t.Errorf("lookups = %d, want %d", got, tt.lookups)
			}
		})
	}
}

func TestRemoteWithoutServiceKey(t *testing.T) {
	t.Parallel()
	ts := &tokenService{}
	r := authn.NewRemote("", ts.lookup)
	if _, err := r.Authenticate(t.Context(), ""); !errors.Is(err, authn.ErrInvalidKey) {
		t.Errorf("empty key with no service key: %v, want ErrInvalidKey", err)
	}
	if ts.calls.Load() != 1 {
		t.Errorf("lookups = %d, want 1", ts.calls.Load())
	}
}

func TestRemoteConcurrent(t *testing.T) {
	t.Parallel()
	ts := &tokenService{}
	r := authn.NewRemote("service-key", ts.lookup)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				key := []string{"admin-key", "billing-key", "bad-key", "service-key"}[(i+j)%4]
				if _, err := r.Authenticate(t.Context(), key); err != nil && !errors.Is(err, authn.ErrInvalidKey) {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Three keys need a lookup; concurrent first callers may each ask once.
	if got := ts.calls.Load(); got < 3 || got > 3*8 {
		t.Errorf("lookups = %d, want between 3 and 24", got)
	}
}

func TestParseRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want authn.Role
		ok   bool
	}{
		{"admin", authn.RoleAdmin, true},
		{" Billing ", authn.RoleBilling, true},
		{"SUPPORT", authn.RoleSupport, true},
		{"operator-read", authn.RoleOperatorRead, true},
		{"service", authn.RoleService, true},
		{"root", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := authn.ParseRole(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseRole(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestHashKeyAndAPIKey(t *testing.T) {
	t.Parallel()
	// SHA-256 of "abc" (FIPS 180-2, appendix B.1).
	if got, want := authn.HashKey("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Errorf("HashKey = %s, want %s", got, want)
	}
	md, err := authn.APIKey("k").GetRequestMetadata(t.Context())
	if err != nil || md["authorization"] != "Bearer k" {
		t.Errorf("GetRequestMetadata = %v, %v", md, err)
	}
	ctx := authn.WithPrincipal(t.Context(), authn.Principal{Name: "alice"})
	if p, ok := authn.FromContext(ctx); !ok || p.Name != "alice" {
		t.Errorf("FromContext = %v, %v", p, ok)
	}
	if _, ok := authn.FromContext(t.Context()); ok {
		t.Error("FromContext found a principal in an empty context")
	}
}
