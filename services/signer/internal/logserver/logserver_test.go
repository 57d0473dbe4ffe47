package logserver_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/cloudlicense/authority/pkg/authn"
	"github.com/cloudlicense/authority/pkg/grpcserver"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	tlog "github.com/cloudlicense/authority/pkg/translog"
	logv1 "github.com/cloudlicense/authority/proto/gen/licensing/log/v1"
	"github.com/cloudlicense/authority/services/signer/internal/logserver"
	"github.com/cloudlicense/authority/services/signer/internal/signertest"
	"github.com/cloudlicense/authority/services/signer/internal/translog"
)

var apiKeys = map[string]authn.Role{"admin-key": authn.RoleAdmin, "ops-key": authn.RoleOperatorRead}

func as(key string) grpc.CallOption { return grpc.PerRPCCredentials(authn.APIKey(key)) }

func TestPolicyCoversEveryRPC(t *testing.T) {
	t.Parallel()
	if missing := logserver.Policy.MissingMethods(logv1.LogService_ServiceDesc); len(missing) > 0 {
		t.Errorf("RPCs without a policy: %v", missing)
	}
	// The log is public evidence: every internal role reads it.
	for method := range logserver.Policy {
		for _, role := range authn.Roles {
			if !logserver.Policy.Allowed(method, role) {
				t.Errorf("%s as %s: refused", method, role)
			}
		}
	}
}

type env struct {
	client logv1.LogServiceClient
	keys   signertest.Keys
	seq    *translog.Sequencer
	queue  func(leaves ...tlog.Leaf)
}

func newEnv(t *testing.T) env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool := signertest.NewPool(t)
	km := signertest.NewKeys(t)
	auth := authn.NewRemote("svc-key", func(_ context.Context, key string) (authn.Principal, error) {
		role, ok := apiKeys[key]
		if !ok {
			return authn.Principal{}, authn.ErrInvalidKey
		}
		return authn.Principal{KeyID: key, Name: key, Role: role}, nil
	})
	srv := grpcserver.New(log, auth, logserver.Policy)
	logv1.RegisterLogServiceServer(srv.Server, logserver.New(translog.NewStore(pool), log))
	lis := bufconn.Listen(1 << 20)
	go func() { _ = srv.Server.Serve(lis) }()
	t.Cleanup(srv.Server.Stop)
	conn, err := grpc.NewClient("passthrough:///signer",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return env{
		client: logv1.NewLogServiceClient(conn), keys: km,
		seq: translog.NewSequencer(pool, km, 3, time.Hour, log),
		queue: func(leaves ...tlog.Leaf) {
			for _, l := range leaves {
				if err := translog.Enqueue(t.Context(), pool, l); err != nil {
					t.Fatal(err)
				}
			}
		},
	}
}

