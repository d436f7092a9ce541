package api

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	"gopkg.in/yaml.v3"
)

// openapiYAML describes every route; TestOpenAPICoversRoutes keeps it in
// step with the router.
//
//go:embed openapi.yaml
var openapiYAML []byte

// apiDocs is the description, ready to serve.
type apiDocs struct {
	json []byte
	html []byte
}

// spec is the parsed description, as much of it as the docs page shows.
type spec struct {
	Info struct {
		Title       string `yaml:"title"`
		Version     string `yaml:"version"`
		Description string `yaml:"description"`
	} `yaml:"info"`
	Tags []struct {
		Name        string `yaml:"name"`
		Description string `yaml:"description"`
	} `yaml:"tags"`
	Paths map[string]map[string]operation `yaml:"paths"`
}

type operation struct {
	Tags        []string `yaml:"tags"`
	Summary     string   `yaml:"summary"`
	Description string   `yaml:"description"`
	Deprecated  bool     `yaml:"deprecated"`
}

// loadDocs renders the embedded description as JSON and as a page. The
// page is plain HTML with no script, so it works offline.
func loadDocs() (*apiDocs, error) {
	var doc any
	if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
		return nil, fmt.Errorf("api: openapi.yaml: %w", err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("api: openapi.yaml: %w", err)
	}
	var sp spec
	if err := yaml.Unmarshal(openapiYAML, &sp); err != nil {
		return nil, fmt.Errorf("api: openapi.yaml: %w", err)
	}
	type route struct {
		Method, Path string
		operation
	}
	type section struct {
		Name, Description string
		Routes            []route
	}
	var sections []section
	for _, tag := range sp.Tags {
		sec := section{Name: tag.Name, Description: tag.Description}
		for path, ops := range sp.Paths {
			for method, op := range ops {
				if slices.Contains(op.Tags, tag.Name) {
					sec.Routes = append(sec.Routes, route{strings.ToUpper(method), path, op})
				}
			}
		}
		slices.SortFunc(sec.Routes, func(a, b route) int { return strings.Compare(a.Path+a.Method, b.Path+b.Method) })
		sections = append(sections, sec)
	}
	var page bytes.Buffer
	err = docsPage.Execute(&page, map[string]any{"Info": sp.Info, "Sections": sections})
	if err != nil {
		return nil, fmt.Errorf("api: docs page: %w", err)
	}
	return &apiDocs{json: js, html: page.Bytes()}, nil
}

var docsPage = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Info.Title}} API</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
code,.path{font-family:ui-monospace,monospace}.m{display:inline-block;width:4.5rem;font-weight:bold}
.route{margin:.6rem 0;padding:.4rem .6rem;border-left:3px solid #ccc}.dep{opacity:.6}
p.d{white-space:pre-line;margin:.2rem 0 0 4.5rem;color:#555}
</style></head><body>
<h1>{{.Info.Title}} API <small>v{{.Info.Version}}</small></h1>
<p style="white-space:pre-line">{{.Info.Description}}</p>
<p>The full description, for tools and code generators: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).
Authenticate with <code>X-API-Key: &lt;key&gt;</code> or <code>Authorization: Bearer &lt;key&gt;</code>.</p>
{{range .Sections}}<h2>{{.Name}}</h2><p>{{.Description}}</p>
{{range .Routes}}<div class="route{{if .Deprecated}} dep{{end}}"><span class="m">{{.Method}}</span><span class="path">{{.Path}}</span> — {{.Summary}}{{if .Deprecated}} (deprecated){{end}}
{{if .Description}}<p class="d">{{.Description}}</p>{{end}}</div>
{{end}}{{end}}</body></html>
`))

// openapi serves GET /openapi.json.
func (s *Server) openapi(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", s.docs.json)
}

// docsHTML serves GET /docs.
func (s *Server) docsHTML(c *gin.Context) {
	c.Data(http.StatusOK, "text/html; charset=utf-8", s.docs.html)
}
