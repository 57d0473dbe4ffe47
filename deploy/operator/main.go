// Command license-mirror is an example operator: it watches the sync
// service's views (optionally of one customer, some workspaces or a label)
// and mirrors each workspace's license into a Secret of its namespace, so
// pods of a workspace can mount their license. The loop is client.Watch
// around mirror.Handle; reconnecting and resuming are the client's.
//
// Environment: LICENSING_SYNC_ADDR (host:port of sync), LICENSING_API_KEY (an
// operator-read key), NAMESPACE (where the Secrets go; default the pod's
// own), WATCH_CUSTOMER, WATCH_WORKSPACES (comma-separated), WATCH_LABELS
// (k=v,k=v), KUBECONFIG (outside a cluster).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cloudlicense/authority/deploy/operator/mirror"
	"github.com/cloudlicense/authority/pkg/client"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := realMain(ctx, log); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("license-mirror", "error", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, log *slog.Logger) error {
	addr, key := os.Getenv("LICENSING_SYNC_ADDR"), os.Getenv("LICENSING_API_KEY")
	var missing []string
	if addr == "" {
		missing = append(missing, "LICENSING_SYNC_ADDR")
	}
	if key == "" {
		missing = append(missing, "LICENSING_API_KEY")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing configuration: %s", strings.Join(missing, ", "))
	}
	req, err := watchRequest()
	if err != nil {
		return err
	}
	cfg, err := kubeConfig()
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ns := os.Getenv("NAMESPACE")
	if ns == "" {
		b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
		if err != nil {
			return errors.New("NAMESPACE is not set and the pod's namespace cannot be read")
		}
		ns = strings.TrimSpace(string(b))
	}
	c, err := client.New(client.Config{SyncAddr: addr, APIKey: key})
	if err != nil {
		return err
	}
	defer c.Close()

	m := mirror.New(kube.CoreV1().Secrets(ns))
	log.Info("mirroring licenses", "namespace", ns, "sync", addr)
	return c.Watch(ctx, req, func(ev *syncv1.WatchResponse) error {
		// A Kubernetes error is retried here, not by the watch: the event
		// must not be skipped.
		for attempt := 0; ; attempt++ {
			err := m.Handle(ctx, ev)
			if err == nil || ctx.Err() != nil {
				return ctx.Err()
			}
			log.Warn("reconcile", "workspace", ev.GetView().GetWorkspaceId(), "error", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(min(time.Duration(1<<min(attempt, 5))*time.Second, 30*time.Second)):
			}
		}
	}, client.WatchOptions{OnRetry: func(err error, wait time.Duration) {
		log.Warn("watch interrupted; resuming", "error", err, "wait", wait)
	}})
}

func watchRequest() (*syncv1.WatchRequest, error) {
	req := &syncv1.WatchRequest{CustomerId: os.Getenv("WATCH_CUSTOMER")}
	for id := range strings.SplitSeq(os.Getenv("WATCH_WORKSPACES"), ",") {
		if id = strings.TrimSpace(id); id != "" {
			req.WorkspaceIds = append(req.WorkspaceIds, id)
		}
	}
	for kv := range strings.SplitSeq(os.Getenv("WATCH_LABELS"), ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("WATCH_LABELS: %q is not KEY=VALUE", kv)
		}
		if req.Labels == nil {
			req.Labels = map[string]string{}
		}
		req.Labels[k] = v
	}
	return req, nil
}

func kubeConfig() (*rest.Config, error) {
	if path := os.Getenv("KUBECONFIG"); path != "" {
		return clientcmd.BuildConfigFromFlags("", path)
	}
	return rest.InClusterConfig()
}
