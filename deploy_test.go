package reliapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/tasks"
)

// TestDockerfile: at the repository root, so that `docker build .` works;
// multi-stage, static, non-root, with a HEALTHCHECK, and the same build as
// `make build`.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	df := read(t, "Dockerfile")
	if _, err := os.Stat("deploy/Dockerfile"); err == nil {
		t.Error("deploy/Dockerfile is back: one Dockerfile, at the root, which docker build . and compose use")
	}
	for _, doc := range []string{"README.md", "docs/ARCHITECTURE.md", "docker-compose.yml", "deploy/kubernetes/kustomization.yaml"} {
		if strings.Contains(read(t, doc), "deploy/Dockerfile") {
			t.Errorf("%s still names deploy/Dockerfile", doc)
		}
	}
	ignore := strings.Fields(read(t, ".dockerignore"))
	for _, want := range []string{".git", "bin/", "/reliapi", "/config.yaml"} {
		if !slices.Contains(ignore, want) {
			t.Errorf(".dockerignore does not leave out %s", want)
		}
	}
	mk := read(t, "Makefile")
	for _, want := range []string{"USER nonroot", "HEALTHCHECK", "CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w -X main.version=`, "./cmd/reliapi"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if n := len(regexp.MustCompile(`(?m)^FROM `).FindAllString(df, -1)); n < 2 {
		t.Errorf("Dockerfile has %d stages, want a build stage and a runtime stage", n)
	}
	if !strings.Contains(mk, "CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'") || !strings.Contains(mk, "LDFLAGS  := -s -w -X main.version=$(VERSION)") {
		t.Errorf("the Makefile's build no longer matches the Dockerfile's")
	}
}

// TestCompose: Redis with AOF; api and worker from the root Dockerfile; workers
// without published ports (so --scale works); Prometheus and Grafana only
// in the observability profile; stop grace above the shutdown timeouts.
func TestCompose(t *testing.T) {
	t.Parallel()
	var c struct {
		Services map[string]struct {
			Image           string   `yaml:"image"`
			Command         []string `yaml:"command"`
			Ports           []string `yaml:"ports"`
			Profiles        []string `yaml:"profiles"`
			StopGracePeriod string   `yaml:"stop_grace_period"`
			Build           struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(read(t, "docker-compose.yml")), &c); err != nil {
		t.Fatal(err)
	}
	settings := config.Default()
	redis := c.Services["redis"]
	if !slices.Contains(redis.Command, "--appendonly") || !slices.Contains(redis.Command, "yes") {
		t.Errorf("redis runs without AOF: %v", redis.Command)
	}
	for name, timeout := range map[string]time.Duration{"api": settings.Server.ShutdownTimeout.Duration, "worker": settings.Worker.ShutdownTimeout.Duration} {
		s := c.Services[name]
		if s.Build.Context != "." || (s.Build.Dockerfile != "Dockerfile" && s.Build.Dockerfile != "") || len(s.Command) == 0 || s.Command[0] != name {
			t.Errorf("%s: not the reliapi image running %q: %+v", name, name, s)
		}
		if grace, err := time.ParseDuration(s.StopGracePeriod); err != nil || grace <= timeout {
			t.Errorf("%s: stop_grace_period %q is not above its shutdown timeout %v", name, s.StopGracePeriod, timeout)
		}
	}
	if len(c.Services["worker"].Ports) > 0 {
		t.Error("worker publishes ports: docker compose up --scale worker=N would clash")
	}
	checkScrapedAddr(t, "compose worker", c.Services["worker"].Command)
	for _, name := range []string{"prometheus", "grafana"} {
		if !slices.Contains(c.Services[name].Profiles, "observability") {
			t.Errorf("%s is not in the observability profile", name)
		}
	}

	// With docker compose present, compose itself must accept the file.
	if exec.Command("docker", "compose", "version").Run() == nil {
		cmd := exec.Command("docker", "compose", "config", "-q")
		cmd.Env = append(os.Environ(), "RELIAPI_API_KEY=test")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("docker compose config: %v\n%s", err, out)
		}
	}
}

// checkScrapedAddr: a worker in a container sets its metrics address, on
// every interface and port 9091 (what Prometheus, the probes and the
// healthcheck reach), since the default is loopback only.
func checkScrapedAddr(t *testing.T, what string, args []string) {
	t.Helper()
	i := slices.Index(args, "--metrics-listen")
	if i < 0 || i+1 >= len(args) {
		t.Errorf("%s: no --metrics-listen in %v: the default %s is loopback only, out of the scraper's reach", what, args, config.DefaultMetricsListen)
		return
	}
	if host, port, err := net.SplitHostPort(args[i+1]); err != nil || port != "9091" || (host != "0.0.0.0" && host != "" && host != "::") {
		t.Errorf("%s: --metrics-listen %q; want every interface on port 9091", what, args[i+1])
	}
}

