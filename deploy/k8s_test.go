package deploy_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/moa-run/moa/deploy/deploygen"
	"github.com/moa-run/moa/system"
)

// k8sObjects are the objects of deploy/k8s, decoded strictly into the API types: a field the
// API does not have, or of the wrong type, fails here rather than at kubectl apply.
type k8sObjects struct {
	configMaps   map[string]corev1.ConfigMap
	services     map[string]corev1.Service
	statefulSets map[string]appsv1.StatefulSet
	deployments  map[string]appsv1.Deployment
	pdbs         []policyv1.PodDisruptionBudget
	policies     []networkingv1.NetworkPolicy
}

func loadK8s(t *testing.T) *k8sObjects {
	t.Helper()
	o := &k8sObjects{
		configMaps: map[string]corev1.ConfigMap{}, services: map[string]corev1.Service{},
		statefulSets: map[string]appsv1.StatefulSet{}, deployments: map[string]appsv1.Deployment{},
	}
	var kust struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Resources  []string `json:"resources"`
		Images     []struct {
			Name    string `json:"name"`
			NewName string `json:"newName,omitempty"`
			NewTag  string `json:"newTag"`
		} `json:"images"`
	}
	b, err := os.ReadFile("k8s/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, &kust); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if kust.Kind != "Kustomization" || len(kust.Images) != 1 || kust.Images[0].Name+":"+kust.Images[0].NewTag != deploygen.MoaImage {
		t.Errorf("kustomization %s with images %+v: want the image %s settable", kust.Kind, kust.Images, deploygen.MoaImage)
	}
	files, _ := filepath.Glob("k8s/*.yaml")
	for _, f := range files {
		if filepath.Base(f) != "kustomization.yaml" && !slices.Contains(kust.Resources, filepath.Base(f)) {
			t.Errorf("%s is not in the kustomization's resources", f)
		}
	}
	for _, r := range kust.Resources {
		b, err := os.ReadFile(filepath.Join("k8s", r))
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(b, []byte("\n---\n")) {
			if i == 0 {
				continue // the header comment
			}
			o.decode(t, fmt.Sprintf("%s document %d", r, i), doc)
		}
	}
	return o
}

func (o *k8sObjects) decode(t *testing.T, what string, doc []byte) {
	t.Helper()
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	strict := func(v any) {
		if err := yaml.UnmarshalStrict(doc, v); err != nil {
			t.Fatalf("%s (%s): %v", what, tm.Kind, err)
		}
	}
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 ConfigMap":
		var v corev1.ConfigMap
		strict(&v)
		o.configMaps[v.Name] = v
	case "v1 Service":
		var v corev1.Service
		strict(&v)
		o.services[v.Name] = v
	case "apps/v1 StatefulSet":
		var v appsv1.StatefulSet
		strict(&v)
		o.statefulSets[v.Name] = v
	case "apps/v1 Deployment":
		var v appsv1.Deployment
		strict(&v)
		o.deployments[v.Name] = v
	case "policy/v1 PodDisruptionBudget":
		var v policyv1.PodDisruptionBudget
		strict(&v)
		o.pdbs = append(o.pdbs, v)
	case "networking.k8s.io/v1 NetworkPolicy":
		var v networkingv1.NetworkPolicy
		strict(&v)
		o.policies = append(o.policies, v)
	default:
		t.Fatalf("%s: unexpected %s %s", what, tm.APIVersion, tm.Kind)
	}
}

func selects(t *testing.T, sel *metav1.LabelSelector, podLabels map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %v: %v", sel, err)
	}
	return !s.Empty() && s.Matches(labels.Set(podLabels))
}

