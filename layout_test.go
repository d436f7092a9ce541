package reliapi_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/reliapi/reliapi"

// allowedImports lists, per package (relative to the module, "" for the
// root), the module packages its non-test code may import. It is the
// layer table of docs/ARCHITECTURE.md as code: arrows point from cmd to api
// and worker, from those to lifecycle, and from these to jobs, tasks,
// reliability, providers and config, and from everything to the root. A
// prefix ending in "/" allows every package below it.
var allowedImports = map[string][]string{
	"":                    {},
	"config":              {"", "webhook"},
	"tasks":               {""},
	"jobs":                {"", "internal/luascript", "internal/redisbatch"},
	"lifecycle":           {"", "jobs", "tasks", "lane", "reliability/", "internal/luascript"},
	"lane":                {"", "internal/luascript", "jobs"},
	"reliability/":        {"", "internal/luascript", "internal/redisbatch"},
	"providers/":          {"", "providers/"},
	"api":                 {"", "config", "tasks", "jobs", "lifecycle", "lane", "render", "webhook", "reliability/", "rapidapi"},
	"rapidapi":            {},
	"worker":              {"", "config", "tasks", "jobs", "lifecycle", "lane", "render", "webhook", "reliability/", "providers/"},
	"cmd/reliapi":         {"", "api", "worker", "config", "webhook", "internal/httpbin", "internal/fakellm", "internal/luascript"},
	"webhook":             {},
	"render":              {""},
	"internal/httpbin":    {},
	"internal/fakellm":    {},
	"internal/testenv":    {"", "internal/httpbin"},
	"internal/bench":      {"", "internal/testenv", "internal/fakellm", "api", "worker", "config", "tasks"},
	"internal/chaos":      {},
	"internal/luascript":  {},
	"internal/redisbatch": {},
}

// stdlibOnly packages may import nothing outside the standard library and
// the module.
var stdlibOnly = []string{"", "providers/", "webhook", "render", "internal/httpbin", "internal/fakellm"}

// ginAllowed are the only packages that may import Gin: handlers translate
// HTTP into calls of the layers below, which never see a *gin.Context.
var ginAllowed = []string{"api", "cmd/reliapi"}

// thirdPartyAllowed limits the external modules a layer may use.
var thirdPartyAllowed = map[string][]string{
	"reliability/":        {"github.com/redis/go-redis/", "github.com/sethvargo/go-retry"},
	"reliability/budget":  {"github.com/redis/go-redis/", "github.com/tiktoken-go/tokenizer"},
	"config":              {"gopkg.in/yaml.v3"},
	"tasks":               {"github.com/hibiken/asynq"},
	"jobs":                {"github.com/redis/go-redis/"},
	"lifecycle":           {"github.com/redis/go-redis/", "github.com/hibiken/asynq", "github.com/google/uuid", "google.golang.org/protobuf/encoding/protowire"},
	"lane":                {"github.com/redis/go-redis/", "github.com/google/uuid"},
	"rapidapi":            {"github.com/redis/go-redis/"},
	"internal/luascript":  {"github.com/redis/go-redis/"},
	"internal/redisbatch": {"github.com/redis/go-redis/"},
}

func TestLayoutImports(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := rel(fields[0])
		rule, ok := lookup(allowedImports, pkg)
		if !ok {
			t.Errorf("package %q has no layout rule: add it to allowedImports and to docs/ARCHITECTURE.md's layers", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			switch {
			case strings.HasPrefix(imp, module):
				if !matches(rule, rel(imp)) {
					t.Errorf("%s imports %s: forbidden by the layers of docs/ARCHITECTURE.md", fields[0], imp)
				}
			case isStdlib(imp):
			case strings.HasPrefix(imp, "github.com/gin-gonic/") && !matches(ginAllowed, pkg):
				t.Errorf("%s imports %s: only %v may use Gin", fields[0], imp, ginAllowed)
			default:
				if matches(stdlibOnly, pkg) {
					t.Errorf("%s imports %s: this package may only use the standard library", fields[0], imp)
				}
				if allowed, ok := lookup(thirdPartyAllowed, pkg); ok && !hasPrefix(allowed, imp) {
					t.Errorf("%s imports %s: not among its allowed dependencies %v", fields[0], imp, allowed)
				}
			}
		}
	}
}

// rel is a module import path relative to the module root.
func rel(importPath string) string {
	return strings.TrimPrefix(strings.TrimPrefix(importPath, module), "/")
}

// lookup finds the rule for pkg: an exact key, or the longest "dir/" key
// that contains it.
func lookup(rules map[string][]string, pkg string) ([]string, bool) {
	if r, ok := rules[pkg]; ok {
		return r, true
	}
	best, found := "", false
	for k := range rules {
		if strings.HasSuffix(k, "/") && strings.HasPrefix(pkg+"/", k) && len(k) > len(best) {
			best, found = k, true
		}
	}
	return rules[best], found
}

func matches(rule []string, pkg string) bool {
	for _, r := range rule {
		if r == pkg || (strings.HasSuffix(r, "/") && strings.HasPrefix(pkg+"/", r)) {
			return true
		}
	}
	return false
}

func hasPrefix(prefixes []string, s string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// isStdlib reports whether an import path is from the standard library: its
// first element has no dot.
func isStdlib(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".")
}
