package server_test

import (
	"testing"

	"google.golang.org/grpc/codes"

	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
)

// Text Postgres cannot store (a NUL) is the caller's mistake, answered as
// InvalidArgument with nothing written, not an internal error.
func TestUnstorableTextIsInvalidArgument(t *testing.T) {
	t.Parallel()
	e := start(t)
	tok, secret := e.newToken(t, nil)
	_, err := e.svc.RedeemRegistrationToken(t.Context(), &tokensv1.RedeemRegistrationTokenRequest{Secret: secret, WorkspaceId: "ws-nul", ClientName: "chat\x00"})
	wantStatus(t, err, codes.InvalidArgument, "INVALID_REQUEST")
	if n := e.count(t, `SELECT uses FROM registration_tokens WHERE id = $1`, tok.GetId()); n != 0 {
		t.Fatalf("the refused redemption used the token (%d uses)", n)
	}
	if n := e.count(t, `SELECT count(*) FROM client_credentials`); n != 0 {
		t.Fatalf("%d credentials written by a refused redemption", n)
	}
}
