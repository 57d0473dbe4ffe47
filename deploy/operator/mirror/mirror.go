// Package mirror keeps one Kubernetes Secret per watched workspace holding
// the workspace's current license, from the sync service's watch events. It
// is the reconcile half of the example operator; the watch half is
// client.Watch, which reconnects and resumes by itself.
package mirror

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// Labels and keys of the mirrored Secrets.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagerName    = "license-mirror"
	LabelWorkspace = "licensing.cloudlicense.io/workspace"

	KeyLicense     = "license"
	KeyWorkspaceID = "workspace-id"
	KeySequence    = "license-sequence"
)

// Mirror writes the Secrets in one namespace.
type Mirror struct {
	Secrets corev1client.SecretInterface
	// listed collects the workspaces of a list until its LISTED mark.
	listed map[string]bool
}

// New returns a mirror writing through secrets (one namespace's).
func New(secrets corev1client.SecretInterface) *Mirror { return &Mirror{Secrets: secrets} }

// SecretName is the Secret of a workspace: a DNS label derived from its id.
func SecretName(workspaceID string) string {
	var b strings.Builder
	b.WriteString("license-")
	for _, r := range strings.ToLower(workspaceID) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return strings.TrimRight(b.String()[:min(b.Len(), 253)], "-")
}

// labelValue is the workspace part of a Secret name, cut to a label value's
// 63 characters.
func labelValue(secretName string) string {
	v := strings.TrimPrefix(secretName, "license-")
	return strings.Trim(v[:min(len(v), 63)], "-")
}

// Handle applies one watch event; it is the operator's whole loop body.
//   - EXISTING and CHANGED: the workspace's Secret holds its license, or is
//     deleted when the view says removeLicense or holds none. A Secret
//     already at a later license sequence is left alone, so a replayed or
//     late event never takes a workspace back.
//   - LISTED: the list is complete; Secrets of workspaces it did not name
//     (deleted or no longer selected while the watch was down) are removed.
//   - BOOKMARK: nothing to do.
func (m *Mirror) Handle(ctx context.Context, ev *syncv1.WatchResponse) error {
	switch ev.GetType() {
	case syncv1.WatchEventType_WATCH_EVENT_TYPE_EXISTING:
		if m.listed == nil {
			m.listed = map[string]bool{}
		}
		m.listed[ev.GetView().GetWorkspaceId()] = true
		return m.apply(ctx, ev.GetView())
	case syncv1.WatchEventType_WATCH_EVENT_TYPE_CHANGED:
		return m.apply(ctx, ev.GetView())
	case syncv1.WatchEventType_WATCH_EVENT_TYPE_LISTED:
		listed := m.listed
		m.listed = nil
		return m.prune(ctx, listed)
	}
	return nil
}

func (m *Mirror) apply(ctx context.Context, v *syncv1.SyncView) error {
	name := SecretName(v.GetWorkspaceId())
	cur, err := m.Secrets.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		cur = nil
	case err != nil:
		return fmt.Errorf("get secret %s: %w", name, err)
	}
	if cur != nil {
		if seq, err := strconv.ParseInt(string(cur.Data[KeySequence]), 10, 64); err == nil && seq > v.GetLicenseSequence() {
			return nil
		}
	}
	if v.GetRemoveLicense() || v.GetLicense() == "" {
		if cur == nil {
			return nil
		}
		if err := m.Secrets.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete secret %s: %w", name, err)
		}
		return nil
	}
	want := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelManagedBy: ManagerName, LabelWorkspace: labelValue(name)}},
		Type:       corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			KeyLicense:     []byte(v.GetLicense()),
			KeyWorkspaceID: []byte(v.GetWorkspaceId()),
			KeySequence:    []byte(strconv.FormatInt(v.GetLicenseSequence(), 10)),
		},
	}
	if cur == nil {
		if _, err := m.Secrets.Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create secret %s: %w", name, err)
		}
		return nil
	}
	want.ResourceVersion = cur.ResourceVersion
	if _, err := m.Secrets.Update(ctx, want, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update secret %s: %w", name, err)
	}
	return nil
}

// prune deletes the mirror's Secrets of workspaces a complete list did not
// name.
func (m *Mirror) prune(ctx context.Context, listed map[string]bool) error {
	have, err := m.Secrets.List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagerName})
	if err != nil {
		return fmt.Errorf("list secrets: %w", err)
	}
	for _, s := range have.Items {
		if listed[string(s.Data[KeyWorkspaceID])] {
			continue
		}
		if err := m.Secrets.Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete secret %s: %w", s.Name, err)
		}
	}
	return nil
}
