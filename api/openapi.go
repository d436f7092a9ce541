package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"
	"gopkg.in/yaml.v3"
)

// openapiYAML describes every route; TestOpenAPICoversRoutes keeps it in
// step with the router.
//
//go:embed openapi.yaml
var openapiYAML []byte

// openapiJSON renders the embedded description as JSON, once, on first
// use: an api whose description nobody reads keeps it out of its memory.
// TestOpenAPICoversRoutes parses it, so a broken description fails the
// tests rather than a request.
var openapiJSON = sync.OnceValues(func() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
		return nil, fmt.Errorf("api: openapi.yaml: %w", err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("api: openapi.yaml: %w", err)
	}
	return js, nil
})

// openapi serves GET /openapi.json.
func (s *Server) openapi(c *gin.Context) {
	js, err := openapiJSON()
	if err != nil {
		writeError(c, err, meta{RequestID: requestID(c)})
		return
	}
	c.Data(http.StatusOK, "application/json", js)
}
