package directory_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	"github.com/cloudlicense/authority/services/signer/internal/directory"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
)

// fakeRegistry is an in-process registry knowing one workspace.
type fakeRegistry struct {
	registryv1.UnimplementedRegistryServiceServer
}

var registeredAt = time.Date(2025, 2, 1, 12, 0, 0, 0, time.UTC)

func (fakeRegistry) GetWorkspace(_ context.Context, req *registryv1.GetWorkspaceRequest) (*registryv1.GetWorkspaceResponse, error) {
	switch req.GetId() {
	case "ws-known":
		return &registryv1.GetWorkspaceResponse{Workspace: &registryv1.Workspace{
			Id: "ws-known", CustomerId: "cus_1", InitialPlanId: "pro", ClientName: "acme", RegisteredAt: timestamppb.New(registeredAt),
		}}, nil
	case "ws-down":
		return nil, status.Error(codes.Unavailable, "registry restarting")
	}
	return nil, status.Error(codes.NotFound, "workspace not found")
}

func dial(t *testing.T) *directory.Registry {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	registryv1.RegisterRegistryServiceServer(srv, fakeRegistry{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///registry",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return directory.NewRegistry(registryv1.NewRegistryServiceClient(conn))
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	reg := dial(t)
	w, err := reg.Workspace(t.Context(), "ws-known")
	want := domain.Workspace{ID: "ws-known", CustomerID: "cus_1", InitialPlanID: "pro", ClientName: "acme", RegisteredAt: registeredAt}
	if err != nil || w != want {
		t.Errorf("Workspace = %+v, %v; want %+v", w, err, want)
	}
	if _, err := reg.Workspace(t.Context(), "ws-nobody"); !errors.Is(err, domain.ErrWorkspaceNotFound) {
		t.Errorf("unknown workspace: %v, want ErrWorkspaceNotFound", err)
	}
	// Any other failure keeps its status, so callers see the registry's code.
	if _, err := reg.Workspace(t.Context(), "ws-down"); status.Code(err) != codes.Unavailable {
		t.Errorf("registry down: %v, want Unavailable", err)
	}
}
