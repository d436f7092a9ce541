package api_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/pb33f/libopenapi/orderedmap"
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
	checkExamples(t, parsed)
}

// checkExamples validates every JSON example of a request or response body
// (the media types' example and examples) against its schema, so that
// "try it", which starts from the example, sends a request the api takes.
func checkExamples(t *testing.T, parsed libopenapi.Document) {
	t.Helper()
	model, err := parsed.BuildV3Model()
	if err != nil {
		t.Fatalf("libopenapi model: %v", err)
	}
	validator := schema_validation.NewSchemaValidator()
	checked := 0
	for path, item := range model.Model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			var contents []*orderedmap.Map[string, *v3.MediaType]
			if op.RequestBody != nil {
				contents = append(contents, op.RequestBody.Content)
			}
			for _, r := range op.Responses.Codes.FromOldest() {
				contents = append(contents, r.Content)
			}
			if op.Responses.Default != nil {
				contents = append(contents, op.Responses.Default.Content)
			}
			for _, content := range contents {
				for media, mt := range content.FromOldest() {
					if mt.Schema == nil || media != "application/json" {
						continue
					}
					examples := map[string]func(any) error{}
					if mt.Example != nil {
						examples["example"] = mt.Example.Decode
					}
					for name, ex := range mt.Examples.FromOldest() {
						if ex.Value != nil {
							examples[name] = ex.Value.Decode
						}
					}
					for name, decode := range examples {
						var body any
						if err := decode(&body); err != nil {
							t.Fatalf("%s %s: example %s: %v", method, path, name, err)
						}
						raw, _ := json.Marshal(body)
						if ok, errs := validator.ValidateSchemaBytes(mt.Schema.Schema(), raw); !ok {
							for _, e := range errs {
								t.Errorf("%s %s: example %s does not fit its schema: %s", method, path, raw, e.Reason)
								for _, se := range e.SchemaValidationErrors {
									t.Errorf("  %s at %s", se.Reason, se.FieldPath)
								}
							}
						}
						checked++
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Error("no example checked")
	}
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
