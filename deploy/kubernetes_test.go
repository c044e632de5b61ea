package deploy

// The offline check of deploy/kubernetes: each kustomization is built with
// kustomize's own code (krusty, as `kubectl apply -k` does), every object is
// decoded strictly into the Kubernetes API's Go types (an unknown or
// misspelled field is an error, named with its path), and then the objects
// are checked against each other and against pagebff's configuration. No
// cluster and no network are needed.

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// repoConfig is the repository's config file, which lists every key
// pagebff knows (relative to this module's directory).
const repoConfig = "../config/bff.yaml"

// pagebffContainer is the name of pagebff's container: the Deployment that
// has it is pagebff's.
const pagebffContainer = "pagebff"

// targets are the kustomizations shipped and what each must build.
var targets = []struct {
	dir     string
	objects []string // Kind/name, sorted
	backend string   // pagebff's cache.backend
	scrape  string   // how Prometheus finds /metrics: annotations or ServiceMonitor
}{
	{
		dir: "kubernetes/base",
		objects: []string{"ConfigMap/pagebff-config", "Deployment/pagebff", "HorizontalPodAutoscaler/pagebff",
			"PodDisruptionBudget/pagebff", "Secret/pagebff", "Service/pagebff"},
		backend: "memory",
		scrape:  "annotations",
	},
	{
		dir: "kubernetes/overlays/try-redis",
		objects: []string{"ConfigMap/pagebff-config", "Deployment/pagebff", "Deployment/pagebff-redis",
			"HorizontalPodAutoscaler/pagebff", "PodDisruptionBudget/pagebff", "Secret/pagebff",
			"Service/pagebff", "Service/pagebff-redis"},
		backend: "redis",
		scrape:  "annotations",
	},
	{
		dir: "kubernetes/overlays/prometheus-operator",
		objects: []string{"ConfigMap/pagebff-config", "Deployment/pagebff", "HorizontalPodAutoscaler/pagebff",
			"PodDisruptionBudget/pagebff", "Secret/pagebff", "Service/pagebff", "ServiceMonitor/pagebff"},
		backend: "memory",
		scrape:  "ServiceMonitor",
	},
}