func (e env) sequence(t *testing.T) {
	t.Helper()
	for {
		n, err := e.seq.Once(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

func wantStatus(t *testing.T, what string, err error, code codes.Code, reason string) {
	t.Helper()
	if rpcerr.Code(err) != code || rpcerr.Reason(err) != reason {
		t.Errorf("%s: %v (reason %q), want %s %s", what, err, rpcerr.Reason(err), code, reason)
	}
}

func TestProofsVerifyWithThePublicKeyAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()

	_, err := e.client.GetSignedTreeHead(ctx, &logv1.GetSignedTreeHeadRequest{}, as("ops-key"))
	wantStatus(t, "a log with no head", err, codes.NotFound, logserver.ReasonLogEmpty)

	tokens := []string{"RCV3_one", "RCV3_two", "RCV3_three", "RCV3_four", "RCV3_five"}
	for i, tok := range tokens {
		e.queue(tlog.LicenseLeaf("ws-1", int64(i+1), tok))
	}
	e.sequence(t) // heads at 3 and 5
	first, err := e.client.GetSignedTreeHead(ctx, &logv1.GetSignedTreeHeadRequest{TreeSize: 3}, as("ops-key"))
	if err != nil {
		t.Fatal(err)
	}
	e.queue(tlog.LicenseLeaf("ws-2", 1, "RCV3_six"))
	e.sequence(t)

	latest, err := e.client.GetSignedTreeHead(ctx, &logv1.GetSignedTreeHeadRequest{}, as("ops-key"))
	if err != nil {
		t.Fatal(err)
	}
	sth, err := tlog.VerifyTreeHead(latest.GetTreeHead().GetJws(), e.keys.KeyFor())
	if err != nil || sth.Size != 6 || sth.KeyID != e.keys.Key.ID {
		t.Fatalf("latest head: %+v, %v", sth, err)
	}

	// By license, and by leaf hash; the bundle verifies on its own.
	incl, err := e.client.GetInclusionProof(ctx, &logv1.GetInclusionProofRequest{
		Leaf: &logv1.GetInclusionProofRequest_License{License: &logv1.LicenseRef{WorkspaceId: "ws-1", Sequence: 4}},
	}, as("ops-key"))
	if err != nil {
		t.Fatal(err)
	}
	if incl.GetEntry().GetLeafIndex() != 3 || incl.GetTreeHead().GetTreeSize() != 6 {
		t.Fatalf("inclusion: entry %d in %d", incl.GetEntry().GetLeafIndex(), incl.GetTreeHead().GetTreeSize())
	}
	b, err := tlog.ParseBundle([]byte(incl.GetBundleJson()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify("RCV3_four", e.keys.KeyFor()); err != nil {
		t.Fatalf("bundle: %v", err)
	}
	if _, err := b.Verify("RCV3_five", e.keys.KeyFor()); err == nil {
		t.Fatal("the bundle of license 4 verified license 5")
	}
	h, _ := tlog.LicenseLeaf("ws-1", 2, "RCV3_two").Hash()
	byHash, err := e.client.GetInclusionProof(ctx, &logv1.GetInclusionProofRequest{Leaf: &logv1.GetInclusionProofRequest_LeafHash{LeafHash: h}, TreeSize: 3}, as("ops-key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.VerifyInclusion(1, 3, h, byHash.GetAuditPath(), first.GetTreeHead().GetRootHash()); err != nil {
		t.Fatalf("by hash at size 3: %v", err)
	}

	cons, err := e.client.GetConsistencyProof(ctx, &logv1.GetConsistencyProofRequest{FirstTreeSize: 3}, as("ops-key"))
	if err != nil {
		t.Fatal(err)
	}
	old, err := tlog.VerifyTreeHead(cons.GetFirstTreeHead().GetJws(), e.keys.KeyFor())
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.VerifyConsistency(3, 6, old.RootHash, sth.RootHash, cons.GetProof()); err != nil || cons.GetSecondTreeSize() != 6 {
		t.Fatalf("consistency 3..6: %v", err)
	}

	ents, err := e.client.GetEntries(ctx, &logv1.GetEntriesRequest{Start: 0, End: 100}, as("ops-key"))
	if err != nil {
		t.Fatal(err)
	}
	var hashes [][]byte
	for _, en := range ents.GetEntries() {
		l := tlog.Leaf{Kind: tlog.Kind(en.GetLeaf().GetKind()), WorkspaceID: en.GetLeaf().GetWorkspaceId(), Sequence: en.GetLeaf().GetSequence(), ArtifactSHA256: en.GetLeaf().GetArtifactSha256()}
		lh, err := l.Hash()
		if err != nil || !bytes.Equal(lh, en.GetLeafHash()) {
			t.Fatalf("entry %d: the leaf does not hash to its leaf hash (%v)", en.GetLeafIndex(), err)
		}
		hashes = append(hashes, lh)
	}
	if len(hashes) != 6 || !bytes.Equal(tlog.RootFromLeaves(hashes), sth.RootHash) {
		t.Fatalf("%d entries do not rebuild the signed root", len(hashes))
	}
}

// Every bad request is refused naming what is wrong.
func TestRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	e.queue(tlog.LicenseLeaf("ws-1", 1, "RCV3_one"), tlog.LicenseLeaf("ws-1", 2, "RCV3_two"), tlog.LicenseLeaf("ws-1", 3, "RCV3_three"), tlog.LicenseLeaf("ws-1", 4, "RCV3_four"))
	e.sequence(t) // heads at 3 and 4
	e.queue(tlog.LicenseLeaf("ws-1", 5, "RCV3_five"))

	fields := func(err error) []string {
		var out []string
		for _, f := range rpcerr.Fields(err) {
			out = append(out, f.Field)
		}
		return out
	}
	cases := []struct {
		name   string
		call   func() error
		code   codes.Code
		reason string
		fields []string
	}{
		{"no leaf", func() error {
			_, err := e.client.GetInclusionProof(ctx, &logv1.GetInclusionProofRequest{}, as("ops-key"))
			return err
		}, codes.InvalidArgument, logserver.ReasonInvalidRequest, []string{"leaf"}},
		{"short hash", func() error {
			_, err := e.client.GetInclusionProof(ctx, &logv1.GetInclusionProofRequest{Leaf: &logv1.GetInclusionProofRequest_LeafHash{LeafHash: []byte{1, 2}}}, as("ops-key"))
			return err
		}, codes.InvalidArgument, logserver.ReasonInvalidRequest, []string{"leaf_hash"}},
		{"bad license ref", func() error {
			_, err := e.client.GetInclusionProof(ctx, &logv1.GetInclusionProofRequest{Leaf: &logv1.GetInclusionProofRequest_License{License: &logv1.LicenseRef{}}}, as("ops-key"))
			return err
		}, codes.InvalidArgument, logserver.ReasonInvalidRequest, []string{"license.workspace_id", "license.sequence"}},
		{"unknown license", func() error {
			_, err := e.client.GetInclusionProof(ctx, &logv1.GetInclusionProofRequest{Leaf: &logv1.GetInclusionProofRequest_License{License: &logv1.LicenseRef{WorkspaceId: "ws-9", Sequence: 1}}}, as("ops-key"))
			return err
		}, codes.NotFound, logserver.ReasonLeafNotFound, nil},
		{"queued license", func() error {
			_, err := e.client.GetInclusionProof(ctx, &logv1.GetInclusionProofRequest{Leaf: &logv1.GetInclusionProofRequest_License{License: &logv1.LicenseRef{WorkspaceId: "ws-1", Sequence: 5}}}, as("ops-key"))
			return err
		}, codes.FailedPrecondition, logserver.ReasonLeafNotSequenced, nil},
		{"leaf after the size", func() error {
			_, err := e.client.GetInclusionProof(ctx, &logv1.GetInclusionProofRequest{Leaf: &logv1.GetInclusionProofRequest_License{License: &logv1.LicenseRef{WorkspaceId: "ws-1", Sequence: 4}}, TreeSize: 3}, as("ops-key"))
			return err
		}, codes.FailedPrecondition, logserver.ReasonLeafNotInTree, nil},
		{"size never signed", func() error {
			_, err := e.client.GetSignedTreeHead(ctx, &logv1.GetSignedTreeHeadRequest{TreeSize: 2}, as("ops-key"))
			return err
		}, codes.NotFound, logserver.ReasonTreeHeadNotFound, nil},
		{"consistency backwards", func() error {
			_, err := e.client.GetConsistencyProof(ctx, &logv1.GetConsistencyProofRequest{FirstTreeSize: 4, SecondTreeSize: 3}, as("ops-key"))
			return err
		}, codes.InvalidArgument, logserver.ReasonInvalidRequest, []string{"first_tree_size"}},
		{"consistency beyond", func() error {
			_, err := e.client.GetConsistencyProof(ctx, &logv1.GetConsistencyProofRequest{FirstTreeSize: 1, SecondTreeSize: 9}, as("ops-key"))
			return err
		}, codes.InvalidArgument, logserver.ReasonInvalidRequest, []string{"second_tree_size"}},
		{"entries reversed", func() error {
			_, err := e.client.GetEntries(ctx, &logv1.GetEntriesRequest{Start: 3, End: 3}, as("ops-key"))
			return err
		}, codes.InvalidArgument, logserver.ReasonInvalidRequest, []string{"end"}},
		{"entries beyond", func() error {
			_, err := e.client.GetEntries(ctx, &logv1.GetEntriesRequest{Start: 4, End: 9}, as("ops-key"))
			return err
		}, codes.InvalidArgument, logserver.ReasonInvalidRequest, []string{"start"}},
	}
	for _, c := range cases {
		err := c.call()
		wantStatus(t, c.name, err, c.code, c.reason)
		if got := fields(err); !slices.Equal(got, c.fields) {
			t.Errorf("%s: fields %v, want %v", c.name, got, c.fields)
		}
	}
	_, err := e.client.GetSignedTreeHead(ctx, &logv1.GetSignedTreeHeadRequest{})
	if rpcerr.Code(err) != codes.Unauthenticated {
		t.Errorf("without a key: %v", err)
	}
}
