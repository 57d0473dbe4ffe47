package server_test

import (
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	"github.com/cloudlicense/authority/services/sync/internal/server"
)

func TestPolicyListsEveryMethod(t *testing.T) {
	if missing := server.Policy.MissingMethods(syncv1.SyncService_ServiceDesc); len(missing) > 0 {
		t.Fatalf("methods without a policy: %v", missing)
	}
}

func TestAuthorization(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.sync(t, "ws-auth", report("chat.example.com"))
	tests := []struct {
		key                                     string
		syncCode, viewCode, usageCode, overCode codes.Code
	}{
		// The console reads one workspace's usage for its customer; only
		// internal clients list every workspace over its limits.
		{serviceKey, codes.OK, codes.OK, codes.OK, codes.PermissionDenied},
		{"admin-key", codes.OK, codes.OK, codes.OK, codes.OK},
		{"billing-key", codes.PermissionDenied, codes.OK, codes.OK, codes.OK},
		{"support-key", codes.PermissionDenied, codes.OK, codes.OK, codes.OK},
		{"operator-key", codes.PermissionDenied, codes.OK, codes.OK, codes.OK},
		{"unknown-key", codes.Unauthenticated, codes.Unauthenticated, codes.Unauthenticated, codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			c := e.dial(tt.key)
			_, err := c.Sync(t.Context(), &syncv1.SyncRequest{WorkspaceId: "ws-auth", Report: report("chat.example.com")})
			if got := rpcerr.Code(err); got != tt.syncCode {
				t.Errorf("Sync: code %v (%v), want %v", got, err, tt.syncCode)
			}
			_, err = c.GetSyncView(t.Context(), &syncv1.GetSyncViewRequest{WorkspaceId: "ws-auth"})
			if got := rpcerr.Code(err); got != tt.viewCode {
				t.Errorf("GetSyncView: code %v (%v), want %v", got, err, tt.viewCode)
			}
			_, err = c.GetUsage(t.Context(), &syncv1.GetUsageRequest{WorkspaceId: "ws-auth"})
			if got := rpcerr.Code(err); got != tt.usageCode {
				t.Errorf("GetUsage: code %v (%v), want %v", got, err, tt.usageCode)
			}
			_, err = c.ListOverLimit(t.Context(), &syncv1.ListOverLimitRequest{})
			if got := rpcerr.Code(err); got != tt.overCode {
				t.Errorf("ListOverLimit: code %v (%v), want %v", got, err, tt.overCode)
			}
		})
	}
}
