// Package directory asks the registry and the signer whether the customer
// and plan a new registration token names exist.
package directory

import (
	"context"

	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/app"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
)

// Directory implements server.Directory over gRPC.
type Directory struct {
	registry registryv1.RegistryServiceClient
	signer   signerv1.SignerServiceClient
}

// Dial connects (lazily) to the registry and the signer; base closes the
// connections when the service stops.
func Dial(base *app.Base, registryAddr, signerAddr string) (*Directory, error) {
	rc, err := base.Dial(registryAddr)
	if err != nil {
		return nil, err
	}
	sc, err := base.Dial(signerAddr)
	if err != nil {
		return nil, err
	}
	return &Directory{registry: registryv1.NewRegistryServiceClient(rc), signer: signerv1.NewSignerServiceClient(sc)}, nil
}

// CustomerExists implements server.Directory.
func (d *Directory) CustomerExists(ctx context.Context, id string) (bool, error) {
	_, err := d.registry.GetCustomer(ctx, &registryv1.GetCustomerRequest{Id: id})
	return exists(err)
}

// PlanExists implements server.Directory.
func (d *Directory) PlanExists(ctx context.Context, id string) (bool, error) {
	_, err := d.signer.GetPlan(ctx, &signerv1.GetPlanRequest{Id: id})
	return exists(err)
}

func exists(err error) (bool, error) {
	switch rpcerr.Code(err) {
	case codes.OK:
		return true, nil
	case codes.NotFound:
		return false, nil
	}
	return false, err
}
