// Package authn authenticates internal gRPC callers by API key and authorizes
// each RPC against a per-service policy that denies by default: an RPC with no
// policy entry is refused, so a new RPC cannot ship open by mistake.
package authn

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Role is what an API key may do.
type Role string

// The roles of internal callers.
const (
	RoleAdmin        Role = "admin"
	RoleBilling      Role = "billing"
	RoleSupport      Role = "support"
	RoleOperatorRead Role = "operator-read"
	// RoleService is another service of the authority (the gateway calling
	// registry on a workspace's behalf, registry calling tokens).
	RoleService Role = "service"
)

// Roles lists every role, for validation and for the authorization matrix.
var Roles = []Role{RoleAdmin, RoleBilling, RoleSupport, RoleOperatorRead, RoleService}

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(Roles, r) {
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (want one of admin, billing, support, operator-read, service)", s)
}

// Principal is the authenticated caller.
type Principal struct {
	KeyID string
	Name  string
	Role  Role
}

type principalKey struct{}

// FromContext returns the caller the interceptor authenticated.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// ErrInvalidKey is returned for unknown, revoked or malformed keys.
var ErrInvalidKey = errors.New("authn: invalid API key")

// Authenticator resolves an API key to its principal.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (Principal, error)
}

// Policy maps full method names ("/pkg.Service/Method") to the roles allowed
// besides admin, which may call every RPC listed. Public lists methods open to
// everyone (health, reflection).
type Policy map[string][]Role

func (p Policy) allows(method string, role Role) (listed, allowed bool) {
	roles, ok := p[method]
	if !ok {
		return false, false
	}
	return true, role == RoleAdmin || slices.Contains(roles, role)
}

// public methods skip authentication: probes and tooling must reach them.
func public(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.v1.Health/") || strings.HasPrefix(method, "/grpc.reflection.")
}

// MissingMethods returns the methods of the service descriptions that the
// policy does not list; tests fail on any.
func (p Policy) MissingMethods(services ...grpc.ServiceDesc) []string {
	var missing []string
	for _, sd := range services {
		for _, m := range sd.Methods {
			if _, ok := p["/"+sd.ServiceName+"/"+m.MethodName]; !ok {
				missing = append(missing, "/"+sd.ServiceName+"/"+m.MethodName)
			}
		}
		for _, m := range sd.Streams {
			if _, ok := p["/"+sd.ServiceName+"/"+m.StreamName]; !ok {
				missing = append(missing, "/"+sd.ServiceName+"/"+m.StreamName)
			}
		}
	}
	return missing
}

// Allowed reports whether role may call method under p.
func (p Policy) Allowed(method string, role Role) bool {
	if public(method) {
		return true
	}
	_, ok := p.allows(method, role)
	return ok
}

// Interceptors returns the unary and stream server interceptors enforcing p.
func Interceptors(a Authenticator, p Policy) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	check := func(ctx context.Context, method string) (context.Context, error) {
		if public(method) {
			return ctx, nil
		}
		key, err := bearer(ctx)
		if err != nil {
			return nil, err
		}
		principal, err := a.Authenticate(ctx, key)
		if err != nil {
			if errors.Is(err, ErrInvalidKey) {
				return nil, status.Error(codes.Unauthenticated, "invalid API key")
			}
			return nil, status.Errorf(codes.Unavailable, "cannot authenticate caller now: %v", err)
		}
		listed, allowed := p.allows(method, principal.Role)
		if !listed {
			return nil, status.Errorf(codes.PermissionDenied, "%s has no authorization policy", method)
		}
		if !allowed {
			return nil, status.Errorf(codes.PermissionDenied, "role %s may not call %s", principal.Role, method)
		}
		return WithPrincipal(ctx, principal), nil
	}
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := check(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := check(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &wrappedStream{ServerStream: ss, ctx: ctx})
	}
	return unary, stream
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }

func bearer(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return "", status.Error(codes.Unauthenticated, "missing authorization metadata (Bearer API key)")
	}
	v := vals[0]
	if len(v) < 7 || !strings.EqualFold(v[:7], "bearer ") {
		return "", status.Error(codes.Unauthenticated, "authorization must be a Bearer API key")
	}
	return strings.TrimSpace(v[7:]), nil
}

// HashKey is how API key secrets are stored: keys carry 256 random bits, so a
// fast hash is enough (no dictionary to attack), and lookups stay cheap.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Remote authenticates keys through the token service (which owns API keys),
// caching answers briefly so a hot caller costs one lookup per TTL. The
// service's own key is recognised locally, so services can call each other
// (and the token service itself) without a lookup loop.
type Remote struct {
	lookup     func(ctx context.Context, key string) (Principal, error)
	serviceKey []byte
	ttl        time.Duration

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	p       Principal
	err     error
	expires time.Time
}

// NewRemote returns an authenticator that asks lookup (a call to the token
// service) and recognises serviceKey as RoleService.
func NewRemote(serviceKey string, lookup func(ctx context.Context, key string) (Principal, error)) *Remote {
	return &Remote{lookup: lookup, serviceKey: []byte(serviceKey), ttl: 30 * time.Second, cache: map[string]cached{}}
}

// Authenticate implements Authenticator.
func (r *Remote) Authenticate(ctx context.Context, key string) (Principal, error) {
	if len(r.serviceKey) > 0 && subtle.ConstantTimeCompare([]byte(key), r.serviceKey) == 1 {
		return Principal{KeyID: "service", Name: "service", Role: RoleService}, nil
	}
	h := HashKey(key)
	now := time.Now()
	r.mu.Lock()
	c, ok := r.cache[h]
	r.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.p, c.err
	}
	p, err := r.lookup(ctx, key)
	if err != nil && !errors.Is(err, ErrInvalidKey) {
		return Principal{}, err // outage: do not cache
	}
	ttl := r.ttl
	if err != nil {
		ttl = 5 * time.Second
	}
	r.mu.Lock()
	if len(r.cache) > 10000 {
		clear(r.cache)
	}
	r.cache[h] = cached{p: p, err: err, expires: now.Add(ttl)}
	r.mu.Unlock()
	return p, err
}

// APIKey is per-RPC credentials presenting an API key as a Bearer token.
type APIKey string

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (k APIKey) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(k)}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials; internal
// traffic may be plaintext inside the cluster network policy, or mTLS.
func (APIKey) RequireTransportSecurity() bool { return false }
