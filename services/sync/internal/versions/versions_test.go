package versions_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/testenv"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
	"github.com/cloudlicense/authority/services/sync/internal/versions"
)

// policySigner stands in for the signer's VersionPolicyService: it serves
// whatever policy the test sets and counts the calls.
type policySigner struct {
	signerv1.VersionPolicyServiceClient
	mu       sync.Mutex
	policy   *signerv1.VersionPolicy
	loads    int
	checks   int
	checkErr error
	refuse   bool
}

func (s *policySigner) set(p *signerv1.VersionPolicy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policy = p
}

func (s *policySigner) GetVersionPolicy(context.Context, *signerv1.GetVersionPolicyRequest, ...grpc.CallOption) (*signerv1.GetVersionPolicyResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	return &signerv1.GetVersionPolicyResponse{Policy: s.policy}, nil
}

func (s *policySigner) CheckVersion(context.Context, *signerv1.CheckVersionRequest, ...grpc.CallOption) (*signerv1.CheckVersionResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks++
	if s.checkErr != nil {
		return nil, s.checkErr
	}
	return &signerv1.CheckVersionResponse{Refused: s.refuse, Message: "from the signer"}, nil
}

func ts(s string) *timestamppb.Timestamp {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return timestamppb.New(t)
}

var now = func() time.Time { return ts("2026-12-10T00:00:00Z").AsTime() }

func enforced(exceptions ...*signerv1.VersionException) *signerv1.VersionPolicy {
	return &signerv1.VersionPolicy{
		DefaultSupportMonths: 6,
		EnforceFrom:          ts("2026-01-01T00:00:00Z"),
		Releases: []*signerv1.Release{
			{Version: "7.2.0", ReleasedAt: ts("2026-06-09T00:00:00Z"), SupportMonths: 6},
			{Version: "7.3.0", ReleasedAt: ts("2026-09-08T00:00:00Z"), SupportMonths: 6},
		},
		Exceptions: exceptions,
	}
}

// TestGateReloadsOnTheChangeEvent runs the gate against a real NATS server:
// a change event published on the subject makes it reload its copy, so the
// next check decides by the new policy without asking the signer.
func TestGateReloadsOnTheChangeEvent(t *testing.T) {
	t.Parallel()
	srv := testenv.StartNATS(t)
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	signer := &policySigner{policy: &signerv1.VersionPolicy{DefaultSupportMonths: 6}}
	gate := versions.New(signer, nc, slog.New(slog.NewTextHandler(io.Discard, nil)), now)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- gate.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	testenv.Eventually(t, 5*time.Second, "the first load", func() bool {
		signer.mu.Lock()
		defer signer.mu.Unlock()
		return signer.loads > 0
	})
	if err := gate.Check(ctx, "ws-1", "7.2.1"); err != nil {
		t.Fatalf("never enforced: %v", err)
	}

	signer.set(enforced())
	if err := nc.Publish(events.SubjectSupportedVersionsChanged, nil); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "7.2.1 refused after the change event", func() bool {
		return errors.Is(gate.Check(ctx, "ws-1", "7.2.1"), domain.ErrUnsupportedVersion)
	})
	var uv *domain.UnsupportedVersionError
	if err := gate.Check(ctx, "ws-1", "7.2.1"); !errors.As(err, &uv) || uv.Message == "" {
		t.Errorf("refusal %v, want a message for the admin", err)
	}
	if err := gate.Check(ctx, "ws-1", "7.3.0"); err != nil {
		t.Errorf("7.3.0 is supported until 2027-03-08: %v", err)
	}
	signer.mu.Lock()
	checks := signer.checks
	signer.mu.Unlock()
	if checks != 0 {
		t.Errorf("%d calls to the signer's CheckVersion, want none: the copy decides", checks)
	}
}

// TestGateAsksTheSignerOnlyForCustomerExceptions: a license exception is
// decided from the copy; a refusal a customer's exception could lift is
// confirmed with the signer, and let through when the signer cannot answer.
func TestGateAsksTheSignerOnlyForCustomerExceptions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	until := ts("2027-01-31T00:00:00Z")
	signer := &policySigner{}
	gate := versions.New(signer, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), now)
	gate.Set(versions.FromPB(enforced(
		&signerv1.VersionException{Id: "vex_l", LicenseId: "lic_1", WorkspaceId: "ws-lic", Line: "7.2", Until: until},
	)))
	if err := gate.Check(ctx, "ws-lic", "7.2.1"); err != nil {
		t.Errorf("the license's workspace: %v", err)
	}
	if err := gate.Check(ctx, "ws-other", "7.2.1"); !errors.Is(err, domain.ErrUnsupportedVersion) {
		t.Errorf("another workspace: %v, want refused", err)
	}
	if signer.checks != 0 {
		t.Fatalf("%d calls to the signer without any customer exception", signer.checks)
	}

	gate.Set(versions.FromPB(enforced(&signerv1.VersionException{Id: "vex_c", CustomerId: "cus_1", Line: "7.2", Until: until})))
	signer.refuse = false
	if err := gate.Check(ctx, "ws-1", "7.2.1"); err != nil || signer.checks != 1 {
		t.Errorf("the signer lifts the refusal: %v after %d calls", err, signer.checks)
	}
	signer.refuse = true
	var uv *domain.UnsupportedVersionError
	if err := gate.Check(ctx, "ws-2", "7.2.1"); !errors.As(err, &uv) || uv.Message != "from the signer" {
		t.Errorf("the signer confirms the refusal: %v", err)
	}
	signer.checkErr = status.Error(codes.Unavailable, "down")
	if err := gate.Check(ctx, "ws-2", "7.2.1"); err != nil {
		t.Errorf("signer unavailable: %v, want the sync let through", err)
	}
	// Another line has no customer exception: refused from the copy.
	before := signer.checks
	if err := gate.Check(ctx, "ws-2", "6.0.0"); !errors.Is(err, domain.ErrUnsupportedVersion) || signer.checks != before {
		t.Errorf("6.0.0: %v after %d more calls", err, signer.checks-before)
	}
}
