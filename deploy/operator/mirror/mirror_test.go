package mirror_test

import (
	"context"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/cloudlicense/authority/deploy/operator/mirror"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
)

const ns = "workspaces"

func ev(t syncv1.WatchEventType, rev int64, ws string, seq int64, remove bool) *syncv1.WatchResponse {
	e := &syncv1.WatchResponse{Type: t, Revision: rev}
	if ws != "" {
		e.View = &syncv1.SyncView{WorkspaceId: ws, LicenseSequence: seq, License: "RCV3_" + ws + "-" + string(rune('0'+seq)), RemoveLicense: remove}
	}
	return e
}

const (
	existing = syncv1.WatchEventType_WATCH_EVENT_TYPE_EXISTING
	listed   = syncv1.WatchEventType_WATCH_EVENT_TYPE_LISTED
	changed  = syncv1.WatchEventType_WATCH_EVENT_TYPE_CHANGED
	bookmark = syncv1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK
)

// secrets returns workspace id -> license of the mirror's Secrets.
func secrets(t *testing.T, kube *fake.Clientset) map[string]string {
	t.Helper()
	list, err := kube.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: mirror.LabelManagedBy + "=" + mirror.ManagerName})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range list.Items {
		out[string(s.Data[mirror.KeyWorkspaceID])] = string(s.Data[mirror.KeyLicense])
	}
	return out
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func TestMirrorFollowsTheWatch(t *testing.T) {
	ctx := t.Context()
	// A Secret left by an earlier run for a workspace that is gone, and an
	// unrelated Secret the mirror must never touch.
	kube := fake.NewClientset(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: mirror.SecretName("ws-gone"), Namespace: ns,
			Labels: map[string]string{mirror.LabelManagedBy: mirror.ManagerName}},
			Data: map[string][]byte{mirror.KeyWorkspaceID: []byte("ws-gone"), mirror.KeySequence: []byte("1")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "unrelated", Namespace: ns}},
	)
	m := mirror.New(kube.CoreV1().Secrets(ns))
	for _, e := range []*syncv1.WatchResponse{
		ev(existing, 10, "ws-a", 1, false),
		ev(existing, 10, "WS_B", 2, false),
		ev(existing, 10, "ws-removed", 3, true),
		ev(listed, 10, "", 0, false),
	} {
		if err := m.Handle(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got := secrets(t, kube)
	if ks := keys(got); len(ks) != 2 || ks[0] != "WS_B" || ks[1] != "ws-a" {
		t.Fatalf("after the list: %v", ks)
	}
	if _, err := kube.CoreV1().Secrets(ns).Get(ctx, "unrelated", metav1.GetOptions{}); err != nil {
		t.Fatalf("the unrelated Secret: %v", err)
	}

	for _, e := range []*syncv1.WatchResponse{
		ev(changed, 11, "ws-a", 2, false),
		ev(bookmark, 11, "", 0, false),
		ev(changed, 12, "ws-a", 1, false), // older: must not take ws-a back
		ev(changed, 13, "WS_B", 3, true),  // withdrawn: the Secret goes
		ev(changed, 14, "ws-new", 1, false),
	} {
		if err := m.Handle(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got = secrets(t, kube)
	if len(got) != 2 || got["ws-a"] != "RCV3_ws-a-2" || got["ws-new"] != "RCV3_ws-new-1" {
		t.Fatalf("after the changes: %v", got)
	}
	if _, err := kube.CoreV1().Secrets(ns).Get(ctx, mirror.SecretName("WS_B"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("withdrawn workspace's Secret: %v", err)
	}
	s, err := kube.CoreV1().Secrets(ns).Get(ctx, mirror.SecretName("ws-a"), metav1.GetOptions{})
	if err != nil || string(s.Data[mirror.KeySequence]) != "2" || s.Labels[mirror.LabelWorkspace] != "ws-a" {
		t.Fatalf("ws-a's Secret: %v %v", s, err)
	}
}

func TestSecretNameIsADNSLabel(t *testing.T) {
	for in, want := range map[string]string{
		"ws-1":           "license-ws-1",
		"WS_Upper.Case":  "license-ws-upper-case",
		"trailing_":      "license-trailing",
		"01HZX3Y4ABCDEF": "license-01hzx3y4abcdef",
	} {
		if got := mirror.SecretName(in); got != want {
			t.Errorf("SecretName(%q) = %q, want %q", in, got, want)
		}
	}
}
