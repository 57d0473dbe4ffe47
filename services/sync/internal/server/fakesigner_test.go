package server_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
)

// fakeSigner plays the signer's EnsureLicense contract in process: it issues
// sequence + 1 when a workspace has no license or reports another address,
// and returns the current license otherwise.
type fakeSigner struct {
	signerv1.UnimplementedSignerServiceServer
	srv *grpc.Server

	mu       sync.Mutex
	calls    int
	issued   int
	licenses map[string]*signerv1.License
	missing  map[string]bool
	fail     error
}

// startSigner serves a fake signer over an in-memory listener and returns it
// with a client connection to it.
func startSigner(t testing.TB) (*fakeSigner, *grpc.ClientConn) {
	t.Helper()
	f := &fakeSigner{srv: grpc.NewServer(), licenses: map[string]*signerv1.License{}, missing: map[string]bool{}}
	signerv1.RegisterSignerServiceServer(f.srv, f)
	lis := bufconn.Listen(1 << 20)
	go func() { _ = f.srv.Serve(lis) }()
	t.Cleanup(f.srv.Stop)
	conn, err := grpc.NewClient("passthrough:///signer",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return f, conn
}

func (f *fakeSigner) EnsureLicense(_ context.Context, req *signerv1.EnsureLicenseRequest) (*signerv1.EnsureLicenseResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	ws := req.GetWorkspaceId()
	switch {
	case f.fail != nil:
		return nil, f.fail
	case f.missing[ws]:
		return nil, rpcerr.New(codes.NotFound, "signer.licensing", "WORKSPACE_NOT_FOUND", "workspace not found", nil)
	}
	addr := license.StripAddress(req.GetAddress())
	cur := f.licenses[ws]
	if cur != nil && (addr == "" || cur.GetAddress() == addr) {
		return &signerv1.EnsureLicenseResponse{License: cur}, nil
	}
	seq := cur.GetSequence() + 1
	l := &signerv1.License{WorkspaceId: ws, Sequence: seq, Address: addr, Token: fmt.Sprintf("RCV3_%s.%d", ws, seq)}
	f.licenses[ws] = l
	f.issued++
	return &signerv1.EnsureLicenseResponse{License: l, Issued: true}, nil
}

func (f *fakeSigner) counts() (calls, issued int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.issued
}

func (f *fakeSigner) setMissing(ws string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.missing[ws] = true
}

func (f *fakeSigner) setFailure(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}
