// Package manifests checks the Kubernetes manifests under deploy/k8s: each
// kustomization renders with kustomize (the Go library, pinned in go.mod)
// and every object decodes strictly into its Kubernetes API type, with the
// properties a deployment of the authority relies on.
package manifests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

var services = []string{"registry", "tokens", "signer", "sync", "gateway"}

// k8sDir is deploy/k8s, found from this file so the test runs from any
// working directory.
func k8sDir(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "k8s")
}

// rendered is a rendered kustomization: its objects by kind and name.
type rendered map[string]map[string][]byte

func render(t *testing.T, dir string) rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out := rendered{}
	for _, r := range res.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		kind := r.GetKind()
		if out[kind] == nil {
			out[kind] = map[string][]byte{}
		}
		out[kind][r.GetName()] = b
	}
	return out
}

// decode decodes raw strictly into v: a field the API type does not have
// (a typo, a wrong level of indentation) fails the test.
func decode(t *testing.T, what string, raw []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s does not decode as its Kubernetes type: %v", what, err)
	}
}

// typed decodes every object of the kinds the authority uses.
func typed(t *testing.T, r rendered) {
	t.Helper()
	types := map[string]func() any{
		"Deployment": func() any { return &appsv1.Deployment{} }, "Service": func() any { return &corev1.Service{} },
		"HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
		"PodDisruptionBudget":     func() any { return &policyv1.PodDisruptionBudget{} },
		"NetworkPolicy":           func() any { return &networkingv1.NetworkPolicy{} },
		"Job":                     func() any { return &batchv1.Job{} }, "ConfigMap": func() any { return &corev1.ConfigMap{} },
		"ServiceAccount": func() any { return &corev1.ServiceAccount{} }, "Namespace": func() any { return &corev1.Namespace{} },
		"Ingress": func() any { return &networkingv1.Ingress{} },
	}
	for kind, objs := range r {
		mk, ok := types[kind]
		if !ok {
			// Custom resources (the CloudNativePG Cluster) belong to their
			// operator's API, checked by it at apply time.
			if kind != "Cluster" {
				t.Errorf("unexpected kind %s", kind)
			}
			continue
		}
		for name, raw := range objs {
			decode(t, kind+"/"+name, raw, mk())
		}
	}
}

func TestBaseRendersAndChecksOut(t *testing.T) {
	r := render(t, filepath.Join(k8sDir(t), "base"))
	typed(t, r)
	checkServices(t, r, 0)
}

func TestProductionOverlayRendersAndChecksOut(t *testing.T) {
	r := render(t, filepath.Join(k8sDir(t), "overlays", "production"))
	typed(t, r)
	checkServices(t, r, 3)
	if len(r["Cluster"]) != 1 {
		t.Errorf("production: want one CloudNativePG Cluster, got %d", len(r["Cluster"]))
	}
	for _, img := range images(t, r) {
		if !strings.HasPrefix(img, "images.example.com/licensing/") || !strings.Contains(img, ":") {
			t.Errorf("production image %q is not pinned to the registry", img)
		}
	}
}

func images(t *testing.T, r rendered) []string {
	var out []string
	for name, raw := range r["Deployment"] {
		var d appsv1.Deployment
		decode(t, "Deployment/"+name, raw, &d)
		for _, c := range d.Spec.Template.Spec.Containers {
			out = append(out, c.Image)
		}
	}
	return out
}

