package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

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
}

// loadDocs renders the embedded description as JSON.
func loadDocs() (*apiDocs, error) {
	var doc any
	if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
		return nil, fmt.Errorf("api: openapi.yaml: %w", err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("api: openapi.yaml: %w", err)
	}
	return &apiDocs{json: js}, nil
}

// openapi serves GET /openapi.json.
func (s *Server) openapi(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", s.docs.json)
}
