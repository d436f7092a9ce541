package config

import (
	"slices"
	"strings"
	"testing"
)

// TestTargetOrderAndRouteNames: the targets' order is the file's (a
// RouteLLM provider override picks the first of a provider), and route
// names must be fit for a metric label.
func TestTargetOrderAndRouteNames(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(`
targets:
  zeta: {base_url: "https://z.example.com", llm: {provider: openai}}
  alpha: {base_url: "https://a.example.com", llm: {provider: openai}}
  mid: {base_url: "https://m.example.com"}
routellm: {route_names: [cheap, "smart:v2"]}
`), "config.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"zeta", "alpha", "mid"}; !slices.Equal(c.TargetOrder, want) || !slices.Equal(c.ForAPI().TargetOrder, want) {
		t.Errorf("TargetOrder = %v, want %v", c.TargetOrder, want)
	}
	_, err = Parse([]byte("routellm: {route_names: [ok, \"has space\"]}\n"), "config.yaml", env(nil))
	if err == nil || !strings.Contains(err.Error(), "routellm.route_names[1]") {
		t.Errorf("a route name with a space: %v", err)
	}
}