// k8sObject is the part of a manifest the checks read.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Template struct {
			Spec struct {
				TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
				Containers                    []struct {
					Args           []string `yaml:"args"`
					ReadinessProbe any      `yaml:"readinessProbe"`
					LivenessProbe  any      `yaml:"livenessProbe"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
		ScaleTargetRef struct {
			Name string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		Metrics []struct {
			Resource struct {
				Name string `yaml:"name"`
			} `yaml:"resource"`
		} `yaml:"metrics"`
		Triggers []struct {
			Type     string            `yaml:"type"`
			Metadata map[string]string `yaml:"metadata"`
		} `yaml:"triggers"`
		MinAvailable int `yaml:"minAvailable"`
	} `yaml:"spec"`
}

// TestKubernetesManifests: api (Deployment, Service, HPA on CPU, PDB) and
// worker (Deployment, KEDA ScaledObject on every queue's depth, PDB), each
// with probes and a grace period above its shutdown timeout in the
// ConfigMap's config, which must load.
func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("deploy/kubernetes/*.yaml")
	objects := map[string]k8sObject{}
	for _, f := range files {
		dec := yaml.NewDecoder(strings.NewReader(read(t, f)))
		for {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			objects[o.Kind+"/"+o.Metadata.Name] = o
		}
	}
	for _, want := range []string{"Deployment/reliapi-api", "Service/reliapi-api", "HorizontalPodAutoscaler/reliapi-api", "PodDisruptionBudget/reliapi-api",
		"Deployment/reliapi-worker", "ScaledObject/reliapi-worker", "PodDisruptionBudget/reliapi-worker", "ConfigMap/reliapi-config", "Secret/reliapi-secrets"} {
		if _, ok := objects[want]; !ok {
			t.Errorf("no %s in deploy/kubernetes", want)
		}
	}
	// Every ${VAR} of the file is set; CORS_ORIGINS, a fallback the
	// manifests do not use, is not.
	secretsSet := func(name string) string {
		if name == "CORS_ORIGINS" {
			return ""
		}
		return "set"
	}
	settings, err := config.Parse([]byte(objects["ConfigMap/reliapi-config"].Data["config.yaml"]), "configmap", secretsSet)
	if err != nil {
		t.Fatalf("the ConfigMap's config does not load: %v", err)
	}
	for role, timeout := range map[string]time.Duration{"api": settings.Server.ShutdownTimeout.Duration, "worker": settings.Worker.ShutdownTimeout.Duration} {
		d := objects["Deployment/reliapi-"+role].Spec.Template.Spec
		if time.Duration(d.TerminationGracePeriodSeconds)*time.Second <= timeout {
			t.Errorf("%s: terminationGracePeriodSeconds %d is not above its shutdown timeout %v", role, d.TerminationGracePeriodSeconds, timeout)
		}
		if len(d.Containers) != 1 || d.Containers[0].Args[0] != role || d.Containers[0].ReadinessProbe == nil || d.Containers[0].LivenessProbe == nil {
			t.Errorf("%s: container %+v", role, d.Containers)
		}
		if role == "worker" && len(d.Containers) == 1 {
			checkScrapedAddr(t, "kubernetes worker", d.Containers[0].Args)
		}
		if objects["PodDisruptionBudget/reliapi-"+role].Spec.MinAvailable < 1 {
			t.Errorf("%s: the PodDisruptionBudget allows no pod to stay", role)
		}
	}
	if m := objects["HorizontalPodAutoscaler/reliapi-api"].Spec.Metrics; len(m) == 0 || m[0].Resource.Name != "cpu" {
		t.Errorf("the api's HPA does not scale on CPU: %+v", m)
	}
	so := objects["ScaledObject/reliapi-worker"]
	var lists []string
	for _, tr := range so.Spec.Triggers {
		lists = append(lists, tr.Metadata["listName"])
	}
	for _, q := range []string{tasks.QueueSync, tasks.QueueAsync, tasks.QueueWebhooks} {
		if !slices.Contains(lists, "asynq:{"+q+"}:pending") {
			t.Errorf("the worker's ScaledObject does not watch queue %s (triggers on %v)", q, lists)
		}
	}
	if so.Spec.ScaleTargetRef.Name != "reliapi-worker" {
		t.Errorf("ScaledObject scales %q", so.Spec.ScaleTargetRef.Name)
	}
}

// TestGrafanaDashboard: valid JSON whose panels cover what operators
// watch, querying only metrics the code exports.
func TestGrafanaDashboard(t *testing.T) {
	t.Parallel()
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(read(t, "deploy/grafana/dashboards/reliapi.json")), &d); err != nil {
		t.Fatal(err)
	}
	var exprs bytes.Buffer
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			exprs.WriteString(q.Expr + "\n")
		}
	}
	exported := exportedMetrics(t)
	for _, m := range regexp.MustCompile(`reliapi_[a-z_]+`).FindAllString(exprs.String(), -1) {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
		if !exported[base] {
			t.Errorf("the dashboard queries %s, which no code exports", m)
		}
	}
	for _, want := range []string{"reliapi_requests_total", "reliapi_request_duration_seconds", "reliapi_queue_depth", "reliapi_jobs_total",
		"reliapi_circuit_breaker_state", "reliapi_key_pool_keys", "reliapi_cache_hits_total", "reliapi_llm_cost_usd_total"} {
		if !strings.Contains(exprs.String(), want) {
			t.Errorf("no panel shows %s", want)
		}
	}
}

// TestREADMEMetrics: the README names every metric the code exports, and
// only those (its table of the seed's metrics included), so that the
// PromQL it gives keeps working.
func TestREADMEMetrics(t *testing.T) {
	t.Parallel()
	exported := exportedMetrics(t)
	readme := read(t, "README.md")
	named := map[string]bool{}
	for _, m := range regexp.MustCompile(`reliapi_[a-z_]+[a-z]`).FindAllString(readme, -1) {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
		named[base] = true
		if !exported[base] {
			t.Errorf("the README names %s, which no code exports", m)
		}
	}
	for m := range exported {
		if !named[m] {
			t.Errorf("the README does not name %s", m)
		}
	}
}

// exportedMetrics are the metric names declared in the module's code.
func exportedMetrics(t *testing.T) map[string]bool {
	out := map[string]bool{}
	name := regexp.MustCompile(`"(reliapi_[a-z_]+)"`)
	filepath.WalkDir(".", func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		for _, m := range name.FindAllStringSubmatch(read(t, path), -1) {
			out[m[1]] = true
		}
		return nil
	})
	return out
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
