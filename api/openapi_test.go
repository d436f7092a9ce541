package api_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi-validator/schema_validation"
)

// TestOpenAPICoversRoutes fails when a route is in the router but not in
// /openapi.json, or the reverse, or when the description is not OpenAPI
// 3.1 with every $ref resolving.
func TestOpenAPICoversRoutes(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{noWorker: true})
	r := s.raw("GET", "/openapi.json")
	if r.status != 200 {
		t.Fatalf("/openapi.json: %d", r.status)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(r.raw, &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("not OpenAPI 3.1: %v %q", err, doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	param := regexp.MustCompile(`[:*]([A-Za-z_]+)`)
	var routed []string
	for _, rt := range s.api.Routes() {
		if strings.HasPrefix(rt.Path, "/admin/queues/") {
			continue // the queue UI's own pages and API, described at /admin/queues
		}
		routed = append(routed, rt.Method+" "+param.ReplaceAllString(rt.Path, "{$1}"))
	}
	for _, r := range routed {
		if !slices.Contains(documented, r) {
			t.Errorf("%s is routed but not in openapi.yaml", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routed, d) {
			t.Errorf("%s is in openapi.yaml but not routed", d)
		}
	}

	// Every $ref names a component that exists.
	var all map[string]any
	json.Unmarshal(r.raw, &all)
	for _, ref := range regexp.MustCompile(`"\$ref":"#/([^"]+)"`).FindAllStringSubmatch(string(r.raw), -1) {
		var at any = all
		for _, part := range strings.Split(ref[1], "/") {
			m, _ := at.(map[string]any)
			at = m[part]
		}
		if at == nil {
			t.Errorf("$ref #/%s resolves to nothing", ref[1])
		}
	}

	// And it is valid OpenAPI 3.1, by an independent validator.
	parsed, err := libopenapi.NewDocument(r.raw)
	if err != nil {
		t.Fatalf("libopenapi: %v", err)
	}
	if ok, errs := schema_validation.ValidateOpenAPIDocument(parsed); !ok {
		for _, e := range errs {
			t.Errorf("invalid OpenAPI: %s: %s", e.Message, e.Reason)
			for _, se := range e.SchemaValidationErrors {
				t.Errorf("  %s at %s", se.Reason, se.FieldPath)
			}
		}
	}

	checkCompleteness(t, all)
}

// checkCompleteness fails for an operation without a response schema, a
// request body without a schema and an example, or a security scheme
// other than the keys authenticate reads — what the reference pages need
// to show every schema, fill in "try it" and send the caller's key.
func checkCompleteness(t *testing.T, doc map[string]any) {
	t.Helper()
	get := func(v any, path ...string) any {
		for _, p := range path {
			m, _ := v.(map[string]any)
			v = m[p]
		}
		return v
	}
	// resolve follows a $ref to the component it names.
	resolve := func(v any) map[string]any {
		if ref, ok := get(v, "$ref").(string); ok {
			v = get(doc, strings.Split(strings.TrimPrefix(ref, "#/"), "/")...)
		}
		m, _ := v.(map[string]any)
		return m
	}
	for path, ops := range doc["paths"].(map[string]any) {
		for method, op := range ops.(map[string]any) {
			name := strings.ToUpper(method) + " " + path
			schemas, redirects := 0, 0
			for status, resp := range get(op, "responses").(map[string]any) {
				content, _ := resolve(resp)["content"].(map[string]any)
				if len(content) == 0 && strings.HasPrefix(status, "3") {
					redirects++
				}
				for media, body := range content {
					if get(body, "schema") == nil {
						t.Errorf("%s: response %s %s has no schema", name, status, media)
					}
					schemas++
				}
			}
			if schemas == 0 && redirects == 0 {
				t.Errorf("%s: no response has a schema", name)
			}
			if rb := get(op, "requestBody"); rb != nil {
				for media, body := range resolve(rb)["content"].(map[string]any) {
					if get(body, "schema") == nil || (get(body, "example") == nil && get(body, "examples") == nil) {
						t.Errorf("%s: request body %s needs a schema and an example", name, media)
					}
				}
			}
		}
	}
	// The schemes are the headers presentedKey reads.
	if get(doc, "components", "securitySchemes", "apiKey", "name") != "X-API-Key" || get(doc, "components", "securitySchemes", "bearer", "scheme") != "bearer" {
		t.Errorf("security schemes: %v", get(doc, "components", "securitySchemes"))
	}
}
