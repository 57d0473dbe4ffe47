package directory

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
)

type fakeRegistry struct {
	registryv1.RegistryServiceClient
	err error
}

func (f fakeRegistry) GetCustomer(context.Context, *registryv1.GetCustomerRequest, ...grpc.CallOption) (*registryv1.GetCustomerResponse, error) {
	return &registryv1.GetCustomerResponse{}, f.err
}

type fakeSigner struct {
	signerv1.SignerServiceClient
	err error
}

func (f fakeSigner) GetPlan(context.Context, *signerv1.GetPlanRequest, ...grpc.CallOption) (*signerv1.GetPlanResponse, error) {
	return &signerv1.GetPlanResponse{}, f.err
}

// Only NotFound means "does not exist"; any other failure is an error the
// caller reports as such, never a false "not found".
func TestExists(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		err      error
		want     bool
		wantCode codes.Code
	}{
		{"found", nil, true, codes.OK},
		{"not found", rpcerr.New(codes.NotFound, "registry.licensing", "CUSTOMER_NOT_FOUND", "no", nil), false, codes.OK},
		{"outage", status.Error(codes.Unavailable, "down"), false, codes.Unavailable},
		{"refused", status.Error(codes.PermissionDenied, "role"), false, codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := &Directory{registry: fakeRegistry{err: tt.err}, signer: fakeSigner{err: tt.err}}
			for what, f := range map[string]func(context.Context, string) (bool, error){"customer": d.CustomerExists, "plan": d.PlanExists} {
				got, err := f(t.Context(), "x")
				if got != tt.want || rpcerr.Code(err) != tt.wantCode {
					t.Errorf("%s exists = %v, %v; want %v, %v", what, got, err, tt.want, tt.wantCode)
				}
			}
		})
	}
}
