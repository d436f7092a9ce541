package api

import (
	"net/http"
	"slices"

	"github.com/rs/cors"
)

// withCORS lets the configured browser origins call h (server.cors_origins):
// preflights are answered, and answers carry the headers a page needs to
// read them. "*" allows every origin but never with credentials, so that a
// page can not make a browser send a user's cookies or auth to the api
// from any site. Without origins, h is returned as it is: no CORS headers.
func withCORS(h http.Handler, origins []string) http.Handler {
	if len(origins) == 0 {
		return h
	}
	return cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodOptions},
		AllowedHeaders: []string{"Content-Type", "Authorization", "X-API-Key", "Idempotency-Key", "X-Idempotency-Key",
			"Prefer", "X-Request-ID", "X-Client", "X-Webhook-URL", "X-Webhook-Events", "Last-Event-ID"},
		ExposedHeaders: []string{"X-Request-ID", "Retry-After", "Location", "Preference-Applied", "X-Cache-Hit", "Age",
			"X-Retries", "X-Duration-MS", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"},
		AllowCredentials: !slices.Contains(origins, "*"),
		MaxAge:           600,
	}).Handler(h)
}
