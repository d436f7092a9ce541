package config

import (
	"fmt"
	"regexp"

	"gopkg.in/yaml.v3"
)

// RouteLLM configures how calls routed by RouteLLM (X-RouteLLM-* headers)
// are counted.
type RouteLLM struct {
	// RouteNames are the route names counted under their own name in
	// reliapi_routellm_decisions_total; any other is counted as "other",
	// which keeps the metric's labels bounded. Default: none.
	RouteNames []string `yaml:"route_names"`
}

func (r *RouteLLM) setDefaults() {
	if r.RouteNames == nil {
		r.RouteNames = []string{}
	}
}

// routeNamePattern bounds a route name to what a metric label carries well.
var routeNamePattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// routeLLM checks the route names.
func (v *validator) routeLLM(r RouteLLM) {
	for i, name := range r.RouteNames {
		if !routeNamePattern.MatchString(name) {
			v.add(fmt.Sprintf("routellm.route_names[%d]", i), "must be 1 to 64 letters, digits, '_', '.', ':' or '-' (got %q)", name)
		}
	}
}

// targetOrder lists the names under targets: in the order the document
// root gives them: a RouteLLM provider override picks the first target of
// that provider in this order.
func targetOrder(root *yaml.Node) []string {
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "targets" || root.Content[i+1].Kind != yaml.MappingNode {
			continue
		}
		var names []string
		targets := root.Content[i+1].Content
		for j := 0; j+1 < len(targets); j += 2 {
			names = append(names, targets[j].Value)
		}
		return names
	}
	return nil
}