// checkServices checks what every service's objects must say; minReplicas
// is the floor the overlay sets for gateway and sync (0: none).
func checkServices(t *testing.T, r rendered, minReplicas int32) {
	t.Helper()
	for _, svc := range services {
		raw, ok := r["Deployment"][svc]
		if !ok {
			t.Errorf("no Deployment %s", svc)
			continue
		}
		var d appsv1.Deployment
		decode(t, "Deployment/"+svc, raw, &d)
		spec := d.Spec.Template.Spec
		if len(spec.Containers) != 1 {
			t.Fatalf("%s: %d containers", svc, len(spec.Containers))
		}
		c := spec.Containers[0]
		if svc != "gateway" {
			for probe, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
				if p == nil || p.GRPC == nil {
					t.Errorf("%s: %s probe is not a gRPC health probe", svc, probe)
				}
			}
		} else if c.ReadinessProbe == nil || c.LivenessProbe == nil {
			t.Errorf("gateway: readiness and liveness probes are required")
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
			t.Errorf("%s: no CPU or memory request", svc)
		}
		sc := spec.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Errorf("%s: pod does not require a non-root user", svc)
		}
		for _, e := range c.Env {
			// A *_FILE variable is a path to a mounted Secret, not the secret.
			if e.Value != "" && !strings.HasSuffix(e.Name, "_FILE") && (strings.Contains(strings.ToLower(e.Name), "key") || strings.Contains(strings.ToLower(e.Name), "password") || e.Name == "DATABASE_URL") {
				t.Errorf("%s: secret-looking %s given by value, not by reference", svc, e.Name)
			}
		}
		if len(c.EnvFrom) == 0 || c.EnvFrom[0].ConfigMapRef == nil || !strings.HasPrefix(c.EnvFrom[0].ConfigMapRef.Name, "licensing-config") {
			t.Errorf("%s: configuration not taken from the licensing-config ConfigMap", svc)
		} else if _, ok := r["ConfigMap"][c.EnvFrom[0].ConfigMapRef.Name]; !ok {
			t.Errorf("%s: ConfigMap %s is not rendered (hash suffix mismatch?)", svc, c.EnvFrom[0].ConfigMapRef.Name)
		}

		var s corev1.Service
		decode(t, "Service/"+svc, r["Service"][svc], &s)
		if !selects(s.Spec.Selector, d.Spec.Template.Labels) {
			t.Errorf("%s: Service selector %v does not select the pods %v", svc, s.Spec.Selector, d.Spec.Template.Labels)
		}
		var pdb policyv1.PodDisruptionBudget
		decode(t, "PodDisruptionBudget/"+svc, r["PodDisruptionBudget"][svc], &pdb)
		if pdb.Spec.Selector == nil || !selects(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("%s: PodDisruptionBudget does not select the pods", svc)
		}
		var hpa autoscalingv2.HorizontalPodAutoscaler
		decode(t, "HorizontalPodAutoscaler/"+svc, r["HorizontalPodAutoscaler"][svc], &hpa)
		if hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != svc {
			t.Errorf("%s: HPA targets %v", svc, hpa.Spec.ScaleTargetRef)
		}
		if minReplicas > 0 && (svc == "gateway" || svc == "sync") && (hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < minReplicas) {
			t.Errorf("%s: HPA minReplicas below %d", svc, minReplicas)
		}
	}
	if len(r["Job"]) == 0 {
		t.Error("no migration Job")
	}
	for name, raw := range r["Job"] {
		var j batchv1.Job
		decode(t, "Job/"+name, raw, &j)
		found := false
		for _, c := range j.Spec.Template.Spec.Containers {
			for _, e := range c.Env {
				found = found || (e.Name == "MIGRATE_ONLY" && e.Value == "true")
			}
		}
		if !found {
			t.Errorf("Job %s does not run with MIGRATE_ONLY=true", name)
		}
	}
	checkOnlyGatewayIsPublic(t, r)
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkOnlyGatewayIsPublic: a default-deny ingress policy covers every pod,
// and only the gateway admits traffic from outside the namespace (other
// than Prometheus on the metrics port).
func checkOnlyGatewayIsPublic(t *testing.T, r rendered) {
	t.Helper()
	denyAll := false
	for name, raw := range r["NetworkPolicy"] {
		var p networkingv1.NetworkPolicy
		decode(t, "NetworkPolicy/"+name, raw, &p)
		if len(p.Spec.PodSelector.MatchLabels) == 0 && len(p.Spec.PodSelector.MatchExpressions) == 0 &&
			slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) && len(p.Spec.Ingress) == 0 {
			denyAll = true
		}
		target := p.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"]
		if target == "gateway" || !slices.Contains(services, target) {
			continue
		}
		for _, rule := range p.Spec.Ingress {
			for _, peer := range rule.From {
				if peer.IPBlock != nil {
					t.Errorf("NetworkPolicy %s admits %s to %s: only the gateway is public", name, peer.IPBlock.CIDR, target)
				}
				if peer.NamespaceSelector != nil && !metricsOnly(rule) && !operatorsOnly(target, peer) {
					t.Errorf("NetworkPolicy %s admits another namespace to %s beyond metrics: %s", name, target, fmt.Sprint(peer.NamespaceSelector))
				}
			}
		}
	}
	if !denyAll {
		t.Error("no default-deny ingress NetworkPolicy")
	}
}

func metricsOnly(rule networkingv1.NetworkPolicyIngressRule) bool {
	if len(rule.Ports) == 0 {
		return false
	}
	for _, p := range rule.Ports {
		if p.Port == nil || (p.Port.IntValue() != 9090 && p.Port.String() != "metrics") {
			return false
		}
	}
	return true
}

// operatorsOnly: sync's watch is open to pods that carry the watcher label
// in other namespaces (the operators), and to no one else.
func operatorsOnly(target string, peer networkingv1.NetworkPolicyPeer) bool {
	return target == "sync" && peer.PodSelector != nil && peer.PodSelector.MatchLabels["licensing.cloudlicense.io/watcher"] == "true"
}