// checkPods checks what every workload's pods need: a selector that selects them, a
// disruption budget and a network policy for them, pinned images and resources.
func (o *k8sObjects) checkPods(t *testing.T, what string, sel *metav1.LabelSelector, pod corev1.PodTemplateSpec) {
	t.Helper()
	if !selects(t, sel, pod.Labels) {
		t.Errorf("%s: its selector %v does not select its pods %v", what, sel, pod.Labels)
	}
	var pdbs, policies int
	for _, p := range o.pdbs {
		if selects(t, p.Spec.Selector, pod.Labels) {
			pdbs++
		}
	}
	for _, p := range o.policies {
		if selects(t, &p.Spec.PodSelector, pod.Labels) && slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			policies++
		}
	}
	if pdbs != 1 || policies != 1 {
		t.Errorf("%s: its pods are selected by %d disruption budgets and %d ingress policies: want 1 and 1", what, pdbs, policies)
	}
	for _, c := range pod.Spec.Containers {
		name, tag, _ := strings.Cut(c.Image, ":")
		if name == "" || tag == "" || tag == "latest" || strings.Contains(tag, "/") {
			t.Errorf("%s: container %s runs %q: want a pinned tag", what, c.Name, c.Image)
		}
		r := c.Resources
		if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
			t.Errorf("%s: container %s resources %+v: want CPU and memory requests and a memory limit", what, c.Name, r)
		}
		for _, e := range c.Env {
			if e.Name != "GOMEMLIMIT" {
				continue
			}
			lim, err := resource.ParseQuantity(strings.TrimSuffix(e.Value, "B"))
			if err != nil || lim.Cmp(*r.Limits.Memory()) >= 0 {
				t.Errorf("%s: container %s GOMEMLIMIT %s (%v): want it below the memory limit %s", what, c.Name, e.Value, err, r.Limits.Memory())
			}
		}
		if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "GOMEMLIMIT" }) {
			t.Errorf("%s: container %s has no GOMEMLIMIT: the Go runtime would not know its limit", what, c.Name)
		}
		if c.ReadinessProbe == nil || c.LivenessProbe == nil {
			t.Errorf("%s: container %s has no readiness or liveness probe", what, c.Name)
		}
		for _, e := range c.Env {
			secretish := strings.Contains(e.Name, "PASSWORD") || strings.HasSuffix(e.Name, "_URL") && strings.Contains(e.Value, "@")
			if secretish && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
				t.Errorf("%s: %s is not a secret reference", what, e.Name)
			}
		}
	}
}

func TestKubernetesServices(t *testing.T) {
	o := loadK8s(t)
	for _, name := range system.Services() {
		d, ok := o.deployments[name]
		if !ok {
			t.Errorf("service %s has no Deployment", name)
			continue
		}
		o.checkPods(t, "Deployment "+name, d.Spec.Selector, d.Spec.Template)
		if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
			t.Errorf("%s: %v replicas, want at least 2", name, d.Spec.Replicas)
		}
		if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
			t.Errorf("%s: a rollout may take an instance away before its replacement is ready", name)
		}
		if len(d.Spec.Template.Spec.Containers) != 1 {
			t.Fatalf("%s: %d containers", name, len(d.Spec.Template.Spec.Containers))
		}
		c := d.Spec.Template.Spec.Containers[0]
		if !slices.Equal(c.Args, []string{"serve", name}) {
			t.Errorf("%s: args %q", name, c.Args)
		}
		if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" ||
			!slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.HTTPGet.Port.StrVal }) {
			t.Errorf("%s: readiness %+v: want /readyz on its http port", name, c.ReadinessProbe)
		}
		env := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			env[e.Name] = e
		}
		if env["MOA_NATS_URL"].Value != deploygen.K8sNATSURLs() || env["MOA_NATS_USER"].Value != name {
			t.Errorf("%s: NATS %q as %q: want every NATS pod as user %s", name, env["MOA_NATS_URL"].Value, env["MOA_NATS_USER"].Value, name)
		}
		if ref := env["MOA_NATS_PASSWORD"].ValueFrom; ref == nil || ref.SecretKeyRef == nil ||
			ref.SecretKeyRef.Name != deploygen.NATSSecret || ref.SecretKeyRef.Key != name {
			t.Errorf("%s: the NATS password is not the %s key of the %s Secret", name, name, deploygen.NATSSecret)
		}
		reg, _ := system.Lookup(name)
		if pg := env[system.SettingEnv(name, "postgres_url")]; reg.Postgres && (pg.ValueFrom == nil || pg.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("%s needs PostgreSQL and gets no URL from a Secret", name)
		}
		if mg := env[system.SettingEnv(name, "mongo_url")]; reg.Mongo && (mg.ValueFrom == nil || mg.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("%s needs MongoDB and gets no URL from a Secret", name)
		}
		grace := d.Spec.Template.Spec.TerminationGracePeriodSeconds
		drain, err := time.ParseDuration(env["MOA_DRAIN_TIMEOUT"].Value)
		if err != nil || grace == nil || time.Duration(*grace)*time.Second <= drain {
			t.Errorf("%s: termination grace %v does not cover the drain (%q)", name, grace, env["MOA_DRAIN_TIMEOUT"].Value)
		}
	}
	for name := range o.deployments {
		if _, ok := system.Lookup(name); !ok {
			t.Errorf("Deployment %s is no registered service", name)
		}
	}
}