func TestKustomizations(t *testing.T) {
	for _, tc := range targets {
		t.Run(strings.TrimPrefix(tc.dir, "kubernetes/"), func(t *testing.T) {
			b, err := build(t, tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := b.ids(); !slices.Equal(got, tc.objects) {
				t.Errorf("%s builds %v, want %v", tc.dir, got, tc.objects)
			}
			facts, problems := check(b)
			for _, p := range problems {
				t.Error(p)
			}
			if facts.backend != tc.backend {
				t.Errorf("%s: pagebff's cache.backend is %q, want %q", tc.dir, facts.backend, tc.backend)
			}
			if facts.scrape != tc.scrape {
				t.Errorf("%s: /metrics is found by %q, want %q", tc.dir, facts.scrape, tc.scrape)
			}
		})
	}
}

// TestChecksCatchMistakes proves the checks can fail: each case is an
// overlay, written to a temporary directory, on one of the shipped
// kustomizations with one mistake, and each must be reported.
func TestChecksCatchMistakes(t *testing.T) {
	const base, redis, monitor = "kubernetes/base", "kubernetes/overlays/try-redis", "kubernetes/overlays/prometheus-operator"
	deployment := func(spec string) string {
		return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: pagebff}\nspec:\n" + spec
	}
	container := func(fields string) string {
		return deployment("  template:\n    spec:\n      containers:\n        - name: pagebff\n" + fields)
	}
	jsonPatch := func(kind, name, ops string) string {
		return fmt.Sprintf("  - target: {kind: %s, name: %s}\n    patch: '%s'\n", kind, name, ops)
	}
	cases := []struct {
		name    string
		on      string
		patch   string            // a strategic merge patch
		patches string            // or entries for patches: (inline JSON 6902)
		extra   string            // more kustomization.yaml
		files   map[string]string // more files
		want    []string          // substrings of one problem
	}{
		{name: "misspelled field", on: base, patch: deployment("  replica: 3\n"),
			want: []string{"kubernetes/base/deployment.yaml", `Deployment "pagebff"`, "spec.replica", "unknown field"}},
		{name: "misspelled nested field", on: base,
			patch: container("          securityContext: {readOnlyRootFileSystem: true}\n"),
			want:  []string{`Deployment "pagebff"`, "spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem"}},
		{name: "wrong type", on: base, patch: deployment("  replicas: three\n"),
			want: []string{`Deployment "pagebff"`, "spec.replicas"}},
		{name: "Service selector matches nothing", on: base,
			patch: "apiVersion: v1\nkind: Service\nmetadata: {name: pagebff}\nspec:\n  selector: {app.kubernetes.io/component: api}\n",
			want:  []string{"kubernetes/base/service.yaml", `Service "pagebff"`, "spec.selector", "selects no Deployment"}},
		{name: "Service targets a port the pods lack", on: base,
			patches: jsonPatch("Service", "pagebff", `[{"op": "replace", "path": "/spec/ports/0/targetPort", "value": "web"}]`),
			want:    []string{`Service "pagebff"`, "spec.ports[0] (http).targetPort", `"web"`}},
		{name: "probe on a port that is not there", on: base,
			patch: container("          readinessProbe: {httpGet: {path: /readyz, port: web}}\n"),
			want:  []string{`Deployment "pagebff"`, "readinessProbe", `"web"`}},
		{name: "liveness on the wrong path", on: base,
			patch: container("          livenessProbe: {httpGet: {path: /readyz}}\n"),
			want:  []string{"livenessProbe.httpGet.path", "/healthz"}},
		{name: "config file mounted with subPath", on: base,
			patches: jsonPatch("Deployment", "pagebff", `[{"op": "add", "path": "/spec/template/spec/containers/0/volumeMounts/0/subPath", "value": "bff.yaml"}]`),
			want:    []string{"volumeMounts[0].subPath", "never updates"}},
		{name: "BFF_CONFIG outside the mount", on: base,
			patch: container("          env: [{name: BFF_CONFIG, value: /config/bff.yaml}]\n"),
			want:  []string{"BFF_CONFIG", "/config/bff.yaml"}},
		{name: "unknown key in bff.yaml", on: base,
			extra: "configMapGenerator:\n  - {name: pagebff-config, behavior: replace, files: [bff.yaml], options: {disableNameSuffixHash: true}}\n",
			files: map[string]string{"bff.yaml": "server:\n  drain_dealy: 5s\nservices:\n  user: {url: http://u}\n  catalog: {url: http://c}\n  activity: {url: http://a}\n"},
			want:  []string{`ConfigMap "pagebff-config"`, "server.drain_dealy", "not a key"}},
		{name: "grace period too short", on: base, patch: deployment("  template:\n    spec:\n      terminationGracePeriodSeconds: 12\n"),
			want: []string{"terminationGracePeriodSeconds", "15s"}},
		{name: "drain delay raised by env", on: base,
			patch: container("          env: [{name: BFF_SERVER_DRAIN_DELAY, value: 25s}]\n"),
			want:  []string{"terminationGracePeriodSeconds", "env BFF_SERVER_DRAIN_DELAY"}},
		{name: "writable root filesystem", on: base,
			patch: container("          securityContext: {readOnlyRootFilesystem: false}\n"),
			want:  []string{"securityContext.readOnlyRootFilesystem"}},
		{name: "capabilities kept", on: base,
			patches: jsonPatch("Deployment", "pagebff", `[{"op": "replace", "path": "/spec/template/spec/containers/0/securityContext/capabilities/drop", "value": ["NET_RAW"]}]`),
			want:    []string{"securityContext.capabilities.drop", "ALL"}},
		{name: "no memory limit", on: base,
			patches: jsonPatch("Deployment", "pagebff", `[{"op": "remove", "path": "/spec/template/spec/containers/0/resources/limits/memory"}]`),
			want:    []string{"resources.limits.memory"}},
		{name: "PDB selects nothing", on: base,
			patch: "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: pagebff}\nspec:\n  selector: {matchLabels: {app.kubernetes.io/name: pagebf}}\n",
			want:  []string{`PodDisruptionBudget "pagebff"`, "spec.selector"}},
		{name: "HPA targets another Deployment", on: base,
			patch: "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: pagebff}\nspec:\n  scaleTargetRef: {name: pagebff-v2}\n",
			want:  []string{`HorizontalPodAutoscaler "pagebff"`, "spec.scaleTargetRef"}},
		{name: "metrics annotation on the wrong port", on: base,
			patch: deployment("  template:\n    metadata:\n      annotations: {prometheus.io/port: \"8080\"}\n"),
			want:  []string{"prometheus.io/port", "9090"}},
		{name: "Redis URL naming no Service", on: redis,
			patch: "apiVersion: v1\nkind: Secret\nmetadata: {name: pagebff}\nstringData: {redis-url: \"redis://redis:6379/0\"}\n",
			want:  []string{"cache.redis_url", `"redis"`, "no Service"}},
		{name: "Redis URL on the wrong port", on: redis,
			patch: "apiVersion: v1\nkind: Secret\nmetadata: {name: pagebff}\nstringData: {redis-url: \"redis://pagebff-redis:6380/0\"}\n",
			want:  []string{"cache.redis_url", "6380"}},
		{name: "ServiceMonitor misspelled field", on: monitor,
			patches: jsonPatch("ServiceMonitor", "pagebff", `[{"op": "add", "path": "/spec/endpoints/0/ports", "value": "metrics"}]`),
			want:    []string{"kubernetes/overlays/prometheus-operator/servicemonitor.yaml", "spec.endpoints[0].ports", "unknown field"}},
		{name: "ServiceMonitor on a port the Service lacks", on: monitor,
			patches: jsonPatch("ServiceMonitor", "pagebff", `[{"op": "replace", "path": "/spec/endpoints/0/port", "value": "admin"}]`),
			want:    []string{`ServiceMonitor "pagebff"`, "spec.endpoints[0].port", `"admin"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			k := "resources:\n  - " + relTo(t, dir, tc.on) + "\n" + tc.extra
			if tc.patch != "" || tc.patches != "" {
				k += "patches:\n" + tc.patches
			}
			if tc.patch != "" {
				k += "  - path: patch.yaml\n"
				write(t, dir, "patch.yaml", tc.patch)
			}
			write(t, dir, "kustomization.yaml", k)
			for name, text := range tc.files {
				write(t, dir, name, text)
			}
			var problems []string
			if b, err := build(t, dir); err != nil {
				problems = strings.Split(err.Error(), "\n")
			} else {
				_, problems = check(b)
			}
			for _, p := range problems {
				if containsAll(p, tc.want) {
					t.Logf("caught: %s", p)
					return
				}
			}
			t.Errorf("no problem mentions all of %q; got %d:\n%s", tc.want, len(problems), strings.Join(problems, "\n"))
		})
	}
}

// TestDockerfile checks the repository's Dockerfile against the tree and
// the Deployment: what it copies exists, and the user it runs as is the one
// the pod's securityContext names (no Docker engine is needed, and none is
// used: the image is not built).
func TestDockerfile(t *testing.T) {
	text, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	copied := map[string]bool{}
	var user, entrypoint string
	for i, line := range strings.Split(string(text), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "COPY":
			if len(f) < 3 || strings.HasPrefix(f[1], "--from") {
				continue
			}
			for _, src := range f[1 : len(f)-1] {
				if strings.HasPrefix(src, "--") {
					continue
				}
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					t.Errorf("Dockerfile:%d: COPY %s: not in the repository: %v", i+1, src, err)
				}
				copied[strings.Split(filepath.Clean(src), "/")[0]] = true
			}
		case "USER":
			user = f[1]
		case "ENTRYPOINT":
			entrypoint = strings.Join(f[1:], " ")
		}
	}
	for _, want := range []string{"go.mod", "go.sum", "cmd", "internal", "config"} {
		if !copied[want] {
			t.Errorf("Dockerfile: copies nothing from %s (it copies %v)", want, copied)
		}
	}
	if entrypoint != `["/bff"]` {
		t.Errorf(`Dockerfile: ENTRYPOINT is %s, want ["/bff"]`, entrypoint)
	}
	b, err := build(t, "kubernetes/base")
	if err != nil {
		t.Fatal(err)
	}
	d, c := b.pagebff()
	if c == nil {
		t.Fatal("no pagebff container")
	}
	uid, _, _ := strings.Cut(user, ":")
	if sc := d.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsUser == nil || strconv.FormatInt(*sc.RunAsUser, 10) != uid {
		t.Errorf("Dockerfile: USER %q is not numeric or is not the Deployment's runAsUser", user)
	}
	if len(c.Command) > 0 {
		t.Errorf("the Deployment overrides the image's ENTRYPOINT with %q", c.Command)
	}
}

// ---- building and strict decoding ----

// bundle is what one kustomization builds, decoded into the API's types.
type bundle struct {
	dir         string
	origin      map[string]string // Kind/name -> the file it came from, relative to deploy/
	order       []string          // Kind/name as built
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	configMaps  []*corev1.ConfigMap
	secrets     []*corev1.Secret
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	monitors    []*serviceMonitor
}

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor
// (monitoring.coreos.com/v1) that the overlay uses; it has no k8s.io type,
// and decoding into this struct strictly refuses any other field.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		JobLabel          string               `json:"jobLabel,omitempty"`
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector,omitempty"`
		Endpoints []struct {
			Port          string `json:"port,omitempty"`
			Path          string `json:"path,omitempty"`
			Scheme        string `json:"scheme,omitempty"`
			Interval      string `json:"interval,omitempty"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
			HonorLabels   bool   `json:"honorLabels,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// build runs kustomize's build on dir in-process, as `kubectl apply -k`
// would, and decodes every object strictly. A second build, of a wrapper
// in a temporary directory asking for origin annotations, says which file
// each object came from; the checked objects are those of the first.
func build(t testing.TB, dir string) (*bundle, error) {
	t.Helper()
	fsys := filesys.MakeFsOnDisk()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	wrap := t.TempDir()
	write(t, wrap, "kustomization.yaml", "resources:\n  - "+relTo(t, wrap, dir)+"\nbuildMetadata: [originAnnotations]\n")
	wm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, wrap)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s with origin annotations: %w", dir, err)
	}
	b := &bundle{dir: dir, origin: map[string]string{}}
	for _, r := range wm.Resources() {
		b.origin[r.GetKind()+"/"+r.GetName()] = originFile(t, wrap, r.GetAnnotations()["config.kubernetes.io/origin"])
	}
	var errs []error
	for _, r := range m.Resources() {
		kind, name := r.GetKind(), r.GetName()
		b.order = append(b.order, kind+"/"+name)
		y, err := r.AsYAML()
		if err == nil {
			err = b.decode(r.GetApiVersion(), kind, y)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s %q: %w", b.file(kind, name), kind, name, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return b, nil
}

// originFile turns kustomize's origin annotation (paths relative to the
// wrapper kustomization) into a path relative to deploy/.
func originFile(t testing.TB, wrap, annotation string) string {
	var o struct {
		Path         string `json:"path"`
		ConfiguredIn string `json:"configuredIn"`
		ConfiguredBy struct {
			Kind string `json:"kind"`
		} `json:"configuredBy"`
	}
	if err := yaml.Unmarshal([]byte(annotation), &o); err != nil || (o.Path == "" && o.ConfiguredIn == "") {
		return "(unknown file)"
	}
	p, suffix := o.Path, ""
	if p == "" {
		p, suffix = o.ConfiguredIn, " ("+o.ConfiguredBy.Kind+")"
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, filepath.Join(wrap, p))
	if err != nil {
		return p + suffix
	}
	return filepath.ToSlash(rel) + suffix
}

// decode decodes one object into its API type, strictly.
func (b *bundle) decode(apiVersion, kind string, y []byte) error {
	switch apiVersion + " " + kind {
	case "apps/v1 Deployment":
		return decodeInto(y, &b.deployments)
	case "v1 Service":
		return decodeInto(y, &b.services)
	case "v1 ConfigMap":
		return decodeInto(y, &b.configMaps)
	case "v1 Secret":
		return decodeInto(y, &b.secrets)
	case "policy/v1 PodDisruptionBudget":
		return decodeInto(y, &b.pdbs)
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return decodeInto(y, &b.hpas)
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return decodeInto(y, &b.monitors)
	}
	return fmt.Errorf("apiVersion %s, kind %s: no type to check it against (add one to kubernetes_test.go)", apiVersion, kind)
}

func decodeInto[T any](y []byte, list *[]*T) error {
	o := new(T)
	if err := strictUnmarshal(y, o); err != nil {
		return err
	}
	*list = append(*list, o)
	return nil
}

// strictUnmarshal decodes y into o as the API server does with
// fieldValidation=Strict: YAML to JSON refusing duplicate keys, then
// sigs.k8s.io/json, which matches field names case-sensitively (encoding/json
// would take readOnlyRootFileSystem for readOnlyRootFilesystem) and names
// every unknown or duplicate field with its full path.
func strictUnmarshal(y []byte, o any) error {
	j, err := yaml.YAMLToJSONStrict(y)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, o, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err // a type error, which names its field
	}
	if len(strict) > 0 {
		return fmt.Errorf("%w (strict decoding into %T)", errors.Join(strict...), o)
	}
	return nil
}

func (b *bundle) ids() []string {
	ids := slices.Clone(b.order)
	slices.Sort(ids)
	return ids
}

func (b *bundle) file(kind, name string) string {
	if f, ok := b.origin[kind+"/"+name]; ok {
		return f
	}
	return b.dir
}

// pagebff returns pagebff's Deployment and container.
func (b *bundle) pagebff() (*appsv1.Deployment, *corev1.Container) {
	for _, d := range b.deployments {
		for i := range d.Spec.Template.Spec.Containers {
			if c := &d.Spec.Template.Spec.Containers[i]; c.Name == pagebffContainer {
				return d, c
			}
		}
	}
	return nil, nil
}

func (b *bundle) secret(name string) *corev1.Secret {
	for _, s := range b.secrets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (b *bundle) configMap(name string) *corev1.ConfigMap {
	for _, c := range b.configMaps {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (b *bundle) service(name string) *corev1.Service {
	for _, s := range b.services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// ---- the checks ----

// report collects problems, each naming the file, the object and the field.
type report struct {
	b    *bundle
	list []string
}

func (r *report) add(kind, name, field, format string, args ...any) {
	r.list = append(r.list, fmt.Sprintf("%s: %s %q: %s: %s", r.b.file(kind, name), kind, name, field, fmt.Sprintf(format, args...)))
}

// facts are what the checks found out, for the test to compare.
type facts struct {
	backend string // pagebff's cache.backend
	scrape  string // annotations or ServiceMonitor
}

// check runs every cross-object check on b.
func check(b *bundle) (facts, []string) {
	r := &report{b: b}
	for _, d := range b.deployments {
		checkPod(r, d)
	}
	for _, s := range b.services {
		checkService(r, s)
	}
	var f facts
	if d, c := b.pagebff(); d == nil {
		r.list = append(r.list, fmt.Sprintf("%s: no Deployment has a container named %q", b.dir, pagebffContainer))
	} else {
		f = checkPagebff(r, d, c)
	}
	return f, r.list
}

// checkPod checks what every Deployment must get right: its selector, the
// security context, resources, probe ports and references.
func checkPod(r *report, d *appsv1.Deployment) {
	add := func(field, format string, args ...any) { r.add("Deployment", d.Name, field, format, args...) }
	pod := &d.Spec.Template.Spec
	if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		add("spec.selector", "does not select the pod template's labels %v", d.Spec.Template.Labels)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		add("spec.template.spec.automountServiceAccountToken", "must be false: nothing here talks to the API server, so no token should be mounted")
	}
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	volumes := map[string]*corev1.Volume{}
	for i := range pod.Volumes {
		volumes[pod.Volumes[i].Name] = &pod.Volumes[i]
	}
	containers := slices.Concat(pod.InitContainers, pod.Containers)
	for i := range containers {
		c := &containers[i]
		at := fmt.Sprintf("spec.template.spec.containers[%d]", i-len(pod.InitContainers))
		if i < len(pod.InitContainers) {
			at = fmt.Sprintf("spec.template.spec.initContainers[%d]", i)
		}
		at += " (" + c.Name + ")"
		sc := c.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		if !isTrue(sc.RunAsNonRoot) && !(sc.RunAsNonRoot == nil && isTrue(psc.RunAsNonRoot)) {
			add(at+".securityContext.runAsNonRoot", "must be true (here or in the pod's securityContext)")
		}
		if uid := firstNonNil(sc.RunAsUser, psc.RunAsUser); uid != nil && *uid == 0 {
			add(at+".securityContext.runAsUser", "is 0 (root)")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			add(at+".securityContext.allowPrivilegeEscalation", "must be false")
		}
		if isTrue(sc.Privileged) {
			add(at+".securityContext.privileged", "must not be true")
		}
		if !isTrue(sc.ReadOnlyRootFilesystem) {
			add(at+".securityContext.readOnlyRootFilesystem", "must be true (mount an emptyDir where the program must write)")
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			add(at+".securityContext.capabilities.drop", "must contain ALL")
		} else if len(sc.Capabilities.Add) > 0 {
			add(at+".securityContext.capabilities.add", "adds %v", sc.Capabilities.Add)
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil {
			seccomp = psc.SeccompProfile
		}
		if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
			add(at+".securityContext.seccompProfile", "must be RuntimeDefault (here or in the pod's securityContext)")
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[res]
			lim, hasLim := c.Resources.Limits[res]
			if !hasReq || req.IsZero() {
				add(at+".resources.requests."+string(res), "is not set: the scheduler and the HPA need it")
			}
			if !hasLim || lim.IsZero() {
				add(at+".resources.limits."+string(res), "is not set")
			}
			if hasReq && hasLim && req.Cmp(lim) > 0 {
				add(at+".resources", "%s request %s is above its limit %s", res, req.String(), lim.String())
			}
		}
		for name, p := range map[string]*corev1.Probe{"livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe, "startupProbe": c.StartupProbe} {
			if p == nil {
				continue
			}
			var port *intstr.IntOrString
			field := at + "." + name
			switch {
			case p.HTTPGet != nil:
				port, field = &p.HTTPGet.Port, field+".httpGet.port"
			case p.TCPSocket != nil:
				port, field = &p.TCPSocket.Port, field+".tcpSocket.port"
			}
			if port != nil {
				if port.Type != intstr.String {
					add(field, "is the number %d: name a container port instead", port.IntVal)
				} else if _, ok := namedPort(c, port.StrVal); !ok {
					add(field, "%q names no port of the container (it has %v)", port.StrVal, portNames(c))
				}
			}
		}
		for j, m := range c.VolumeMounts {
			if volumes[m.Name] == nil {
				add(fmt.Sprintf("%s.volumeMounts[%d].name", at, j), "%q is no volume of the pod", m.Name)
			}
		}
		for j, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if ref := e.ValueFrom.SecretKeyRef; ref != nil {
				if s := r.b.secret(ref.Name); s != nil && !isTrue(ref.Optional) {
					if _, ok := secretValue(s, ref.Key); !ok {
						add(fmt.Sprintf("%s.env[%d] (%s).valueFrom.secretKeyRef", at, j, e.Name), "Secret %q has no key %q", ref.Name, ref.Key)
					}
				}
			}
		}
	}
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil && !isTrue(v.ConfigMap.Optional) && r.b.configMap(v.ConfigMap.Name) == nil {
			add("spec.template.spec.volumes ("+v.Name+").configMap.name", "ConfigMap %q is not in this build", v.ConfigMap.Name)
		}
	}
}

// checkService checks that a Service selects the pods of exactly one
// Deployment and that every port reaches a port of those pods.
func checkService(r *report, s *corev1.Service) {
	add := func(field, format string, args ...any) { r.add("Service", s.Name, field, format, args...) }
	if len(s.Spec.Selector) == 0 {
		add("spec.selector", "is empty: the Service would have no endpoints kustomize or the cluster could check")
		return
	}
	var selected []*appsv1.Deployment
	for _, d := range r.b.deployments {
		if labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			selected = append(selected, d)
		}
	}
	switch len(selected) {
	case 0:
		add("spec.selector", "%v selects no Deployment's pods", s.Spec.Selector)
		return
	case 1:
	default:
		add("spec.selector", "%v selects the pods of %d Deployments", s.Spec.Selector, len(selected))
		return
	}
	pod := &selected[0].Spec.Template.Spec
	for i, p := range s.Spec.Ports {
		at := fmt.Sprintf("spec.ports[%d] (%s).targetPort", i, p.Name)
		target := p.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(p.Port)
		}
		if target.Type == intstr.String {
			if _, ok := podNamedPort(pod, target.StrVal); !ok {
				add(at, "%q names no container port of Deployment %q (it has %v)", target.StrVal, selected[0].Name, podPortNames(pod))
			}
		} else if !podHasPort(pod, target.IntVal) {
			add(at, "%d is no container port of Deployment %q", target.IntVal, selected[0].Name)
		}
	}
}

// checkPagebff checks pagebff's Deployment against its config, its
// Services, PDB, HPA and monitoring.
func checkPagebff(r *report, d *appsv1.Deployment, c *corev1.Container) facts {
	add := func(field, format string, args ...any) { r.add("Deployment", d.Name, field, format, args...) }
	pod := &d.Spec.Template.Spec
	at := fmt.Sprintf("spec.template.spec.containers[%d] (%s)", slices.IndexFunc(pod.Containers, func(o corev1.Container) bool { return o.Name == c.Name }), c.Name)
	var f facts

	// The config file: BFF_CONFIG in a directory mount of the ConfigMap.
	cfg := settings{env: map[string]string{}, source: map[string]string{}, unresolved: map[string]bool{}}
	resolveEnv(r, d, c, &cfg)
	cfgPath := cfg.env["BFF_CONFIG"]
	if cfgPath == "" {
		add(at+".env", "sets no BFF_CONFIG: pagebff would read the image's /config/bff.yaml, not the ConfigMap")
	}
	var cm *corev1.ConfigMap
	mounted := false
	for j, m := range c.VolumeMounts {
		if m.SubPath != "" || m.SubPathExpr != "" {
			add(fmt.Sprintf("%s.volumeMounts[%d].subPath", at, j), "mounts %q with subPath: the kubelet never updates a subPath mount, so a ConfigMap edit would never reach pagebff; mount the ConfigMap as a directory", m.MountPath)
			continue
		}
		if cfgPath == "" || filepath.Dir(cfgPath) != filepath.Clean(m.MountPath) {
			continue
		}
		mounted = true
		v := volumeNamed(pod, m.Name)
		if v == nil || v.ConfigMap == nil {
			add(fmt.Sprintf("%s.volumeMounts[%d]", at, j), "%s, where BFF_CONFIG points, is not a ConfigMap volume", m.MountPath)
			continue
		}
		key := filepath.Base(cfgPath)
		for _, it := range v.ConfigMap.Items {
			if it.Path == key {
				key = it.Key
			}
		}
		if key != "bff.yaml" {
			add(at+".env (BFF_CONFIG)", "%s is ConfigMap key %q; the key must be bff.yaml", cfgPath, key)
		}
		if cm = r.b.configMap(v.ConfigMap.Name); cm != nil {
			if _, ok := cm.Data["bff.yaml"]; !ok {
				r.add("ConfigMap", cm.Name, "data", "has no key bff.yaml (keys: %v)", sortedKeys(cm.Data))
				cm = nil
			}
		}
	}
	if cfgPath != "" && !mounted {
		add(at+".env (BFF_CONFIG)", "%s is not in a directory mounted from a ConfigMap (mounts: %v)", cfgPath, mountPaths(c))
	}
	if cm != nil {
		cfg.file = checkConfigFile(r, cm)
	}

	// Listeners and ports.
	serverPort := listenPort(r, d, cfg, "server.addr", ":8080")
	adminPort := listenPort(r, d, cfg, "admin.addr", "")
	if serverPort != 0 && !podHasPort(pod, serverPort) {
		add(at+".ports", "has no containerPort %d for server.addr", serverPort)
	}
	if adminPort != 0 && !podHasPort(pod, adminPort) {
		add(at+".ports", "has no containerPort %d for admin.addr", adminPort)
	}
	metricsPort := serverPort
	if adminPort != 0 {
		metricsPort = adminPort
	}

	// Probes: /healthz and /readyz on a port pagebff serves them on.
	for _, p := range []struct {
		name, path string
		probe      *corev1.Probe
	}{{"livenessProbe", "/healthz", c.LivenessProbe}, {"readinessProbe", "/readyz", c.ReadinessProbe}} {
		switch {
		case p.probe == nil || p.probe.HTTPGet == nil:
			add(at+"."+p.name+".httpGet", "is not set: want GET %s", p.path)
		case p.probe.HTTPGet.Path != p.path:
			add(at+"."+p.name+".httpGet.path", "is %q, want %s", p.probe.HTTPGet.Path, p.path)
		default:
			if n, ok := namedPort(c, p.probe.HTTPGet.Port.StrVal); ok && n != serverPort && n != adminPort {
				add(at+"."+p.name+".httpGet.port", "%q is port %d, where pagebff does not listen (server.addr %d, admin.addr %d)", p.probe.HTTPGet.Port.StrVal, n, serverPort, adminPort)
			}
		}
	}

	// Shutdown: the grace period outlasts the drain and the shutdown.
	drain, drainFrom := duration(r, d, cfg, "server.drain_delay", "0s")
	shutdown, shutdownFrom := duration(r, d, cfg, "server.shutdown_timeout", "10s")
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if pod.TerminationGracePeriodSeconds != nil {
		grace = *pod.TerminationGracePeriodSeconds
	}
	if time.Duration(grace)*time.Second <= drain+shutdown {
		add("spec.template.spec.terminationGracePeriodSeconds", "%ds is not above server.drain_delay (%s, %s) + server.shutdown_timeout (%s, %s) = %s: the kubelet's SIGKILL would cut off pages still finishing",
			grace, drain, drainFrom, shutdown, shutdownFrom, drain+shutdown)
	}

	// Services: something routes to the pods, and they drain behind it.
	var services []*corev1.Service
	for _, s := range r.b.services {
		if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			services = append(services, s)
		}
	}
	if len(services) == 0 {
		add("spec.template.metadata.labels", "%v: no Service selects pagebff's pods", d.Spec.Template.Labels)
	} else if drain == 0 {
		add("spec.template.spec (server.drain_delay)", "is 0s behind Service %q: pagebff would refuse connections the moment SIGTERM arrives, before kube-proxy has stopped sending them; set a few seconds", services[0].Name)
	}

	// Rollouts never lower capacity.
	if ru := d.Spec.Strategy.RollingUpdate; d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil ||
		ru.MaxUnavailable == nil || ru.MaxUnavailable.String() != "0" || ru.MaxSurge == nil || ru.MaxSurge.String() == "0" {
		add("spec.strategy", "want RollingUpdate with maxUnavailable 0 and maxSurge 1 or more")
	}

	// Disruption budget and autoscaler.
	minReplicas := checkHPA(r, d)
	checkPDB(r, d, minReplicas)

	// Monitoring.
	f.scrape = checkScrape(r, d, services, metricsPort)

	// The cache backend, and Redis where it is in this build.
	f.backend, _ = cfg.get("cache.backend", "memory")
	if f.backend == "redis" {
		checkRedisURL(r, d, cfg)
	}
	return f
}

// checkConfigFile parses the ConfigMap's bff.yaml and refuses keys that the
// repository's config/bff.yaml does not have.
func checkConfigFile(r *report, cm *corev1.ConfigMap) map[string]any {
	var got map[string]any
	if err := yaml.UnmarshalStrict([]byte(cm.Data["bff.yaml"]), &got); err != nil {
		r.add("ConfigMap", cm.Name, "data[bff.yaml]", "is not YAML pagebff can read: %v", err)
		return nil
	}
	text, err := os.ReadFile(repoConfig)
	if err != nil {
		r.add("ConfigMap", cm.Name, "data[bff.yaml]", "cannot read the repository's config to compare keys: %v", err)
		return got
	}
	var allowed map[string]any
	if err := yaml.UnmarshalStrict(text, &allowed); err != nil {
		r.add("ConfigMap", cm.Name, "data[bff.yaml]", "cannot parse %s: %v", repoConfig, err)
		return got
	}
	// Every services.<name> may set a service's keys (those the repository
	// sets under any service) and every defaults.* key; a new name adds a
	// service.
	service := map[string]any{}
	merge(service, asMap(allowed["defaults"]))
	for _, s := range asMap(allowed["services"]) {
		merge(service, asMap(s))
	}
	for _, bad := range unknownConfigKeys(got, allowed, service, "") {
		r.add("ConfigMap", cm.Name, "data[bff.yaml]", "%s (pagebff refuses unknown keys and would not start; see %s)", bad, repoConfig)
	}
	return got
}

// unknownConfigKeys walks got against allowed and describes each key that
// is not there, or is a value where a section belongs or the reverse.
func unknownConfigKeys(got, allowed, service map[string]any, prefix string) []string {
	var bad []string
	for _, k := range sortedKeys(got) {
		key := joinKey(prefix, k)
		want, ok := allowed[k]
		if prefix == "services" {
			want, ok = service, true
		}
		if !ok {
			bad = append(bad, fmt.Sprintf("%s: not a key of pagebff's config", key))
			continue
		}
		gm, gotSection := got[k].(map[string]any)
		wm, wantSection := want.(map[string]any)
		switch {
		case gotSection && wantSection:
			bad = append(bad, unknownConfigKeys(gm, wm, service, key)...)
		case gotSection:
			bad = append(bad, fmt.Sprintf("%s: a value, not a section", key))
		case wantSection && got[k] != nil:
			bad = append(bad, fmt.Sprintf("%s: a section, not a value", key))
		}
	}
	return bad
}

// settings resolves one of pagebff's config keys as pagebff does: the
// built-in default, then the file, then BFF_<KEY>, then the alias.
type settings struct {
	file       map[string]any
	env        map[string]string // the container's environment, where it could be resolved
	source     map[string]string // where a variable's value came from, if not the manifest
	unresolved map[string]bool   // variables from a Secret or ConfigMap not in the build, or a fieldRef
}

func (s settings) get(key, def string) (value, from string) {
	value, from, _ = s.lookup(key, def)
	return value, from
}

// lookup is get, with known false when a variable for key comes from
// outside the build, so that its value cannot be known.
func (s settings) lookup(key, def string) (value, from string, known bool) {
	value, from, known = def, "pagebff's default", true
	if v, ok := lookup(s.file, key); ok {
		value, from = scalar(v), "bff.yaml"
	}
	for _, name := range envNames(key) {
		if s.unresolved[name] {
			value, from, known = "", "env "+name+", from outside this build", false
		} else if v := s.env[name]; v != "" {
			value, from, known = v, "env "+name+s.source[name], true
		}
	}
	return value, from, known
}

// envNames are the variables for a key, lowest precedence first, as in
// pagebff's internal/config: BFF_<KEY>, then BFF_ADDR for server.addr and
// <NAME>_SERVICE_URL for services.<name>.url.
func envNames(key string) []string {
	names := []string{"BFF_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))}
	if key == "server.addr" {
		names = append(names, "BFF_ADDR")
	}
	if rest, ok := strings.CutPrefix(key, "services."); ok {
		if name, ok := strings.CutSuffix(rest, ".url"); ok && !strings.Contains(name, ".") {
			names = append(names, strings.ToUpper(name)+"_SERVICE_URL")
		}
	}
	return names
}

// resolveEnv fills cfg.env from the container's env and envFrom, reading
// Secrets and ConfigMaps in the build. Empty values count as unset, as in
// pagebff.
func resolveEnv(r *report, d *appsv1.Deployment, c *corev1.Container, cfg *settings) {
	for _, ef := range c.EnvFrom {
		var data map[string]string
		switch {
		case ef.SecretRef != nil:
			if s := r.b.secret(ef.SecretRef.Name); s != nil {
				data = map[string]string{}
				for k := range s.Data {
					data[k], _ = secretValue(s, k)
				}
				for k, v := range s.StringData {
					data[k] = v
				}
			}
		case ef.ConfigMapRef != nil:
			if cm := r.b.configMap(ef.ConfigMapRef.Name); cm != nil {
				data = cm.Data
			}
		}
		for k, v := range data {
			cfg.env[ef.Prefix+k] = strings.TrimSpace(v)
		}
	}
	for _, e := range c.Env {
		v, ok := e.Value, true
		if e.ValueFrom != nil {
			switch ref := e.ValueFrom; {
			case ref.SecretKeyRef != nil:
				if s := r.b.secret(ref.SecretKeyRef.Name); s != nil {
					v, _ = secretValue(s, ref.SecretKeyRef.Key)
					cfg.source[e.Name] = fmt.Sprintf(" from Secret %q key %s", s.Name, ref.SecretKeyRef.Key)
				} else {
					ok = false
				}
			case ref.ConfigMapKeyRef != nil:
				if cm := r.b.configMap(ref.ConfigMapKeyRef.Name); cm != nil {
					v = cm.Data[ref.ConfigMapKeyRef.Key]
					cfg.source[e.Name] = fmt.Sprintf(" from ConfigMap %q key %s", cm.Name, ref.ConfigMapKeyRef.Key)
				} else {
					ok = false
				}
			default:
				ok = false
			}
		}
		if !ok {
			delete(cfg.env, e.Name)
			cfg.unresolved[e.Name] = true
			continue
		}
		delete(cfg.unresolved, e.Name)
		if e.ValueFrom == nil {
			delete(cfg.source, e.Name)
		}
		cfg.env[e.Name] = strings.TrimSpace(v)
	}
}

// listenPort resolves a listen address key to its port (0 if unset).
func listenPort(r *report, d *appsv1.Deployment, cfg settings, key, def string) int32 {
	addr, from, known := cfg.lookup(key, def)
	if !known {
		r.add("Deployment", d.Name, key, "is set by %s: its port cannot be checked", from)
		return 0
	}
	if addr == "" {
		return 0
	}
	_, port, err := net.SplitHostPort(addr)
	n, perr := strconv.ParseUint(port, 10, 16)
	if err != nil || perr != nil || n == 0 {
		r.add("Deployment", d.Name, key, "%q (%s) is not host:port with a port number", addr, from)
		return 0
	}
	return int32(n)
}

// duration resolves a duration key.
func duration(r *report, d *appsv1.Deployment, cfg settings, key, def string) (time.Duration, string) {
	v, from, known := cfg.lookup(key, def)
	if !known {
		r.add("Deployment", d.Name, key, "is set by %s: the shutdown timing cannot be checked", from)
		v = def
	}
	t, err := time.ParseDuration(v)
	if err != nil || t < 0 {
		r.add("Deployment", d.Name, key, "%q (%s) is not a duration", v, from)
		t, _ = time.ParseDuration(def)
	}
	return t, from
}

// checkHPA checks that one HPA scales pagebff on CPU, and returns its
// minReplicas (or the Deployment's replicas without an HPA).
func checkHPA(r *report, d *appsv1.Deployment) int32 {
	var mine []*autoscalingv2.HorizontalPodAutoscaler
	for _, h := range r.b.hpas {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind == "Deployment" && ref.APIVersion == "apps/v1" && ref.Name == d.Name {
			mine = append(mine, h)
			continue
		}
		found := false
		for _, o := range r.b.deployments {
			found = found || (ref.Kind == "Deployment" && ref.APIVersion == "apps/v1" && ref.Name == o.Name)
		}
		if !found {
			r.add("HorizontalPodAutoscaler", h.Name, "spec.scaleTargetRef", "%s %s %q is not a Deployment in this build", ref.APIVersion, ref.Kind, ref.Name)
		}
	}
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	if len(mine) != 1 {
		r.add("Deployment", d.Name, "(HorizontalPodAutoscaler)", "%d HorizontalPodAutoscalers target it, want 1", len(mine))
		return replicas
	}
	h := mine[0]
	add := func(field, format string, args ...any) {
		r.add("HorizontalPodAutoscaler", h.Name, field, format, args...)
	}
	lo := int32(1)
	if h.Spec.MinReplicas != nil {
		lo = *h.Spec.MinReplicas
	}
	if lo < 2 {
		add("spec.minReplicas", "is %d: one pod is one node failure from an outage", lo)
	}
	if h.Spec.MaxReplicas < lo {
		add("spec.maxReplicas", "%d is below minReplicas %d", h.Spec.MaxReplicas, lo)
	}
	if d.Spec.Replicas != nil && (replicas < lo || replicas > h.Spec.MaxReplicas) {
		r.add("Deployment", d.Name, "spec.replicas", "%d is outside the HPA's %d-%d", replicas, lo, h.Spec.MaxReplicas)
	}
	cpu := false
	for _, m := range h.Spec.Metrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU {
			cpu = true
			if t := m.Resource.Target; t.Type == autoscalingv2.UtilizationMetricType && (t.AverageUtilization == nil || *t.AverageUtilization <= 0 || *t.AverageUtilization > 100) {
				add("spec.metrics (cpu).target.averageUtilization", "want a percentage of the CPU request, 1-100")
			}
		}
	}
	if !cpu {
		add("spec.metrics", "has no Resource cpu metric: pagebff's cost is CPU per page")
	}
	return lo
}

// checkPDB checks that one PodDisruptionBudget covers pagebff's pods and
// still lets a node drain.
func checkPDB(r *report, d *appsv1.Deployment, minReplicas int32) {
	var mine []*policyv1.PodDisruptionBudget
	for _, p := range r.b.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || sel.Empty() {
			r.add("PodDisruptionBudget", p.Name, "spec.selector", "is empty or invalid: %v", err)
			continue
		}
		matched := false
		for _, o := range r.b.deployments {
			if sel.Matches(labels.Set(o.Spec.Template.Labels)) {
				matched = true
				if o == d {
					mine = append(mine, p)
				}
			}
		}
		if !matched {
			r.add("PodDisruptionBudget", p.Name, "spec.selector", "%s selects no Deployment's pods", sel)
		}
	}
	if len(mine) != 1 {
		r.add("Deployment", d.Name, "(PodDisruptionBudget)", "%d PodDisruptionBudgets select its pods, want 1", len(mine))
		return
	}
	p := mine[0]
	switch {
	case p.Spec.MaxUnavailable != nil && p.Spec.MaxUnavailable.String() == "0":
		r.add("PodDisruptionBudget", p.Name, "spec.maxUnavailable", "is 0: no node could ever be drained")
	case p.Spec.MinAvailable != nil && p.Spec.MinAvailable.Type == intstr.Int && p.Spec.MinAvailable.IntVal >= minReplicas:
		r.add("PodDisruptionBudget", p.Name, "spec.minAvailable", "%d is not below the %d replicas: no node could be drained", p.Spec.MinAvailable.IntVal, minReplicas)
	case p.Spec.MaxUnavailable == nil && p.Spec.MinAvailable == nil:
		r.add("PodDisruptionBudget", p.Name, "spec", "sets neither minAvailable nor maxUnavailable")
	}
}

// checkScrape checks how Prometheus finds pagebff's /metrics: the
// prometheus.io annotations on the pods, or a ServiceMonitor.
func checkScrape(r *report, d *appsv1.Deployment, services []*corev1.Service, metricsPort int32) string {
	var how []string
	a := d.Spec.Template.Annotations
	if a["prometheus.io/scrape"] == "true" {
		how = append(how, "annotations")
		if p := a["prometheus.io/port"]; p != strconv.Itoa(int(metricsPort)) {
			r.add("Deployment", d.Name, "spec.template.metadata.annotations[prometheus.io/port]", "is %q; /metrics is on port %d", p, metricsPort)
		}
		if p := a["prometheus.io/path"]; p != "/metrics" {
			r.add("Deployment", d.Name, "spec.template.metadata.annotations[prometheus.io/path]", "is %q, want /metrics", p)
		}
	}
	for _, m := range r.b.monitors {
		add := func(field, format string, args ...any) { r.add("ServiceMonitor", m.Name, field, format, args...) }
		sel, err := metav1.LabelSelectorAsSelector(&m.Spec.Selector)
		if err != nil || sel.Empty() {
			add("spec.selector", "is empty or invalid: %v", err)
			continue
		}
		var selected []*corev1.Service
		for _, s := range services {
			if sel.Matches(labels.Set(s.Labels)) {
				selected = append(selected, s)
			}
		}
		if len(selected) == 0 {
			add("spec.selector", "%s selects no Service of pagebff's pods", sel)
			continue
		}
		how = append(how, "ServiceMonitor")
		if len(m.Spec.Endpoints) == 0 {
			add("spec.endpoints", "is empty")
		}
		for i, e := range m.Spec.Endpoints {
			at := fmt.Sprintf("spec.endpoints[%d]", i)
			if e.Path != "" && e.Path != "/metrics" {
				add(at+".path", "is %q, want /metrics", e.Path)
			}
			if iv, err := time.ParseDuration(e.Interval); e.Interval != "" && err != nil {
				add(at+".interval", "%q is not a duration", e.Interval)
			} else if st, err := time.ParseDuration(e.ScrapeTimeout); e.ScrapeTimeout != "" && (err != nil || (e.Interval != "" && st > iv)) {
				add(at+".scrapeTimeout", "%q is not a duration up to the interval", e.ScrapeTimeout)
			}
			for _, s := range selected {
				var sp *corev1.ServicePort
				for j := range s.Spec.Ports {
					if s.Spec.Ports[j].Name == e.Port {
						sp = &s.Spec.Ports[j]
					}
				}
				if sp == nil {
					add(at+".port", "%q names no port of Service %q (it has %v)", e.Port, s.Name, servicePortNames(s))
					continue
				}
				if n, ok := resolveTarget(&d.Spec.Template.Spec, sp); ok && n != metricsPort {
					add(at+".port", "%q is Service %q's port to container port %d; /metrics is on %d", e.Port, s.Name, n, metricsPort)
				}
			}
		}
	}
	if len(how) == 0 {
		r.add("Deployment", d.Name, "spec.template.metadata.annotations", "nothing tells Prometheus where /metrics is: no prometheus.io/scrape annotation and no ServiceMonitor")
	}
	return strings.Join(how, "+")
}

// checkRedisURL checks that cache.redis_url names a Service in the build,
// on one of its ports, when it names an in-cluster host.
func checkRedisURL(r *report, d *appsv1.Deployment, cfg settings) {
	raw, from, known := cfg.lookup("cache.redis_url", "")
	add := func(format string, args ...any) {
		r.add("Deployment", d.Name, "cache.redis_url ("+from+")", format, args...)
	}
	if !known {
		return // a secret managed elsewhere, such as a managed Redis's URL
	}
	if raw == "" {
		add("is empty, and cache.backend is redis: pagebff would not start")
		return
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Hostname() == "" {
		add("is not a redis:// or rediss:// URL with a host")
		return
	}
	host := u.Hostname()
	if strings.Contains(host, ".") && !strings.Contains(host, ".svc") {
		return // a managed Redis outside the cluster: nothing here to match
	}
	name, _, _ := strings.Cut(host, ".")
	s := r.b.service(name)
	if s == nil {
		add("host %q is no Service in this build", host)
		return
	}
	port := u.Port()
	if port == "" {
		port = "6379"
	}
	var ports []string
	for _, p := range s.Spec.Ports {
		ports = append(ports, strconv.Itoa(int(p.Port)))
	}
	if !slices.Contains(ports, port) {
		add("port %s is not a port of Service %q (it has %v)", port, s.Name, ports)
	}
}

// ---- small helpers ----

func namedPort(c *corev1.Container, name string) (int32, bool) {
	for _, p := range c.Ports {
		if p.Name == name && name != "" {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

func portNames(c *corev1.Container) []string {
	var names []string
	for _, p := range c.Ports {
		names = append(names, p.Name)
	}
	return names
}

func podNamedPort(pod *corev1.PodSpec, name string) (int32, bool) {
	for i := range pod.Containers {
		if n, ok := namedPort(&pod.Containers[i], name); ok {
			return n, true
		}
	}
	return 0, false
}

func podPortNames(pod *corev1.PodSpec) []string {
	var names []string
	for i := range pod.Containers {
		names = append(names, portNames(&pod.Containers[i])...)
	}
	return names
}

func podHasPort(pod *corev1.PodSpec, n int32) bool {
	for _, c := range pod.Containers {
		for _, p := range c.Ports {
			if p.ContainerPort == n {
				return true
			}
		}
	}
	return false
}

// resolveTarget returns the container port a Service port sends to.
func resolveTarget(pod *corev1.PodSpec, sp *corev1.ServicePort) (int32, bool) {
	switch t := sp.TargetPort; {
	case t.Type == intstr.String:
		return podNamedPort(pod, t.StrVal)
	case t.IntVal == 0:
		return sp.Port, true
	default:
		return t.IntVal, true
	}
}

func servicePortNames(s *corev1.Service) []string {
	var names []string
	for _, p := range s.Spec.Ports {
		names = append(names, p.Name)
	}
	return names
}

func mountPaths(c *corev1.Container) []string {
	var paths []string
	for _, m := range c.VolumeMounts {
		paths = append(paths, m.MountPath)
	}
	return paths
}

func volumeNamed(pod *corev1.PodSpec, name string) *corev1.Volume {
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == name {
			return &pod.Volumes[i]
		}
	}
	return nil
}

// secretValue reads a Secret key as the API server would store it:
// stringData wins over data.
func secretValue(s *corev1.Secret, key string) (string, bool) {
	if v, ok := s.StringData[key]; ok {
		return v, true
	}
	v, ok := s.Data[key]
	return string(v), ok
}

func isTrue(b *bool) bool { return b != nil && *b }

func firstNonNil[T any](ps ...*T) *T {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

func lookup(m map[string]any, key string) (any, bool) {
	var v any = m
	for _, k := range strings.Split(key, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = mm[k]; !ok {
			return nil, false
		}
	}
	return v, v != nil
}

// scalar formats a YAML value as pagebff would read it as text.
func scalar(v any) string {
	if f, ok := v.(float64); ok && f == float64(int64(f)) {
		return strconv.FormatInt(int64(f), 10)
	}
	return fmt.Sprint(v)
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// merge adds src's keys to dst, recursively.
func merge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			dm, ok := dst[k].(map[string]any)
			if !ok {
				dm = map[string]any{}
				dst[k] = dm
			}
			merge(dm, sm)
			continue
		}
		if _, ok := dst[k]; !ok {
			dst[k] = v
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func write(t testing.TB, dir, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// relTo returns target (relative to deploy/, or absolute) relative to dir:
// kustomize refuses absolute paths in resources.
func relTo(t testing.TB, dir, target string) string {
	t.Helper()
	abs, err := filepath.Abs(target)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(dir, abs)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.ToSlash(rel)
}