func TestKubernetesNATS(t *testing.T) {
	o := loadK8s(t)
	sts, ok := o.statefulSets["nats"]
	if !ok {
		t.Fatal("no nats StatefulSet")
	}
	pod := sts.Spec.Template
	o.checkPods(t, "StatefulSet nats", sts.Spec.Selector, pod)
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != deploygen.NATSNodes || deploygen.NATSNodes < 3 || deploygen.NATSNodes%2 == 0 {
		t.Errorf("NATS replicas %v (NATSNodes %d): want an odd number, at least 3", sts.Spec.Replicas, deploygen.NATSNodes)
	}
	headless := o.services[sts.Spec.ServiceName]
	if headless.Spec.ClusterIP != corev1.ClusterIPNone || !headless.Spec.PublishNotReadyAddresses ||
		!selects(t, &metav1.LabelSelector{MatchLabels: headless.Spec.Selector}, pod.Labels) {
		t.Errorf("governing service %q: %+v: want headless, publishing not-ready pods, selecting the servers",
			sts.Spec.ServiceName, headless.Spec)
	}
	anti := false
	if a := pod.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			anti = anti || term.TopologyKey == "kubernetes.io/hostname" && selects(t, term.LabelSelector, pod.Labels)
		}
	}
	if !anti {
		t.Error("two NATS servers may be scheduled on one node: no required anti-affinity on kubernetes.io/hostname")
	}
	if len(pod.Spec.TopologySpreadConstraints) == 0 {
		t.Error("NATS servers are not spread across zones")
	}
	for _, p := range o.pdbs {
		if selects(t, p.Spec.Selector, pod.Labels) && (p.Spec.MaxUnavailable == nil || p.Spec.MaxUnavailable.IntValue() != 1) {
			t.Errorf("NATS disruption budget %+v: want at most one server down (quorum of three)", p.Spec)
		}
	}
	c := pod.Spec.Containers[0]
	if c.Image != deploygen.NATSImage {
		t.Errorf("NATS image %s, want %s", c.Image, deploygen.NATSImage)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 || mounts[deploygen.KubernetesNATS.StoreDir] != sts.Spec.VolumeClaimTemplates[0].Name {
		t.Errorf("the JetStream store %s is not on a persistent volume claim", deploygen.KubernetesNATS.StoreDir)
	}
	if mounts[filepath.Dir(deploygen.NATSPidFile)] == "" {
		t.Errorf("no writable %s for the pid file", filepath.Dir(deploygen.NATSPidFile))
	}
	if l := c.Lifecycle; l == nil || l.PreStop == nil || l.PreStop.Exec == nil ||
		!strings.Contains(strings.Join(l.PreStop.Exec.Command, " "), "--signal ldm="+deploygen.NATSPidFile) {
		t.Errorf("no lame-duck preStop hook: %+v", c.Lifecycle)
	}
	grace := pod.Spec.TerminationGracePeriodSeconds
	if grace == nil || *grace <= int64((deploygen.NATSLameDuck+deploygen.NATSLameDuckGrace).Seconds()) {
		t.Errorf("termination grace %v does not cover the lame duck", grace)
	}
	routeOnlyFromServers := false
	for _, p := range o.policies {
		if !selects(t, &p.Spec.PodSelector, pod.Labels) {
			continue
		}
		for _, r := range p.Spec.Ingress {
			if len(r.Ports) == 1 && r.Ports[0].Port.IntValue() == deploygen.NATSRoutePort {
				routeOnlyFromServers = len(r.From) == 1 && r.From[0].PodSelector != nil && selects(t, r.From[0].PodSelector, pod.Labels)
			}
		}
	}
	if !routeOnlyFromServers {
		t.Error("the route port is open to more than the NATS servers")
	}

	// The ConfigMap's nats.conf, as a pod reads it: every variable it needs is in the pod's
	// environment, and it makes the pod one server of the three.
	conf := ""
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap != nil && mounts["/etc/nats"] == v.Name {
			conf = o.configMaps[v.ConfigMap.Name].Data["nats.conf"]
		}
	}
	if conf == "" {
		t.Fatal("no nats.conf mounted at /etc/nats")
	}
	env := map[string]bool{}
	for _, e := range c.Env {
		env[e.Name] = e.ValueFrom == nil || e.ValueFrom.SecretKeyRef != nil || e.ValueFrom.FieldRef != nil
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*\w+: \$(\w+)$`).FindAllStringSubmatch(conf, -1) {
		if !env[m[1]] {
			t.Errorf("nats.conf reads $%s, which the NATS pods' environment lacks", m[1])
		}
	}
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := loadNATSNodeConfig(t, path, deploygen.K8sNATSPod(0))
	checkNATSNodeOptions(t, "the ConfigMap's nats.conf", opts, deploygen.K8sNATSPod(0), deploygen.KubernetesNATS.Nodes)
}

// The NATS image shipped is the server release the tests run in-process.
func TestNATSImageIsTheTestedServer(t *testing.T) {
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`github.com/nats-io/nats-server/v2 v(\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod requires no nats-server")
	}
	if want := "nats:" + string(m[1]) + "-alpine"; deploygen.NATSImage != want {
		t.Errorf("the deployments run %s; the tests run nats-server %s (%s)", deploygen.NATSImage, m[1], want)
	}
}

// Every Secret the manifests reference is one docs/operations.md tells the operator to create.
func TestKubernetesSecretsAreDocumented(t *testing.T) {
	o := loadK8s(t)
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	var pods []corev1.PodTemplateSpec
	for _, d := range o.deployments {
		pods = append(pods, d.Spec.Template)
	}
	for _, s := range o.statefulSets {
		pods = append(pods, s.Spec.Template)
	}
	missing := map[string]bool{}
	for _, p := range pods {
		for _, c := range p.Spec.Containers {
			for _, e := range c.Env {
				if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					continue
				}
				ref := e.ValueFrom.SecretKeyRef
				if !bytes.Contains(doc, []byte(ref.Name)) {
					missing["the Secret "+ref.Name] = true
				}
				// The services' Secrets are keyed by variable; the required ones must be listed.
				if strings.HasPrefix(ref.Key, "MOA_") && (ref.Optional == nil || !*ref.Optional) && !bytes.Contains(doc, []byte(ref.Key)) {
					missing[ref.Name+"'s key "+ref.Key] = true
				}
			}
		}
	}
	for m := range missing {
		t.Errorf("the manifests read %s, which docs/operations.md does not mention", m)
	}
}
